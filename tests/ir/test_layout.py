"""Shape and layout ops against TensorFlow's documented examples, their error messages, and sizes known
only at run time (values, the checks made then). The op tables (test_ops.py, test_gradients.py,
tests/backends/test_llvm.py) compare them with NumPy, differentiate them and compile them."""
import numpy as np
import pytest

import graphc as gc

E = gc.errors
T = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
CUBE = np.array([[[1, 1, 1], [2, 2, 2]], [[3, 3, 3], [4, 4, 4]], [[5, 5, 5], [6, 6, 6]]], np.int32)
RAMP = np.arange(10, dtype=np.int32).reshape(2, 5)

# name, function, input, the result tf.* documents
TF_EXAMPLES = [
    ("pad-constant", lambda t: gc.pad(t, [[1, 1], [2, 2]], "CONSTANT"), T,
     [[0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 2, 3, 0, 0], [0, 0, 4, 5, 6, 0, 0], [0, 0, 0, 0, 0, 0, 0]]),
    ("pad-reflect", lambda t: gc.pad(t, [[1, 1], [2, 2]], "REFLECT"), T,
     [[6, 5, 4, 5, 6, 5, 4], [3, 2, 1, 2, 3, 2, 1], [6, 5, 4, 5, 6, 5, 4], [3, 2, 1, 2, 3, 2, 1]]),
    ("pad-symmetric", lambda t: gc.pad(t, [[1, 1], [2, 2]], "SYMMETRIC"), T,
     [[2, 1, 1, 2, 3, 3, 2], [2, 1, 1, 2, 3, 3, 2], [5, 4, 4, 5, 6, 6, 5], [5, 4, 4, 5, 6, 6, 5]]),
    ("tile-columns", lambda t: gc.tile(t, [1, 2]), T, [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]),
    ("tile-rows", lambda t: gc.tile(t, [2, 1]), T, [[1, 2, 3], [4, 5, 6], [1, 2, 3], [4, 5, 6]]),
    ("repeat-rows", lambda t: gc.repeat(t[:, :2], repeats=[2, 3], axis=0), T, [[1, 2], [1, 2], [4, 5], [4, 5], [4, 5]]),
    ("repeat-columns", lambda t: gc.repeat(t[:, :2], repeats=[2, 3], axis=1), T, [[1, 1, 2, 2, 2], [4, 4, 5, 5, 5]]),
    ("repeat-flattened", lambda t: gc.repeat(t[:, :2], repeats=2), T, [1, 1, 2, 2, 4, 4, 5, 5]),
    ("repeat-scalar", lambda t: gc.repeat(t[0, 2], repeats=4), T, [3, 3, 3, 3]),
    ("roll-vector", lambda t: gc.roll(gc.reshape(t, [-1])[:5], shift=2, axis=0), RAMP, [3, 4, 0, 1, 2]),
    ("roll-two-axes", lambda t: gc.roll(t, shift=[1, -2], axis=[0, 1]), RAMP, [[7, 8, 9, 5, 6], [2, 3, 4, 0, 1]]),
    ("roll-one-axis-twice", lambda t: gc.roll(t, shift=[2, -3], axis=[1, 1]), RAMP, [[1, 2, 3, 4, 0], [6, 7, 8, 9, 5]]),
    ("strided_slice-one-row", lambda t: gc.strided_slice(t, [1, 0, 0], [2, 1, 3], [1, 1, 1]), CUBE, [[[3, 3, 3]]]),
    ("strided_slice-two-rows", lambda t: gc.strided_slice(t, [1, 0, 0], [2, 2, 3], [1, 1, 1]), CUBE,
     [[[3, 3, 3], [4, 4, 4]]]),
    ("strided_slice-backwards", lambda t: gc.strided_slice(t, [1, -1, 0], [2, -3, 3], [1, -1, 1]), CUBE,
     [[[4, 4, 4], [3, 3, 3]]]),
    ("slice-one-row", lambda t: gc.slice(t, [1, 0, 0], [1, 1, 3]), CUBE, [[[3, 3, 3]]]),
    ("slice-two-rows", lambda t: gc.slice(t, [1, 0, 0], [1, 2, 3]), CUBE, [[[3, 3, 3], [4, 4, 4]]]),
    ("slice-two-blocks", lambda t: gc.slice(t, [1, 0, 0], [2, 1, 3]), CUBE, [[[3, 3, 3]], [[5, 5, 5]]]),
    ("reverse", lambda t: gc.reverse(t, [-1]), T, [[3, 2, 1], [6, 5, 4]]),
    ("shape", gc.shape, CUBE, [3, 2, 3]),
    ("size", gc.size, CUBE, 18),
    ("rank", gc.rank, CUBE, 3),
]


@pytest.mark.parametrize("backend", ["eager", "numpy", "llvm"])
@pytest.mark.parametrize("name,fn,x,want", TF_EXAMPLES, ids=[e[0] for e in TF_EXAMPLES])
def test_tensorflow_documented_examples(name, fn, x, want, backend):
    result = fn(gc.constant(x)) if backend == "eager" else gc.function(fn, backend=backend)(x)
    assert result.dtype == gc.int32
    np.testing.assert_array_equal(result.numpy(), np.array(want, np.int32))


def test_linspace_documented_examples():
    np.testing.assert_array_equal(gc.linspace(10.0, 12.0, 3).numpy(), np.array([10, 11, 12], np.float32))
    down = gc.linspace([0.0, 5.0], [10.0, 40.0], 5, axis=0).numpy()
    np.testing.assert_allclose(down, [[0, 5], [2.5, 13.75], [5, 22.5], [7.5, 31.25], [10, 40]])
    np.testing.assert_allclose(gc.linspace([0.0, 5.0], [10.0, 40.0], 5, axis=-1).numpy(), down.T)
    ends = gc.linspace(0.1, 0.7, 7).numpy()
    assert ends[0] == np.float32(0.1) and ends[-1] == np.float32(0.7), "the ends are exactly start and stop"


def test_meshgrid_documented_example():
    x, y = gc.meshgrid([1, 2, 3], [4, 5, 6, 7])
    np.testing.assert_array_equal(x.numpy(), [[1, 2, 3]] * 4)
    np.testing.assert_array_equal(y.numpy(), [[4] * 3, [5] * 3, [6] * 3, [7] * 3])
    assert gc.meshgrid() == []


MESSAGES = [
    # name, function of a float32 [2, 3] tensor, error class, words the message holds
    ("pad-paddings-shape", lambda x: gc.pad(x, [[1, 1]]), E.ShapeError, r"paddings must have shape \[2, 2\]"),
    ("pad-negative", lambda x: gc.pad(x, [[0, 0], [1, -1]]), E.InvalidArgumentError, r"paddings\[1\]\[1\] must be an int >= 0"),
    ("pad-reflect", lambda x: gc.pad(x, [[0, 0], [1, 3]], "reflect"), E.ShapeError,
     r"REFLECT paddings \[1, 3\] of axis 1 must be less than its size 3"),
    ("pad-symmetric", lambda x: gc.pad(x, [[3, 0], [0, 0]], "SYMMETRIC"), E.ShapeError,
     r"SYMMETRIC paddings \[3, 0\] of axis 0 must be at most its size 2"),
    ("pad-mode", lambda x: gc.pad(x, [[0, 0], [0, 0]], "edge"), E.InvalidArgumentError,
     "mode must be one of 'CONSTANT', 'REFLECT', 'SYMMETRIC', got 'edge'"),
    ("tile", lambda x: gc.tile(x, [1, 2, 3]), E.ShapeError, "multiples must have one entry per axis: 2, got 3"),
    ("tile-negative", lambda x: gc.tile(x, [-1, 2]), E.InvalidArgumentError, r"multiples\[0\] must be an int >= 0"),
    ("repeat-negative", lambda x: gc.repeat(x, -2), E.InvalidArgumentError, r"repeats\[0\] must be an int >= 0, got -2"),
    ("repeat-length", lambda x: gc.repeat(x, [1, 2], axis=-1), E.ShapeError, "repeats must have 1 or 3 entries"),
    ("repeat-axis", lambda x: gc.repeat(x, 2, axis=-3), E.ShapeError, r"axis must be in \[-2, 2\)"),
    ("roll-axis", lambda x: gc.roll(x, [1, 1], [0, 2]), E.ShapeError, r"axis\[1\] must be in \[-2, 2\)"),
    ("reverse-axis", lambda x: gc.reverse(x, [5]), E.ShapeError, r"axis\[0\] must be in \[-2, 2\)"),
    ("slice-begin", lambda x: gc.slice(x, [0, 4], [1, 1]), E.InvalidArgumentError,
     r"begin\[1\] must be in \[0, 3\] \(the size of axis 1\), got 4"),
    ("slice-size", lambda x: gc.slice(x, [1, 0], [2, 1]), E.InvalidArgumentError,
     r"size\[0\] must be in \[-1, 1\] \(axis 0 has size 2, begin 1\), got 2"),
    ("slice-negative-begin", lambda x: gc.slice(x, [-1, 0], [1, 1]), E.InvalidArgumentError, r"begin\[0\] must be an int >= 0"),
    ("strided_slice-stride", lambda x: gc.strided_slice(x, [0, 0], [1, 1], [1, 0]), E.InvalidArgumentError,
     r"strides\[1\] must not be zero"),
    ("strided_slice-index", lambda x: gc.strided_slice(x, [0, 3], [1, 4], shrink_axis_mask=2), E.InvalidArgumentError,
     "index 3 is out of bounds for axis 1 with size 3"),
    ("linspace-num", lambda x: gc.linspace(0.0, 1.0, -3), E.InvalidArgumentError, "num must be a positive int, got -3"),
    ("shape-out-type", lambda x: gc.shape(x, gc.float64), E.DTypeError, "out_type must be integer, got float64"),
]


@pytest.mark.parametrize("name,fn,error,words", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_error_messages(name, fn, error, words):
    with pytest.raises(error, match=words):
        fn(gc.constant(np.zeros((2, 3), np.float32)))


def test_shape_arguments_must_be_known_when_tracing():
    @gc.function(backend="numpy")
    def f(x, n):
        return gc.tile(x, n)

    with pytest.raises(E.InvalidArgumentError, match="needs values known when tracing"):
        f(np.ones(2, np.float32), np.array([2]))


SIZES = [(2, 3), (1, 1), (0, 4), (5, 1)]


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_shape_and_size_known_only_at_run_time(backend):
    f = gc.function(lambda x: [gc.shape(x), gc.size(x, gc.int64), gc.rank(x)], backend=backend,
                    input_signature=[gc.TensorSpec([None, None], "float32")])
    for shape in SIZES:
        dims, count, rank = (r.numpy() for r in f(np.zeros(shape, np.float32)))
        assert dims.dtype == np.int32 and count.dtype == np.int64 and rank.dtype == np.int32
        np.testing.assert_array_equal(dims, shape)
        assert count == np.prod(shape) and rank == 2
    assert f.trace_count == 1


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_reflect_padding_is_checked_when_the_size_is_known(backend):
    f = gc.function(lambda x: gc.pad(x, [[2, 1]], "REFLECT"), backend=backend, input_signature=[gc.TensorSpec([None], "float64")])
    np.testing.assert_array_equal(f(np.arange(3.0)).numpy(), np.pad(np.arange(3.0), [[2, 1]], "reflect"))
    with pytest.raises(E.ShapeError, match=r"REFLECT paddings \[2, 1\] of axis 0 must be less than its size 2"):
        f(np.arange(2.0))
