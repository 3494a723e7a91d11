"""gc.vectorized_map rewrites fn for the whole batch: the results equal map_fn's (eagerly, compiled,
with sizes known only at run time, with gradients), the compiled graph holds no per-slice copies and
no loop, and functions it cannot batch run map_fn's loop with a warning, or fail clearly."""
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.errors import InvalidArgumentError

rng = np.random.default_rng(8)
X = rng.normal(size=(6, 4)).astype(np.float32)
Y = rng.normal(size=(6, 4, 3)).astype(np.float32)
W = rng.normal(size=(4, 3)).astype(np.float32)

FUNCTIONS = {
    "elementwise_and_broadcast": lambda x: gc.exp(x) * np.arange(4, dtype=np.float32) + 1.0,
    "reductions": lambda x: (gc.reduce_sum(x), gc.reduce_max(x, keepdims=True), gc.math.reduce_logsumexp(x)),
    "softmax_and_argmax": lambda x: (gc.nn.softmax(x), gc.argmax(x), gc.cumsum(x)),
    "matmul_captured_weight": lambda x: gc.matmul(gc.expand_dims(x, 0), W),
    "matmul_batched_matrix": lambda p: gc.matmul(p[1], gc.transpose(p[1])) + gc.reduce_mean(p[0]),
    "movement": lambda x: (gc.reshape(x, [2, 2]), gc.transpose(gc.reshape(x, [2, 2])), x[::-1], x[1:3],
                           gc.concat([x, gc.ones([2])], 0), gc.stack([x, x * 2.0])),
    "where_and_compare": lambda x: gc.where(x > 0, x, gc.zeros_like(x)),
    "gather_captured_indices": lambda x: gc.gather(x, [3, 0, 0]),
    "constant_result": lambda x: gc.constant([1.0, 2.0]),
    "split_and_squeeze": lambda x: gc.split(gc.expand_dims(x, 1), 2, axis=0),
    "dict_structure": lambda d: {"sum": d["a"] + d["b"][:, 0], "norm": gc.norm(d["b"])},
}
ARGS = {"matmul_batched_matrix": (X, Y), "dict_structure": {"a": X, "b": Y}}


def _close(a, b):
    for u, v in zip(gc.nest.flatten(a), gc.nest.flatten(b)):
        assert u.shape == v.shape and u.dtype == v.dtype
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_results_equal_map_fn(name, compiled):
    fn, elems = FUNCTIONS[name], ARGS.get(name, X)
    expected = gc.map_fn(fn, elems)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the loop
        run = gc.function(lambda e: gc.vectorized_map(fn, e)) if compiled else (lambda e: gc.vectorized_map(fn, e))
        _close(run(elems), expected)


def test_the_compiled_graph_is_batched_not_unrolled():
    fn = FUNCTIONS["softmax_and_argmax"]
    f = gc.function(lambda x: gc.vectorized_map(fn, x))
    graph = f.get_concrete_function(X).graph
    assert sum(n.op == "exp" for n in graph.nodes) == 1 and not any(n.op == "while_loop" for n in graph.nodes)


def test_a_batch_size_known_only_at_run_time():
    f = gc.function(lambda x: gc.vectorized_map(FUNCTIONS["movement"], x),
                    input_signature=[gc.TensorSpec([None, 4], gc.float32)])
    for n in (1, 6):
        _close(f(X[:n]), gc.map_fn(FUNCTIONS["movement"], X[:n]))
    assert [tuple(t.shape) for t in f(X[:0])] == [(0, 2, 2), (0, 2, 2), (0, 4), (0, 2), (0, 6), (0, 2, 4)]


def test_gradients_flow_through_the_batched_ops():
    w = gc.Variable(W)

    def loss(batched):
        with gc.GradientTape() as tape:
            out = (gc.vectorized_map if batched else gc.map_fn)(lambda x: gc.tanh(gc.matmul(gc.expand_dims(x, 0), w)), X)
            total = gc.reduce_sum(out * out)
        return tape.gradient(total, w).numpy()

    np.testing.assert_allclose(loss(True), loss(False), rtol=1e-5, atol=1e-6)


def _random_fn(x):
    return x + gc.random.uniform([4])


@pytest.mark.parametrize("fn, reason", [
    (_random_fn, "assigns variables"),  # a draw advances the generator's state
    (lambda x: gc.cond(gc.reduce_sum(x) > 0, lambda: x, lambda: -x), "cond"),
])
def test_functions_it_cannot_batch_run_the_loop_or_fail_clearly(fn, reason):
    with pytest.warns(UserWarning, match=f"vectorized_map runs a loop: .*{reason}"):
        result = gc.function(lambda x: gc.vectorized_map(fn, x))(X)
    assert result.shape == X.shape
    with pytest.raises(InvalidArgumentError, match=f"cannot batch fn: .*{reason}.*fallback_to_while_loop=False"):
        gc.function(lambda x: gc.vectorized_map(fn, x, fallback_to_while_loop=False))(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.function(lambda x: gc.vectorized_map(fn, x, warn=False))(X)


def test_a_function_that_writes_a_variable_is_not_batched():
    counter = gc.Variable(0.0)

    def fn(x):
        counter.assign_add(1.0)
        return x

    with pytest.raises(InvalidArgumentError, match="assigns variables"):
        gc.function(lambda x: gc.vectorized_map(fn, x, fallback_to_while_loop=False))(X)


@pytest.mark.parametrize("elems, match", [([], "at least one tensor"), (np.float32(1.0), "first axis"),
                                          ((X, X[:3]), "different lengths")])
def test_bad_elems(elems, match):
    with pytest.raises(gc.errors.GraphcError, match=match):
        gc.vectorized_map(lambda e: e, elems)
