"""A tensor's shape, size and rank as tensors (``tf.shape``, ``tf.size``, ``tf.rank``): constants when
the sizes are known when tracing, else read from the tensor when the graph runs (``dim_size``)."""
from __future__ import annotations

import numpy as np

from ..types import as_dtype, int32
from .common import require, shape_of, unchanged, user_op
from .composite import stack
from .creation import constant
from .reduction import dim_size


def _integer_type(out_type):
    dtype = as_dtype(out_type)
    require(dtype, integer=True, what="out_type")
    return dtype


@user_op("shape")
def shape(input, out_type=int32):
    """The shape of ``input`` as a 1-D integer tensor (int32 by default, as in TensorFlow); a size known
    only at run time is read when the graph runs."""
    dtype = _integer_type(out_type)
    dims = shape_of(input)
    if all(isinstance(d, int) for d in dims):
        return constant(np.array(dims, np.int64), dtype)
    x = unchanged(input)
    return stack([constant(d, dtype) if isinstance(d, int) else dim_size(x, (axis,), dtype) for axis, d in enumerate(dims)])


@user_op("size")
def size(input, out_type=int32):
    """The number of elements of ``input`` as a 0-D integer tensor (int32 by default)."""
    dtype = _integer_type(out_type)
    dims = shape_of(input)
    if all(isinstance(d, int) for d in dims):
        return constant(np.prod(dims, dtype=np.int64), dtype)
    return dim_size(unchanged(input), tuple(range(len(dims))), dtype)


@user_op("rank")
def rank(input):
    """The number of axes of ``input`` as a 0-D int32 tensor (always known when tracing)."""
    return constant(len(shape_of(input)), int32)
