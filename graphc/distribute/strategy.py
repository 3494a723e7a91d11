"""``gc.distribute.RayStrategy``: data-parallel training on Ray workers, as TensorFlow's
``MultiWorkerMirroredStrategy``.

    strategy = gc.distribute.RayStrategy(num_workers=2)
    with strategy.scope():
        model = gc.Sequential([...])
        model.compile(...)
    model.fit(x, y, batch_size=64, epochs=3)     # 64 is the global batch: 32 per replica

Each worker (a Ray actor, ``cpus_per_worker`` CPUs) holds a replica of every model made in the
scope. The driver keeps the original: ``fit`` sends its state to the replicas when it starts and
takes the trained state back from the chief (replica 0) at each epoch's end, so callbacks,
``evaluate`` and ``predict`` see the trained weights. ``strategy.run`` leaves the replicas ahead of
the driver until ``sync_models()``.
"""
from __future__ import annotations

import io
import itertools
import threading
import time
import weakref

from graphc.ir.arguments import arguments_of, as_int
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.location import user_line

from .. import optimizers
from ..function import Function
from ..tracing import current_trace
from ..variables import Variable
from .collective import start_group
from . import training
from .context import reduce_op, strategy_scope
from .inference_steps import ReplicatedInference
from .replicas import model_spec, restore_state, state_files
from .runtime import WorkerLost, connect, driver_settings, require_ray, user_error, wait_placed, worker_died
from .values import DistributedDataset, PerReplica, reduce_values
from .worker import Worker

RESTART_TIMEOUT = 120.0  # seconds a restarting worker may take to answer again


class RayStrategy:
    """Synchronous data parallelism on ``num_workers`` Ray workers (one replica each).

    - ``address``: the Ray cluster (default: ``RAY_ADDRESS``, else a new local instance);
    - ``max_restarts``: how often Ray restarts a dead worker (``fit`` then restores every replica
      from the strategy's last checkpoint and goes on); ``save_freq``: that checkpoint is taken at
      each epoch's start (``"epoch"``) or every ``save_freq`` steps; ``checkpoint_dir``: where it is
      also written, as a ``gc.train.Checkpoint`` (default: kept in memory only);
    - ``check_sync``: after every step, checks that the replicas' variables are bit-identical;
    - ``seed``: each replica's ``gc.random`` streams (dropout masks, ...) are seeded ``seed + replica
      id``: different per replica, the same in every run."""

    def __init__(self, num_workers=2, cpus_per_worker=1, address=None, max_restarts=3, save_freq="epoch",
                 checkpoint_dir=None, check_sync=False, seed=0):
        with arguments_of("RayStrategy"):
            self.num_workers = as_int(num_workers, "num_workers", low=1)
            self.cpus_per_worker = as_int(cpus_per_worker, "cpus_per_worker", low=0)
            self.max_restarts = as_int(max_restarts, "max_restarts", low=-1)
            if save_freq != "epoch":
                save_freq = as_int(save_freq, "save_freq", low=1)
            self.seed = as_int(seed, "seed", low=0)
            if address is not None and not isinstance(address, str):
                raise InvalidArgumentError(f"address must be a string such as 'ray://host:10001' or 'auto', got {address!r}")
        self.address, self.save_freq, self.checkpoint_dir = address, save_freq, checkpoint_dir
        self.check_sync = bool(check_sync)
        self.models: list = []
        self.workers: list = []
        self.specs: list = []  # of the models the workers hold
        self.group = None
        self.replicas_ahead = False  # strategy.run changed the replicas; the driver's models are stale
        self._calls = itertools.count()
        self._sent_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # gc.Function -> its reference
        self._function_numbers = itertools.count()
        self._submitting = threading.Lock()
        self._settings_sent = None
        self._lifecycle = threading.RLock()  # starting the workers, replacing the group

    @property
    def num_replicas_in_sync(self) -> int:
        return self.num_workers

    def scope(self):
        """A context in which the models made are replicated by this strategy."""
        return strategy_scope(self)

    def register_model(self, model) -> None:
        """Called by ``gc.Model`` when made inside ``scope()``."""
        self.models.append(model)

    # -- the workers -------------------------------------------------------------------------------------
    def ray(self):
        return require_ray()

    def start(self) -> None:
        """Starts the workers (once), and gives them the models made in the scope since."""
        with self._lifecycle:  # two threads making the first call start the workers once
            if not self.workers:
                ray = connect(self.address, self.num_workers * self.cpus_per_worker)
                self.group = start_group(ray, self.num_workers)
                self.specs = [model_spec(m) for m in self.models]
                states = [state_files(m, m.optimizer) for m in self.models]
                actor = ray.remote(Worker).options(
                    num_cpus=self.cpus_per_worker, max_restarts=self.max_restarts,
                    runtime_env={"env_vars": {"GRAPHC_NUM_THREADS": str(max(self.cpus_per_worker, 1))}},
                )
                self._settings_sent = driver_settings()
                self.workers = [actor.remote(rank, self.num_workers, self.specs, states, self.seed, self.group,
                                             self._settings_sent) for rank in range(self.num_workers)]
                try:
                    self.get(wait_placed(ray, self.workers, self.cpus_per_worker))
                except RuntimeError:
                    self.shutdown()
                    raise
            if len(self.specs) < len(self.models):
                self.specs += [model_spec(m) for m in self.models[len(self.specs):]]
                states = [state_files(m, m.optimizer) for m in self.models]
                self.get([w.ensure_models.remote(self.specs, states) for w in self.workers])

    def index_of(self, model) -> int:
        for i, m in enumerate(self.models):
            if m is model:
                return i
        raise InvalidArgumentError(f"model {model.name!r} was not made inside this strategy's scope()")

    def new_group(self) -> None:
        """A fresh all-reduce group (after a failure left the old one waiting for a lost replica),
        once every worker answers (Ray restarting a dead one takes a few seconds)."""
        ray = self.ray()
        if self.group is not None:
            ray.kill(self.group)
            self.group = None
        deadline = time.monotonic() + RESTART_TIMEOUT
        for rank, worker in enumerate(self.workers):
            while True:
                try:
                    ray.get(worker.pid.remote())
                    break
                except ray.exceptions.ActorUnavailableError as error:
                    if time.monotonic() > deadline:
                        raise WorkerLost(f"Ray worker {rank} did not come back within {RESTART_TIMEOUT} s: {error}") from error
                    time.sleep(0.2)
                except ray.exceptions.RayActorError as error:
                    raise WorkerLost(f"Ray worker {rank} died and was not restarted (max_restarts="
                                     f"{self.max_restarts}): {error}") from error
        self.group = start_group(ray, self.num_workers)
        self.get([w.set_group.remote(self.group) for w in self.workers])

    def revive(self, index: int, files, metric_states, restarts: int, during: str) -> None:
        """After a worker was lost (the ``restarts``-th time ``during`` one fit, evaluate or predict):
        a new group once every worker answers (Ray restarts a dead one), every replica of model
        ``index`` rebuilt where missing and restored from the state ``files`` (and each replica's
        ``metric_states``)."""
        if 0 <= self.max_restarts < restarts:
            raise WorkerLost(f"a worker died {restarts} times in one {during}; max_restarts={self.max_restarts}")
        self.new_group()
        self._settings_sent = None  # a restarted worker has the settings it started with
        self.get([w.ensure_models.remote(self.specs, None) for w in self.workers])
        self.get([w.restore.remote(index, files, metric_states[r] if metric_states else None)
                  for r, w in enumerate(self.workers)])

    def ensure_group(self) -> None:
        with self._lifecycle:
            if self.group is None:
                self.new_group()

    def get(self, refs: list) -> list:
        """The result of each worker's call (``refs[rank]``). A worker's exception is re-raised as the
        user's own, with the worker's traceback; a worker that died raises ``WorkerLost``. Either
        way the other workers, maybe waiting for it in an all-reduce, are released."""
        ray = self.ray()
        results, pending = {}, {ref: rank for rank, ref in enumerate(refs)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            rank = pending.pop(ready[0])
            try:
                results[rank] = ray.get(ready[0])
            except Exception as error:
                if self.group is not None:
                    ray.kill(self.group)
                    self.group = None
                _drain(ray, list(pending))
                if worker_died(ray, error):
                    raise WorkerLost(f"Ray worker {rank} died: {error}") from error
                raise user_error(ray, error, rank) from None
        return [results[rank] for rank in range(len(refs))]

    def push(self, index: int) -> dict:
        """Sends the driver's state of model ``index`` to every replica; returns the state's files."""
        model = self.models[index]
        files = state_files(model, model.optimizer)
        self.get([w.restore.remote(index, files, None) for w in self.workers])
        return files

    def pull(self, index: int) -> dict:
        """Sets the driver's model ``index`` to the chief replica's state; returns the state's files."""
        model = self.models[index]
        files, _ = self.get([self.workers[0].snapshot.remote(index, True)])[0]
        restore_state(model, model.optimizer, files)
        return files

    def sync_models(self) -> None:
        """Brings the driver's models up to the replicas' state (after ``strategy.run`` changed them)."""
        if self.replicas_ahead and self.workers:
            for index in range(len(self.specs)):
                self.pull(index)
        self.replicas_ahead = False

    def shutdown(self) -> None:
        """Stops the workers (the driver's models keep their state; a later use starts them again)."""
        self.sync_models()
        if self.workers or self.group is not None:
            ray = self.ray()
            for actor in [*self.workers, self.group]:
                if actor is not None:
                    ray.kill(actor)
        self.workers, self.group, self.specs = [], None, []

    def steps(self, model, train) -> training.ReplicatedSteps:
        """The training steps of ``model.fit`` (of a model made in the scope) on the replicas;
        ``Model.fit`` calls this with its batches. See ``graphc.distribute.training``."""
        return training.ReplicatedSteps(self, model, train)

    def inference(self, model) -> ReplicatedInference:
        """The test and predict steps of ``model.evaluate``/``predict`` (of a model made in the scope)
        on the replicas; see ``graphc.distribute.inference_steps``."""
        return ReplicatedInference(self, model)

    # -- custom training loops -----------------------------------------------------------------------------
    def run(self, fn, args=(), kwargs=None) -> PerReplica:
        """Calls ``fn(*args, **kwargs)`` on every replica, as ``tf.distribute.Strategy.run``: a
        ``PerReplica`` argument gives each replica its own part, other arguments go to all. Models
        (and optimizers) the function uses are the replica's own; inside it,
        ``gc.distribute.get_replica_context()`` is the replica's context, and
        ``optimizer.apply_gradients`` sums the gradients over the replicas first. Returns the
        replicas' results as a ``PerReplica`` (tensors as NumPy arrays)."""
        if not callable(fn):
            raise InvalidArgumentError(f"run: fn must be callable, got {type(fn).__name__}")
        if current_trace() is not None:
            raise InvalidArgumentError(
                "strategy.run inside a gc.function on the driver: the replicas are Ray worker processes, which the "
                "driver's graph cannot contain. Compile the replica's step instead, strategy.run(gc.function(step), "
                "args=...): each worker then compiles forward, backward, the all-reduce and the update into one step",
                location=user_line(),
            )
        kwargs = dict(kwargs or {})
        self.start()
        self.ensure_group()  # a failed call killed the last one
        if not self.replicas_ahead:
            for index in range(len(self.models)):
                self.push(index)
        self.replicas_ahead = True
        call = next(self._calls)
        payloads = []
        for rank in range(self.num_workers):
            mine = lambda v: v.values[rank] if isinstance(v, PerReplica) else v  # noqa: E731
            payloads.append(self._pickle((fn, tuple(mine(a) for a in args), {k: mine(v) for k, v in kwargs.items()})))
        return PerReplica(self.get(self.on_every_worker(lambda rank, worker: worker.run.remote(payloads[rank], call))))

    def on_every_worker(self, submit) -> list:
        """``submit(rank, worker)`` for every worker, as one block: the calls of two driver threads then
        reach every worker in the same order (each worker runs its calls one at a time, in the order
        given), so the exchanges inside them pair up instead of each waiting for the other."""
        with self._submitting:
            self.send_settings()
            return [submit(rank, worker) for rank, worker in enumerate(self.workers)]

    def send_settings(self) -> None:
        """Gives the workers the driver's settings (backend, op determinism) if they changed since
        the workers last got them; each worker takes them before the calls submitted after."""
        settings = driver_settings()
        if settings != self._settings_sent:
            for worker in self.workers:
                worker.configure.remote(settings)
            self._settings_sent = settings

    def _pickle(self, obj) -> bytes:
        from ray import cloudpickle

        strategy = self

        class Pickler(cloudpickle.CloudPickler):
            def persistent_id(self, value):
                return strategy.replica_reference(value)

        buffer = io.BytesIO()
        Pickler(buffer).dump(obj)
        return buffer.getvalue()

    def replica_reference(self, value):
        """How ``run``'s function refers to a model or optimizer of the replicas (None: pickled as is)."""
        for index, model in enumerate(self.models):
            if value is model:
                return ("model", index)
            if value is not None and value is getattr(model, "optimizer", None):
                return ("optimizer", index)
        if isinstance(value, optimizers.Optimizer):
            return ("standalone_optimizer", id(value), optimizers.serialize(value))
        if isinstance(value, Function):  # pickled once; each worker keeps it by its number, so it traces once
            reference = self._sent_functions.get(value)
            if reference is None:
                reference = ("function", next(self._function_numbers), self._pickle(value.__reduce__()[1]))
                self._sent_functions[value] = reference
            return reference
        if isinstance(value, Variable):
            raise InvalidArgumentError(
                f"run: the function uses variable {value.name!r}, which belongs to no model made in strategy.scope(); "
                "the replicas only have the models (and their optimizers) made in the scope"
            )
        return None

    def reduce(self, reduce_op_, value, axis=None):
        """The replicas' ``value`` (a ``PerReplica`` from ``run``) combined: ``"SUM"`` or ``"MEAN"``
        across replicas, and along ``axis`` of each value when given (``tf.distribute.Strategy.reduce``)."""
        op = reduce_op(reduce_op_)
        if axis is not None:
            axis = as_int(axis, "axis")
        if not isinstance(value, PerReplica):
            if op == "SUM" and self.num_workers > 1:
                raise InvalidArgumentError("reduce: a value that is not PerReplica is the same on every replica; "
                                           "only MEAN reduces it (SUM would count it once per replica)")
            return reduce_values(op, [value], axis)
        return reduce_values(op, list(value.values), axis)

    def experimental_local_results(self, value) -> tuple:
        return value.values if isinstance(value, PerReplica) else (value,)

    def experimental_distribute_dataset(self, dataset) -> DistributedDataset:
        """The dataset's global batches, each split into one part per replica (a ``PerReplica``)."""
        return DistributedDataset(dataset, self.num_workers)


def _drain(ray, refs: list) -> None:
    """Waits for the calls still running after another worker failed (released by the group's end)
    and drops their results: their errors are consequences, not news."""
    for ref in refs:
        try:
            ray.get(ref, timeout=RESTART_TIMEOUT)
        except Exception:  # noqa: BLE001  (a consequence of the failure being raised)
            pass
