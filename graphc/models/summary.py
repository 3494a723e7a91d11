"""``Model.summary``: a table of a model's layers, their output shapes and parameter counts."""
from __future__ import annotations

import numpy as np


HEADER = ("Layer (type)", "Output Shape", "Param #")


def print_summary(model, print_fn=None, connected_to=None) -> None:
    """Prints ``model``'s layers with their output shapes and parameter counts, line by line through
    ``print_fn`` (default: ``print``); ``connected_to(layer)``, when given, fills a "Connected to" column."""
    print_fn = print_fn or print
    header = HEADER + (("Connected to",) if connected_to else ())
    rows = [(f"{layer.name} ({type(layer).__name__})", shape_text(layer.output_shape), f"{layer.count_params():,}")
            + ((connected_to(layer),) if connected_to else ()) for layer in model.layers]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) + 3 for i, h in enumerate(header)]
    rule = "_" * sum(widths)
    print_fn(f'Model: "{model.name}"')
    print_fn(rule)
    print_fn("".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print_fn("=" * sum(widths))
    for row in rows:
        print_fn("".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print_fn("=" * sum(widths))
    trainable = sum(int(np.prod(v.shape, dtype=np.int64)) for v in model.trainable_weights)
    print_fn(f"Total params: {model.count_params():,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {model.count_params() - trainable:,}")
    print_fn(rule)


def shape_text(shape) -> str:
    """A layer's output shape (or structure of shapes) with the batch dimension as None; ``?`` for None
    (before the layer's first call)."""
    if shape is None:
        return "?"
    return str(_batch_as_none(shape))


def _batch_as_none(shape):
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return (None,) + tuple(shape[1:]) if shape else ()
    if isinstance(shape, dict):
        return {k: _batch_as_none(v) for k, v in shape.items()}
    return type(shape)(_batch_as_none(s) for s in shape) if isinstance(shape, (list, tuple)) else shape
