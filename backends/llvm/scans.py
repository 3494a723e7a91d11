"""Lowering of the scans, cumsum and cumprod: each row in the scan's direction, the running value
read back from the result (``out[i] = out[i-1] op x[i]``, or ``x[i-1]`` when exclusive), in the
order NumPy accumulates, so results are bit-identical to the interpreter's. The loop over the axes
after the scanned one is innermost, so that it vectorises."""
from __future__ import annotations

import functools

from llvmlite import ir

from graphc.ir.graph import Node

from . import scalar
from .emitter import Emitter
from .lowering import node_code
from .scalar import I64


def _lower_scan(em: Emitter, node: Node, combine: str, identity_value: int):
    """A scan combining elements with the binary op ``combine``, starting from ``identity_value``."""
    x, out = node.inputs[0], node.outputs[0]
    axis, exclusive, reverse = (node.attrs[k] for k in ("axis", "exclusive", "reverse"))
    dtype = out.dtype
    identity = scalar.constant(dtype, identity_value)
    b = em.builder
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    shape = x.type.shape
    pre, n, post = em.product(shape[:axis]), em.dim(shape[axis]), em.product(shape[axis + 1:])
    src, dst = em.pointer(x), em.pointer(out)
    with em.loop(zero, pre, "scan_pre") as p:
        with em.loop(zero, n, "scan_step") as step:
            i = b.sub(b.sub(n, one), step) if reverse else step
            first, second = b.icmp_signed("==", step, zero), b.icmp_signed("==", step, one)
            previous_i = b.select(first, i, b.add(i, one) if reverse else b.sub(i, one))
            row, previous_row = (b.mul(b.add(b.mul(p, n), j), post) for j in (i, previous_i))
            with em.loop(zero, post, "scan_post") as q:
                at, previous_at = b.add(row, q), b.add(previous_row, q)
                running = scalar.load(b, em.element(dst, previous_at), dtype)
                operand = scalar.load(b, em.element(src, previous_at if exclusive else at), dtype)
                combined = scalar.lower_scalar(b, combine, [running, operand], [dtype, dtype], dtype, {}, None)
                if exclusive:      # out[1] is x[0] itself, as in NumPy (0 + -0 would be +0)
                    value = b.select(first, identity, b.select(second, operand, combined))
                else:
                    value = b.select(first, operand, combined)
                scalar.store(b, value, em.element(dst, at), dtype)


node_code("cumsum")(functools.partial(_lower_scan, combine="add", identity_value=0))
node_code("cumprod")(functools.partial(_lower_scan, combine="multiply", identity_value=1))
