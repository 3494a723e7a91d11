"""Reductions over empty axes give the same values, or the same error, whether the emptiness is known
while tracing or only at run time (a ``[None, None]`` signature fed ``(3, 0)``), on both backends and in
eager mode: sums are 0, products 1, means NaN, softmax an empty tensor, logsumexp -inf; a maximum,
minimum or arg-extremum of nothing is refused.

Softmax over an axis empty only at run time used to raise (the maximum it subtracts had no identity)
where the static case gave an empty result.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

REDUCTIONS = {
    "sum": lambda x, axis, keepdims: gc.reduce_sum(x, axis, keepdims),
    "mean": lambda x, axis, keepdims: gc.reduce_mean(x, axis, keepdims),
    "prod": lambda x, axis, keepdims: gc.reduce_prod(x, axis, keepdims),
    "max": lambda x, axis, keepdims: gc.reduce_max(x, axis, keepdims),
    "min": lambda x, axis, keepdims: gc.reduce_min(x, axis, keepdims),
    "variance": lambda x, axis, keepdims: gc.reduce_variance(x, axis, keepdims),
    "logsumexp": lambda x, axis, keepdims: gc.reduce_logsumexp(x, axis, keepdims),
    "argmax": lambda x, axis, keepdims: gc.argmax(x, -1 if axis is None else axis),
    "argmin": lambda x, axis, keepdims: gc.argmin(x, -1 if axis is None else axis),
    "softmax": lambda x, axis, keepdims: gc.nn.softmax(x, -1 if axis is None else axis),
    "log_softmax": lambda x, axis, keepdims: gc.nn.log_softmax(x, -1 if axis is None else axis),
}
# (shape, axis): at least one reduced axis or the tensor itself is empty
EMPTY = [((3, 0), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0, 4), 1), ((2, 0, 4), None), ((0,), None)]
SIGNATURES = {
    "static": lambda shape: None,
    "every size at run time": lambda shape: [gc.TensorSpec([None] * len(shape), gc.float64)],
    "the reduced sizes at run time": lambda shape: [gc.TensorSpec([None if d == 0 else d for d in shape], gc.float64)],
}


def _outcome(call):
    """The result as an array, or the error as (class, op, message)."""
    try:
        return np.asarray(call().numpy())
    except gc.errors.GraphcError as error:
        return type(error), error.op, error.message


def _assert_same_outcome(got, want, what):
    if isinstance(want, tuple):
        assert got == want, what
        return
    assert isinstance(got, np.ndarray), f"{what}: raised {got}"
    assert got.shape == want.shape and got.dtype == want.dtype, f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    np.testing.assert_array_equal(got, want, err_msg=what)


def _reductions(axis):
    """(name, keepdims) -> the reduction of one tensor."""
    found = {}
    for name, reduce in REDUCTIONS.items():
        for keepdims in (False, True):
            if not keepdims or name not in ("argmax", "argmin", "softmax", "log_softmax"):
                found[name, keepdims] = lambda t, reduce=reduce, keepdims=keepdims: reduce(t, axis, keepdims)
    return found


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("shape, axis", EMPTY)
def test_a_reduction_over_an_empty_axis_does_the_same_whenever_the_emptiness_is_known(shape, axis, signature, backend):
    x = np.zeros(shape)
    spec = SIGNATURES[signature](shape)
    reductions = _reductions(axis)
    want = {key: _outcome(lambda: reduce(gc.constant(x))) for key, reduce in reductions.items()}
    # the reductions eager mode computes, compiled together; each refused one on its own
    computed = [key for key in reductions if isinstance(want[key], np.ndarray)]
    together = gc.function(lambda t: [reductions[key](t) for key in computed], input_signature=spec, backend=backend)
    for key, got in zip(computed, together(x)):
        _assert_same_outcome(np.asarray(got.numpy()), want[key], f"{key} of {shape} over {axis}")
    for key in reductions.keys() - set(computed):
        alone = gc.function(reductions[key], input_signature=spec, backend=backend)
        _assert_same_outcome(_outcome(lambda: alone(x)), want[key], f"{key} of {shape} over {axis}")


def _softmax_family_gradient(x):
    with gc.GradientTape() as tape:
        tape.watch(x)
        loss = gc.reduce_sum(gc.nn.log_softmax(x, axis=1) * gc.nn.softmax(x, axis=1)) + gc.reduce_sum(gc.reduce_logsumexp(x, axis=1))
    return tape.gradient(loss, x)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (2, 3)])
def test_the_softmax_family_differentiates_alike_whenever_sizes_are_known(shape, backend):
    x = np.linspace(-2.0, 2.0, int(np.prod(shape))).reshape(shape)
    compiled = gc.function(_softmax_family_gradient, input_signature=[gc.TensorSpec([None, None], gc.float64)], backend=backend)
    want = _softmax_family_gradient(gc.constant(x)).numpy()
    np.testing.assert_allclose(compiled(x).numpy(), want, rtol=1e-12, atol=1e-12)
    assert compiled(x).shape == shape
