"""A model as plain data, to rebuild it on a worker: its config (``get_config``), its compile
arguments, and its state (every variable of the model and its optimizer, as checkpoint files).

Ray pickles what crosses to a worker; graphc's variables do not pickle (they hold locks and
compiled code), so a replica is built from the model's config and then restored from a
checkpoint of the original: the same weights, optimizer slots and step count, bit for bit.
"""
from __future__ import annotations

import glob
import os
import tempfile

from graphc.ir.errors import InvalidArgumentError

from .. import metrics as metrics_module
from .. import nest, optimizers
from ..checkpoints import Checkpoint
from ..layers import Layer, deserialize, register, serialize
from ..module import walk


def model_spec(model) -> dict:
    """What rebuilds ``model`` elsewhere: its serialized config, the classes of its layers (for
    ``deserialize``) and its compile arguments (None when not compiled)."""
    try:
        config = serialize(model)
    except Exception as error:
        raise InvalidArgumentError(
            f"gc.distribute rebuilds the model on each worker from model.get_config(), which failed for "
            f"{type(model).__name__}: {error}"
        ) from error
    classes = {type(obj).__name__: type(obj) for _, obj in walk(model) if isinstance(obj, Layer)}
    compiled = None
    if getattr(model, "compiled", False):
        compiled = {
            "optimizer": optimizers.serialize(model.optimizer),
            "loss": model.loss,
            "loss_weights": model.compiled_loss.loss_weights if model.compiled_loss is not None else None,
            "metrics": nest.map_structure(_metric_spec, model._metric_specs),
            "run_eagerly": model.run_eagerly,
        }
    return {"config": config, "classes": classes, "compile": compiled}


class _MetricSpec:
    """A metric object (it holds variables, which do not pickle) as its class and config."""

    def __init__(self, metric):
        self.cls, self.config = type(metric), metric.get_config()


def _metric_spec(metric):
    return _MetricSpec(metric) if isinstance(metric, metrics_module.Metric) else metric


def _metric_object(spec):
    return spec.cls.from_config(spec.config) if isinstance(spec, _MetricSpec) else spec


def build_model(spec: dict):
    """A new model from ``model_spec``'s dict, compiled as the original was."""
    for name, cls in spec["classes"].items():
        register(cls, name)
    model = deserialize(spec["config"])
    compiled = spec["compile"]
    if compiled is not None:
        metrics = nest.map_structure(_metric_object, compiled["metrics"])
        model.compile(optimizer=optimizers.get(compiled["optimizer"]), loss=compiled["loss"],
                      loss_weights=compiled["loss_weights"], metrics=metrics, run_eagerly=compiled["run_eagerly"])
    return model


def _checkpoint(model, optimizer) -> Checkpoint:
    return Checkpoint(model=model) if optimizer is None else Checkpoint(model=model, optimizer=optimizer)


def save_state(model, optimizer, prefix: str) -> str:
    """Writes ``gc.train.Checkpoint(model=model, optimizer=optimizer)`` to ``prefix``."""
    return _checkpoint(model, optimizer).write(prefix)


def state_files(model, optimizer) -> dict[str, bytes]:
    """The variables of ``model`` and ``optimizer`` as the bytes of a ``gc.train.Checkpoint``, by file
    suffix."""
    with tempfile.TemporaryDirectory(prefix="graphc-replica-") as folder:
        prefix = save_state(model, optimizer, os.path.join(folder, "state"))
        return {path[len(prefix):]: open(path, "rb").read() for path in glob.glob(prefix + "*")}


def write_state(files: dict[str, bytes], prefix: str) -> str:
    """``state_files``'s bytes written as the checkpoint ``prefix``; returns the prefix."""
    for suffix, data in files.items():
        with open(prefix + suffix, "wb") as f:
            f.write(data)
    return prefix


def restore_state(model, optimizer, files: dict[str, bytes]) -> None:
    """Sets every variable of ``model`` and ``optimizer`` from ``state_files``'s bytes (optimizer slots
    are made as needed)."""
    with tempfile.TemporaryDirectory(prefix="graphc-replica-") as folder:
        _checkpoint(model, optimizer).read(write_state(files, os.path.join(folder, "state")))
