"""Sizes known only at run time in a loaded ONNX graph: ``Shape`` of a tensor with a symbolic size
gives a ``ShapeValue``, the sizes as NumPy objects (ints, and graphc's size symbols). The shape
arithmetic exporters write around it (PyTorch's ``x.view(x.size(0), -1)``: Shape, Gather,
Unsqueeze, Concat, Reshape) runs on those objects while loading; ``Reshape`` and ``Expand`` then
read the result as a target shape. A result without symbols is an ordinary constant again.
"""
from __future__ import annotations

import numpy as np


class ShapeValue:
    """An int64 tensor of sizes, some known only at run time; ``like`` a tensor with those sizes."""

    def __init__(self, dims: np.ndarray, like):
        self.dims = dims
        self.like = like


def sizes(dims, like):
    """``dims`` (an object array) as a constant when every size is known, else a ShapeValue."""
    dims = np.asarray(dims, dtype=object)
    if all(isinstance(d, (int, np.integer)) for d in dims.reshape(-1)):
        return np.asarray(dims.astype(np.int64))
    return ShapeValue(dims, like)


def _sizes_of(x) -> list:
    """A tensor's sizes with graphc's symbols for those known only at run time."""
    return list(x.type.shape) if hasattr(x, "type") else list(np.shape(x))


def shape_of(x, start: int = 0, end: int | None = None):
    return sizes(np.asarray(_sizes_of(x)[start:end], dtype=object), x)


def _slice(attrs, d, starts, ends, axes=None, steps=None):
    step = 1 if steps is None else int(steps[0])
    big = 2**62
    start, end = int(starts[0]), int(ends[0])
    return d[None if abs(start) >= big else start:None if abs(end) >= big else end:step]


def _axes(attrs, axes):
    return tuple(int(a) for a in (axes if axes is not None else attrs.get("axes", ())))


# ONNX ops on sizes, as NumPy on the object arrays (a ShapeValue's dims or a constant's values)
SHAPE_OPS = {
    "Gather": lambda attrs, d, i: np.take(d, i, axis=attrs.get("axis", 0)),
    "Unsqueeze": lambda attrs, d, axes=None: np.expand_dims(d, _axes(attrs, axes)),
    "Squeeze": lambda attrs, d, axes=None: np.squeeze(d, _axes(attrs, axes) or None),
    "Concat": lambda attrs, *ds: np.concatenate(ds, attrs["axis"]),
    "Slice": _slice,
    "Cast": lambda attrs, d: d,
    "Identity": lambda attrs, d: d,
}


def run_on_sizes(op_type: str, attrs: dict, inputs: list):
    """The node's result when an input is a ShapeValue (None: the op is not shape arithmetic)."""
    if op_type not in SHAPE_OPS:
        return None
    like = next(v.like for v in inputs if isinstance(v, ShapeValue))
    arrays = [v.dims if isinstance(v, ShapeValue) else np.asarray(v).astype(object) if i == 0 or op_type == "Concat"
              else v for i, v in enumerate(inputs)]
    return sizes(SHAPE_OPS[op_type](attrs, *arrays), like)


def target(value: ShapeValue, x):
    """A Reshape's or Expand's target shape: ``("like", tensor)`` when it is exactly the sizes of the
    ShapeValue's tensor, else a list of ints with -1 for the one size known only at run time (None
    when several are)."""
    dims = list(value.dims.reshape(-1))
    if dims == _sizes_of(value.like):
        return "like", value.like
    unknown = [i for i, d in enumerate(dims) if not isinstance(d, (int, np.integer))]
    if len(unknown) != 1:
        return None
    if -1 in dims:  # [N, -1] of x [N, 2, 3]: the -1 is x's other sizes, N the one left to infer
        have = _sizes_of(x)
        others = [d for d in have if d != dims[unknown[0]]]
        if len(others) != len(have) - 1 or not all(isinstance(d, int) for d in others):
            return None
        known = int(np.prod([d for d in dims if isinstance(d, (int, np.integer)) and d != -1], dtype=np.int64))
        dims[dims.index(-1)] = int(np.prod(others, dtype=np.int64)) // max(known, 1)
    return [-1 if i == unknown[0] else int(d) for i, d in enumerate(dims)]
