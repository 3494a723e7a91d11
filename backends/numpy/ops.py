"""The NumPy implementations of the ops not defined in a table: the reference meaning of every op.
(The elementwise ops of ``ir/ops/elementwise.py`` carry theirs beside their definition.)

Each implementation takes the input arrays and the node's attributes and returns the result array(s).
``run_op`` casts results to the dtype the shape rule inferred, so NumPy's own promotion never
leaks into graphc's types. It also gives the ops fused kernels compute (elementwise ops, reductions,
matmul) their float16 operands as float32: such an op computes in float32 and its result is rounded
to float16 once (the LLVM backend's rule too). Integer results wrap around (NumPy's and TensorFlow's
integer arithmetic).
"""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcError, InvalidArgumentError
from graphc.ir.registry import REFERENCE, get_op, implement
from graphc.ir.types import as_dtype

BACKEND = REFERENCE


@implement("cast", BACKEND)
def _cast(x, dtype):
    if dtype.is_integer and x.dtype.kind == "f":  # the rule of ``graphc.ir.ops.elementwise.cast``
        wide = np.int64 if dtype.name == "int64" else np.int32
        limit = float(np.iinfo(wide).max) + 1.0
        x = np.where((x >= -limit) & (x < limit), np.trunc(x), -limit).astype(wide)
    return x.astype(dtype.numpy)


# -- creation -------------------------------------------------------------------------------------
implement("constant", BACKEND)(lambda value: value)
implement("fill", BACKEND)(lambda shape, value, dtype: np.full(shape, value, dtype.numpy))
implement("full_like", BACKEND)(lambda x, value, dtype: np.full(x.shape, value, dtype.numpy))
implement("range", BACKEND)(lambda start, limit, delta, dtype: np.arange(start, limit, delta, dtype=dtype.numpy))
implement("eye", BACKEND)(lambda num_rows, num_columns, dtype: np.eye(num_rows, num_columns, dtype=dtype.numpy))


# -- reductions -----------------------------------------------------------------------------------
@implement("reduce_sum", BACKEND)
def _reduce_sum(x, axes, keepdims):
    # NumPy sums float32 along a non-last axis one element after another (relative error ~n·eps, 4e-2
    # over 2**22 rows); accumulated in float64 and rounded once, a float32 sum is exact to ~1 ulp
    if x.dtype == np.float32:
        return np.sum(x, axis=axes, keepdims=keepdims, dtype=np.float64).astype(np.float32)
    return np.sum(x, axis=axes, keepdims=keepdims)


def _extremum(reduce, combine: str):
    """``reduce`` (np.max, np.min); an empty one (``allow_empty``) is the identity of ``combine``."""

    def run(x, axes, keepdims, allow_empty=False):
        if allow_empty:
            return reduce(x, axis=axes, keepdims=keepdims, initial=get_op(combine).identity_for(as_dtype(x.dtype)))
        return reduce(x, axis=axes, keepdims=keepdims)

    return run


implement("reduce_max", BACKEND)(_extremum(np.max, "maximum"))
implement("reduce_min", BACKEND)(_extremum(np.min, "minimum"))
implement("reduce_prod", BACKEND)(lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims))
implement("argmax", BACKEND)(lambda x, axis, dtype: np.argmax(x, axis=axis))
implement("argmin", BACKEND)(lambda x, axis, dtype: np.argmin(x, axis=axis))
implement("dim_size", BACKEND)(lambda x, axes, dtype: np.asarray(int(np.prod([x.shape[a] for a in axes])), dtype.numpy))


# -- shapes ---------------------------------------------------------------------------------------
implement("reshape", BACKEND)(lambda x, shape: np.reshape(x, shape))
implement("reshape_like", BACKEND)(lambda x, like: np.reshape(x, like.shape))
implement("transpose", BACKEND)(lambda x, perm: np.transpose(x, perm))
implement("broadcast_to", BACKEND)(lambda x, shape: np.broadcast_to(x, shape).copy())
implement("broadcast_like", BACKEND)(lambda x, like: np.broadcast_to(x, like.shape).copy())
implement("expand_dims", BACKEND)(lambda x, axes: np.expand_dims(x, axes))
implement("squeeze", BACKEND)(lambda x, axes: np.squeeze(x, axes))
implement("concat", BACKEND)(lambda *xs, axis: np.concatenate(xs, axis=axis))
implement("split", BACKEND)(lambda x, axis, sizes: np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@implement("getitem", BACKEND)
def _getitem(x, index):
    return x[index]


@implement("scatter_slice", BACKEND)
def _scatter_slice(base, update, index):
    out = base.copy()
    out[index] = update
    return out


@implement("gather", BACKEND)
def _gather(params, indices, axis):
    return np.take(params, indices, axis=axis, mode="raise")


@implement("scatter_add", BACKEND)
def _scatter_add(base, indices, updates, axis):
    out = base.copy()
    np.add.at(out, (slice(None),) * axis + (indices,), updates)
    return out


@implement("matmul", BACKEND)
def _matmul(a, b):
    return np.matmul(a, b)


@implement("call", BACKEND)
def _call(*arrays, function):
    from .interpreter import Interpreter

    return Interpreter(function.graph).run(list(arrays))


@implement("fused", BACKEND)
def _fused(*arrays, body, kernel, kind):
    from .interpreter import Interpreter

    return Interpreter(body, check_sizes=False).run(list(arrays))  # checked with the enclosing graph


# -- variables ------------------------------------------------------------------------------------
# read_variable and assign_variable touch state, so the interpreter and the eager handler run them
# themselves; their implementations are the plain data movement.
implement("read_variable", BACKEND)(lambda var: var.value)
implement("assign_variable", BACKEND)(lambda value, var: None)


def run_op(op: str, arrays: list, attrs: dict, out_types) -> list[np.ndarray]:
    """Runs ``op``'s NumPy implementation and returns its results as arrays of the inferred dtypes.

    A value NumPy rejects (an index out of range, a negative integer power) raises InvalidArgumentError."""
    opdef = get_op(op)
    fn = opdef.implementations[BACKEND]
    if opdef.fusion_kind != "opaque":
        arrays = [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]
    try:
        with np.errstate(all="ignore"):
            result = fn(*arrays, **attrs)
    except GraphcError:
        raise
    except (ValueError, IndexError, TypeError, ArithmeticError) as error:
        raise InvalidArgumentError(str(error)) from None
    results = list(result) if isinstance(result, (list, tuple)) else [result]
    with np.errstate(over="ignore"):  # a float32 result beyond float16's range rounds to inf
        return [np.asarray(r, dtype=t.dtype.numpy) for r, t in zip(results, out_types)]

