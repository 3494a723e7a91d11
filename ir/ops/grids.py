"""Grids of coordinates: ``meshgrid`` and ``linspace``, composites of broadcasting elementwise ops."""
from __future__ import annotations

from ..arguments import as_int, described, normalize_axis
from ..errors import InvalidArgumentError
from ..types import bool_, broadcast_shapes, float64
from . import elementwise as ew
from .common import cast_to, dtype_kind, known_value, promote, require, shape_of, user_op
from .creation import ones_like, range_
from .shape import broadcast_like, broadcast_to, expand_dims, reshape


@user_op("meshgrid")
def meshgrid(*args, indexing="xy"):
    """Coordinate grids from 1-D coordinate vectors (``tf.meshgrid``, ``np.meshgrid``): for N vectors of
    sizes s1..sN, N tensors of shape (s1, ..., sN) with ``indexing="ij"``, or with the first two sizes
    swapped with ``indexing="xy"`` (Cartesian, the default). Inputs of other ranks are flattened."""
    if indexing not in ("xy", "ij"):
        raise InvalidArgumentError(f"indexing must be 'xy' or 'ij', got {described(indexing)}")
    if not args:
        return []
    values = promote(*args)
    ndim = len(values)
    order = list(range(ndim))
    if indexing == "xy" and ndim > 1:
        order[:2] = [1, 0]
    columns = [reshape(v, [-1 if a == order[i] else 1 for a in range(ndim)]) for i, v in enumerate(values)]
    sizes = [shape_of(c)[order[i]] for i, c in enumerate(columns)]
    if all(isinstance(s, int) for s in sizes):
        grid_shape = [sizes[order.index(a)] for a in range(ndim)]
        return [broadcast_to(c, grid_shape) for c in columns]
    grid = ones_like(columns[0], bool_)  # of the grid's shape, which broadcasting makes when the graph runs
    for column in columns[1:]:
        grid = ew.logical_and(grid, ones_like(column, bool_))
    return [broadcast_like(c, grid) for c in columns]


@user_op("linspace")
def linspace(start, stop, num, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` included (``tf.linspace``): ``start + k *
    (stop - start) / (num - 1)``, the last exactly ``stop``. ``start`` and ``stop`` may be tensors (they
    broadcast); the new axis of size ``num`` is ``axis`` of the result. Floats keep their dtype, integers
    give float64 (TensorFlow's division of integers)."""
    num = as_int(known_value(num), "num", low=1)
    start, stop = promote(start, stop)
    dtype = dtype_kind(start)
    require(dtype, numeric=True, what="start and stop")
    if not dtype.is_floating:
        dtype = float64
    start, stop = cast_to(start, dtype), cast_to(stop, dtype)
    ndim = len(broadcast_shapes(shape_of(start), shape_of(stop), what="start and stop")) + 1
    axis = normalize_axis(axis, ndim)
    first, last = (_with_axis(v, ndim, axis) for v in (start, stop))
    k = reshape(range_(0, num, 1, dtype), [-1 if a == axis else 1 for a in range(ndim)])
    delta = ew.divide(ew.subtract(last, first), max(num - 1, 1))
    middle = ew.add(first, ew.multiply(delta, k))
    return ew.where(ew.equal(k, 0), first, ew.where(ew.equal(k, num - 1), last, middle))


def _with_axis(x, ndim: int, axis: int):
    """``x`` with leading size-1 axes up to rank ``ndim - 1`` and a size-1 axis at ``axis``."""
    lead = ndim - 1 - len(shape_of(x))
    if lead:
        x = expand_dims(x, list(range(lead)))
    return expand_dims(x, axis)
