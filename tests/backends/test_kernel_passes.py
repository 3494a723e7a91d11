"""Multi-pass row kernels (reductions feeding elementwise results) on the LLVM backend, against the
interpreter: softmax-like kernels keep values between passes in the output's buffer."""
import numpy as np
import pytest

import graphc as gc

rng = np.random.default_rng(7)

CASES = [
    ("softmax_last", lambda x: gc.nn.softmax(x, axis=-1), (33, 70)),
    ("softmax_first", lambda x: gc.nn.softmax(x, axis=0), (33, 70)),
    ("softmax_middle_3d", lambda x: gc.nn.softmax(x, axis=1), (4, 17, 5)),
    ("log_softmax", lambda x: gc.nn.log_softmax(x), (9, 1025)),
    ("layer_norm", lambda x: (x - gc.reduce_mean(x, -1, keepdims=True)) * gc.rsqrt(gc.reduce_variance(x, -1, keepdims=True) + 1e-5), (8, 130)),
    ("two_uses_of_exp", lambda x: (gc.exp(x) / gc.reduce_sum(gc.exp(x), -1, keepdims=True), gc.exp(x) * 2.0), (6, 40)),
    ("spill_and_row_output", lambda x: (gc.nn.softmax(x), gc.reduce_max(x, -1)), (6, 40)),
    ("single_row", lambda x: gc.nn.softmax(x), (1, 5)),
    ("empty_rows", lambda x: gc.nn.softmax(x), (0, 5)),
    # a reduction of a reduction over a size-1 axis: the second reads a per-row value of the first
    ("reduce_of_reduce_size_one", lambda x: gc.exp(gc.reduce_mean(gc.reduce_sum(x, 0, keepdims=True), 0, keepdims=True)), (1, 6)),
]


@pytest.mark.parametrize("name,fn,shape", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_kernels_match_the_interpreter(name, fn, shape, dtype):
    x = rng.normal(size=shape).astype(dtype) * 3
    native = gc.function(fn)(x)
    reference = gc.function(fn, backend="numpy")(x)
    for a, b in zip(native if isinstance(native, tuple) else [native], reference if isinstance(reference, tuple) else [reference]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=4e-6 if dtype == np.float32 else 1e-13, atol=1e-7)
