"""gc.einsum against np.einsum: every equation of the op table natively compiled too, gradients of
second order against finite differences in float64, values at the edges, and bad equations. (The
op table in test_ops.py runs the same equations eagerly and traced, in four dtypes.)"""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.test_util import check_grads

from .test_ops import EINSUMS

rng = np.random.default_rng(11)


@pytest.mark.parametrize("equation,shapes", [(e, s) for e, *s in EINSUMS], ids=[e for e, *_ in EINSUMS])
def test_native_code_matches_numpy(equation, shapes):
    xs = [rng.normal(size=s).astype(np.float32) for s in shapes]
    want = np.einsum(equation, *[x.astype(np.float64) for x in xs])
    for backend in ("llvm", "numpy"):
        got = gc.function(lambda *xs: gc.einsum(equation, *xs), backend=backend)(*xs).numpy()
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5, err_msg=backend)


DIFFERENTIABLE = ["ij,jk->ik", "bhqd,bhkd->bhqk", "ii->i", "ii", "i,j->ij", "bi,ij,bj->b", "...ij,...jk->...ik",
                  "iij->ji", "abc->", "...i,...i->...", "ijk,jil->kl", "bij,bj->bi"]


@pytest.mark.parametrize("equation", DIFFERENTIABLE)
def test_gradients_match_finite_differences_to_second_order(equation):
    shapes = next(s for e, *s in EINSUMS if e == equation)
    xs = [rng.normal(size=s) for s in shapes]
    check_grads(lambda *ts: gc.einsum(equation, *ts), xs, order=2, rtol=1e-5, atol=1e-7)


def test_diagonals_and_traces_are_exact_for_nan_inf_and_signed_zeros():
    x = np.array([[-0.0, np.inf, np.nan], [np.nan, 2.0, -np.inf], [np.inf, np.nan, 3.5]])
    for equation in ("ii->i", "ij->ji"):
        for backend in ("llvm", "numpy"):
            got = gc.function(lambda x: gc.einsum(equation, x), backend=backend)(x).numpy()
            want = np.einsum(equation, x)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_an_unknown_batch_compiles_once_for_every_size():
    attention = gc.function(lambda q, k: gc.einsum("bhqd,bhkd->bhqk", q, k),
                            input_signature=[gc.TensorSpec([None, 2, None, 4]), gc.TensorSpec([None, 2, None, 4])])
    for batch, length in ((1, 3), (5, 7)):
        q, k = (rng.normal(size=(batch, 2, length, 4)).astype(np.float32) for _ in range(2))
        np.testing.assert_allclose(attention(q, k).numpy(), np.einsum("bhqd,bhkd->bhqk", q, k), rtol=1e-5, atol=1e-6)
    assert attention.trace_count == 1


BAD = [
    ("ij,jk->ik", [(2, 3)], gc.errors.InvalidArgumentError, "names 2 operands, got 1"),
    ("ij->ij", [(2, 3, 4)], gc.errors.ShapeError, "operand 0 has rank 3, its term 'ij' names 2 axes"),
    ("ij,jk->ik", [(2, 3), (4, 5)], gc.errors.ShapeError, "letter 'j' is 3 long in operand 0 and 4 in operand 1"),
    ("ij->k", [(2, 3)], gc.errors.InvalidArgumentError, "output letter 'k' is in no operand"),
    ("ij->ii", [(2, 3)], gc.errors.InvalidArgumentError, "output letter 'i' appears twice"),
    ("i1->i", [(2, 3)], gc.errors.InvalidArgumentError, "a term is letters and at most one '...', got 'i1'"),
    ("...ij->ij", [(2, 3, 4)], gc.errors.InvalidArgumentError, "the operands have '...' axes"),
    ("ii->i", [(2, 3)], gc.errors.ShapeError, "letter 'i' is 2 long in operand 0 and 3 in operand 0"),
]


@pytest.mark.parametrize("equation,shapes,error,message", BAD, ids=[b[0] + str(b[1]) for b in BAD])
def test_bad_equations_and_operands_name_einsum_the_problem_and_the_line(equation, shapes, error, message):
    xs = [np.ones(s, np.float32) for s in shapes]
    with pytest.raises(error, match=re.escape(message)) as info:
        gc.einsum(equation, *xs)
    assert str(info.value).startswith("einsum: ") and "test_einsum.py" in str(info.value)
    with pytest.raises(error, match=re.escape(message)):
        gc.function(lambda *xs: gc.einsum(equation, *xs))(*xs)


def test_the_equation_must_be_a_string_and_operands_given():
    with pytest.raises(gc.errors.InvalidArgumentError, match="equation must be a str, got int"):
        gc.einsum(3, np.ones(2))
    with pytest.raises(gc.errors.InvalidArgumentError, match="at least one operand"):
        gc.einsum("i->i")
