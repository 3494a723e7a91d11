"""Algebraic simplification: a table of rewrite rules, each one line of data beside its siblings.

Every rule is exact: it gives bit-identical results for all inputs, NaN and Inf included. That rules
out ``x - x -> 0`` and ``x * 0 -> 0`` (wrong for Inf and NaN) and reassociation (changes rounding).
A rule applies only when the replacement has exactly the type of the node it replaces.

| pattern                                  | becomes            |
|------------------------------------------|--------------------|
| x + 0, 0 + x, x - 0                      | x                  |
| x * 1, 1 * x, x / 1, x ** 1              | x                  |
| x * -1, -1 * x                           | -x                 |
| x ** 2                                   | square(x)          |
| x + (-y)                                 | x - y              |
| -(-x), not(not x)                        | x                  |
| identity(x), stop_gradient(x)            | x (gradients are already built) |
| cast(x) to x's dtype                     | x                  |
| reshape / reshape_like / broadcast_to / broadcast_like / transpose to x's own type | x |
| transpose(transpose(x, p), q)            | transpose(x, p∘q), or x if the identity |
| reshape(reshape(x)), reshape_like(reshape(x)) | one reshape   |
| squeeze(expand_dims(x, a), a), expand_dims(squeeze(x, a), a) | x |
| reduce_{sum,max,min,prod}(x) over no axes, or size-1 axes kept | x |
| where(c, x, x)                           | x                  |

"0" and "1" are constants, ``fill`` or ``full_like`` nodes whose every element is that number.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node, Value
from .fold import constant_of
from .rebuild import Builder, rebuild


def uniform_value(value: Value):
    """The number every element of ``value`` equals, when that is known at compile time."""
    node = value.node
    if node is None:
        return None
    if node.op in ("fill", "full_like"):
        return node.attrs["value"]
    array = constant_of(value)
    if array is not None and array.size and np.all(array == array.reshape(-1)[0]):
        return array.reshape(-1)[0].item()
    return None


def _is(value: Value, number) -> bool:
    u = uniform_value(value)
    return u is not None and not isinstance(u, bool) and u == number


def _same_type(node: Node, value: Value) -> bool:
    return node.outputs[0].type == value.type


def _producer(value: Value, op: str) -> Node | None:
    return value.node if value.node is not None and value.node.op == op else None


# Each rule: (node, inputs, builder) -> the value replacing the node's result, or None.
def _add(node, inputs, builder):
    a, b = inputs
    if _is(b, 0) and _same_type(node, a):
        return a
    if _is(a, 0) and _same_type(node, b):
        return b
    neg = _producer(b, "negative")
    if neg is not None:
        return builder.emit("subtract", [a, neg.inputs[0]])[0]
    return None


def _subtract(node, inputs, builder):
    a, b = inputs
    return a if _is(b, 0) and _same_type(node, a) else None


def _multiply(node, inputs, builder):
    a, b = inputs
    for x, y in ((a, b), (b, a)):
        if _is(y, 1) and _same_type(node, x):
            return x
        if _is(y, -1) and _same_type(node, x) and x.dtype.is_floating:
            return builder.emit("negative", [x])[0]
    return None


def _divide(node, inputs, builder):
    a, b = inputs
    return a if _is(b, 1) and _same_type(node, a) else None


def _pow(node, inputs, builder):
    a, b = inputs
    if _is(b, 1) and _same_type(node, a):
        return a
    if _is(b, 2) and _same_type(node, a):
        return builder.emit("square", [a])[0]
    return None


def _involution(op):
    def rule(node, inputs, builder):
        inner = _producer(inputs[0], op)
        return inner.inputs[0] if inner is not None and _same_type(node, inner.inputs[0]) else None

    return rule


def _pass_through(node, inputs, builder):
    return inputs[0]


def _no_op_if_same_type(node, inputs, builder):
    return inputs[0] if _same_type(node, inputs[0]) else None


def _transpose(node, inputs, builder):
    if _same_type(node, inputs[0]) and list(node.attrs["perm"]) == sorted(node.attrs["perm"]):
        return inputs[0]
    inner = _producer(inputs[0], "transpose")
    if inner is None:
        return None
    perm = tuple(inner.attrs["perm"][p] for p in node.attrs["perm"])
    if perm == tuple(range(len(perm))):
        return inner.inputs[0]
    return builder.emit("transpose", [inner.inputs[0]], {"perm": perm})[0]


def _reshape(node, inputs, builder):
    if _same_type(node, inputs[0]):
        return inputs[0]
    inner = _producer(inputs[0], "reshape") or _producer(inputs[0], "reshape_like")
    if inner is None:
        return None
    return builder.emit(node.op, [inner.inputs[0], *inputs[1:]], node.attrs)[0]


def _undo(op):
    """``x -> op(x, axes) -> node(.., axes)`` is x when the axes agree."""

    def rule(node, inputs, builder):
        inner = _producer(inputs[0], op)
        if inner is not None and inner.attrs["axes"] == node.attrs["axes"] and _same_type(node, inner.inputs[0]):
            return inner.inputs[0]
        return None

    return rule


def _reduction(node, inputs, builder):
    """A reduction over no axes, or over size-1 axes it keeps, leaves its input as it was."""
    x = inputs[0]
    if node.attrs["keepdims"] and all(x.type.shape[a] == 1 for a in node.attrs["axes"]) and _same_type(node, x):
        return x
    if not node.attrs["axes"] and _same_type(node, x):
        return x
    return None


def _where(node, inputs, builder):
    c, a, b = inputs
    return a if a is b and _same_type(node, a) else None


RULES = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "divide": _divide,
    "pow": _pow,
    "negative": _involution("negative"),
    "logical_not": _involution("logical_not"),
    "identity": _pass_through,
    "stop_gradient": _pass_through,
    "cast": _no_op_if_same_type,
    "broadcast_to": _no_op_if_same_type,
    "broadcast_like": _no_op_if_same_type,
    "transpose": _transpose,
    "reshape": _reshape,
    "reshape_like": _reshape,
    "squeeze": _undo("expand_dims"),
    "expand_dims": _undo("squeeze"),
    "reduce_sum": _reduction,
    "reduce_max": _reduction,
    "reduce_min": _reduction,
    "reduce_prod": _reduction,
    "where": _where,
}


def simplify(graph, rules=None):
    """Applies the rewrite ``rules`` (default: ``RULES``) to every node, repeatedly, until none applies.

    Nodes nothing uses any more are dropped on the way (as dead-code elimination would)."""
    rules = RULES if rules is None else rules

    def rule(node: Node, inputs: list[Value], builder: Builder):
        fn = rules.get(node.op)
        if fn is None:
            return None
        replacement = fn(node, inputs, builder)
        return None if replacement is None else [replacement]

    while True:
        before = _signature(graph)
        graph = rebuild(graph, rule, nodes=graph.live_nodes())
        if _signature(graph) == before:
            return graph


def _signature(graph) -> tuple:
    """The ops and wiring of a graph, independent of value identities."""
    ids = {v: i for i, v in enumerate(graph.values())}
    return tuple((n.op, tuple(ids[v] for v in n.inputs)) for n in graph.nodes) + tuple(ids[v] for v in graph.outputs)
