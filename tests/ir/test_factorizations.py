"""gc.linalg.cholesky, solve, inv and triangular_solve against NumPy: batches, both dtypes, both
backends, a batch known only at run time, a matrix that needs pivoting, gradients of second order
in float64, and the errors for matrices that are not positive definite or are singular."""
import numpy as np
import pytest

import graphc as gc
from graphc.test_util import check_grads

rng = np.random.default_rng(8)
M = rng.normal(size=(3, 5, 5))
SPD = M @ np.swapaxes(M, -1, -2) + 5 * np.eye(5)
B = rng.normal(size=(3, 5, 2))
L = np.linalg.cholesky(SPD)
PIVOT = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [4.0, 1.0, 0.0]])  # a zero where elimination starts

CASES = [
    ("cholesky", lambda a: gc.linalg.cholesky(a), lambda a: np.linalg.cholesky(a), [SPD]),
    ("solve", gc.linalg.solve, np.linalg.solve, [M, B]),
    ("solve_pivoting", gc.linalg.solve, np.linalg.solve, [PIVOT, np.eye(3)]),
    ("inv", gc.linalg.inv, np.linalg.inv, [M]),
    ("triangular_lower", gc.linalg.triangular_solve, np.linalg.solve, [L, B]),
    ("triangular_upper_adjoint", lambda a, b: gc.linalg.triangular_solve(a, b, lower=False, adjoint=True),
     lambda a, b: np.linalg.solve(np.swapaxes(a, -1, -2), b), [np.swapaxes(L, -1, -2), B]),
]


@pytest.mark.parametrize("name,op,ref,args", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_factorizations_match_numpy_everywhere(name, op, ref, args, dtype):
    args = [a.astype(dtype) for a in args]
    want = ref(*[a.astype(np.float64) for a in args])
    tolerance = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(op(*args).numpy(), want, rtol=tolerance, atol=tolerance)
    for backend in ("llvm", "numpy"):
        got = gc.function(op, backend=backend)(*args).numpy()
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=backend)
    if args[0].ndim == 3:
        specs = [gc.TensorSpec([None, *a.shape[1:]], np.dtype(dtype).name) for a in args]
        any_batch = gc.function(op, input_signature=specs)
        np.testing.assert_allclose(any_batch(*[a[:1] for a in args]).numpy(), want[:1], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name,op,ref,args", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(name, op, ref, args):
    small = [a[:1, :3, :3] if a.ndim == 3 and a.shape[-1] == 5 else a[:1, :3] if a.ndim == 3 else a for a in args]
    if name == "cholesky":
        small = [SPD[:1, :3, :3]]
    if name.startswith("triangular"):
        small = [np.tril(small[0]) if name == "triangular_lower" else np.triu(small[0]), small[1]]
    check_grads(op, small, order=2, rtol=1e-4, atol=1e-7)


BAD = [
    (lambda: gc.linalg.cholesky(-SPD), "the input is not positive definite"),
    (lambda: gc.linalg.inv(np.zeros((3, 3))), "the matrix is singular"),
    (lambda: gc.linalg.solve(np.ones((2, 2)), np.ones((2, 1))), "the matrix is singular"),
]


@pytest.mark.parametrize("call,message", BAD, ids=["not_positive_definite", "zero", "rank_one"])
def test_eager_failures_are_errors(call, message):
    with pytest.raises(gc.errors.InvalidArgumentError, match=message):
        call()


def test_compiled_failures_give_non_finite_entries_and_shapes_are_checked():
    assert not np.all(np.isfinite(gc.function(gc.linalg.inv)(np.zeros((2, 2))).numpy()))
    with pytest.raises(gc.errors.ShapeError, match=r"matrix must be square matrices \[..., n, n\]"):
        gc.linalg.solve(np.ones((2, 3)), np.ones((2, 1)))
    with pytest.raises(gc.errors.ShapeError, match=r"rhs must be \[..., 2, k\]"):
        gc.linalg.solve(np.eye(2), np.ones((3, 1)))
