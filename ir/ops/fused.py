"""``fused``: a kernel made by the fusion pass, holding its own sub-graph (attribute ``body``).

Its inputs are the body's inputs and its results the body's outputs; ``kind`` says how backends lower
it (``elementwise``, ``reduction`` or ``matmul``, see ``ir.passes.fusion``). Fusion runs after
differentiation, so the op needs no gradient rules.
"""
from __future__ import annotations

from ..errors import IRError
from .common import define


def _fused_infer(types, body, kernel, kind):
    expected = [v.type for v in body.inputs]
    if list(types) != expected:
        raise IRError(
            f"kernel {kernel}: inputs typed {', '.join(map(str, types))} but its body takes "
            f"{', '.join(map(str, expected))}"
        )
    return [v.type for v in body.outputs]


define("fused", _fused_infer, multi_output=True, foldable=False)
