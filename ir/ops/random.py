"""Counter-based random numbers: ``random_uniform`` and ``random_uniform_like``.

Both ops are pure functions of a *key*, so a graph gives the same numbers on every backend and
passes may fold or merge them like any other op; fresh numbers come from a fresh key (a
``gc.random.Generator`` increments the counter half of its key on every draw).

The key is an int64[2] tensor ``(seed, counter)``; each half is read as an unsigned 64-bit number.
The bits are Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
block ``b = 0, 1, ...`` is the Philox function of the counter words ``(lo32(b), hi32(b),
lo32(counter), hi32(counter))`` under the key words ``(lo32(seed), hi32(seed))``, and the blocks'
four 32-bit words, concatenated, form a stream ``w[0], w[1], ...``. Element ``i`` of the row-major
result is, in [0, 1):

- float32: ``(w[i] >> 8) * 2**-24``;
- float64: ``((w[2i] >> 5) * 2**26 + (w[2i+1] >> 6)) * 2**-53``.

Other distributions are composed from these (``normal`` by the Box-Muller transform). The ops are
not differentiable: their only input is an integer key.
"""
from __future__ import annotations

import math

from ..arguments import as_shape
from ..dispatch import bind
from ..errors import DTypeError, ShapeError
from ..types import TensorType, as_dtype, float32, int64
from . import elementwise as ew
from .common import define, dtype_kind, user_op
from .elementwise import cast
from .indexing import getitem


def _check_key(key: TensorType) -> None:
    if key.dtype != int64 or key.shape != (2,):
        raise ShapeError(f"the key must be an int64[2] tensor (seed, counter), got {key}")


def _check_float(dtype) -> None:
    if not as_dtype(dtype).is_floating:
        raise DTypeError(f"random_uniform makes float32 or float64 numbers, got {as_dtype(dtype).name}")


def _uniform_infer(types, shape, dtype):
    (key,) = types
    _check_key(key)
    _check_float(dtype)
    return [TensorType(tuple(shape), as_dtype(dtype))]


def _uniform_like_infer(types, dtype):
    key, like = types
    _check_key(key)
    _check_float(dtype)
    return [TensorType(like.shape, as_dtype(dtype))]


define("random_uniform", _uniform_infer, doc="uniform numbers in [0, 1) of a static ``shape`` from ``key``")
define("random_uniform_like", _uniform_like_infer, shape_only_inputs=(1,), doc="uniform numbers in [0, 1) shaped like ``like`` from ``key``")


def _as_key(key):
    return key if dtype_kind(key) == int64 else cast(key, int64)


@user_op("random_uniform")
def random_uniform(key, shape, dtype=float32):
    """Uniform numbers in [0, 1) of ``shape``, a pure function of ``key`` (int64[2]: seed, counter)."""
    return bind("random_uniform", _as_key(key), shape=as_shape(shape, one_int=True), dtype=as_dtype(dtype))


@user_op("random_uniform_like")
def random_uniform_like(key, like, dtype=None):
    """Uniform numbers in [0, 1) with the shape of ``like`` (known perhaps only at run time)."""
    dtype = as_dtype(dtype) if dtype is not None else dtype_kind(like)
    return bind("random_uniform_like", _as_key(key), like, dtype=dtype)


@user_op("random_normal")
def random_normal(key, shape, dtype=float32):
    """Standard normal numbers of ``shape`` from ``key`` by the Box-Muller transform of
    ``random_uniform(key, [2, *shape])``."""
    shape = as_shape(shape, one_int=True)
    u = random_uniform(key, (2,) + shape, dtype)
    radius = ew.sqrt(ew.multiply(-2.0, ew.log(ew.subtract(1.0, getitem(u, 0)))))  # 1 - u lies in (0, 1]
    return ew.multiply(radius, ew.cos(ew.multiply(2.0 * math.pi, getitem(u, 1))))
