"""Every differentiable op's VJP and JVP against central finite differences in float64, to second order."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.ops import conv
from graphc.test_util import check_grads

rng = np.random.default_rng(1234)


def normal(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """Values with no ties (extrema are unique)."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.37 + 0.1


# rows with no zero and one zero (first, inside, last): cumprod's derivatives of every order are exact
# there; with a row of two zeros the first derivatives are (test_cumprod_gradient_with_zeros_...)
WITH_ZEROS = np.array([[1.2, -0.7, 1.5, 0.9, -1.1], [0.8, 0.0, -1.3, 1.1, 0.6], [0.0, 1.4, 0.7, -0.9, 1.2],
                       [1.1, -0.8, 0.9, 1.3, 0.0]])
WITH_TWO_ZEROS = np.concatenate([WITH_ZEROS, [[0.7, 0.0, 1.2, 0.0, -1.4], [0.0, 0.0, 0.5, 1.5, 0.0]]])


# name, function, argument arrays; broadcasting shapes where the op broadcasts
CASES = [
    ("gather_nd", lambda p: gc.gather_nd(p, [[0, 1], [2, 0], [0, 1]]), [normal(3, 2, 2)]),
    ("scatter_nd", lambda u: gc.scatter_nd([[1], [3], [1]], u, [4, 2]), [normal(3, 2)]),
    ("tensor_scatter_nd_update", lambda t, u: gc.tensor_scatter_nd_update(t, [[0, 1], [2, 2]], u),
     [normal(3, 3), normal(2)]),
    ("boolean_mask", lambda x: gc.boolean_mask(x, np.array([True, False, True])), [normal(3, 2)]),
    ("negative", gc.negative, [normal(3, 4)]),
    ("abs", gc.abs, [away_from_zero(3, 4)]),
    ("exp", gc.exp, [normal(3, 4)]),
    ("log", gc.log, [positive(3, 4)]),
    ("log1p", gc.log1p, [positive(3, 4)]),
    ("expm1", gc.expm1, [normal(3, 4)]),
    ("sqrt", gc.sqrt, [positive(3, 4)]),
    ("rsqrt", gc.rsqrt, [positive(3, 4)]),
    ("cbrt", gc.cbrt, [positive(3, 4)]),
    ("square", gc.square, [normal(3, 4)]),
    ("sin", gc.sin, [normal(3, 4)]),
    ("cos", gc.cos, [normal(3, 4)]),
    ("tanh", gc.tanh, [normal(3, 4)]),
    ("sigmoid", gc.sigmoid, [normal(3, 4)]),
    ("relu", gc.nn.relu, [away_from_zero(3, 4)]),
    ("sign", lambda x: gc.sign(x) * x, [away_from_zero(5)]),
    ("add", gc.add, [normal(3, 4), normal(4)]),
    ("subtract", gc.subtract, [normal(3, 1), normal(1, 4)]),
    ("multiply", gc.multiply, [normal(2, 3, 4), normal(3, 1)]),
    ("divide", gc.divide, [normal(3, 4), positive(4)]),
    ("pow", gc.pow, [positive(3, 4), normal(3, 4)]),
    ("pow_scalar_exponent", lambda x: x ** 3.0, [normal(3, 4)]),
    ("mod", lambda x: gc.mod(x, 10.0), [positive(3, 4)]),
    ("maximum", gc.maximum, [distinct(3, 4), distinct(3, 4) + 0.05]),
    ("minimum", gc.minimum, [distinct(3, 4), distinct(4) + 0.05]),
    ("where", lambda x, y: gc.where(gc.greater(x, 0.0), x * y, y), [away_from_zero(3, 4), normal(4)]),
    ("cast", lambda x: gc.cast(gc.cast(x * 3.0, gc.int32), gc.float64) * x, [away_from_zero(3) + 0.1]),
    ("clip", lambda x: gc.clip_by_value(x, -0.5, 0.5), [away_from_zero(3, 4) * 0.3 + 0.9]),
    ("reduce_sum_all", gc.reduce_sum, [normal(3, 4)]),
    ("reduce_sum_axis0", lambda x: gc.reduce_sum(x, axis=0), [normal(3, 4)]),
    ("reduce_sum_axis1_keep", lambda x: gc.reduce_sum(x, axis=1, keepdims=True), [normal(3, 4)]),
    ("reduce_sum_neg_axes", lambda x: gc.reduce_sum(x, axis=[-1, 0]), [normal(2, 3, 4)]),
    ("reduce_mean", lambda x: gc.reduce_mean(x, axis=-1), [normal(3, 4)]),
    ("reduce_max", lambda x: gc.reduce_max(x, axis=1), [distinct(3, 4)]),
    ("reduce_min_all", gc.reduce_min, [distinct(3, 4)]),
    ("reduce_prod", lambda x: gc.reduce_prod(x, axis=0), [away_from_zero(3, 4)]),
    ("reduce_variance", lambda x: gc.reduce_variance(x, axis=0), [normal(5, 2)]),
    ("reduce_logsumexp", lambda x: gc.reduce_logsumexp(x, axis=1), [normal(3, 4)]),
    ("norm", lambda x: gc.norm(x, axis=1), [normal(3, 4)]),
    ("softmax", gc.nn.softmax, [normal(3, 4)]),
    ("log_softmax", lambda x: gc.nn.log_softmax(x, axis=0), [normal(3, 4)]),
    ("gelu", gc.nn.gelu, [normal(3, 4)]),
    ("gelu_tanh", lambda x: gc.nn.gelu(x, approximate=True), [normal(3, 4)]),
    ("softplus", gc.nn.softplus, [normal(3, 4)]),
    ("matmul", gc.matmul, [normal(3, 4), normal(4, 2)]),
    ("matmul_batched_broadcast", gc.matmul, [normal(2, 3, 4), normal(4, 5)]),
    ("matmul_transposes", lambda a, b: gc.matmul(a, b, transpose_a=True, transpose_b=True), [normal(4, 3), normal(2, 4)]),
    ("transpose", lambda x: gc.transpose(x, [2, 0, 1]), [normal(2, 3, 4)]),
    ("reshape", lambda x: gc.reshape(x, [4, -1]), [normal(2, 3, 4)]),
    ("broadcast_to", lambda x: gc.broadcast_to(x, [2, 3, 4]), [normal(3, 1)]),
    ("expand_dims", lambda x: gc.expand_dims(x, 1), [normal(3, 4)]),
    ("squeeze", lambda x: gc.squeeze(x), [normal(3, 1, 4)]),
    ("concat", lambda x, y: gc.concat([x, y, x], axis=1), [normal(3, 2), normal(3, 4)]),
    ("stack", lambda x, y: gc.stack([x, y], axis=1), [normal(3, 2), normal(3, 2)]),
    ("split", lambda x: gc.split(x, [1, 3], axis=1)[1] * 2.0, [normal(3, 4)]),
    ("split_both", lambda x: gc.multiply(*gc.split(x, 2, axis=0)), [normal(4, 3)]),
    ("unstack", lambda x: gc.unstack(x, axis=1)[2], [normal(3, 4)]),
    ("gather", lambda x: gc.gather(x, np.array([2, 0, 2]), axis=1), [normal(3, 4)]),
    ("gather_2d_indices", lambda x: gc.gather(x, np.array([[1, 1], [0, 2]])), [normal(3, 4)]),
    ("getitem", lambda x: x[1:, ::-2, None], [normal(3, 4)]),
    ("getitem_ellipsis", lambda x: x[..., 1], [normal(2, 3, 4)]),
    ("identity", gc.identity, [normal(3)]),
    ("floordiv", lambda x: gc.floordiv(x, 0.7) + x, [away_from_zero(3) + 0.05]),
    ("composition", lambda x, y: gc.reduce_sum(gc.tanh(gc.matmul(x, y)) * gc.exp(-x[:, :1])), [normal(3, 4), normal(4, 2)]),
    ("extract_patches_same_stride2", lambda x: conv.extract_patches(x, (3, 2), 2, "same"), [normal(2, 5, 4, 3)]),
    ("extract_patches_transpose", lambda p: conv.extract_patches_transpose(p, (5, 4, 3), (3, 2), 2, "same"), [normal(2, 3, 2, 18)]),
    ("conv2d_valid", conv.conv2d, [normal(2, 5, 4, 3), normal(3, 2, 3, 2)]),
    ("conv2d_same_stride2", lambda x, k: conv.conv2d(x, k, 2, "same"), [normal(1, 5, 5, 2), normal(3, 3, 2, 3)]),
    ("max_pool2d_disjoint", lambda x: conv.max_pool2d(x, 2), [distinct(2, 4, 5, 3)]),
    ("max_pool2d_same_overlapping", lambda x: conv.max_pool2d(x, 3, 2, "same"), [distinct(1, 5, 5, 2)]),
    ("avg_pool2d_same", lambda x: conv.avg_pool2d(x, 2, 1, "same"), [normal(2, 3, 4, 2)]),
    # math ops (tf-math)
    ("asin", gc.asin, [rng.uniform(-0.9, 0.9, (3, 4))]),
    ("acos", gc.acos, [rng.uniform(-0.9, 0.9, (3, 4))]),
    ("atan", gc.atan, [normal(3, 4) * 3]),
    ("asinh", gc.asinh, [normal(3, 4) * 3]),
    ("acosh", gc.acosh, [rng.uniform(1.2, 4.0, (3, 4))]),
    ("atanh", gc.atanh, [rng.uniform(-0.9, 0.9, (3, 4))]),
    ("atan2", gc.atan2, [normal(3, 4), away_from_zero(4)]),
    ("atan2_left_half_plane", lambda y, x: gc.math.atan2(y, -x), [away_from_zero(3, 4), positive(3, 4)]),
    ("cumsum", lambda x: gc.math.cumsum(x, axis=1), [normal(3, 4)]),
    ("cumsum_exclusive_reverse", lambda x: gc.math.cumsum(x, axis=0, exclusive=True, reverse=True), [normal(3, 4)]),
    ("cumprod", lambda x: gc.math.cumprod(x, axis=1), [away_from_zero(3, 4)]),
    ("cumprod_exclusive_reverse", lambda x: gc.math.cumprod(x, axis=0, exclusive=True, reverse=True), [away_from_zero(4, 3)]),
    ("cumprod_zeros", lambda x: gc.math.cumprod(x, axis=1), [WITH_ZEROS]),
    ("cumprod_zeros_exclusive", lambda x: gc.math.cumprod(x, axis=1, exclusive=True), [WITH_ZEROS]),
    ("cumprod_zeros_reverse", lambda x: gc.math.cumprod(x, axis=-1, reverse=True), [WITH_ZEROS]),
    ("cumprod_zeros_exclusive_reverse", lambda x: gc.math.cumprod(x, axis=1, exclusive=True, reverse=True), [WITH_ZEROS]),
    ("cumprod_zeros_axis0", lambda x: gc.math.cumprod(x.T, axis=0), [WITH_ZEROS]),
    # shape and layout ops (tf-shape); pad, tile, repeat and roll are the primitive remap
    ("remap_pad_constant", lambda x: gc.pad(x, [[1, 2], [0, 1]], constant_values=3.0), [normal(3, 4)]),
    ("remap_pad_reflect", lambda x: gc.pad(x, [[2, 1], [1, 3]], "REFLECT"), [normal(3, 4)]),
    ("remap_pad_symmetric", lambda x: gc.pad(x, [[3, 1], [0, 4]], "SYMMETRIC"), [normal(3, 4)]),
    ("remap_tile", lambda x: gc.tile(x, [2, 3]), [normal(3, 2)]),
    ("remap_repeat", lambda x: gc.repeat(x, 3, axis=1), [normal(2, 3)]),
    ("remap_roll", lambda x: gc.roll(x, [1, -5], [0, 1]), [normal(3, 4)]),
    ("remap_adjoint", lambda x: gc.grad(lambda y: gc.reduce_sum(gc.pad(y, [[1, 1], [2, 0]], "SYMMETRIC") ** 3))(x),
     [normal(3, 4)]),
    ("repeat_list", lambda x: gc.repeat(x, [2, 0, 1], axis=0), [normal(3, 2)]),
    ("reverse", lambda x: gc.reverse(x, [1]), [normal(3, 4)]),
    ("slice", lambda x: gc.slice(x, [1, 0], [2, -1]), [normal(3, 4)]),
    ("strided_slice", lambda x: gc.strided_slice(x, [2, 0], [0, 4], [-1, 2], shrink_axis_mask=0), [normal(3, 4)]),
    ("meshgrid", lambda x, y: gc.reduce_sum(gc.multiply(*gc.meshgrid(x, y)) ** 2, axis=0), [normal(3), normal(4)]),
    ("linspace", lambda a, b: gc.linspace(a, b, 5, axis=1) ** 2, [normal(2), normal(2)]),
    # gc.nn (tf-nn)
    ("elu", gc.nn.elu, [away_from_zero(3, 4)]),
    ("selu", gc.nn.selu, [away_from_zero(3, 4)]),
    ("leaky_relu", lambda x: gc.nn.leaky_relu(x, alpha=0.1), [away_from_zero(3, 4)]),
    ("silu", gc.nn.silu, [normal(3, 4)]),
    ("silu_beta_tensor", lambda x, beta: gc.nn.silu(x, beta), [normal(3, 4), positive()]),
    # labels that are no distribution: the derivative is softmax * sum(labels) - labels
    ("softmax_cross_entropy_with_logits", gc.nn.softmax_cross_entropy_with_logits, [positive(3, 4), normal(3, 4)]),
    ("softmax_cross_entropy_with_logits_axis0", lambda labels, logits: gc.nn.softmax_cross_entropy_with_logits(labels, logits, 0),
     [positive(3, 2, 4), normal(3, 2, 4)]),
    ("sparse_softmax_cross_entropy_with_logits",
     lambda logits: gc.nn.sparse_softmax_cross_entropy_with_logits(np.array([[2, 0, 3], [1, 1, 0]]), logits), [normal(2, 3, 4)]),
    ("sigmoid_cross_entropy_with_logits", gc.nn.sigmoid_cross_entropy_with_logits,
     [rng.uniform(0.0, 1.0, (3, 4)), away_from_zero(3, 4) * 4.0]),
    ("l2_normalize", lambda x: gc.nn.l2_normalize(x, axis=1), [normal(3, 4)]),
    ("moments", lambda x: gc.stack(gc.nn.moments(x, [0, 2])), [normal(3, 2, 4)]),
    ("batch_normalization", lambda x, m, v, o, s: gc.nn.batch_normalization(x, m, v, o, s, 1e-3),
     [normal(3, 4), normal(4), positive(4), normal(4), normal(4)]),
    ("clip_by_norm", lambda x: gc.clip_by_norm(x, 1.0, axes=1), [normal(3, 4) * np.array([[3.0], [3.0], [0.1]])]),
    ("clip_by_global_norm", lambda a, b: gc.concat([gc.reshape(t, [-1]) for t in gc.clip_by_global_norm([a, b], 1.0)[0]], 0),
     [normal(3, 4), normal(5)]),
]


@pytest.mark.parametrize("name,fn,args", CASES, ids=[c[0] for c in CASES])
def test_vjp_and_jvp_match_finite_differences(name, fn, args):
    check_grads(fn, args, order=2, modes=("rev", "fwd"), rtol=2e-5, atol=1e-6)


def test_every_differentiable_op_is_covered():
    """Guards the table above: a new differentiable op must come with a gradient check."""
    from graphc.ir.registry import OPS

    # exercised by the composites and second-order cases here; "call" in tests/graphc/test_tape.py;
    # "cond" and "while_loop" in tests/graphc/test_control_flow.py and tests/ir/test_control.py
    covered_by_composites = {"reshape_like", "broadcast_like", "scatter_slice", "scatter_add", "full_like", "erf", "call",
                             "cond", "while_loop", "custom_gradient"}  # the last in tests/graphc/test_custom_gradient.py
    untested = set()
    names = " ".join(c[0] for c in CASES)
    for op_name, opdef in OPS.items():
        if (opdef.vjp or opdef.linear) and op_name not in names and op_name not in covered_by_composites:
            untested.add(op_name)
    assert untested <= {"stop_gradient"}, f"differentiable ops without a gradient check: {sorted(untested)}"


def test_second_order_of_adjoint_ops():
    """scatter_slice / scatter_add / reshape_like / broadcast_like appear in gradients; differentiate them."""
    check_grads(lambda x: gc.reduce_sum(gc.grad(lambda y: gc.reduce_sum(y[1:, None] ** 3))(x) ** 2), [normal(3, 2)], order=2)
    check_grads(lambda x: gc.grad(lambda y: gc.reduce_sum(gc.gather(y, np.array([0, 0, 1])) ** 3))(x), [normal(2, 3)], order=1)


def _cumprod_jacobian(x, exclusive, reverse):
    """d cumprod(x)_i / d x_k of a vector, as products of the other factors (no division)."""
    n = x.size
    order = list(range(n))[::-1] if reverse else list(range(n))
    jacobian = np.zeros((n, n))
    for pos, i in enumerate(order):
        factors = order[:pos] if exclusive else order[:pos + 1]
        for k in factors:
            jacobian[i, k] = np.prod([x[j] for j in factors if j != k])
    return jacobian


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumprod_gradient_with_zeros_matches_the_product_rule(exclusive, reverse):
    """VJP and JVP of cumprod against the Jacobian built from products (TensorFlow's own gradient
    divides by x and gives NaN here)."""
    g = rng.standard_normal(WITH_TWO_ZEROS.shape)
    t = rng.standard_normal(WITH_TWO_ZEROS.shape)
    f = lambda x: gc.math.cumprod(x, axis=1, exclusive=exclusive, reverse=reverse)  # noqa: E731
    with gc.GradientTape() as tape:
        x = gc.constant(WITH_TWO_ZEROS)
        tape.watch(x)
        y = f(x)
    vjp = tape.gradient(y, x, output_gradients=gc.constant(g)).numpy()
    _, jvp = gc.jvp(f, [gc.constant(WITH_TWO_ZEROS)], [gc.constant(t)])
    for row in range(WITH_TWO_ZEROS.shape[0]):
        jacobian = _cumprod_jacobian(WITH_TWO_ZEROS[row], exclusive, reverse)
        np.testing.assert_allclose(vjp[row], g[row] @ jacobian, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(jvp.numpy()[row], jacobian @ t[row], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", [gc.round, gc.floor, gc.ceil])
def test_rounding_has_no_gradient(op):
    """As in TensorFlow: the gradient through round, floor and ceil is None (zeros when asked)."""
    x = gc.constant(np.array([0.3, 1.7, -2.5]))
    with gc.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = op(x) * 2.0
    assert tape.gradient(y, x) is None
    np.testing.assert_array_equal(tape.gradient(y, x, unconnected_gradients="zero").numpy(), np.zeros(3))


def test_stop_gradient_is_a_constant_in_both_modes():
    """Finite differences see through stop_gradient, so it is checked on its own: d(x * sg(x))/dx = x."""
    x = gc.constant(np.array([1.5, -2.0]))
    np.testing.assert_allclose(gc.grad(lambda x: gc.reduce_sum(x * gc.stop_gradient(x)))(x).numpy(), [1.5, -2.0])
    _, tangent = gc.jvp(lambda x: x * gc.stop_gradient(x), [x], [gc.ones_like(x)])
    np.testing.assert_allclose(tangent.numpy(), [1.5, -2.0])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_gradient_is_tensorflows_relu_grad_at_edge_values(backend, dtype):
    """``g * (x > 0)``, bit for bit (as TensorFlow's ReluGrad): 0 at x = 0, an infinite or NaN ``g``
    where x <= 0 gives NaN, a negative one -0.0; a NaN x passes nothing. Compiled with a large
    batch too, where the mask crosses from the forward kernel to the backward one."""
    x = np.array([-1.0, 0.0, -0.0, 2.0, np.nan, -3.0, 4.0, 1e-30, -np.inf, np.inf], dtype)
    g = np.array([np.inf, np.nan, 5.0, np.inf, 1.0, -2.0, -0.0, 3.0, -np.inf, np.nan], dtype)
    x, g = np.tile(x, (700, 1)), np.tile(g, (700, 1))

    @gc.function(backend=backend)
    def gradient(x, g):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = gc.nn.relu(x * 1.0)
        return y, tape.gradient(y, x, output_gradients=g)

    y, got = (t.numpy() for t in gradient(x, g))
    with np.errstate(invalid="ignore"):
        want = g * (x > 0).astype(dtype)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))
    np.testing.assert_array_equal(y, np.maximum(x, 0))


# smooth functions built from ops with kinks (relu, abs, maximum, where): their derivatives must
# not pick up the kinks' conventions at the branch points
SMOOTH_AT_BRANCH_POINTS = [
    ("softplus", gc.nn.softplus, [-1e-3, 0.0, 1e-3, -40.0, 40.0]),
    ("log_softmax", lambda x: gc.nn.log_softmax(gc.stack([x, -x, 0.0 * x], -1)), [0.0, 1e-3, -2.0]),
    ("logsumexp", lambda x: gc.reduce_logsumexp(gc.stack([x, -x], -1), axis=-1), [0.0, 1e-3, 5.0]),
    ("sigmoid", gc.nn.sigmoid, [0.0, -30.0, 30.0]),
    ("gelu", gc.nn.gelu, [0.0, -1e-3]),
    ("sigmoid_cross_entropy", lambda x: gc.nn.sigmoid_cross_entropy_with_logits(0.3 + 0.0 * x, x), [0.0, 1e-3, -30.0]),
    ("elu", gc.nn.elu, [1e-3, -1e-3, -5.0]),
    ("silu", gc.nn.silu, [0.0, -20.0, 20.0]),
]


@pytest.mark.parametrize("name,fn,points", SMOOTH_AT_BRANCH_POINTS, ids=[s[0] for s in SMOOTH_AT_BRANCH_POINTS])
def test_smooth_composites_have_their_derivatives_at_branch_points(name, fn, points):
    check_grads(fn, [np.array(points)], order=2, rtol=1e-5, atol=1e-7)
