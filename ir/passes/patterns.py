"""Rewrite rules as data: patterns over graph values, and the rewriter that applies a table of rules.

A ``Rule`` pairs a ``Pattern`` with a replacement. A pattern describes the node being rewritten: its
op (by name, or by a property of its ``OpDef``), patterns for its inputs, constraints on its
attributes, and names binding the values and attributes it matched. Arithmetic operators build op
patterns, so a rule reads like the algebra it states::

    x = var("x")
    Rule("multiply_one", x * matching(is_one), lambda x: x)  # x * 1 -> x

The replacement receives the bindings it names as keyword arguments and returns a value of the
graph, a ``new(op, *inputs, **attrs)`` node to add, or None (the rule does not apply after all). A
rule applies only when its replacement has exactly the type of the node it replaces. A name bound
twice must bind the same thing both times: ``op("where", ANY, x, x)`` matches ``where(c, y, y)`` only.

``rewrite_graph`` applies the rules to each node and again to its replacement, at most
``MAX_REWRITES_PER_NODE`` times, and repeats over the graph until a round changes nothing, at most
``MAX_ROUNDS`` times. Reaching a bound stops the rewriting there: each rewrite made is exact, so
the graph is correct, only perhaps not fully rewritten.
"""
from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

from ..errors import GraphcError, IRError
from ..graph import Graph, Node, Value
from ..registry import OpDef, get_op
from ..types import TensorType
from .rebuild import GraphWriter, rebuild, structure

MAX_REWRITES_PER_NODE = 32  # rules applied to one node and its successive replacements
MAX_ROUNDS = 8  # passes over the whole graph; one is enough unless a node reached the bound above

Bindings = dict[str, Any]


def _bind(bindings: Bindings, name: str | None, thing) -> Bindings | None:
    """``bindings`` with ``name`` bound to ``thing``; None if ``name`` is bound to something else."""
    if name is None:
        return bindings
    if name in bindings:
        return bindings if bindings[name] == thing else None
    return {**bindings, name: thing}


class Pattern:
    """What a value must be, and the names its parts are bound to. Arithmetic operators build op
    patterns: ``x + y`` is ``op("add", x, y)`` in either order, ``-x`` is ``op("negative", x)``."""

    def match(self, value: Value, bindings: Bindings) -> Iterator[Bindings]:
        """Every way ``value`` matches: ``bindings`` extended with the names bound, one per way."""
        raise TypeError(f"{type(self).__name__} must define match(value, bindings)")

    def names(self) -> set[str]:
        """The names every match binds."""
        raise TypeError(f"{type(self).__name__} must define names()")

    def __add__(self, other: Pattern) -> Op:
        return op("add", self, other, commutative=True)

    def __sub__(self, other: Pattern) -> Op:
        return op("subtract", self, other)

    def __mul__(self, other: Pattern) -> Op:
        return op("multiply", self, other, commutative=True)

    def __truediv__(self, other: Pattern) -> Op:
        return op("divide", self, other)

    def __pow__(self, other: Pattern) -> Op:
        return op("pow", self, other)

    def __neg__(self) -> Op:
        return op("negative", self)


@dataclass(frozen=True, eq=False)
class Var(Pattern):
    """Any value that passes every test (``test(value) -> bool``), bound to ``name`` if it has one."""

    name: str | None = None
    tests: tuple[Callable[[Value], bool], ...] = ()

    def match(self, value: Value, bindings: Bindings) -> Iterator[Bindings]:
        for test in self.tests:
            if not test(value):
                return
        bound = _bind(bindings, self.name, value)
        if bound is not None:
            yield bound

    def names(self) -> set[str]:
        return set() if self.name is None else {self.name}


@dataclass(frozen=True)
class Attr:
    """An attribute constraint binding the attribute's value to ``name``: ``op("transpose", x, perm=Attr("p"))``."""

    name: str


@dataclass(frozen=True, eq=False)
class Op(Pattern):
    """A value computed by an op: ``op`` names it, or is a test of its ``OpDef`` (``lambda d: d.movement``).

    ``attrs`` constrain the node's attributes: each is a value it must equal, a test of it, or an
    ``Attr`` binding it. A commutative pattern of two inputs matches them in either order."""

    op: str | Callable[[OpDef], bool]
    inputs: tuple[Pattern, ...]
    attrs: tuple[tuple[str, Any], ...] = ()
    name: str | None = None
    commutative: bool = False

    def accepts(self, opdef: OpDef) -> bool:
        """Whether a node of the op ``opdef`` may match."""
        return opdef.name == self.op if isinstance(self.op, str) else bool(self.op(opdef))

    def match(self, value: Value, bindings: Bindings) -> Iterator[Bindings]:
        node = value.node
        if node is not None and len(node.outputs) == 1:
            bound = _bind(bindings, self.name, value)
            if bound is not None:
                yield from self.match_node(node, bound)

    def match_node(self, node: Node | NewNode, bindings: Bindings) -> Iterator[Bindings]:
        """Every way ``node`` (its op, attributes and inputs) matches."""
        if len(node.inputs) != len(self.inputs) or not self.accepts(node.opdef):
            return
        for key, wanted in self.attrs:
            if key not in node.attrs:
                return
            found = node.attrs[key]
            if isinstance(wanted, Attr):
                bindings = _bind(bindings, wanted.name, found)
                if bindings is None:
                    return
            elif not (wanted(found) if callable(wanted) else found == wanted):
                return
        orders = [node.inputs, node.inputs[::-1]] if self.commutative else [node.inputs]
        for inputs in orders:
            yield from _match_all(self.inputs, inputs, bindings)

    def names(self) -> set[str]:
        attrs = {wanted.name for _, wanted in self.attrs if isinstance(wanted, Attr)}
        own = set() if self.name is None else {self.name}
        return own | attrs | set().union(*(p.names() for p in self.inputs))


@dataclass(frozen=True, eq=False)
class Either(Pattern):
    """What any of ``alternatives`` matches, the first alternative's matches first."""

    alternatives: tuple[Pattern, ...]

    def match(self, value: Value, bindings: Bindings) -> Iterator[Bindings]:
        for alternative in self.alternatives:
            yield from alternative.match(value, bindings)

    def names(self) -> set[str]:
        return set.intersection(*(p.names() for p in self.alternatives))


def _match_all(patterns, values, bindings: Bindings) -> Iterator[Bindings]:
    if not patterns:
        yield bindings
        return
    for bound in patterns[0].match(values[0], bindings):
        yield from _match_all(patterns[1:], values[1:], bound)


def var(name: str, *tests: Callable[[Value], bool]) -> Var:
    """Any value passing ``tests``, bound to ``name``."""
    return Var(name, tests)


def matching(*tests: Callable[[Value], bool]) -> Var:
    """Any value passing ``tests``, bound to no name."""
    return Var(None, tests)


ANY = Var()


def op(op: str | Callable[[OpDef], bool], *inputs: Pattern, name: str | None = None, commutative: bool = False,
       **attrs) -> Op:
    """A value computed by ``op`` from values matching ``inputs``, with attributes matching ``attrs``."""
    if commutative and len(inputs) != 2:
        raise IRError(f"a commutative pattern takes two inputs, got {len(inputs)}")
    return Op(op, tuple(inputs), tuple(attrs.items()), name, commutative)


def either(*alternatives: Pattern) -> Either:
    return Either(alternatives)


@dataclass(eq=False)
class NewNode:
    """A node a replacement asks for; the rewriter adds it to the graph once no rule rewrites it further."""

    op: str
    inputs: tuple[Value, ...]
    attrs: dict
    like: Node | None = None  # whose scope, source location and gradient mark it takes (default: the node it replaces)

    @property
    def opdef(self) -> OpDef:
        return get_op(self.op)

    @cached_property
    def type(self) -> TensorType | None:
        """Its result's type, or None when the op's shape rule rejects its inputs or it has several results."""
        try:
            types = self.opdef.infer([v.type for v in self.inputs], **self.attrs)
        except GraphcError:
            return None
        return types[0] if len(types) == 1 else None


def new(op: str, *inputs: Value, like: Node | None = None, **attrs) -> NewNode:
    """The replacement ``op(*inputs, **attrs)``, a node to add (with ``like``'s metadata if given)."""
    return NewNode(op, inputs, attrs, like)


Replacement = Value | NewNode | None


@dataclass
class Rule:
    """``pattern`` rewritten to ``replace(**bindings)``; ``name`` counts its hits in the pass statistics."""

    name: str
    pattern: Op
    replace: Callable[..., Replacement]
    parameters: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.pattern, Op):
            raise IRError(f"rule {self.name!r}: the pattern must be an op pattern, got {type(self.pattern).__name__}")
        self.parameters = tuple(inspect.signature(self.replace).parameters)
        unbound = set(self.parameters) - self.pattern.names()
        if unbound:
            raise IRError(f"rule {self.name!r}: the replacement takes {sorted(unbound)}, "
                          "which its pattern does not bind")

    def apply(self, subject: NewNode, result_type: TensorType) -> Replacement:
        """The replacement of ``subject`` for the first match whose replacement has ``result_type``, else None."""
        for bindings in self.pattern.match_node(subject, {}):
            replacement = self.replace(**{name: bindings[name] for name in self.parameters})
            if replacement is not None and replacement.type == result_type:
                return replacement
        return None


class Rules:
    """A table of rules; for a node, the rules whose pattern accepts its op are tried in table order."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = tuple(rules)
        repeated = [name for name, n in Counter(r.name for r in self.rules).items() if n > 1]
        if repeated:
            raise IRError(f"rule names must be unique; repeated: {repeated}")
        self._by_op: dict[str, tuple[Rule, ...]] = {}

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def for_op(self, opdef: OpDef) -> tuple[Rule, ...]:
        if opdef.name not in self._by_op:
            self._by_op[opdef.name] = tuple(r for r in self.rules if r.pattern.accepts(opdef))
        return self._by_op[opdef.name]

    def rewrite(self, node: Node, inputs: list[Value], hits: Counter, max_rewrites: int) -> Replacement:
        """What replaces ``node`` (reading ``inputs``): the rules applied to it, then to each replacement
        while one is a new node, at most ``max_rewrites`` times; None when no rule applies. Counts
        each rule applied in ``hits``."""
        if len(node.outputs) != 1 or not self.for_op(node.opdef):
            return None
        result_type = node.outputs[0].type
        subject, result = NewNode(node.op, tuple(inputs), node.attrs, like=node), None
        for _ in range(max_rewrites):
            applied = self._first_applicable(subject, result_type)
            if applied is None:
                break
            rule, found = applied
            hits[rule.name] += 1
            if isinstance(found, Value):
                return found
            if found.like is None:
                found.like = subject.like
            result = subject = found
        return result

    def _first_applicable(self, subject: NewNode, result_type: TensorType) -> tuple[Rule, Replacement] | None:
        for rule in self.for_op(subject.opdef):
            replacement = rule.apply(subject, result_type)
            if replacement is not None:
                return rule, replacement
        return None


def rewrite_graph(graph: Graph, rules: Rules, hits: Counter, max_rewrites: int = MAX_REWRITES_PER_NODE,
                  max_rounds: int = MAX_ROUNDS) -> Graph:
    """``graph`` with ``rules`` applied to every node, repeatedly until a round changes nothing (at most
    ``max_rounds`` rounds); counts each rule applied in ``hits``.

    Nodes that the rewrites leave unused stay in the graph for dead-code elimination to remove."""

    def rule(node: Node, inputs: list[Value], writer: GraphWriter) -> list[Value] | None:
        if node.opdef.forwards:  # its results are its first inputs (gradients are built by now)
            hits[node.op] += 1
            return inputs[:len(node.outputs)]
        result = rules.rewrite(node, inputs, hits, max_rewrites)
        if isinstance(result, NewNode):
            added = writer.graph.add_node(result.op, result.inputs, result.attrs, [result.type], **result.like.meta)
            result = added.outputs[0]
        return None if result is None else [result]

    for _ in range(max_rounds):
        before = structure(graph)
        graph = rebuild(graph, rule)
        if structure(graph) == before:
            break
    return graph
