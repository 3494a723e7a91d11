"""Ray, loaded on first use: the import with its install hint, connecting to a cluster, and worker
errors turned back into the exception the user's code raised."""
from __future__ import annotations

import os

from graphc.ir.errors import InvalidArgumentError

from .. import config
from ..optional import optional_imports

START_TIMEOUT = 60.0  # seconds new workers may wait for free CPUs


class WorkerLost(RuntimeError):
    """A worker process died (killed, crashed, its node lost) while it had work."""


def require_ray():
    """The ``ray`` module, or ``MissingDependencyError`` naming the install command."""
    with optional_imports("gc.distribute runs on Ray", "pip install 'graphc[distributed]'"):
        import ray
    return ray


def driver_settings() -> dict:
    """The driver's settings that decide what a worker's functions compute: the backend and op determinism."""
    return {"backend": config.get_backend(), "determinism": config.op_determinism_enabled()}


def apply_settings(settings: dict) -> None:
    """Makes a worker process's settings the driver's (see ``driver_settings``)."""
    config.set_backend(settings["backend"])
    config.enable_op_determinism() if settings["determinism"] else config.disable_op_determinism()


def connect(address, num_cpus_needed: int):
    """Ray, connected: to the running instance, to ``address`` (or ``RAY_ADDRESS``), else to a new
    local instance. Raises when the cluster has fewer CPUs than the workers need (the actors would
    wait forever)."""
    ray = require_ray()
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS")
        if target:
            ray.init(address=target)
        else:
            ray.init(include_dashboard=False)
    total = ray.cluster_resources().get("CPU", 0)
    if num_cpus_needed > total:
        raise InvalidArgumentError(
            f"the workers need {num_cpus_needed} CPUs (num_workers x cpus_per_worker) but the Ray cluster has {total:g}"
        )
    return ray


def worker_died(ray, error: BaseException) -> bool:
    """Whether ``error`` says a worker process is gone (killed, crashed), rather than code failing."""
    died = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
    if isinstance(error, died):
        return True
    return isinstance(error, ray.exceptions.RayTaskError) and isinstance(error.cause, died)


def user_error(ray, error: BaseException, rank: int) -> BaseException:
    """The exception a worker's code raised, with the worker's traceback attached as a note (the
    user's line is in it); other errors unchanged."""
    if not isinstance(error, ray.exceptions.RayTaskError) or error.cause is None:
        return error
    cause = error.cause
    cause.add_note(f"raised on Ray worker {rank} (replica {rank}); the worker's traceback:\n{error}")
    return cause


def wait_placed(ray, actors: list, cpus_per_worker: int) -> list:
    """Waits until every actor answers; returns the refs of their ``pid()`` (a replica that cannot be
    built raises when they are read). Actors that find no free CPUs within ``START_TIMEOUT`` are
    killed and raise RuntimeError: an error, not a hang."""
    refs = [actor.pid.remote() for actor in actors]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT)
    if len(ready) < len(refs):
        free = ray.available_resources().get("CPU", 0)
        for actor in actors:
            ray.kill(actor)
        raise RuntimeError(
            f"only {len(ready)} of {len(refs)} Ray workers started within {START_TIMEOUT:g} s; the cluster has "
            f"{free:g} CPUs free for {len(refs)} x {cpus_per_worker} (other actors, e.g. a strategy's workers, "
            "hold the rest: strategy.shutdown() frees them)"
        )
    return refs
