"""gc.nn's activations, cross-entropies, normalization and dropout, and gc.clip_by_norm /
gc.clip_by_global_norm: TensorFlow's documented values, eagerly and compiled on both backends;
gradients at extreme logits; edge values; bad inputs with their exact errors; sizes known only at run
time; dropout's randomness. (Values over many shapes and dtypes, and derivatives to second order
against finite differences, are rows of tests/ir/test_ops.py and tests/ir/test_gradients.py.)"""
import math

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError

# a silent fallback to the interpreter would make the LLVM results below vacuous
pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

F32, F64 = np.float32, np.float64
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
rng = np.random.default_rng(7)


def _arrays(result) -> list[np.ndarray]:
    results = result if isinstance(result, (list, tuple)) else [result]
    return [r.numpy() for r in results]


def three_ways(fn, *inputs, signature=None) -> dict[str, list[np.ndarray]]:
    """``fn``'s results eagerly, compiled by the LLVM backend and compiled by the NumPy interpreter."""
    return {
        "eager": _arrays(fn(*(gc.constant(x) for x in inputs))),
        "llvm": _arrays(gc.function(fn, input_signature=signature, backend="llvm")(*inputs)),
        "numpy": _arrays(gc.function(fn, input_signature=signature, backend="numpy")(*inputs)),
    }


def assert_three_ways(fn, inputs, want, rtol=1e-6, atol=0.0, signature=None):
    for way, results in three_ways(fn, *inputs, signature=signature).items():
        for got, expected in zip(results, want if isinstance(want, list) else [want]):
            expected = np.asarray(expected)
            assert got.dtype == expected.dtype and got.shape == expected.shape, (way, got.dtype, got.shape)
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=way)


# -- TensorFlow's documented values --------------------------------------------------------------
DOCUMENTED = [
    # name, function, inputs, the values TensorFlow's documentation gives
    ("softmax_cross_entropy_with_logits", gc.nn.softmax_cross_entropy_with_logits,
     [np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]], F32), np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]], F32)],
     np.array([0.16984604, 0.82474494], F32)),
    ("sparse_softmax_cross_entropy_with_logits", gc.nn.sparse_softmax_cross_entropy_with_logits,
     [np.array([0, 3, 1], np.int32), np.array([[2.0, -5.0, 0.5, -0.1], [0.0, 0.0, 1.9, 1.4], [-100.0, 100.0, -100.0, -100.0]], F32)],
     np.array([0.29750752, 1.1448325, 0.0], F32)),
    ("sigmoid_cross_entropy_with_logits", gc.nn.sigmoid_cross_entropy_with_logits,
     [np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5], F32), np.array([1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 0.0], F32)],
     np.array([1.3132617, 0.3132617, 0.6931472, 0.3132617, 1.3132617, 0.6931472, 0.6931472], F32)),
    ("l2_normalize", gc.nn.l2_normalize, [np.array([3.0, 4.0], F32)], np.array([0.6, 0.8], F32)),
    ("clip_by_norm", lambda t: gc.clip_by_norm(t, 2.0), [np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], F32)],
     np.array([[0.26967996, 0.5393599, 0.80903983, 1.0787199, 1.3483998]], F32)),
    ("elu", gc.nn.elu, [np.array([-1.0, 0.0, 1.0], F32)], np.array([math.expm1(-1.0), 0.0, 1.0], F32)),
    ("selu", gc.nn.selu, [np.array([-1.0, 0.0, 2.0], F32)],
     np.array([SELU_SCALE * SELU_ALPHA * math.expm1(-1.0), 0.0, 2 * SELU_SCALE], F32)),
    ("leaky_relu", gc.nn.leaky_relu, [np.array([-2.0, 0.0, 3.0], F32)], np.array([-0.4, 0.0, 3.0], F32)),
    ("silu", gc.nn.silu, [np.array([-1.0, 0.0, 2.0], F32)], np.array([-0.26894143, 0.0, 1.7615942], F32)),
    ("moments", lambda x: gc.nn.moments(x, [0]), [np.array([[1.0, 2.0], [3.0, 6.0]], F32)],
     [np.array([2.0, 4.0], F32), np.array([1.0, 4.0], F32)]),
    ("batch_normalization", lambda x: gc.nn.batch_normalization(x, 2.0, 4.0, 1.0, 3.0, 0.0), [np.array([0.0, 2.0, 6.0], F32)],
     np.array([-2.0, 1.0, 7.0], F32)),
]


@pytest.mark.parametrize("name,fn,inputs,want", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_values_eagerly_and_compiled_on_both_backends(name, fn, inputs, want):
    assert_three_ways(fn, inputs, want)


def test_swish_is_silu_and_the_activation_names_reach_it():
    assert gc.nn.swish is gc.nn.silu
    for name in ("silu", "swish"):
        np.testing.assert_allclose(gc.activations.get(name)(np.array([2.0], F32)).numpy(), [1.7615942], rtol=1e-6)


# -- extreme logits: finite, exact losses and gradients ---------------------------------------------
def _gradients(loss_fn, labels, logits):
    with gc.GradientTape() as tape:
        tape.watch([labels, logits])
        loss = gc.reduce_sum(loss_fn(labels, logits))
    return [loss, *tape.gradient(loss, [labels, logits])]


EXTREMES = [
    # name, loss, labels, logits, loss, d/dlabels, d/dlogits (None: no gradient)
    ("softmax", gc.nn.softmax_cross_entropy_with_logits, [[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], [[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]],
     3e4 + math.log(2), [[0.0, 2e4, 1e4], [2e4 + math.log(2), math.log(2), math.log(2)]],
     [[1.0, -1.0, 0.0], [-0.5, 0.0, 0.5]]),
    ("sparse", lambda labels, logits: gc.nn.sparse_softmax_cross_entropy_with_logits(gc.cast(labels, gc.int32), logits),
     [1.0, 0.0], [[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], 2e4 + 2e4 + math.log(2), None,
     [[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]]),
    ("sigmoid", gc.nn.sigmoid_cross_entropy_with_logits, [1.0, 1.0, 0.0, 0.0, 0.5], [1e4, -1e4, 1e4, -1e4, 0.0],
     1e4 + 1e4 + math.log(2), [-1e4, 1e4, -1e4, 1e4, -0.0], [0.0, -1.0, 1.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name,loss_fn,labels,logits,loss,d_labels,d_logits", EXTREMES, ids=[e[0] for e in EXTREMES])
def test_gradients_at_huge_logits_are_finite_and_exact(name, loss_fn, labels, logits, loss, d_labels, d_logits, dtype):
    """softmax - labels and sigmoid - labels, never NaN: at logits of +-1e4 a single exp overflows."""
    labels, logits = np.array(labels, dtype), np.array(logits, dtype)
    want = [np.asarray(loss, dtype), None if d_labels is None else np.array(d_labels, dtype), np.array(d_logits, dtype)]
    fn = lambda labels, logits: _gradients(loss_fn, labels, logits)  # noqa: E731
    eager = fn(gc.constant(labels), gc.constant(logits))
    for way, results in [("eager", eager), ("llvm", gc.function(fn, backend="llvm")(labels, logits)),
                         ("numpy", gc.function(fn, backend="numpy")(labels, logits))]:
        for got, expected in zip(results, want):
            if expected is None:
                assert got is None, way
                continue
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6, err_msg=way)
            assert got.numpy().dtype == dtype


def test_second_derivatives_at_huge_logits_are_finite():
    logits = gc.constant(np.array([[1e4, -1e4, 5e3]], F32))
    labels = gc.constant(np.array([[0.0, 1.0, 0.0]], F32))
    for loss in (lambda x: gc.nn.softmax_cross_entropy_with_logits(labels, x),
                 lambda x: gc.nn.sparse_softmax_cross_entropy_with_logits(np.array([1]), x),
                 lambda x: gc.nn.sigmoid_cross_entropy_with_logits(labels, x)):
        hessian = gc.hessian(lambda x: gc.reduce_sum(loss(x)))(logits).numpy()
        assert np.isfinite(hessian).all()
        np.testing.assert_allclose(hessian, 0.0, atol=1e-6)  # the softmax and sigmoid are saturated


def test_softmax_cross_entropy_keeps_the_digits_of_large_close_logits():
    """The maximum is subtracted first: at 1e4 (float32's step there is 1e-3) the loss keeps its digits."""
    logits = np.array([[1e4, 1e4 + 0.5]], F32)
    want = np.float32(np.log1p(np.exp(-0.5)) + 0.5)
    loss = gc.nn.softmax_cross_entropy_with_logits(np.array([[1.0, 0.0]], F32), logits).numpy()
    assert abs(loss[0] - want) <= 2 * np.spacing(want)
    sparse = gc.nn.sparse_softmax_cross_entropy_with_logits(np.array([0]), logits).numpy()
    assert abs(sparse[0] - want) <= 2 * np.spacing(want)


def test_cross_entropy_edge_values():
    nan, inf = np.nan, np.inf
    # -inf logits of unlabelled classes are fine; NaN spreads to its row; +inf gives NaN (as TensorFlow's)
    logits = np.array([[0.0, -inf, 0.0], [nan, 0.0, 0.0], [inf, 0.0, 0.0]], F32)
    want = np.array([math.log(2), nan, nan], F32)
    assert_three_ways(lambda x: gc.nn.sparse_softmax_cross_entropy_with_logits(np.array([0, 1, 0]), x), [logits], want)
    soft = np.array([[1.0, 0.0, 0.0]] * 3, F32)
    assert_three_ways(lambda x: gc.nn.softmax_cross_entropy_with_logits(soft, x), [logits],
                      np.array([nan, nan, nan], F32))  # 0 * (lse - -inf): NaN, as TensorFlow's formula
    x = np.array([-0.0, 0.0, inf, -inf, nan, 88.0, -88.0], F32)
    z = np.array([0.5, 1.0, 0.0, 1.0, 0.5, 0.0, 0.0], F32)
    with np.errstate(all="ignore"):
        want = (z * np.logaddexp(0, -x.astype(F64)) + (1 - z) * np.logaddexp(0, x.astype(F64))).astype(F32)
    want[2] = nan  # max(x, 0) - x * z at x = inf, z = 0: inf - inf * 0
    assert_three_ways(gc.nn.sigmoid_cross_entropy_with_logits, [z, x], want)


# -- activations: edge values and the derivative at 0 ---------------------------------------------
EDGE = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 30.0, -30.0, 1e-30, -1e-30], F32)
ACTIVATIONS = [
    # name, function, NumPy reference, its derivative at 0 (TensorFlow's kernels' choice)
    ("elu", gc.nn.elu, lambda x: np.where(x < 0, np.expm1(x), x), 1.0),
    ("selu", gc.nn.selu, lambda x: SELU_SCALE * np.where(x < 0, SELU_ALPHA * np.expm1(x), x), SELU_SCALE),
    ("leaky_relu", lambda x: gc.nn.leaky_relu(x, 0.3), lambda x: np.where(x > 0, x, 0.3 * x), 0.3),
    ("silu", gc.nn.silu, lambda x: x / (1 + np.exp(-x)), 0.5),
]


@pytest.mark.parametrize("name,fn,ref,slope_at_zero", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_edge_values_signs_of_zero_and_gradients(name, fn, ref, slope_at_zero):
    with np.errstate(all="ignore"):
        want = ref(EDGE.astype(F64)).astype(F32)
    for way, (got,) in three_ways(fn, EDGE).items():
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=way)
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(want[:2]), err_msg=f"{way}: signs of zeros")
    grad = gc.grad(lambda x: gc.reduce_sum(fn(x)))
    np.testing.assert_allclose(grad(gc.constant(np.array([0.0], F32))).numpy(), [slope_at_zero], rtol=1e-6)
    huge = grad(gc.constant(np.array([1e4, -1e4, 100.0], F32))).numpy()  # no discarded exp(1e4) turns into NaN
    assert np.isfinite(huge).all(), huge


def test_integer_features_turn_float():
    assert gc.nn.elu(np.array([1, -1], np.int32)).dtype is gc.float32
    assert gc.nn.leaky_relu(np.array([1, -1], np.int64)).dtype is gc.float64


# -- bad inputs: the error class, the op and the message ------------------------------------------
X23, LABELS2 = np.zeros((2, 3), F32), np.array([0, 1], np.int32)
BAD = [
    ("softmax-int-logits", lambda: gc.nn.softmax_cross_entropy_with_logits(X23, X23.astype(np.int32)),
     DTypeError, "softmax_cross_entropy_with_logits", "logits must be float, got int32"),
    ("softmax-shapes", lambda: gc.nn.softmax_cross_entropy_with_logits(np.zeros((2, 4), F32), X23),
     ShapeError, "softmax_cross_entropy_with_logits", "labels and logits must have the same shape, got labels [2, 4] and logits [2, 3]"),
    ("softmax-axis", lambda: gc.nn.softmax_cross_entropy_with_logits(X23, X23, axis=2),
     ShapeError, "softmax_cross_entropy_with_logits", "axis must be in [-2, 2) for a tensor of rank 2, got 2 (int)"),
    ("sparse-float-labels", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(np.zeros(2, F32), X23),
     DTypeError, "sparse_softmax_cross_entropy_with_logits", "labels must be int32 or int64, got float32"),
    ("sparse-int-logits", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(LABELS2, X23.astype(np.int64)),
     DTypeError, "sparse_softmax_cross_entropy_with_logits", "logits must be float, got int64"),
    ("sparse-rank", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(np.zeros((2, 3), np.int32), X23),
     ShapeError, "sparse_softmax_cross_entropy_with_logits", "the rank of labels (2) must be the rank of logits minus 1 (2 - 1)"),
    ("sparse-shape", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(np.zeros(3, np.int32), X23),
     ShapeError, "sparse_softmax_cross_entropy_with_logits", "labels of shape [3] must have the shape of logits [2, 3] without its last axis"),
    ("sparse-scalar-logits", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(np.zeros((), np.int32), np.float32(1)),
     ShapeError, "sparse_softmax_cross_entropy_with_logits", "logits cannot be scalars, got shape []"),
    ("sparse-label-too-large", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(np.array([0, 5], np.int32), X23),
     InvalidArgumentError, "sparse_softmax_cross_entropy_with_logits",
     "Received a label value of 5 which is outside the valid range of [0, 3). Label values: 0 5"),
    ("sparse-label-negative", lambda: gc.nn.sparse_softmax_cross_entropy_with_logits(gc.constant([-1, 2]), X23),
     InvalidArgumentError, "sparse_softmax_cross_entropy_with_logits",
     "Received a label value of -1 which is outside the valid range of [0, 3). Label values: -1 2"),
    ("sigmoid-dtypes", lambda: gc.nn.sigmoid_cross_entropy_with_logits(gc.constant(X23, gc.float64), X23),
     DTypeError, "sigmoid_cross_entropy_with_logits", "labels must have the dtype of logits (float32), got float64"),
    ("sigmoid-shapes", lambda: gc.nn.sigmoid_cross_entropy_with_logits(np.zeros(3, F32), X23),
     ShapeError, "sigmoid_cross_entropy_with_logits", "labels and logits must have the same shape, got labels [3] and logits [2, 3]"),
    ("dropout-rate-one", lambda: gc.nn.dropout(X23, 1.0),
     InvalidArgumentError, "dropout", "rate must be a scalar tensor or a number in [0, 1), got 1.0"),
    ("dropout-rate-negative", lambda: gc.nn.dropout(X23, -0.1),
     InvalidArgumentError, "dropout", "rate must be a scalar tensor or a number in [0, 1), got -0.1"),
    ("dropout-rate-vector", lambda: gc.nn.dropout(X23, gc.constant([0.5, 0.5])),
     ShapeError, "dropout", "rate must be a scalar, got shape [2]"),
    ("dropout-int", lambda: gc.nn.dropout(X23.astype(np.int32), 0.5),
     DTypeError, "dropout", "x must be a float tensor (it is scaled), got int32"),
    ("dropout-noise-shape", lambda: gc.nn.dropout(X23, 0.5, noise_shape=[2, 2]),
     ShapeError, "dropout", "noise_shape [2, 2] does not broadcast to the shape of x: axis 1 has size 2 in noise_shape, "
     "3 in x (noise_shape needs 1, None or the same size)"),
    ("dropout-noise-rank", lambda: gc.nn.dropout(X23, 0.5, noise_shape=[1, 2, 3]),
     ShapeError, "dropout", "noise_shape [1, 2, 3] has more axes than x (2)"),
    ("clip_by_global_norm-tensor", lambda: gc.clip_by_global_norm(gc.constant(X23), 1.0),
     ArgumentTypeError, "clip_by_global_norm", "t_list must be a list or tuple of tensors, got Tensor"),
    ("clip_by_global_norm-nothing", lambda: gc.clip_by_global_norm([None], 1.0),
     InvalidArgumentError, "clip_by_global_norm", "t_list holds no tensors (only None)"),
    ("clip_by_norm-vector", lambda: gc.clip_by_norm(X23, np.ones(2, F32)),
     ShapeError, "clip_by_norm", "clip_norm must be a scalar, got shape [2]"),
]


@pytest.mark.parametrize("name,fn,error_class,op,message", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_precise_errors_naming_the_op_and_line(name, fn, error_class, op, message):
    with pytest.raises(error_class) as info:
        fn()
    error = info.value
    assert type(error) is error_class and error.op == op and error.message == message, str(error)
    assert f"{__file__}:{fn.__code__.co_firstlineno}" in str(error)


def test_bad_inputs_raise_while_tracing_too():
    with pytest.raises(ShapeError, match="labels and logits must have the same shape"):
        gc.function(lambda a, b: gc.nn.softmax_cross_entropy_with_logits(a, b))(np.zeros((2, 4), F32), X23)

    @gc.function
    def constant_labels(logits):  # labels computed from constants are known while tracing
        return gc.nn.sparse_softmax_cross_entropy_with_logits(gc.constant([1, 2]) + 2, logits)

    with pytest.raises(InvalidArgumentError, match=r"Received a label value of 3 which is outside the valid range of \[0, 3\)"):
        constant_labels(X23)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("labels", [[0, 3], [-1, 1], [2, 2**31 - 1]], ids=["too-large", "negative", "int32-max"])
def test_labels_out_of_range_fail_when_the_compiled_function_runs(backend, labels):
    """Labels known only when the function runs are checked by the gather that reads them: an
    InvalidArgumentError naming it, never a silent 0 or a wrong class (negative labels included)."""
    fn = gc.function(gc.nn.sparse_softmax_cross_entropy_with_logits, backend=backend,
                     input_signature=[gc.TensorSpec([None], "int32"), gc.TensorSpec([None, 3], "float32")])
    np.testing.assert_allclose(fn(np.array([0, 2], np.int32), X23).numpy(), [math.log(3)] * 2, rtol=1e-6)
    with pytest.raises(InvalidArgumentError, match="gather") as info:
        fn(np.array(labels, np.int32), X23)
    assert "index" in str(info.value) and "out of" in str(info.value)


# -- sizes known only at run time -----------------------------------------------------------------
def _none_dims(*arrays, keep_last=False):
    return [gc.TensorSpec([None] * (a.ndim - keep_last) + ([a.shape[-1]] if keep_last else []), a.dtype.name) for a in arrays]


def test_unknown_batch_sizes():
    logits, labels = rng.normal(size=(5, 4)).astype(F32), rng.integers(0, 4, 5).astype(np.int64)
    soft = np.eye(4, dtype=F32)[labels]
    cases = [
        (lambda y, x: gc.nn.sparse_softmax_cross_entropy_with_logits(y, x), [labels, logits],
         [gc.TensorSpec([None], "int64"), gc.TensorSpec([None, 4], "float32")]),
        (gc.nn.softmax_cross_entropy_with_logits, [soft, logits], _none_dims(soft, logits)),
        (gc.nn.sigmoid_cross_entropy_with_logits, [soft, logits], _none_dims(soft, logits)),
        (lambda x: gc.nn.l2_normalize(x, -1), [logits], _none_dims(logits)),
        (lambda x: gc.nn.moments(x, [0]), [logits], _none_dims(logits)),
        (lambda x: gc.clip_by_norm(x, 1.0, axes=[1]), [logits], _none_dims(logits)),
        (lambda x, y: gc.clip_by_global_norm([x, y], 2.0)[0], [logits, soft], _none_dims(logits, soft)),
    ]
    for fn, inputs, signature in cases:
        eager = _arrays(fn(*(gc.constant(x) for x in inputs)))
        for backend in ("llvm", "numpy"):
            compiled = gc.function(fn, input_signature=signature, backend=backend)
            for n in (5, 2):
                got = _arrays(compiled(*(x[:n] for x in inputs)))
                want = _arrays(fn(*(gc.constant(x[:n]) for x in inputs))) if n != 5 else eager
                for g, w in zip(got, want):
                    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7, err_msg=backend)
            assert len(compiled.concrete_functions) == 1


# -- dropout ---------------------------------------------------------------------------------------
def test_dropout_zeroes_at_the_rate_and_scales_the_rest():
    x = gc.constant(np.ones((400, 50), F32))
    assert gc.nn.dropout(x, 0.0) is x  # as TensorFlow: rate 0 returns the input
    for rate in (0.25, 0.8):
        y = gc.nn.dropout(x, rate, seed=1).numpy()
        assert set(np.unique(y)) == {0.0, np.float32(1 / (1 - rate))}
        assert abs((y == 0).mean() - rate) < 0.02
    y = gc.nn.dropout(x, gc.constant(0.5)).numpy()  # a tensor rate
    assert set(np.unique(y)) == {0.0, 2.0}


def test_dropout_noise_shape_drops_together_along_its_axes_of_size_one():
    x = np.ones((3, 4, 10), F32)
    for noise_shape, together in [([3, 1, 10], (1,)), ([1, 1, 10], (0, 1)), ([None, 4, 1], (2,)), ([10], (0, 1)),
                                  ([1, None, 1], (0, 2))]:
        y = gc.nn.dropout(x, 0.5, noise_shape=noise_shape, seed=2).numpy()
        assert set(np.unique(y)) <= {0.0, 2.0}
        np.testing.assert_array_equal(y, np.broadcast_to(y.max(axis=together, keepdims=True), y.shape), err_msg=str(noise_shape))


def test_dropout_is_reproducible_from_the_seed_and_fresh_on_each_call():
    x = np.ones((20, 20), F32)
    gc.random.set_seed(11)
    first = [gc.nn.dropout(x, 0.5, seed=4).numpy() for _ in range(2)]
    assert not np.array_equal(*first)  # a stateful op: each call draws anew
    gc.random.set_seed(11)
    again = [gc.nn.dropout(x, 0.5, seed=4).numpy() for _ in range(2)]
    np.testing.assert_array_equal(first, again)

    step = gc.function(lambda x: gc.nn.dropout(x, 0.5, seed=5))
    a, b = step(x).numpy(), step(x).numpy()
    assert step.trace_count == 1 and not np.array_equal(a, b)


def test_dropout_masks_agree_across_backends_and_gradients_follow_them():
    x = rng.normal(size=(64, 33)).astype(F32)
    results = {}
    for backend in ("llvm", "numpy"):
        generator = gc.random.Generator.from_seed(99)

        def step(x):
            with gc.GradientTape() as tape:
                tape.watch(x)
                y = gc.nn.dropout_with(generator, x, 0.3, noise_shape=[None, 1])
                loss = gc.reduce_sum(y * 2.0)
            return y, tape.gradient(loss, x)

        results[backend] = _arrays(gc.function(step, backend=backend,
                                               input_signature=[gc.TensorSpec([None, 33], "float32")])(x))
    np.testing.assert_array_equal(results["llvm"][0], results["numpy"][0])
    y, grad = results["llvm"]
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(0.7), rtol=1e-6)
    np.testing.assert_allclose(grad, np.where(kept, 2 / np.float32(0.7), 0.0), rtol=1e-6)
    assert kept.all(axis=1).sum() + (~kept).all(axis=1).sum() == 64  # whole rows kept or dropped


def test_dropout_drops_inf_and_nan_to_nan_as_tensorflow_multiplies():
    y = gc.nn.dropout(np.full((200,), np.inf, F32), 0.5, seed=3).numpy()
    assert set(np.isnan(y)) == {True, False} and (np.isnan(y) | (y == np.inf)).all()


def test_dropout_layer_noise_shape_and_config():
    layer = L.Dropout(0.5, noise_shape=(None, 1), seed=6)
    x = np.ones((50, 8), F32)
    y = layer(x, training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and ((y == 0).all(axis=1) | (y == 2).all(axis=1)).all()
    compiled = gc.function(lambda x: layer(x, training=True), input_signature=[gc.TensorSpec([None, 8], "float32")])
    assert compiled(x[:7]).shape == (7, 8)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    config = layer.get_config()
    assert config["noise_shape"] == [None, 1]
    assert L.Dropout.from_config(config).get_config() == config
    with pytest.raises(InvalidArgumentError, match="noise_shape"):
        L.Dropout(0.5, noise_shape="x")


# -- activations by name, clipping, the losses built on the cross-entropies ------------------------
def test_activation_names_in_layers_and_serialization():
    x = rng.normal(size=(3, 4)).astype(F32)
    for name, fn in [("elu", gc.nn.elu), ("selu", gc.nn.selu), ("leaky_relu", gc.nn.leaky_relu), ("silu", gc.nn.silu),
                     ("swish", gc.nn.swish)]:
        dense = L.Dense(2, activation=name)
        np.testing.assert_allclose(dense(x).numpy(), fn(x @ dense.kernel.numpy() + dense.bias.numpy()).numpy(), rtol=1e-6)
        np.testing.assert_allclose(L.Activation(name)(x).numpy(), fn(x).numpy(), rtol=1e-6)
        assert gc.activations.get(gc.activations.serialize(fn)) is gc.activations.get(name)
    np.testing.assert_allclose(gc.activations.elu(x, alpha=2.0).numpy(), np.where(x > 0, x, 2 * np.expm1(x)), rtol=1e-6)
    np.testing.assert_allclose(gc.activations.leaky_relu(x, negative_slope=0.5).numpy(), np.where(x > 0, x, 0.5 * x))


def test_clip_by_global_norm_passes_none_and_keeps_dtypes():
    a, b = np.array([3.0, 0.0], F32), np.array([[4.0]], F64)
    clipped, norm = gc.clip_by_global_norm([a, None, b], 1.0)
    assert clipped[1] is None and norm.dtype is gc.float64 and float(norm) == 5.0
    assert clipped[0].dtype is gc.float32 and clipped[2].dtype is gc.float64
    np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(clipped[2].numpy(), [[0.8]])
    same, norm = gc.clip_by_global_norm((a,), 10.0)  # under the limit: unchanged
    np.testing.assert_array_equal(same[0].numpy(), a)
    nan, norm = gc.clip_by_global_norm([np.array([np.nan, 1.0], F32), a], 1.0)
    assert np.isnan(norm.numpy()) and all(np.isnan(t.numpy()).all() for t in nan)


def test_losses_from_logits_use_the_stable_cross_entropies():
    """binary_crossentropy(from_logits) has the derivative sigmoid(x) - z at x = 0 too (the formula with
    max(x, 0) and |x| had derivative -z there)."""
    z = gc.constant(np.array([[1.0, 0.0]], F32))
    grad = gc.grad(lambda x: gc.losses.binary_crossentropy(z, x, from_logits=True)[0])(gc.constant(np.zeros((1, 2), F32)))
    np.testing.assert_allclose(grad.numpy(), [[-0.25, 0.25]])
    logits = np.array([[1e4, 1e4 + 0.5]], F32)
    loss = gc.losses.categorical_crossentropy(np.array([[1.0, 0.0]], F32), logits, from_logits=True).numpy()
    np.testing.assert_allclose(loss, [np.log1p(np.exp(-0.5)) + 0.5], rtol=1e-6)


# -- softmax: each exponential times the reciprocal of its row's sum (TensorFlow's CPU kernel) -----
def _ulps_from(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(got.dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e30])
def test_softmax_is_within_a_few_ulp_of_the_exact_quotient(dtype, scale):
    """Against exp(d) / sum(exp(d)) in long double from the shifted logits d = x - max as the dtype
    rounds them (that rounding is every softmax's: 100 ulp of exp at |d| = 100 in float32), every
    way: the reciprocal adds at most 1 ulp to the quotient's rounding, exp and the sum add theirs
    (the interpreter's float32 exp, NumPy's, is 2.4 ulp off). Measured: at most 4.8 ulp."""
    x = (rng.standard_normal((37, 301)) * scale).astype(dtype)
    x[3, :5] = -np.inf
    e = np.exp((x - x.max(axis=1, keepdims=True)).astype(np.longdouble))
    exact = e / e.sum(axis=1, keepdims=True)
    normal = exact >= np.finfo(dtype).tiny
    for way, (got,) in three_ways(lambda v: gc.nn.softmax(v), x).items():
        assert got.dtype == dtype
        assert _ulps_from(got, exact)[normal].max() <= 8, way
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=4 * x.shape[1] * np.finfo(dtype).eps, err_msg=way)


@pytest.mark.parametrize("row,want", [
    ([-np.inf, -np.inf, -np.inf], [np.nan] * 3),           # 0 * (1 / 0)
    ([np.inf, 0.0, 1.0], [np.nan, 0.0, 0.0]),              # exp(inf) * (1 / inf), 1 * (1 / inf)
    ([np.nan, 0.0, 1.0], [np.nan] * 3),
    ([0.0, -np.inf, 0.0], [0.5, 0.0, 0.5]),
    ([-0.0, 0.0, 0.0], [1 / 3] * 3),
    ([88.0, 88.0, -1e30], [0.5, 0.5, 0.0]),
])
def test_softmax_edge_rows_match_the_quotient(row, want):
    x = np.array([row], np.float32)
    for way, (got,) in three_ways(lambda v: gc.nn.softmax(v), x).items():
        np.testing.assert_allclose(got[0], np.array(want, np.float32), rtol=1e-6, err_msg=way)
