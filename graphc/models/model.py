"""``gc.Model``: a layer with a training loop, as a Keras model.

``compile(optimizer, loss, metrics)`` configures training; ``fit`` runs it, one compiled function
per step (forward, loss, backward, optimizer update and metric updates in a single graph; see
``Model.train_function``), ``evaluate`` and ``predict`` likewise. Override ``train_step(data)`` for
a custom step: it is compiled the same way.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import arguments_of, as_int, as_size
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import float32

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import nest, optimizers
from ..checkpoints import read_checkpoint, write_checkpoint
from ..distribute.context import current_strategy
from ..function import function
from ..layers import Layer, symbolic_call
from ..saving.model_files import save_model
from ..tape import GradientTape
from ..tensor import Tensor, TensorLike
from .batching import Batches, fit_batches, positive_or_none, unpack_x_y_sample_weight
from .compiled_outputs import CompiledLoss, compiled_metrics, output_names, targets
from .summary import print_summary


class Model(Layer):
    """A layer with ``compile``/``fit``/``evaluate``/``predict``, ``summary`` and weight files.

    Three ways to make one, as in Keras: the functional API, ``gc.Model(inputs, outputs)`` on the
    KerasTensors of ``gc.Input`` and of layers called on them (several inputs and outputs, shared
    layers, models used as layers; see ``graphc/models/functional.py``); ``gc.Sequential``; or a
    subclass that creates layers in ``__init__`` and computes in ``call(inputs, training=False)``."""

    _untracked_attributes = frozenset({
        "optimizer", "loss", "loss_tracker", "compiled_loss", "_metric_specs", "_compiled_metrics", "history",
        "train_function", "test_function", "predict_function",
    })

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(_functional())
        return super().__new__(cls)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        """A new model from ``get_config()``'s dict; ``gc.Model.from_config`` rebuilds functional models."""
        if cls is Model and "input_layers" in config:
            return _functional().from_config(config, custom_objects)
        return super().from_config(config)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise InvalidArgumentError(
                f"{type(self).__name__}.__init__ got inputs/outputs: only gc.Model(inputs, outputs) itself builds a "
                "functional model; a subclass creates its layers in __init__ and computes in call()"
            )
        super().__init__(**kwargs)
        self.optimizer = None
        self.compiled = False
        self.run_eagerly = None
        self.stop_training = False
        self.history = None
        self.train_function = self.test_function = self.predict_function = None
        self._build_input_shape = None
        self._resume_at = None  # (epoch, step) where fit resumes, set by BackupAndRestore
        self._distribute_strategy = current_strategy()  # made in strategy.scope(): fit runs on the strategy
        if self._distribute_strategy is not None:
            self._distribute_strategy.register_model(self)

    # -- building ----------------------------------------------------------------------------------
    def _build_on_first_call(self, inputs) -> None:
        if isinstance(inputs, Tensor):
            self._build_input_shape = (None, *inputs.shape[1:])
        if type(self).build is not Model.build:
            super()._build_on_first_call(inputs)
        self.built = True  # the layers inside build on their first call

    def build(self, input_shape) -> None:
        """Builds every layer by calling the model on a placeholder of ``input_shape`` (with the
        batch dimension, None for any size); nothing is computed."""
        self.built = True
        try:
            symbolic_call(self, input_shape)
        except Exception:
            self.built = False
            raise
        self._build_input_shape = tuple(input_shape)

    def get_build_config(self) -> dict | None:
        """The input shape the model was built for (None when it is unknown, as for several inputs)."""
        return None if self._build_input_shape is None else {"input_shape": list(self._build_input_shape)}

    def build_from_config(self, config: dict) -> None:
        """Builds the model as ``get_build_config`` described."""
        if config.get("input_shape") is not None:
            self.build(tuple(config["input_shape"]))

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at position ``index`` of ``layers``."""
        layers = self.layers
        if index is not None and name is not None:
            raise InvalidArgumentError("get_layer: give the name or the index, not both")
        if index is not None:
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise InvalidArgumentError(
                    f"get_layer: was asked for the layer at index {index!r}, but model {self.name!r} has only "
                    f"{len(layers)} layers")
            return layers[index]
        if name is None:
            raise InvalidArgumentError("get_layer: give a layer name or index")
        for layer in layers:
            if layer.name == name:
                return layer
        raise InvalidArgumentError(f"get_layer: no such layer: {name!r}; model {self.name!r} has the layers "
                                   f"{[layer.name for layer in layers]}")

    # -- compiling ---------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, run_eagerly=None):
        """Configures training: ``optimizer`` (object or name), ``loss`` (object, name or function),
        ``metrics`` (names such as ``"accuracy"``, metric objects or functions). ``run_eagerly=True``
        runs the steps op by op instead of compiling them. A model with several outputs takes ``loss``,
        ``loss_weights`` and ``metrics`` per output, as a list or a dict by output name (see
        ``compiled_outputs.py``)."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            losses_module.get(loss)  # an unknown loss fails here, not in the first step
        self.compiled_loss = CompiledLoss(loss, loss_weights) if loss is not None else None
        self._metric_specs = metrics if isinstance(metrics, dict) else list(metrics or [])
        self._compiled_metrics = None  # made on the first step, when the targets' shapes are known
        self.loss_tracker = metrics_module.Mean(name="loss")
        self.run_eagerly = run_eagerly
        self.train_function = self.test_function = self.predict_function = None
        self.compiled = True

    def get_compile_config(self) -> dict | None:
        """The arguments of ``compile`` as plain data (None before ``compile``): names stay names, loss
        and metric objects and functions become configs, lists and dicts by output keep their shape."""
        if not self.compiled:
            return None
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": _spec_config(self.loss, losses_module.serialize),
                "loss_weights": self.compiled_loss.loss_weights if self.compiled_loss is not None else None,
                "metrics": _spec_config(self._metric_specs, metrics_module.serialize),
                "run_eagerly": self.run_eagerly}

    def compile_from_config(self, config: dict) -> None:
        """Compiles the model as ``get_compile_config`` described."""
        self.compile(optimizer=optimizers.deserialize(config["optimizer"]),
                     loss=_spec_from_config(config.get("loss"), losses_module.deserialize),
                     loss_weights=config.get("loss_weights"),
                     metrics=_spec_from_config(config.get("metrics"), metrics_module.deserialize),
                     run_eagerly=config.get("run_eagerly"))

    @property
    def metrics(self) -> list:
        """The loss tracker, then the compiled metrics (once the first step has made them)."""
        if not self.compiled:
            return []
        output_losses = self.compiled_loss.trackers if self.compiled_loss is not None else []
        return [self.loss_tracker, *output_losses] + [m for m, _ in self._compiled_metrics or []]

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise InvalidArgumentError(f"{what}: compile the model first (model.compile(optimizer, loss, metrics=...))")

    # -- one step -----------------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The compiled loss of ``(y, y_pred)`` plus every loss in ``self.losses`` (regularization,
        ``add_loss``)."""
        terms = []
        if self.compiled_loss is not None:
            if y is None:
                raise InvalidArgumentError("the model was compiled with a loss, but the data has no targets y")
            compiled = self.compiled_loss(y, y_pred, sample_weight, output_names(self, y_pred))
            terms += [compiled] if compiled is not None else []
        terms += [ops.cast(t, float32) if t.dtype != float32 else t for t in map(_tensor, self.losses)]
        if not terms:
            raise InvalidArgumentError("no loss to minimize: compile with loss=..., or call add_loss in call()")
        total = terms[0]
        for term in terms[1:]:
            total = ops.add(total, term)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Updates the compiled metrics with the batch and returns every metric's result."""
        names = output_names(self, y_pred)
        if self._compiled_metrics is None:
            self._compiled_metrics = compiled_metrics(self._metric_specs, y, y_pred, names)
        if y is not None:
            ys, preds, weights = targets(y, names), nest.flatten(y_pred), targets(sample_weight, names, "sample_weight")
            for metric, index in self._compiled_metrics:
                metric.update_state(ys[index], preds[index], weights[index])
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}

    def _track_loss(self, loss, y_pred) -> None:
        """The loss tracker weighs each batch by its size, so the epoch loss is per example."""
        first = nest.flatten(y_pred)[0]
        self.loss_tracker.update_state(loss, sample_weight=ops.dim_size(first, (0,), float32))

    def train_step(self, data) -> dict:
        """One training step on a batch: forward, loss, gradients, optimizer update, metrics."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track_loss(loss, y_pred)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self._track_loss(self.compute_loss(x, y, y_pred, sample_weight), y_pred)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _step_function(self, method: str):
        step = getattr(self, method)
        eager = True if self.run_eagerly else None
        return function(lambda data: step(data), eager=eager, name=method)

    def make_train_function(self):
        """``train_function``: ``train_step`` compiled (traced once per batch shape)."""
        if self.train_function is None:
            self.train_function = self._step_function("train_step")
        return self.train_function

    def make_test_function(self):
        if self.test_function is None:
            self.test_function = self._step_function("test_step")
        return self.test_function

    def make_predict_function(self):
        if self.predict_function is None:
            self.predict_function = self._step_function("predict_step")
        return self.predict_function

    # -- the loops -------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, validation_batch_size=None,
            validation_freq=1, sample_weight=None):
        """Trains for ``epochs`` over ``x``/``y`` (arrays or tensors, batched by ``batch_size``, 32 by
        default) or a ``gc.data.Dataset`` of ``(x, y)`` batches. ``validation_split`` holds out the
        last fraction of the arrays; ``validation_data`` is ``(x, y)`` or a dataset. Prints a progress
        line per epoch (``verbose``: 0 silent, 1 bar, 2 one line) and returns the ``History``."""
        self._require_compiled("fit")
        with arguments_of("fit"):
            epochs, initial_epoch = as_size(epochs, "epochs"), as_size(initial_epoch, "initial_epoch")
            validation_freq = as_int(validation_freq, "validation_freq", low=1)
            verbose = _verbosity(verbose)
            train, validation = fit_batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                                            validation_split, validation_data, validation_batch_size)
        # the steps run here, or on the replicas of the strategy the model was made under
        steps = _Steps(self) if self._distribute_strategy is None else self._distribute_strategy.steps(self, train)
        self.history = callbacks_module.History()
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(  # the history last: it sees what other callbacks add to the logs
            [*extra, *(callbacks or []), self.history], self,
            {"epochs": epochs, "steps": train.steps, "verbose": verbose},
        )
        self.stop_training = False
        cbs.on_train_begin({})
        logs: dict = {}
        start_epoch, skip_steps = self._resume_at or (initial_epoch, 0)  # (BackupAndRestore's)
        self._resume_at = None
        train.skip_epochs(start_epoch - initial_epoch)
        for epoch in range(start_epoch, epochs):
            steps.begin_epoch()
            cbs.on_epoch_begin(epoch, {})
            for step, batch in enumerate(train.epoch()):
                if step < skip_steps:  # run before the interruption fit resumes from
                    continue
                cbs.on_train_batch_begin(step, {})
                logs = steps.step(step, batch)
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            steps.end_epoch()
            skip_steps = 0
            epoch_logs = dict(logs)
            if validation is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._run_test(validation, None)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        if epochs > initial_epoch:
            self.optimizer.finalize_variable_values(self.trainable_variables)  # use_ema: the averages
        cbs.on_train_end(logs)
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """The loss and metrics over the data (``return_dict``: as a dict; else the loss, or
        ``[loss, metric, ...]`` when there are metrics)."""
        self._require_compiled("evaluate")
        with arguments_of("evaluate"):
            data = Batches(x, y, sample_weight, batch_size, False, positive_or_none(steps, "steps"))
            verbose = _verbosity(verbose)
        logs = self._run_test(data, callbacks_module.Progbar(data.steps, verbose) if verbose else None, callbacks)
        if return_dict:
            return logs
        # in the metrics' order, then the rest by name (as Keras: the metrics of a model evaluated on a
        # strategy's replicas exist there, not here)
        names = [name for name in self.metrics_names if name in logs]
        values = [logs[name] for name in names + sorted(set(logs) - set(names))]
        return values[0] if len(values) == 1 else values

    def _inference(self):
        """Where test and predict steps run: here, or on the replicas of the model's strategy."""
        return LocalInference(self) if self._distribute_strategy is None else self._distribute_strategy.inference(self)

    def _run_test(self, data: Batches, bar, callbacks=None) -> dict:
        steps = self._inference()
        cbs = callbacks_module.CallbackList(callbacks or [], self, {"steps": data.steps})
        self.reset_metrics()
        steps.begin_test()
        cbs.on_test_begin({})
        logs: dict = {}
        step = 0
        for step, batch in enumerate(data.epoch(), 1):
            cbs.on_test_batch_begin(step - 1, {})
            logs = _floats(steps.test(batch))
            cbs.on_test_batch_end(step - 1, logs)
            if bar is not None:
                bar.update(step, logs)
        if bar is not None:
            bar.update(step, logs, final=True)
        cbs.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` (arrays, tensors or a dataset), batch by batch, as NumPy arrays."""
        with arguments_of("predict"):
            data = Batches(x, None, None, batch_size, False, positive_or_none(steps, "steps"))
        steps = self._inference()
        cbs = callbacks_module.CallbackList(callbacks or [], self, {"steps": data.steps})
        cbs.on_predict_begin({})
        outputs = []
        for step, batch in enumerate(data.epoch()):
            cbs.on_predict_batch_begin(step, {})
            result = steps.predict(batch)
            outputs.append(result)
            cbs.on_predict_batch_end(step, {"outputs": result})
        cbs.on_predict_end({})
        if not outputs:
            raise InvalidArgumentError("predict: the data has no examples")
        leaves = [nest.flatten(o) for o in outputs]
        return nest.pack_as(outputs[0], [np.concatenate(parts) for parts in zip(*leaves)])

    # -- weights on disk -----------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True) -> str:
        """Writes the whole model to ``filepath`` (ending in ``.graphc``): architecture, weights and
        (``include_optimizer``) the optimizer's state; ``gc.models.load_model`` reads it back. See
        ``graphc.saving.model_files``."""
        return save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True) -> str:
        """Writes every variable of the model to ``filepath`` (``<filepath>.safetensors`` and
        ``<filepath>.index.json``; a trailing ``.safetensors`` is dropped); returns the prefix."""
        return write_checkpoint(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, partial=False):
        """Reads weights saved by ``save_weights``; every name, shape and dtype must match (``partial``:
        variables in the file that the model lacks are ignored). On any mismatch nothing changes."""
        return read_checkpoint(self, filepath, partial=partial)

    def export(self, filepath, format="onnx", verbose=True, input_signature=None, opset=None):
        """Writes the inference function (``training=False``) as an ONNX model to ``filepath``, as
        Keras' ``model.export`` (graphc's one format is ``"onnx"``). ``input_signature``: a
        ``gc.TensorSpec`` or a list of them (None sizes stay symbolic); default the model's input
        shape (``gc.Input``). ``opset``: the ONNX opset (default ``gc.onnx.DEFAULT_OPSET``)."""
        from .. import onnx as graphc_onnx  # the onnx package loads with it, on first use

        if format != "onnx":
            raise InvalidArgumentError(f"export: graphc exports format 'onnx' only, got {format!r}")
        if input_signature is not None and not isinstance(input_signature, (list, tuple)):
            input_signature = [input_signature]
        graphc_onnx.export(self, *(input_signature or ()), path=filepath,
                           opset=graphc_onnx.DEFAULT_OPSET if opset is None else opset)
        if verbose:
            print(f"Saved artifact at '{filepath}' (ONNX)")

    # -- description --------------------------------------------------------------------------------------
    def summary(self, print_fn=None) -> None:
        """Prints the layers with their output shapes and parameter counts."""
        print_summary(self, print_fn)


def _functional() -> type:
    from .functional import Functional  # a cycle: functional models are models

    return Functional


class _Steps:
    """The training steps of ``fit`` in this process (a strategy supplies its own: ``begin_epoch``,
    ``step(step, batch)`` returning the logs, ``end_epoch``)."""

    def __init__(self, model: Model):
        self.model, self.train_function = model, model.make_train_function()

    def begin_epoch(self) -> None:
        self.model.reset_metrics()

    def step(self, step: int, batch) -> dict:
        return _floats(self.train_function(batch))

    def end_epoch(self) -> None:
        pass


class LocalInference:
    """The test and predict steps of ``evaluate`` and ``predict`` in this process (a strategy
    supplies its own: ``begin_test``, ``test(batch)`` returning the logs, ``predict(batch)``
    returning NumPy outputs)."""

    def __init__(self, model: Model):
        self.model = model

    def begin_test(self) -> None:
        pass

    def test(self, batch) -> dict:
        return self.model.make_test_function()(batch)

    def predict(self, batch):
        return nest.map_structure(lambda t: np.asarray(t.numpy()), self.model.make_predict_function()(batch))


def _tensor(x):
    return x._as_tensor() if isinstance(x, TensorLike) else ops.constant(x)


def _spec_config(spec, serialize):
    """A ``loss`` or ``metrics`` argument of ``compile`` as plain data (see ``get_compile_config``)."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return {str(key): _spec_config(value, serialize) for key, value in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_spec_config(value, serialize) for value in spec]
    return serialize(spec)


def _spec_from_config(config, deserialize):
    """The ``loss`` or ``metrics`` argument ``_spec_config`` described."""
    if config is None or isinstance(config, str):
        return config
    if isinstance(config, list):
        return [_spec_from_config(value, deserialize) for value in config]
    if isinstance(config, dict) and "class_name" not in config:
        return {key: _spec_from_config(value, deserialize) for key, value in config.items()}
    return deserialize(config)


def _floats(logs: dict) -> dict:
    return {k: float(np.asarray(v.numpy() if isinstance(v, Tensor) else v)) for k, v in logs.items()}


def _verbosity(verbose) -> int:
    return 1 if verbose == "auto" else as_int(verbose, "verbose", low=0, high=2)

