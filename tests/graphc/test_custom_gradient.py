"""gc.custom_gradient: the user's gradient replaces differentiation of the function's ops, eagerly,
in a tape inside a compiled function and through a compiled call under an eager tape; with
variables, several inputs and outputs, second order; errors; the op leaves no trace in the
optimised graph and runs natively when every pass is off."""
import numpy as np
import pytest

import graphc as gc


@gc.custom_gradient
def log1pexp(x):
    e = gc.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))

    return gc.log(1 + e), grad


X = np.array([-3.0, 0.0, 2.0, 100.0], np.float32)
WANT_GRAD = np.array([1 / (1 + np.exp(3.0)), 0.5, 1 / (1 + np.exp(-2.0)), 1.0], np.float32)


def tape_gradient(fn, x):
    x = gc.constant(x)
    with gc.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)


def test_the_naive_gradient_overflows_where_the_custom_one_does_not():
    naive = tape_gradient(lambda x: gc.log(1 + gc.exp(x)), X).numpy()
    assert np.isnan(naive[-1])  # inf / inf: what the custom gradient is for
    np.testing.assert_allclose(tape_gradient(log1pexp, X).numpy(), WANT_GRAD, rtol=1e-6)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_a_tape_inside_a_compiled_function_uses_it(backend):
    @gc.function(backend=backend)
    def value_and_gradient(x):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = log1pexp(x)
        return y, tape.gradient(y, x)

    y, g = value_and_gradient(X)
    np.testing.assert_allclose(g.numpy(), WANT_GRAD, rtol=1e-6)
    np.testing.assert_allclose(y.numpy()[:3], np.log1p(np.exp(X[:3])), rtol=1e-6)
    optimized = value_and_gradient.concrete_functions[0].graphs["optimized"]
    assert "custom_gradient" not in {n.op for n in optimized.nodes}


def test_an_eager_tape_around_a_compiled_call_uses_it():
    compiled = gc.function(lambda x: log1pexp(x) * 2.0)
    np.testing.assert_allclose(tape_gradient(compiled, X).numpy(), 2 * WANT_GRAD, rtol=1e-6)


@gc.custom_gradient
def scaled_pair(x, y):
    def grad(da, db):
        return da * 10.0 + db, None  # nothing for y, deliberately unlike the true derivative

    return (x * y, x + y), grad


@pytest.mark.parametrize("mode", ["eager", "traced", "call"])
def test_several_inputs_and_results_and_a_none_gradient(mode):
    x, y = gc.constant([1.0, 2.0]), gc.constant([3.0, 4.0])

    def loss(x, y):
        a, b = scaled_pair(x, y)
        return gc.reduce_sum(a) + 2.0 * gc.reduce_sum(b)

    def grads(x, y):
        with gc.GradientTape() as tape:
            tape.watch([x, y])
            value = (gc.function(loss) if mode == "call" else loss)(x, y)
        return tape.gradient(value, [x, y])

    gx, gy = gc.function(grads)(x, y) if mode == "traced" else grads(x, y)
    np.testing.assert_allclose(gx.numpy(), [12.0, 12.0])  # 1 * 10 + 2
    if mode == "call":  # a compiled call's gradient function gives zeros where no gradient flows
        np.testing.assert_array_equal(gy.numpy(), [0.0, 0.0])
    else:
        assert gy is None


def test_variables_read_inside_get_the_gradients_grad_fn_gives_them():
    w = gc.Variable([2.0, -1.0], name="w")

    @gc.custom_gradient
    def weighted(x):
        def grad(dy, variables):
            assert [v.name for v in variables] == [w.name]
            return dy * 100.0, [dy * 7.0]

        return x * w, grad

    def step(x):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = weighted(x)
        return tape.gradient(y, [x, w])

    for run in (step, gc.function(step)):
        gx, gw = run(gc.constant([1.0, 1.0]))
        np.testing.assert_allclose(gx.numpy(), [100.0, 100.0])
        np.testing.assert_allclose(gw.numpy(), [7.0, 7.0])


def test_second_derivatives_come_from_differentiating_grad_fn():
    @gc.custom_gradient
    def cube(x):
        def grad(dy):
            return dy * 3.0 * x * x

        return x * x * x, grad

    x = gc.constant(2.0)
    with gc.GradientTape() as outer:
        outer.watch(x)
        with gc.GradientTape() as inner:
            inner.watch(x)
            y = cube(x)
        dy = inner.gradient(y, x)
    assert dy.numpy() == 12.0 and outer.gradient(dy, x).numpy() == 12.0  # 6x


@pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")
def test_every_pass_off_still_runs_natively():
    everything_off = dict.fromkeys(gc.config.get_optimizer_options(), False)
    with gc.config.set_optimizer_options(everything_off):
        compiled = gc.function(lambda x: log1pexp(x))
        np.testing.assert_allclose(compiled(X[:3]).numpy(), np.log1p(np.exp(X[:3])), rtol=1e-6)
        assert "custom_gradient" in {n.op for n in compiled.concrete_functions[0].graphs["fused"].nodes}


def test_bad_grad_fns_raise_clear_errors():
    @gc.custom_gradient
    def too_many(x):
        return x * 2.0, lambda dy: (dy, dy)

    @gc.custom_gradient
    def wrong_shape(x):
        return x * 2.0, lambda dy: gc.reduce_sum(dy)

    @gc.custom_gradient
    def no_grad_fn(x):
        return x, 3

    w = gc.Variable(1.0)

    @gc.custom_gradient
    def reads_w(x):
        return x * w, lambda dy: dy

    x = np.ones(3, np.float32)
    with pytest.raises(gc.errors.InvalidArgumentError, match="the grad_fn of too_many returned 2 gradients for 1 tensor inputs"):
        tape_gradient(too_many, x)
    with pytest.raises(gc.errors.ShapeError, match=r"the grad_fn of wrong_shape returned a gradient of shape \[\] for input 0 of shape \[3\]"):
        tape_gradient(wrong_shape, x)
    with pytest.raises(gc.errors.InvalidArgumentError, match="must return \\(results, grad_fn\\).*got int"):
        no_grad_fn(x)
    with pytest.raises(TypeError, match="reads variables .* so its grad_fn must take a keyword argument 'variables'"):
        reads_w(x)
    with pytest.raises(gc.errors.InvalidArgumentError, match="defines reverse mode only"):
        gc.jvp(log1pexp, [gc.constant(X)], [gc.constant(np.ones(4, np.float32))])
