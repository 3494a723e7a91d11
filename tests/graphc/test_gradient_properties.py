"""Property tests: random compositions of differentiable ops have correct gradients, equal in eager and
graph mode."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.test_util import check_grads

UNARY = {
    "tanh": gc.tanh, "sin": gc.sin, "sigmoid": gc.sigmoid, "square": gc.square,
    "softplus": gc.nn.softplus, "exp_tanh": lambda x: gc.exp(gc.tanh(x)), "scale": lambda x: x * 0.5 - 1.0,
}
BINARY = {"add": gc.add, "subtract": gc.subtract, "multiply": gc.multiply, "divide_pos": lambda a, b: a / (1.5 + gc.sin(b))}
REDUCE = {"sum": gc.reduce_sum, "mean": gc.reduce_mean, "logsumexp": gc.reduce_logsumexp}


@st.composite
def programs(draw):
    """A random program: a list of steps over a stack of values, and two broadcast-compatible shapes."""
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    other = tuple(d if draw(st.booleans()) else 1 for d in shape)[draw(st.integers(0, rank - 1)):]
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY))),
        st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY))),
        st.tuples(st.just("reduce"), st.sampled_from(sorted(REDUCE))),
    ), min_size=1, max_size=6))
    return shape, other, steps


def build(steps):
    def program(x, y):
        values = [x, y]
        for kind, name in steps:
            if kind == "unary":
                values[-1] = UNARY[name](values[-1])
            elif kind == "binary":
                values.append(BINARY[name](values[-1], values[-2]))
            elif values[-1].ndim:
                values[-1] = REDUCE[name](values[-1], axis=-1, keepdims=True)
        return gc.reduce_sum(values[-1]) + gc.reduce_sum(values[0] * 0.1)

    return program


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**16))
def test_random_compositions_match_finite_differences(program, seed):
    shape, other, steps = program
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1.5, 1.5, shape), rng.uniform(-1.5, 1.5, other)]
    check_grads(build(steps), args, order=1, modes=("rev", "fwd"), rtol=1e-4, atol=1e-6, seed=seed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**16))
def test_eager_and_graph_gradients_are_equal(program, seed):
    shape, other, steps = program
    rng = np.random.default_rng(seed)
    x, y = (rng.uniform(-1.5, 1.5, s).astype(np.float32) for s in (shape, other))
    fn = build(steps)

    @gc.function
    def gradients(x, y):
        with gc.GradientTape() as tape:
            tape.watch([x, y])
            out = fn(x, y)
        return tape.gradient(out, [x, y])

    graph = [g.numpy() for g in gradients(x, y)]
    with gc.config.run_functions_eagerly(True):
        eager = [g.numpy() for g in gradients(x, y)]
    for a, b in zip(graph, eager):
        # float32 through native transcendentals and differently ordered sums: a few ulp per op, and
        # an entry that is a difference of large terms (1 - tanh(u)**2 near saturation, 0.1 + tiny)
        # carries the rounding of those terms: up to 32 ulp of the largest entry
        cancellation = 32 * np.finfo(np.float32).eps * float(np.max(np.abs(b), initial=0.0))
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6 + cancellation)
