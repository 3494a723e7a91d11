"""Testing helpers: ``check_grads`` compares automatic derivatives with finite differences."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops

from .gradients import jvp
from .tape import GradientTape
from .tensor import Tensor


def _numeric(f, args, direction, eps):
    """Central difference of ``f`` at ``args`` along ``direction``."""
    plus = [a + eps * d for a, d in zip(args, direction)]
    minus = [a - eps * d for a, d in zip(args, direction)]
    return (_value(f(*map(_tensor, plus))) - _value(f(*map(_tensor, minus)))) / (2 * eps)


def _tensor(a: np.ndarray) -> Tensor:
    return ops.constant(a, a.dtype)


def _value(t) -> np.ndarray:
    return np.asarray(t.numpy(), dtype=np.float64)


def _vjp_function(f, cotangent):
    """x -> the VJP of ``f`` at x with the fixed ``cotangent`` (a function of the same inputs)."""

    def vjp_f(*args):
        with GradientTape() as tape:
            tape.watch(list(args))
            out = f(*args)
        grads = tape.gradient(out, list(args), output_gradients=_tensor(cotangent), unconnected_gradients="zero")
        return ops.concat([ops.reshape(g, [-1]) for g in grads], 0)

    return vjp_f


def check_grads(f, args, order: int = 2, modes=("rev", "fwd"), eps: float = 1e-6, rtol: float = 1e-5,
                atol: float = 1e-7, seed: int = 0):
    """Checks ``f``'s derivatives at ``args`` (float64 arrays) against central finite differences.

    Reverse mode: ``<u, J v>`` from the VJP against ``<u, (f(x+eps v) - f(x-eps v)) / 2eps>`` for random
    u, v; forward mode: the JVP along v against the same difference. ``order=2`` repeats the checks on
    the VJP function itself (derivatives of derivatives)."""
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, dtype=np.float64) for a in args]
    out = _value(f(*map(_tensor, args)))
    direction = [rng.standard_normal(a.shape) for a in args]
    numeric = _numeric(f, args, direction, eps)
    scale = max(1.0, float(np.max(np.abs(numeric), initial=0.0)))
    if "fwd" in modes:
        _, tangent = jvp(f, [_tensor(a) for a in args], [_tensor(d) for d in direction])
        np.testing.assert_allclose(_value(tangent), numeric, rtol=rtol, atol=atol * scale, err_msg="JVP vs finite differences")
    if "rev" in modes:
        cotangent = rng.standard_normal(out.shape)
        vjp_flat = _value(_vjp_function(f, cotangent)(*map(_tensor, args)))
        directional = float(np.dot(vjp_flat, np.concatenate([d.ravel() for d in direction]) if direction else []))
        expected = float(np.sum(cotangent * numeric))
        np.testing.assert_allclose(directional, expected, rtol=rtol, atol=atol * scale * max(1, out.size),
                                   err_msg="VJP vs finite differences")
        if order > 1:
            check_grads(_vjp_function(f, cotangent), args, order - 1, modes, eps, rtol, atol, seed + 1)
