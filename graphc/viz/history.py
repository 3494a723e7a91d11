"""``plot_history``: a training run's loss and metrics per epoch, drawn with matplotlib (an optional
dependency: ``pip install 'graphc[plot]'``)."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from ..optional import MissingDependencyError, optional_imports


class MatplotlibMissingError(MissingDependencyError):
    """A plot was asked for but matplotlib is not installed."""


def _figure_class():
    with optional_imports("plot_history draws with matplotlib", "pip install 'graphc[plot]'", MatplotlibMissingError):
        from matplotlib.figure import Figure
    return Figure


def _series(history) -> tuple[list[int], dict[str, list[float]]]:
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise InvalidArgumentError(
            f"plot_history: expected the History returned by fit (or its .history dict), got {type(history).__name__}"
        )
    if not logs or not any(len(values) for values in logs.values()):
        raise InvalidArgumentError("plot_history: the history is empty (fit ran no epoch)")
    length = max(len(values) for values in logs.values())
    epochs = [e + 1 for e in getattr(history, "epoch", range(length))][-length:]
    series = {}
    for name, values in logs.items():
        try:
            series[name] = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"plot_history: {name!r} holds non-numeric values") from None
    return epochs, series


def plot_history(history, to_file=None, metrics=None, title=None, dpi=100):
    """Draws one panel per quantity (``loss``, each metric; ``metrics`` picks some), with the training
    values as a solid line and ``val_`` ones dashed, against the epoch number. Returns the matplotlib
    ``Figure``; ``to_file`` also saves it (format from the suffix: ``.png``, ``.svg``, ``.pdf``),
    replacing any old file only once the new one is complete."""
    epochs, series = _series(history)
    names = [name for name in series if not name.startswith("val_")]
    names += [name[4:] for name in series if name.startswith("val_") and name[4:] not in series]
    if metrics is not None:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise InvalidArgumentError(f"plot_history: no {unknown} in the history; it has {names}")
        names = list(metrics)
    figure = _figure_class()(figsize=(4.5 * len(names), 3.6), dpi=dpi, layout="constrained")
    for axes, name in zip(figure.subplots(1, len(names), squeeze=False)[0], names):
        for key, style, label in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
            if key in series:
                values = series[key]
                axes.plot(epochs[len(epochs) - len(values):], values, style, marker="o", markersize=3, label=label)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        if len(axes.lines) > 1:
            axes.legend()
    if title:
        figure.suptitle(title)
    if to_file is not None:
        _save(figure, os.fspath(to_file))
    return figure


def _save(figure, path: str) -> None:
    suffix = os.path.splitext(path)[1][1:].lower()
    if not suffix:
        raise InvalidArgumentError(f"plot_history: to_file needs a suffix naming the format (.png, .svg, .pdf), got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".plot-", suffix=f".{suffix}", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format=suffix)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
