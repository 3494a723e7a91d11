"""One kernel reading several views of one buffer with different shapes (x[:, None] next to x[None],
x[..., None] next to x[..., None, :], a reshape next to the original): the views share a slot, and
each must still be read with its own strides. Pairwise comparisons, outer products and the
reductions over them, against the interpreter; compiled with fusion on and off."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

PAIRS = {
    "rows_vs_columns": lambda x: (gc.expand_dims(x, -2), gc.expand_dims(x, -1)),
    "outer": lambda x: (gc.reshape(x, [-1])[:, None], gc.reshape(x, [-1])[None, :]),
    "row_pairs": lambda x: (x[None, :, :], x[:, None, :]),
    "reshape_vs_original": lambda x: (gc.reshape(x, [x.shape[0], x.shape[1], 1]), x[:, None, :]),
}
COMBINE = {
    "less": gc.less, "subtract": gc.subtract, "multiply": gc.multiply,
    "where": lambda a, b: gc.where(gc.greater(a, b), a, b),
}
REDUCE = {"none": lambda y: y, "sum_last": lambda y: gc.reduce_sum(gc.cast(y, "float32"), -1),
          "max_first": lambda y: gc.reduce_max(gc.cast(y, "float32"), 0)}


def _run(fn, x, backend, fusion=True):
    with gc.config.set_optimizer_options(fusion=fusion):
        return gc.function(fn, backend=backend)(x).numpy()


@pytest.mark.parametrize("reduce", REDUCE)
@pytest.mark.parametrize("combine", COMBINE)
@pytest.mark.parametrize("pair", PAIRS)
def test_views_of_one_buffer_are_read_with_their_own_strides(pair, combine, reduce):
    x = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)

    def fn(x):
        return REDUCE[reduce](COMBINE[combine](*PAIRS[pair](x)))

    want = _run(fn, x, "numpy")
    for fusion in (True, False):  # sums of floats may round differently: to a few ulp
        np.testing.assert_allclose(_run(fn, x, "llvm", fusion), want, rtol=1e-6, atol=1e-6, err_msg=f"fusion={fusion}")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.sampled_from(list(PAIRS)), st.sampled_from(list(COMBINE)))
def test_random_sizes(rows, columns, pair, combine):
    x = np.random.default_rng(rows * 7 + columns).normal(size=(rows, columns)).astype(np.float32)

    def fn(x):
        return gc.reduce_sum(gc.cast(COMBINE[combine](*PAIRS[pair](x)), "float32"), -1)

    np.testing.assert_allclose(_run(fn, x, "llvm"), _run(fn, x, "numpy"), rtol=1e-6, atol=1e-6)
