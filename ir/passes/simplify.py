"""Algebraic simplification: a table of rewrite rules, each one line of data beside its siblings.

Every rule is exact: it gives the same results for all inputs, NaN, Inf and signed zeros included.
That rules out ``x - x -> 0`` and ``x * 0 -> 0`` (wrong for Inf and NaN), reassociation (changes
rounding), and ``x + 0.0 -> x`` for a float ``x`` that may be ``-0.0`` (``-0.0 + 0.0`` is ``+0.0``).
One liberty, as in XLA and Grappler: which NaN (sign, payload) a NaN result is may change.
``x + -0.0 -> x`` and ``x - 0.0 -> x`` are exact, and so is ``x + 0`` for integers. A rule applies only when the
replacement has exactly the type of the node it replaces.

| pattern                                  | becomes            |
|------------------------------------------|--------------------|
| x + (-0.0), x + 0 (integer x), x - (+0)  | x                  |
| x * 1, 1 * x, x / 1, x ** 1              | x                  |
| x * -1, -1 * x (floating x)              | -x                 |
| x ** 2                                   | square(x)          |
| x + (-y), (-y) + x                       | x - y              |
| x - (-y)                                 | x + y              |
| -(-x), not(not x)                        | x                  |
| identity(x), stop_gradient(x)            | x (gradients are already built) |
| cast(x) to x's dtype                     | x                  |
| reshape / reshape_like / broadcast_to / broadcast_like / transpose to x's own type | x |
| broadcast_like(x, y), reshape_like(x, y) with y of static shape | broadcast_to / reshape to that shape (drops the dependency on y) |
| transpose(transpose(x, p), q)            | transpose(x, p∘q), or x if the identity |
| reshape(reshape(x)), reshape_like(reshape(x)) | one reshape   |
| squeeze(expand_dims(x, a), a), expand_dims(squeeze(x, a), a) | x |
| squeeze(reduce_*(x, a, keepdims=True), a) | reduce_*(x, a, keepdims=False) |
| reduce_{max,min,prod}(x) over no axes or size-1 axes kept | x |
| where(c, x, x)                           | x                  |

"0" and "1" are values every element of which is that number, known at compile time: constants,
``fill`` and ``full_like`` nodes, and reshapes, broadcasts and transposes of them.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import GraphcError
from ..graph import Graph, Node, Value
from .fold import constant_of
from .rebuild import Builder, rebuild, structure

def uniform_value(value: Value):
    """The number every element of ``value`` equals, when that is known at compile time."""
    node = value.node
    while node is not None and node.opdef.movement:  # every element is an element of its first input
        node = node.inputs[0].node
    if node is None:
        return None
    if node.op in ("fill", "full_like"):
        return node.attrs["value"]
    array = constant_of(node.outputs[0])
    if array is not None and array.size == 1:
        return array.reshape(-1)[0].item()
    if array is not None and array.size and np.all(array == array.reshape(-1)[0]):
        first = array.reshape(-1)[0]
        if np.all(np.signbit(array) == np.signbit(first)):  # 0.0 and -0.0 are different numbers here
            return first.item()
    return None


def _is(value: Value, number) -> bool:
    u = uniform_value(value)
    return u is not None and not isinstance(u, bool) and u == number


def _is_positive_zero(value: Value) -> bool:
    return _is(value, 0) and math.copysign(1.0, uniform_value(value)) > 0


def _is_identity_of_addition(zero: Value, x: Value) -> bool:
    """``x + zero == x`` exactly: any zero for integers; for floats ``-0.0``, or ``+0.0`` when ``x``
    is known not to be ``-0.0`` (``-0.0 + 0.0`` is ``+0.0``)."""
    if not _is(zero, 0):
        return False
    if not x.dtype.is_floating or math.copysign(1.0, uniform_value(zero)) < 0:
        return True
    known = uniform_value(x)
    return known is not None and math.copysign(1.0, known) > 0


def _same_type(node: Node, value: Value) -> bool:
    return node.outputs[0].type == value.type


def _producer(value: Value, op: str) -> Node | None:
    return value.node if value.node is not None and value.node.op == op else None


# Each rule: (node, inputs, builder) -> the value replacing the node's result, or None.
def _add(node, inputs, builder):
    a, b = inputs
    for x, y in ((a, b), (b, a)):
        if _is_identity_of_addition(y, x) and _same_type(node, x):
            return x
    for x, y in ((a, b), (b, a)):
        neg = _producer(y, "negative")
        if neg is not None:
            return builder.emit("subtract", [x, neg.inputs[0]])[0]
    return None


def _subtract(node, inputs, builder):
    a, b = inputs
    if _is_positive_zero(b) and _same_type(node, a):
        return a
    neg = _producer(b, "negative")
    if neg is not None:
        return builder.emit("add", [a, neg.inputs[0]])[0]
    return None


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


def _broadcast_like(node, inputs, builder):
    """``broadcast_like(x, y)`` is ``broadcast_to(x, y.shape)`` when y's shape is static (it reads
    only y's type), so it no longer waits for y to be computed."""
    x, like = inputs
    if _same_type(node, x):
        return x
    if not like.type.is_static:
        return None
    try:
        return builder.emit("broadcast_to", [x], {"shape": tuple(like.shape)})[0]
    except GraphcError:  # shapes that do not broadcast: left to fail at run time as written
        return None


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
    """Reshapes of reshapes are one reshape; ``reshape_like`` a static shape is a plain reshape."""
    if _same_type(node, inputs[0]):
        return inputs[0]
    inner = _producer(inputs[0], "reshape") or _producer(inputs[0], "reshape_like")
    source = inputs[0] if inner is None else inner.inputs[0]
    if node.op == "reshape_like" and inputs[1].type.is_static:
        try:
            return builder.emit("reshape", [source], {"shape": tuple(inputs[1].shape)})[0]
        except GraphcError:  # sizes that differ: left to fail at run time as written
            return None
    if inner is None:
        return None
    return builder.emit(node.op, [source, *inputs[1:]], node.attrs)[0]


def _undo(op):
    """``x -> op(x, axes) -> node(.., axes)`` is x when the axes agree."""

    def rule(node, inputs, builder):
        inner = _producer(inputs[0], op)
        if inner is not None and inner.attrs["axes"] == node.attrs["axes"] and _same_type(node, inner.inputs[0]):
            return inner.inputs[0]
        return None

    return rule


def _squeeze(node, inputs, builder):
    """``squeeze(expand_dims(x, a), a)`` is x; ``squeeze(reduce(x, a, keepdims=True), a)`` is
    ``reduce(x, a, keepdims=False)`` (gradients of broadcasts make the first form; the second keeps
    the reduction and its consumers in one kernel)."""
    undone = _undo("expand_dims")(node, inputs, builder)
    if undone is not None:
        return undone
    inner = inputs[0].node
    if (inner is not None and inner.opdef.reduction and inner.attrs["keepdims"]
            and inner.attrs["axes"] == node.attrs["axes"]):
        return builder.emit(inner.op, [inner.inputs[0]], {**inner.attrs, "keepdims": False}, like=inner)[0]
    return None


def _reduction(node, inputs, builder):
    """A max, min or product over no axes, or over size-1 axes it keeps, leaves its input as it was.
    (A sum does not: it turns -0.0 into +0.0, as NumPy adds to +0.0.)"""
    x = inputs[0]
    trivial = not node.attrs["axes"] or (node.attrs["keepdims"] and all(x.type.shape[a] == 1 for a in node.attrs["axes"]))
    return x if trivial and _same_type(node, x) else None


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
    "broadcast_like": _broadcast_like,
    "transpose": _transpose,
    "reshape": _reshape,
    "reshape_like": _reshape,
    "squeeze": _squeeze,
    "expand_dims": _undo("squeeze"),
    "reduce_max": _reduction,
    "reduce_min": _reduction,
    "reduce_prod": _reduction,
    "where": _where,
}


def simplify(graph: Graph, rules: dict | None = None) -> Graph:
    """Applies the rewrite ``rules`` (default: ``RULES``) to every node, repeatedly, until none applies.

    Nodes that the rewrites leave unused stay in the graph for dead-code elimination to remove (so
    switching that pass off shows every node)."""
    rules = RULES if rules is None else rules

    def rule(node: Node, inputs: list[Value], builder: Builder):
        fn = rules.get(node.op)
        if fn is None:
            return None
        replacement = fn(node, inputs, builder)
        return None if replacement is None else [replacement]

    while True:
        before = structure(graph)
        graph = rebuild(graph, rule)
        if structure(graph) == before:
            return graph
