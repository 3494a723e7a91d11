"""gc.map_fn and gc.vectorized_map: against a NumPy loop eagerly, unrolled for a known length and
as a while loop for a length known only at run time (one trace for every length, zero included),
on both backends; nested inputs and results; gradients; fn_output_signature; bad inputs."""
import numpy as np
import pytest

import graphc as gc

X = np.arange(12, dtype=np.float32).reshape(3, 4) / 7


def row_fn(r):
    return gc.reduce_sum(r) * r


def numpy_rows(x):
    return np.stack([r.sum() * r for r in x]) if len(x) else np.zeros((0, 4), np.float32)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_known_and_run_time_lengths_match_a_numpy_loop(backend):
    np.testing.assert_allclose(gc.map_fn(row_fn, X).numpy(), numpy_rows(X), rtol=1e-6)
    unrolled = gc.function(lambda x: gc.map_fn(row_fn, x), backend=backend)
    np.testing.assert_allclose(unrolled(X).numpy(), numpy_rows(X), rtol=1e-6)
    looped = gc.function(lambda x: gc.map_fn(row_fn, x), backend=backend, input_signature=[gc.TensorSpec([None, 4])])
    for n in (3, 1, 0):
        np.testing.assert_allclose(looped(X[:n]).numpy(), numpy_rows(X[:n]), rtol=1e-6)
    assert looped.trace_count == 1
    assert "while_loop" in {n.op for n in looped.concrete_functions[0].graph.nodes}


@pytest.mark.parametrize("signature", [None, [gc.TensorSpec([None, 4]), gc.TensorSpec([None], "int32")]],
                         ids=["known", "run_time"])
def test_nested_inputs_and_results(signature):
    def fn(d):
        return {"scaled": d["x"] * 2.0, "count": gc.reduce_sum(d["n"])}

    def mapped(x, n):
        return gc.map_fn(fn, {"x": x, "n": n})

    n = np.array([[1, 2], [3, 4], [5, 6]], np.int32)
    compiled = gc.function(mapped) if signature is None else gc.function(
        mapped, input_signature=[gc.TensorSpec([None, 4]), gc.TensorSpec([None, 2], "int32")])
    out = compiled(X, n)
    np.testing.assert_allclose(out["scaled"].numpy(), X * 2)
    np.testing.assert_array_equal(out["count"].numpy(), [3, 7, 11])


@pytest.mark.parametrize("signature", [None, [gc.TensorSpec([None, 4])]], ids=["unrolled", "while_loop"])
def test_gradients_flow_through_every_slice(signature):
    def loss(x):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = gc.reduce_sum(gc.map_fn(lambda r: r * r * gc.reduce_sum(r), x))
        return tape.gradient(y, x)

    # d/dx_ij sum_k x_ik^2 s_i = 2 x_ij s_i + sum_k x_ik^2
    want = 2 * X * X.sum(1, keepdims=True) + (X * X).sum(1, keepdims=True)
    np.testing.assert_allclose(gc.function(loss, input_signature=signature)(X).numpy(), want, rtol=1e-5)


def test_vectorized_map_gives_map_fn_results():
    np.testing.assert_allclose(gc.vectorized_map(row_fn, X).numpy(), gc.map_fn(row_fn, X).numpy())


def test_output_signature_checks_results_and_types_empty_inputs():
    empty = gc.map_fn(lambda r: r, np.zeros((0, 2), np.float32), fn_output_signature=gc.TensorSpec([2]))
    assert empty.shape == (0, 2)
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"fn returned float32\[4\] where fn_output_signature says int32\[4\]"):
        gc.map_fn(lambda r: r, X, fn_output_signature=gc.TensorSpec([4], "int32"))


BAD = [
    (lambda: gc.map_fn(lambda r: r, np.float32(1.0)), gc.errors.ShapeError, "must have one; got a scalar"),
    (lambda: gc.map_fn(lambda a: a, [X, X[:2]]), gc.errors.ShapeError, "first axes of different lengths [3, 2]"),
    (lambda: gc.map_fn(lambda r: r, np.zeros((0, 2), np.float32)), gc.errors.InvalidArgumentError,
     "over zero slices needs fn_output_signature"),
    (lambda: gc.map_fn(lambda r: r, []), gc.errors.InvalidArgumentError, "needs at least one tensor in elems"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()
