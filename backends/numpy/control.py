"""NumPy implementations of the region ops ``cond`` and ``while_loop``: the interpreter runs their sub-graphs.

Regions are pure (``graphc.ir.ops.control``), so a region runs as a graph of its own, with nothing
to stage or commit.
"""
from __future__ import annotations

import numpy as np

from graphc.ir.ops import control as _control  # noqa: F401  (registers the ops)
from graphc.ir.registry import implement

BACKEND = "numpy"


def _run(graph, arrays: list) -> list:
    from .interpreter import Interpreter

    # the region's sizes follow from its operands, checked with the enclosing graph; checking them on
    # every iteration would double a loop's cost (an oversized result still raises, as it is made)
    return Interpreter(graph, check_sizes=False).run(arrays)


def _unaliased(results: list, operands) -> list:
    """Results never share an operand's array (a loop that ran no iteration returns its operands)."""
    return [r.copy() if any(r is o for o in operands) else r for r in results]


@implement("cond", BACKEND)
def _cond(pred, *operands, then_branch, else_branch):
    branch = then_branch if bool(np.asarray(pred)) else else_branch
    return _unaliased(_run(branch, list(operands)), operands)


@implement("while_loop", BACKEND)
def _while_loop(*operands, cond, body, maximum_iterations):
    n = len(body.outputs)
    state, invariants = list(operands[:n]), list(operands[n:])
    iterations = 0
    while maximum_iterations is None or iterations < maximum_iterations:
        if not bool(np.asarray(_run(cond, state + invariants)[0])):
            break
        state = _run(body, state + invariants)
        iterations += 1
    return _unaliased(state, operands)
