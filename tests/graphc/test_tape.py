"""GradientTape and the functional API: the seeds' examples, TensorFlow's tape behaviour, eager == graph."""
import numpy as np
import pytest

import graphc as gc


def both_modes(fn):
    """Runs ``fn`` eagerly and compiled; returns both results as NumPy structures."""
    compiled = gc.function(fn)
    with gc.config.run_functions_eagerly(True):
        eager = compiled()
    graph = compiled()
    return to_numpy(eager), to_numpy(graph)


def to_numpy(x):
    if isinstance(x, (list, tuple)):
        return type(x)(to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return None if x is None else np.asarray(x)


def assert_same(a, b):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif a is None or b is None:
        assert a is None and b is None
    else:
        np.testing.assert_allclose(a, b, rtol=1e-6)


# -- the seeds' examples ----------------------------------------------------------------------------
def test_persistent_tape_gives_108_and_6():
    x = gc.Variable(3.0)

    def run():
        with gc.GradientTape(persistent=True) as g:
            y = x * x
            z = y * y
        return g.gradient(z, x), g.gradient(y, x)

    eager, graph = both_modes(run)
    assert eager == (108.0, 6.0)
    assert_same(eager, graph)


def test_two_x_transpose_x_on_a_column_vector_gives_4x():
    x_value = np.arange(4.0, dtype=np.float32).reshape(4, 1)

    def run():
        x = gc.constant(x_value)
        with gc.GradientTape() as t:
            t.watch(x)
            y = 2 * gc.matmul(gc.transpose(x), x)
        return t.gradient(y, x)

    eager, graph = both_modes(run)
    np.testing.assert_array_equal(eager, 4 * x_value)
    assert_same(eager, graph)


def test_hypotenuse_first_and_second_derivative_with_nested_tapes():
    def run():
        a, b = gc.constant(3.0), gc.constant(4.0)
        with gc.GradientTape() as outer:
            outer.watch(a)
            with gc.GradientTape() as inner:
                inner.watch(a)
                c = gc.sqrt(a ** 2 + b ** 2)
            dc_da = inner.gradient(c, a)
        return dc_da, outer.gradient(dc_da, a)

    eager, graph = both_modes(run)
    np.testing.assert_allclose(eager, (3 / 5, 4 ** 2 / 5 ** 3), rtol=1e-6)  # a/c and b^2/c^3
    assert_same(eager, graph)


def test_stop_recording_makes_dz_dx_one():
    def run():
        x = gc.constant(2.0)
        with gc.GradientTape() as t:
            t.watch(x)
            with t.stop_recording():
                y = x * x
            z = x + y
        return t.gradient(z, x)

    eager, graph = both_modes(run)
    assert eager == 1.0
    assert_same(eager, graph)


def test_stop_gradient_hides_a_dependency_and_identity_keeps_it():
    def run():
        x = gc.constant([1.0, 2.0, 3.0])
        with gc.GradientTape(persistent=True) as t:
            t.watch(x)
            y = x * x
            u = gc.stop_gradient(y)
            z = u * x
            kept = gc.identity(y) * x
        return t.gradient(z, x), u, t.gradient(kept, x)

    (dz, u, dkept), graph = both_modes(run)
    np.testing.assert_array_equal(dz, u)  # dz/dx == u: y's dependency on x is hidden
    np.testing.assert_array_equal(dkept, 3 * np.array([1.0, 2.0, 3.0]) ** 2)
    assert_same((dz, u, dkept), graph)


def test_linear_regression_example_recovers_the_parameters(capsys):
    import runpy
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "examples" / "linear_regression.py"
    for eager in (False, True):
        with gc.config.run_functions_eagerly(eager):
            result = runpy.run_path(str(path), run_name="not_main")["train"](epochs=3)
        np.testing.assert_allclose(result["w"], [2.0, -3.4], atol=0.01)
        np.testing.assert_allclose(result["b"], 4.2, atol=0.01)


# -- tape behaviour as in TensorFlow ------------------------------------------------------------------
def test_non_persistent_tape_can_be_used_once():
    x = gc.constant(2.0)
    with gc.GradientTape() as t:
        t.watch(x)
        y = x * x
    t.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent"):
        t.gradient(y, x)


def test_integer_target_is_an_error_and_unused_source_gives_none_or_zeros():
    x, unused = gc.constant(2.0), gc.constant([1.0, 2.0])
    with gc.GradientTape(persistent=True) as t:
        t.watch([x, unused])
        y = x * x
        n = gc.cast(y, gc.int32)
    with pytest.raises(gc.errors.InvalidArgumentError, match="floating"):
        t.gradient(n, x)
    assert t.gradient(y, unused) is None
    np.testing.assert_array_equal(t.gradient(y, unused, unconnected_gradients="zero").numpy(), [0.0, 0.0])


def test_trainable_variables_are_watched_automatically_and_others_are_not():
    w = gc.Variable(2.0, name="w")
    frozen = gc.Variable(5.0, trainable=False, name="frozen")
    with gc.GradientTape() as t:
        y = w * frozen
    assert t.watched_variables() == [w]
    assert t.gradient(y, [w, frozen]) == [5.0, None]

    with gc.GradientTape(watch_accessed_variables=False) as t:
        y = w * w
    assert t.gradient(y, w) is None and t.watched_variables() == []


def test_nested_targets_sources_and_output_gradients():
    x, y = gc.constant([1.0, 2.0]), gc.constant(3.0)
    with gc.GradientTape() as t:
        t.watch([x, y])
        out = {"a": x * y, "b": y * y}
    grads = t.gradient(out, {"x": x, "pair": (y,)}, output_gradients={"a": gc.constant([1.0, 10.0]), "b": gc.constant(2.0)})
    np.testing.assert_allclose(grads["x"].numpy(), [3.0, 30.0])
    np.testing.assert_allclose(grads["pair"][0].numpy(), 1.0 + 20.0 + 2 * 2 * 3.0)


def test_jacobian_and_reset():
    x = gc.constant([1.0, 2.0, 3.0])
    with gc.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x[:2] * x[1:]
    jac = t.jacobian(y, x).numpy()
    np.testing.assert_allclose(jac, [[2.0, 1.0, 0.0], [0.0, 3.0, 2.0]])
    t.reset()
    assert t.gradient(y, x) is None


def test_variable_gradient_sums_over_every_read():
    v = gc.Variable([1.0, 2.0])
    with gc.GradientTape() as t:
        y = gc.reduce_sum(v * v) + gc.reduce_sum(v.read_value() * 3.0)
    np.testing.assert_allclose(t.gradient(y, v).numpy(), [5.0, 7.0])


# -- inside compiled functions ---------------------------------------------------------------------------
def test_tape_gradient_adds_marked_gradient_nodes_with_forward_source_lines():
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")

    @gc.function
    def step(x):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(gc.tanh(gc.matmul(x, w)))  # the forward line
        return tape.gradient(loss, w)

    x = np.ones((4, 3), np.float32)
    graph = step.get_concrete_function(x).graph
    forward_line = next(n.loc for n in graph.nodes if n.op == "tanh")
    gradient_nodes = [n for n in graph.nodes if n.is_gradient]
    assert gradient_nodes, "the backward pass is part of the traced graph"
    assert {n.loc for n in gradient_nodes if n.op in ("multiply", "subtract", "square")} == {forward_line}
    assert f"{forward_line} grad" in str(graph)
    with gc.config.run_functions_eagerly(True):
        eager = step(x).numpy()
    np.testing.assert_allclose(step(x).numpy(), eager, rtol=1e-6)


def test_functional_api_inside_and_outside_functions():
    f = lambda x: gc.reduce_sum(gc.sin(x) * x)  # noqa: E731
    x = np.array([0.5, 1.0, 2.0])
    expected_grad = np.cos(x) * x + np.sin(x)

    @gc.function
    def compiled(x):
        value, grad = gc.value_and_grad(f)(x)
        hess = gc.hessian(f)(x)
        _, tangent = gc.jvp(f, [x], [gc.ones_like(x)])
        return value, grad, hess, tangent

    for result in (compiled(x), compiled.python_function(gc.constant(x))):
        value, grad, hess, tangent = (r.numpy() for r in result)
        np.testing.assert_allclose(value, np.sum(np.sin(x) * x))
        np.testing.assert_allclose(grad, expected_grad)
        np.testing.assert_allclose(hess, np.diag(2 * np.cos(x) - x * np.sin(x)), atol=1e-12)
        np.testing.assert_allclose(tangent, expected_grad.sum())


def test_grad_argnums_and_has_aux():
    f = lambda x, y: (gc.reduce_sum(x * y), {"aux": x + y})  # noqa: E731
    (gx, gy), aux = gc.grad(f, argnums=(0, 1), has_aux=True)(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gy.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(aux["aux"].numpy(), [4.0, 6.0])
    with pytest.raises(gc.errors.InvalidArgumentError, match="scalar"):
        gc.grad(lambda x: x * 2.0)(np.array([1.0, 2.0]))


def test_a_compiled_call_is_one_recorded_op_with_a_cached_gradient_function():
    w = gc.Variable(np.array([[1.0], [2.0]]), name="w")
    traced = []

    @gc.function
    def f(x):
        traced.append(1)
        return gc.reduce_sum(gc.tanh(gc.matmul(x, w)) ** 2)

    x = gc.constant(np.array([[0.3, -0.2], [0.1, 0.5]]))

    def gradients(fn):
        with gc.GradientTape() as outer:
            outer.watch(x)
            with gc.GradientTape(persistent=True) as inner:
                inner.watch(x)
                y = fn(x)
            gx, gw = inner.gradient(y, [x, w])
            second = outer.gradient(gc.reduce_sum(gx * gx), x)
        return [g.numpy() for g in (gx, gw, second)], inner.recorded_ops

    compiled, records = gradients(f)
    reference, _ = gradients(f.python_function)
    assert [r.op for r in records] == ["call"]
    for a, b in zip(compiled, reference):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    callee = records[0].attrs["function"]
    assert callee.gradient() is callee.gradient()  # built once, cached
    traces = len(traced)
    gradients(f)
    assert len(traced) == traces and f.trace_count == 1
    assert f.get_concrete_function(x)._callee[0] is callee
    _, tangent = gc.jvp(f, [x], [gc.ones_like(x)])
    _, expected = gc.jvp(f.python_function, [x], [gc.ones_like(x)])
    np.testing.assert_allclose(tangent.numpy(), expected.numpy(), rtol=1e-12)
