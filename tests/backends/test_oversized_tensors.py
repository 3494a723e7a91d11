"""A tensor larger than any machine can hold (more than ``MAX_TENSOR_BYTES``, which also keeps every
element count and byte offset inside int64) is refused with a ShapeError naming the op and the user's
line: when its size is known while tracing (zeros, broadcasting, eye, range, matmul, TensorSpec) and
when it is known only at run time (None dimensions fed sizes whose products are too large), in eager
mode, on the interpreter and on the LLVM backend alike.

Compiled code used to compute such sizes in wrapping int64 arithmetic:
``reduce_sum(zeros([2**31, 2**31, 4]) + a[0])`` gave 0.0.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.ir.types import MAX_TENSOR_BYTES

BACKENDS = ("llvm", "numpy")
HUGE = 2**31
THIS_FILE = __file__

# name -> (the function of a float32 vector of 3, the op the error names); each builds on one line,
# the line the error must name
STATIC = {
    "zeros whose element count wraps int64 to 0": (lambda a: gc.reduce_sum(gc.zeros([HUGE, HUGE, 4]) + a[0]), "zeros/fill"),
    "ones just over the limit": (lambda a: gc.ones([MAX_TENSOR_BYTES // 8 + 1], gc.int64), "ones/fill"),
    "broadcast_to": (lambda a: gc.broadcast_to(a, [2**40, 2**40, 3]), "broadcast_to"),
    "implicit broadcasting": (lambda a: gc.reshape(a, [3, 1, 1]) * gc.ones([2**22, 1]) * gc.ones([2**24]), "multiply"),
    "eye": (lambda a: gc.eye(2**30, 2**30) + a[0], "eye"),
    "range": (lambda a: gc.cast(gc.range(0, 2**62, 1), gc.float32) + a[0], "range"),
    "matmul of empty operands": (lambda a: gc.matmul(gc.zeros([2**30, 0]), gc.zeros([0, 2**30])) + a[0], "matmul"),
}


def _line_of(fn) -> str:
    return f"{THIS_FILE}:{fn.__code__.co_firstlineno}"


def _expect_oversized(call, op: str, line: str) -> None:
    with pytest.raises(gc.errors.ShapeError) as info:
        call()
    error = info.value
    assert error.op == op
    assert "more than one tensor may hold" in error.message
    assert line in str(error), str(error)


@pytest.mark.parametrize("name", STATIC)
def test_a_tensor_too_large_to_exist_is_refused_while_tracing_and_in_eager_mode(name):
    fn, op = STATIC[name]
    a = np.ones(3, np.float32)
    _expect_oversized(lambda: fn(gc.constant(a)), op, _line_of(fn))
    for backend in BACKENDS:
        _expect_oversized(lambda: gc.function(fn, backend=backend)(a), op, _line_of(fn))


def test_a_tensor_spec_too_large_to_exist_is_refused_where_it_is_written():
    with pytest.raises(gc.errors.ShapeError) as info:
        gc.TensorSpec([2**40, None, 2**40], gc.float32)
    assert info.value.op == "TensorSpec" and "[1099511627776,None,1099511627776]" in info.value.message
    assert f"{THIS_FILE}:" in str(info.value)


def test_the_largest_tensor_allowed_still_traces():
    fn = gc.function(lambda a: gc.reduce_sum(gc.zeros([MAX_TENSOR_BYTES // 4 // 2**30, 2**30, 0]), axis=2) + a[0])
    assert fn.get_concrete_function(np.ones(3, np.float32)).graph.outputs[0].type.shape == (2**16, 2**30)


# name -> (the function, its input arrays (empty: they cost no memory), the op the error names)
RUN_TIME = {
    "a reduction drops the only empty axis": (lambda x: gc.reduce_sum(x, axis=0), [np.zeros((0, 2**30, 2**30), np.float32)], "reduce_sum"),
    "a matmul of empty operands": (lambda x, y: gc.matmul(x, y), [np.zeros((2**40, 0), np.float32), np.zeros((0, 2**40), np.float32)], "matmul"),
    # eager mode makes the 4 TiB sums before it gets to the product (a MemoryError on most machines);
    # compiled code and the interpreter check every size before anything runs
    "an outer product whose element count wraps int64": (
        lambda x, y: gc.reduce_sum(x, axis=0)[:, None] * gc.reduce_sum(y, axis=0)[None, :],
        [np.zeros((0, 2**40), np.float32), np.zeros((0, 2**40), np.float32)], "multiply"),
    "inside a fused kernel": (lambda x: gc.exp(gc.reduce_sum(x, axis=1)) * 2.0, [np.zeros((2**30, 0, 2**30), np.float32)], "reduce_sum"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", RUN_TIME)
def test_a_tensor_too_large_to_exist_is_refused_when_sizes_are_known_only_at_run_time(name, backend):
    fn, arrays, op = RUN_TIME[name]
    signature = [gc.TensorSpec([None] * a.ndim, gc.float32) for a in arrays]
    compiled = gc.function(fn, input_signature=signature, backend=backend)
    _expect_oversized(lambda: compiled(*arrays), op, _line_of(fn))
    if "outer product" not in name:
        _expect_oversized(lambda: fn(*map(gc.constant, arrays)), op, _line_of(fn))
