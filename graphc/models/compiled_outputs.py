"""The compiled loss and metrics of a model with one output or several, as Keras's ``compile``:
``loss``, ``loss_weights``, ``metrics``, the targets ``y`` and ``sample_weight`` are given once for
every output, as a list (by position) or as a dict (by output name). With several outputs the logs
hold each output's loss (``<output>_loss``, before weighting) and metrics (``<output>_<metric>``)."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import float32

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import nest


def output_names(model, y_pred) -> list[str]:
    """The outputs' names: a dict's keys, a functional model's output layers, else ``output_1``..."""
    if isinstance(y_pred, dict):
        return [str(k) for k in y_pred]
    count = len(nest.flatten(y_pred))
    names = getattr(model, "output_names", None)
    return list(names) if names and len(names) == count else [f"output_{i + 1}" for i in range(count)]


def per_output(spec, names: list[str], what: str, default=None) -> list:
    """``spec`` for each output: a dict by output name (missing names get ``default``), a list or tuple
    by position, or one value for every output."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise InvalidArgumentError(f"{what} has the keys {unknown}, which are not output names {names}")
        return [spec.get(n, default) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise InvalidArgumentError(f"{what} has {len(spec)} entries, but the model has {len(names)} outputs {names}")
        return list(spec)
    return [spec] * len(names)


def targets(y, names: list[str], what: str = "y") -> list:
    """The targets (or sample weights) of each output; one array serves a model with one output."""
    if len(names) == 1 and not isinstance(y, dict):
        return [y[0] if isinstance(y, (list, tuple)) and len(y) == 1 else y]
    if y is not None and not isinstance(y, (dict, list, tuple)):
        if what == "sample_weight":
            return [y] * len(names)
        raise InvalidArgumentError(f"the model has {len(names)} outputs {names}: give {what} as a list or a dict")
    return per_output(y, names, what)


class CompiledLoss:
    """The sum over the outputs of ``loss_weight * loss(y, y_pred, sample_weight)``; with several
    outputs, ``trackers`` hold each output's loss (weighted by batch size, as the total's)."""

    def __init__(self, loss, loss_weights=None):
        for weight in nest.flatten(loss_weights):
            if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
                raise InvalidArgumentError(
                    f"loss_weights must be numbers (one, or a list or dict of them, per output), got {weight!r}; "
                    "metrics go in metrics=")
        self.loss, self.loss_weights = loss, loss_weights
        self.trackers: list = []

    def __call__(self, y, y_pred, sample_weight, names: list[str]):
        losses = [None if s is None else losses_module.get(s) for s in per_output(self.loss, names, "loss")]
        weights = per_output(self.loss_weights, names, "loss_weights", 1.0)
        ys, preds = targets(y, names), nest.flatten(y_pred)
        sample_weights = targets(sample_weight, names, "sample_weight")
        if len(names) > 1 and not self.trackers:
            self.trackers = [metrics_module.Mean(name=f"{n}_loss") for n, loss in zip(names, losses) if loss is not None]
        trackers = iter(self.trackers)
        total = None
        for name, loss, weight, target, pred, sw in zip(names, losses, weights, ys, preds, sample_weights):
            if loss is None:
                continue
            if target is None:
                raise InvalidArgumentError(f"output {name!r} has a loss but the data has no targets for it")
            value = loss(target, pred, sw)
            value = ops.cast(value, float32) if value.dtype != float32 else value
            if len(names) > 1:
                next(trackers).update_state(value, sample_weight=ops.dim_size(pred, (0,), float32))
            weighted = value if weight is None or weight == 1.0 else ops.multiply(value, float(weight))
            total = weighted if total is None else ops.add(total, weighted)
        return total


def compiled_metrics(specs, y, y_pred, names: list[str]) -> list[tuple]:
    """``(metric, output index)`` for the compiled ``metrics``: for one output, a list (or a dict by
    its name); for several, a dict by output name or a list of lists (each a metric or a list), or one
    flat list for every output. Each output's metrics are named ``<output>_<metric>``."""
    if len(names) == 1:
        chosen = per_output(specs, names, "metrics", [])[0] if isinstance(specs, dict) else specs
        by_output = [chosen]
    elif isinstance(specs, (list, tuple)) and len(specs) == len(names) and all(
            s is None or isinstance(s, (list, tuple)) for s in specs):
        by_output = list(specs)
    elif isinstance(specs, dict):
        by_output = per_output(specs, names, "metrics", [])
    else:
        by_output = [specs] * len(names)
    ys, preds = targets(y, names), nest.flatten(y_pred)
    made = []
    for index, (name, chosen) in enumerate(zip(names, by_output)):
        for spec in chosen if isinstance(chosen, (list, tuple)) else [chosen] if chosen is not None else []:
            metric = metrics_module.get(spec, ys[index], preds[index])
            if any(metric is m for m, _ in made):
                raise InvalidArgumentError(
                    f"metrics: the metric object {metric.name!r} would serve several outputs; give each output its "
                    "own object, or a name such as 'mae'")
            if len(names) > 1:
                metric._name = f"{name}_{metric.name}"
            made.append((metric, index))
    return made
