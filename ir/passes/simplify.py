"""Algebraic simplification: a table of rewrite rules (``RULES``), one line of data each.

Every rule is exact: it gives the same results for all inputs, NaN, Inf and signed zeros included.
That rules out ``x - x -> 0`` and ``x * 0 -> 0`` (wrong for Inf and NaN), reassociation (changes
rounding), and ``x + 0.0 -> x`` for a float ``x`` that may be ``-0.0`` (``-0.0 + 0.0`` is ``+0.0``).
One liberty, as in XLA and Grappler: which NaN (sign, payload) a NaN result is may change.
``x + -0.0 -> x`` and ``x - 0.0 -> x`` are exact, and so is ``x + 0`` for integers.

A rule applies only when the replacement has exactly the type of the node it replaces: ``cast(x)
-> x`` removes casts to x's own dtype only, ``reshape(x) -> x`` reshapes to x's own shape only.
"0", "1", "-1" and "2" in the rules are values every element of which is that number, known at
compile time: constants, ``fill`` and ``full_like`` nodes, and reshapes, broadcasts and transposes
of them.

The rules are applied to each node, then to its replacement, at most ``MAX_REWRITES_PER_NODE``
times, and the pass repeats over the graph until nothing changes, at most ``MAX_ROUNDS`` times
(``patterns.rewrite_graph``). A bound reached stops the rewriting: the graph is correct, as every
rewrite is exact, though perhaps not fully simplified. The pass statistics count each rule's hits.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ..graph import Graph, Value
from ..registry import OpDef, get_op
from .fold import constant_of
from .manager import report_counts
from .patterns import ANY, Attr, NewNode, Pattern, Rule, Rules, either, matching, new, op, rewrite_graph, var


def uniform_value(value: Value):
    """The number every element of ``value`` equals, when that is known at compile time."""
    node = value.node
    while node is not None and node.opdef.movement:  # every element is an element of its first input
        node = node.inputs[0].node
    if node is None:
        return None
    if node.opdef.fills:
        return node.attrs["value"]
    array = constant_of(node.outputs[0])
    if array is not None and array.size == 1:
        return array.reshape(-1)[0].item()
    if array is not None and array.size and np.all(array == array.reshape(-1)[0]):
        first = array.reshape(-1)[0]
        if np.all(np.signbit(array) == np.signbit(first)):  # 0.0 and -0.0 are different numbers here
            return first.item()
    return None


# -- what the patterns ask of a value ------------------------------------------------------------
def uniformly(number):
    """A test: every element of the value is ``number`` (a bool is no number here)."""

    def test(value: Value) -> bool:
        u = uniform_value(value)
        return u is not None and not isinstance(u, bool) and u == number

    return test


is_zero, is_one, is_minus_one, is_two = uniformly(0), uniformly(1), uniformly(-1), uniformly(2)


def is_positive_zero(value: Value) -> bool:
    return is_zero(value) and math.copysign(1.0, uniform_value(value)) > 0


def is_negative_zero(value: Value) -> bool:
    return is_zero(value) and math.copysign(1.0, uniform_value(value)) < 0


def is_never_negative_zero(value: Value) -> bool:
    """Known to be a number of positive sign everywhere (so adding +0.0 leaves it as it is)."""
    known = uniform_value(value)
    return known is not None and math.copysign(1.0, known) > 0


def is_integral(value: Value) -> bool:
    """Integer or bool: its zero has no sign."""
    return not value.dtype.is_floating


def is_floating(value: Value) -> bool:
    return value.dtype.is_floating


def is_static(value: Value) -> bool:
    return value.type.is_static


# -- what the patterns ask of an op ----------------------------------------------------------------
def is_reduction(opdef: OpDef) -> bool:
    return opdef.reduction is not None


def keeps_elements(opdef: OpDef) -> bool:
    """A reduction whose identity leaves every element as it is: max, min, product. Not a sum: it
    adds to +0.0, so it turns -0.0 into +0.0."""
    return opdef.reduction is not None and get_op(opdef.reduction).identity != 0


def is_identity_permutation(perm) -> bool:
    return list(perm) == sorted(perm)


# -- replacements that compute -------------------------------------------------------------------
def if_size_one(x: Value, axes) -> Value | None:
    """``x`` when its ``axes`` all have size 1, else None."""
    return x if all(x.shape[a] == 1 for a in axes) else None


def composed_transpose(x: Value, p, q) -> NewNode:
    """``transpose(transpose(x, p), q)`` as one transpose of x."""
    return new("transpose", x, perm=tuple(p[i] for i in q))


def broadcast_to_shape_of(x: Value, y: Value) -> NewNode:
    return new("broadcast_to", x, shape=tuple(y.shape))


def reshape_to_shape_of(x: Value, y: Value) -> NewNode:
    return new("reshape", x, shape=tuple(y.shape))


def without_kept_dims(reduction: Value) -> NewNode:
    """The reduction computing ``reduction``, without the size-1 axes it keeps (with its metadata)."""
    node = reduction.node
    return new(node.op, *node.inputs, like=node, **{**node.attrs, "keepdims": False})


# -- the patterns --------------------------------------------------------------------------------
x, y, STATIC_Y = var("x"), var("y"), var("y", is_static)
ZERO, POSITIVE_ZERO, NEGATIVE_ZERO = matching(is_zero), matching(is_positive_zero), matching(is_negative_zero)
ONE, MINUS_ONE, TWO = matching(is_one), matching(is_minus_one), matching(is_two)
ONES = var("ones", is_one)
AXES, P, Q, SHAPE = Attr("axes"), Attr("p"), Attr("q"), Attr("shape")


def reshape_of(x: Pattern) -> Pattern:
    """``reshape(x)`` or ``reshape_like(x, _)``."""
    return either(op("reshape", x), op("reshape_like", x, ANY))


RULES = Rules([
    # -- identities of arithmetic --
    Rule("add_negative_zero", x + NEGATIVE_ZERO, lambda x: x),  # x + -0.0 -> x
    Rule("add_integral_zero", var("x", is_integral) + ZERO, lambda x: x),  # x + 0 -> x (integer x)
    Rule("add_positive_zero", var("x", is_never_negative_zero) + POSITIVE_ZERO, lambda x: x),  # x + 0.0 -> x, x not -0.0
    Rule("subtract_zero", x - POSITIVE_ZERO, lambda x: x),  # x - 0.0 -> x
    Rule("multiply_one", x * ONE, lambda x: x),  # x * 1 -> x
    Rule("multiply_minus_one", var("x", is_floating) * MINUS_ONE, lambda x: new("negative", x)),  # x * -1 -> -x, float x
    Rule("divide_one", x / ONE, lambda x: x),  # x / 1 -> x
    Rule("pow_one", x ** ONE, lambda x: x),  # x ** 1 -> x
    Rule("pow_two", x ** TWO, lambda x: new("square", x)),  # x ** 2 -> square(x)
    # -- negations --
    Rule("add_negation", x + -y, lambda x, y: new("subtract", x, y)),  # x + (-y) -> x - y
    Rule("subtract_negation", x - -y, lambda x, y: new("add", x, y)),  # x - (-y) -> x + y
    Rule("double_negation", -(-x), lambda x: x),  # -(-x) -> x
    Rule("double_not", op("logical_not", op("logical_not", x)), lambda x: x),  # not not x -> x
    # -- ops with nothing to do --
    Rule("identity", op("identity", x), lambda x: x),  # identity(x) -> x
    Rule("stop_gradient", op("stop_gradient", x), lambda x: x),  # stop_gradient(x) -> x (gradients are built)
    Rule("cast_to_own_dtype", op("cast", x), lambda x: x),  # cast(x) to x's dtype -> x
    Rule("where_same", op("where", ANY, x, x), lambda x: x),  # where(c, x, x) -> x
    Rule("where_one_zero", op("where", x, ONES, either(POSITIVE_ZERO, op("multiply", ONES, POSITIVE_ZERO, commutative=True))),
         lambda x, ones: new("cast", x, dtype=ones.dtype)),  # where(c, 1, 0 or 1 * 0) -> cast(c), c of the result's shape
    Rule("reduce_no_axes", op(keeps_elements, x, axes=()), lambda x: x),  # reduce_max(x, axes=()) -> x
    Rule("reduce_size_one_kept", op(keeps_elements, x, axes=AXES, keepdims=True),
         if_size_one),  # reduce_max(x, axes of size 1, keepdims=True) -> x
    # -- moving elements --
    Rule("broadcast_to_own_shape", op("broadcast_to", x), lambda x: x),  # broadcast_to(x) to x's shape -> x
    Rule("broadcast_like_own_shape", op("broadcast_like", x, ANY), lambda x: x),  # broadcast_like(x, y) -> x
    Rule("broadcast_like_static", op("broadcast_like", x, STATIC_Y),
         broadcast_to_shape_of),  # broadcast_like(x, y) -> broadcast_to(x, y.shape), not waiting for y
    Rule("transpose_identity", op("transpose", x, perm=is_identity_permutation), lambda x: x),  # transpose(x, (0, 1)) -> x
    Rule("transpose_of_transpose", op("transpose", op("transpose", x, perm=P), perm=Q),
         composed_transpose),  # transpose(transpose(x, p), q) -> transpose(x, p∘q)
    Rule("reshape_to_own_shape", op("reshape", x), lambda x: x),  # reshape(x) to x's shape -> x
    Rule("reshape_of_reshape", op("reshape", reshape_of(x), shape=SHAPE),
         lambda x, shape: new("reshape", x, shape=shape)),  # reshape(reshape(x)) -> reshape(x)
    Rule("reshape_like_own_shape", op("reshape_like", x, ANY), lambda x: x),  # reshape_like(x, y) -> x
    Rule("reshape_like_static_of_reshape", op("reshape_like", reshape_of(x), STATIC_Y),
         reshape_to_shape_of),  # reshape_like(reshape(x), y) -> reshape(x, y.shape)
    Rule("reshape_like_static", op("reshape_like", x, STATIC_Y),
         reshape_to_shape_of),  # reshape_like(x, y) -> reshape(x, y.shape), not waiting for y
    Rule("reshape_like_of_reshape", op("reshape_like", reshape_of(x), y),
         lambda x, y: new("reshape_like", x, y)),  # reshape_like(reshape(x), y) -> reshape_like(x, y)
    Rule("squeeze_expand_dims", op("squeeze", op("expand_dims", x, axes=AXES), axes=AXES),
         lambda x: x),  # squeeze(expand_dims(x, a), a) -> x
    Rule("expand_dims_squeeze", op("expand_dims", op("squeeze", x, axes=AXES), axes=AXES),
         lambda x: x),  # expand_dims(squeeze(x, a), a) -> x
    Rule("squeeze_kept_dims", op("squeeze", op(is_reduction, ANY, name="reduction", keepdims=True, axes=AXES),
                                 axes=AXES),
         without_kept_dims),  # squeeze(reduce(x, a, keepdims=True), a) -> reduce(x, a): one kernel with its consumers
])


def simplify(graph: Graph, rules: Rules = RULES) -> Graph:
    """Applies ``rules`` to every node, repeatedly, until none applies or a bound is reached (see the
    module docstring); each rule's hits go to the pass statistics.

    Nodes that the rewrites leave unused stay in the graph for dead-code elimination to remove (so
    switching that pass off shows every node)."""
    hits: Counter = Counter()
    graph = rewrite_graph(graph, rules, hits)
    report_counts(hits)
    return graph
