"""Automatic differentiation over recorded op applications.

A *record* is one op application with ``op`` (name), ``inputs``, ``outputs``, ``attrs`` and ``loc``:
a graph ``Node``, or an entry of a gradient tape. Values are told apart by identity.

``backward`` is reverse mode: it walks the records that lie on a path from the sources to the
targets in reverse order, asks each op's VJP rule for its inputs' cotangents and sums them over
fan-out. ``forward`` is forward mode: it walks the records in order and asks each op's JVP rule.
The rules are written with graphc's op functions, so both transformations compute values eagerly or
append gradient nodes to a graph, depending only on the dispatch handler in force.
"""
from __future__ import annotations

from typing import Sequence

from . import dispatch, ops
from .graph import Graph, Value
from .registry import get_op


def _is_float(x) -> bool:
    t = dispatch.type_of(x)
    return t is not None and t.dtype.is_floating


def _reachable_records(records, sources, targets) -> list:
    """The records on some path from a source to a target, in their original order."""
    reached = {id(s) for s in sources}
    forward = []
    for rec in records:
        if any(id(x) in reached for x in rec.inputs):
            forward.append(rec)
            reached.update(id(y) for y in rec.outputs)
    needed = {id(t) for t in targets}
    relevant = []
    for rec in reversed(forward):
        if any(id(y) in needed for y in rec.outputs):
            relevant.append(rec)
            needed.update(id(x) for x in rec.inputs)
    relevant.reverse()
    return relevant


class _Accumulator:
    """Cotangents per value, summed as they arrive."""

    def __init__(self):
        self.sums: dict[int, object] = {}

    def add(self, value, cotangent) -> None:
        key = id(value)
        if key in self.sums:
            self.sums[key] = ops.add(self.sums[key], cotangent)
        else:
            self.sums[key] = cotangent

    def get(self, value):
        return self.sums.get(id(value))


def backward(
    records: Sequence,
    targets: Sequence,
    sources: Sequence,
    target_cotangents: Sequence | None = None,
    unconnected: str = "none",
) -> list:
    """Cotangents of ``sources`` given the ``targets``' cotangents (ones when None: the gradient of
    the sum). A source with no path to a target gets None, or zeros with ``unconnected="zero"``."""
    if unconnected not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected!r}")
    acc = _Accumulator()
    cotangents = target_cotangents or [None] * len(targets)
    with dispatch.gradient_of(None):  # the seeds are gradient nodes at the caller's line
        for target, ct in zip(targets, cotangents):
            if _is_float(target):
                acc.add(target, ct if ct is not None else ops.ones_like(target))
    for rec in reversed(_reachable_records(records, sources, targets)):
        out_cts = [acc.get(y) if _is_float(y) else None for y in rec.outputs]
        if all(ct is None for ct in out_cts):
            continue
        opdef = get_op(rec.op)
        if opdef.vjp is None:
            continue
        with dispatch.gradient_of(rec.loc, rec.scope):
            in_cts = opdef.vjp(out_cts, list(rec.inputs), list(rec.outputs), **rec.attrs)
            for x, ct in zip(rec.inputs, in_cts):
                if ct is not None and _is_float(x):
                    acc.add(x, ct)
    results = []
    for s in sources:
        ct = acc.get(s)
        if ct is None and unconnected == "zero":
            ct = ops.zeros_like(s)
        results.append(ct)
    return results


def _linear_jvp(opdef, tangents, inputs, attrs):
    args = [
        t if t is not None else (ops.zeros_like(x) if _is_float(x) else x)
        for x, t in zip(inputs, tangents)
    ]
    result = dispatch.bind(opdef.name, *args, **attrs)
    return list(result) if opdef.multi_output else [result]


def forward(records: Sequence, sources: Sequence, tangents: Sequence) -> dict[int, object]:
    """Tangents of every value the ``sources`` reach, keyed by ``id(value)``."""
    tangent_of = {id(s): t for s, t in zip(sources, tangents)}
    for rec in records:
        in_tangents = [tangent_of.get(id(x)) if _is_float(x) else None for x in rec.inputs]
        if all(t is None for t in in_tangents):
            continue
        opdef = get_op(rec.op)
        with dispatch.gradient_of(rec.loc):
            if opdef.jvp is not None:
                out_tangents = opdef.jvp(in_tangents, list(rec.inputs), list(rec.outputs), **rec.attrs)
            elif opdef.linear:
                out_tangents = _linear_jvp(opdef, in_tangents, list(rec.inputs), rec.attrs)
            else:
                continue
        for y, t in zip(rec.outputs, out_tangents):
            if t is not None and _is_float(y):
                tangent_of[id(y)] = t
    return tangent_of


def gradients(graph: Graph, outputs: Sequence[Value], wrt: Sequence[Value], output_cotangents=None,
              unconnected: str = "none") -> list[Value | None]:
    """Appends to ``graph`` the nodes computing the gradient of ``outputs`` (their sum, or weighted by
    ``output_cotangents``) with respect to the values ``wrt``; returns the gradient values.

    New nodes are marked as gradient nodes and carry the source line of their forward op."""
    records = list(graph.nodes)
    with dispatch.handler(dispatch.GraphBuilder(graph)):
        return backward(records, outputs, wrt, output_cotangents, unconnected)
