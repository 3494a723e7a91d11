"""Binding ops: one entry point, ``bind``, that either runs an op or adds it to a graph.

Every op function (``ir.ops.add`` ...) ends in ``bind(op_name, *inputs, **attrs)``. The active
*handler* decides what that means: the eager handler runs the kernel, a graph builder appends a node.
Handlers form a stack (the innermost wins). *Observers* (gradient tapes) see every bound op.
Because VJP and JVP rules are written with the same op functions, they run eagerly or emit nodes
depending only on the handler in force.
"""
from __future__ import annotations

import abc
import contextlib
import threading
from dataclasses import dataclass

import numpy as np

from .boundary import supported_array, supported_dtype
from .errors import GraphcError
from .graph import Graph, Value
from .location import Location, user_line, user_location
from .registry import OpDef, get_op
from .types import TensorType, weak_type_of


class Handler(abc.ABC):
    """Interprets bound ops."""

    @abc.abstractmethod
    def lift(self, x):
        """Converts an op input (a tensor, an array, a Python scalar) to this handler's operand type."""

    @abc.abstractmethod
    def process(self, opdef: OpDef, inputs: list, attrs: dict) -> list:
        """Runs or records the op on lifted inputs and returns its results."""


@dataclass
class _Context:
    handlers: list
    observers: list
    scopes: list
    gradient_of: Location | None = None
    gradient_scope: str | None = None
    in_gradient: bool = False
    determinism: bool | None = None  # held for a trace (``holding_op_determinism``); None: the setting


class _State(threading.local):
    def __init__(self):
        self.ctx = _Context(handlers=[], observers=[], scopes=[])


_state = _State()
_default_handler: Handler | None = None
_op_determinism = [False]  # process-wide, as TensorFlow's: ops with a ``deterministic`` form bind it


def set_op_determinism(enabled: bool) -> None:
    """Makes ops that have a deterministic form (``OpDef.deterministic``: sums, see ``ops/summation.py``)
    bind that form from now on, in graphs being traced and eagerly."""
    _op_determinism[0] = bool(enabled)


def op_determinism() -> bool:
    """Whether ops bound in this thread now bind their deterministic form (see ``set_op_determinism``
    and ``holding_op_determinism``)."""
    held = _state.ctx.determinism
    return _op_determinism[0] if held is None else held


@contextlib.contextmanager
def holding_op_determinism(value: bool):
    """Ops bound in this thread meanwhile take ``value`` for op determinism, whatever other threads
    (or the code being traced) switch meanwhile: a trace's graph then matches the cache key it is
    stored under."""
    ctx = _state.ctx
    saved, ctx.determinism = ctx.determinism, value
    try:
        yield
    finally:
        ctx.determinism = saved


def set_default_handler(handler: Handler) -> None:
    """The handler used when no other is pushed (graphc installs its eager handler)."""
    global _default_handler
    _default_handler = handler


def current_handler() -> Handler:
    handlers = _state.ctx.handlers
    return handlers[-1] if handlers else _default_handler


@contextlib.contextmanager
def handler(h: Handler):
    """Makes ``h`` the handler of every op bound inside the block."""
    _state.ctx.handlers.append(h)
    try:
        yield h
    finally:
        _state.ctx.handlers.pop()


def add_observer(obs) -> None:
    """Lets ``obs.record(opdef, inputs, outputs, attrs)`` see every op bound from now on."""
    _state.ctx.observers.append(obs)


def remove_observer(obs) -> None:
    _state.ctx.observers.remove(obs)


@contextlib.contextmanager
def observer(obs):
    """``obs`` sees every op bound inside the block."""
    add_observer(obs)
    try:
        yield obs
    finally:
        remove_observer(obs)


@contextlib.contextmanager
def paused_observers():
    """Ops bound inside the block are seen by no observer."""
    saved = _state.ctx.observers
    _state.ctx.observers = []
    try:
        yield
    finally:
        _state.ctx.observers = saved


def idle() -> bool:
    """True when no handler is pushed and no observer records: ops would run eagerly, unseen."""
    ctx = _state.ctx
    return not ctx.handlers and not ctx.observers


def active_observers() -> list:
    return list(_state.ctx.observers)


@contextlib.contextmanager
def name_scope(name: str):
    """Groups the nodes created inside the block under ``name`` (nested scopes join with '/')."""
    if not isinstance(name, str) or not name or "/" in name.strip("/"):
        raise ValueError(f"name_scope: expected a non-empty name without '/', got {name!r}")
    _state.ctx.scopes.append(name.strip("/"))
    try:
        yield "/".join(_state.ctx.scopes)
    finally:
        _state.ctx.scopes.pop()


def current_scope() -> str:
    return "/".join(_state.ctx.scopes)


@contextlib.contextmanager
def gradient_of(loc: Location | None, scope: str | None = None):
    """Nodes created inside the block are gradient nodes carrying the forward op's location and (when
    given) its name scope, so a gradient sits under its op's scope (``gradients/dense/...`` in
    TensorBoard) rather than where ``tape.gradient`` was called."""
    ctx = _state.ctx
    saved = ctx.gradient_of, ctx.gradient_scope, ctx.in_gradient
    ctx.gradient_of, ctx.gradient_scope, ctx.in_gradient = loc, scope, True
    try:
        yield
    finally:
        ctx.gradient_of, ctx.gradient_scope, ctx.in_gradient = saved


def node_metadata() -> dict:
    """Scope, source location and gradient flag for a node created now."""
    ctx = _state.ctx
    loc = ctx.gradient_of if ctx.in_gradient else None
    scope = ctx.gradient_scope if ctx.in_gradient and ctx.gradient_scope is not None else None
    return {
        "scope": current_scope() if scope is None else scope,
        "loc": loc or user_location(2),
        "is_gradient": ctx.in_gradient,
    }


def bind(op_name: str, *inputs, **attrs):
    """Applies op ``op_name`` to ``inputs`` under the current handler (its deterministic form while
    op determinism is on, see ``set_op_determinism``).

    Returns one result, or a tuple for multi-result ops. Errors are raised with the op's name and the
    user's source line."""
    opdef = get_op(op_name)
    if opdef.deterministic is not None and op_determinism():
        try:
            result = opdef.deterministic(*_values(inputs), **attrs)
        except GraphcError as error:
            raise error.with_context(op=op_name, location=user_line()) from None
        if result is not None:
            return result
    return bind_exactly(op_name, *inputs, **attrs)


def bind_exactly(op_name: str, *inputs, **attrs):
    """``bind`` of the op itself, never its deterministic form (which is written with it)."""
    opdef = get_op(op_name)
    inputs = _values(inputs)
    handler = current_handler()
    try:
        inputs = tuple(handler.lift(x) for x in inputs)
        outputs = handler.process(opdef, list(inputs), attrs)
    except GraphcError as error:
        raise error.with_context(op=op_name, location=user_line()) from None
    for obs in _state.ctx.observers:
        obs.record(opdef, inputs, outputs, attrs)
    if opdef.multi_output:
        return tuple(outputs)
    return outputs[0] if outputs else None


def _values(inputs: tuple) -> tuple:
    """Objects standing for a tensor (variables) take part through their current value."""
    return tuple(x._as_tensor() if hasattr(x, "_as_tensor") else x for x in inputs)


def type_of(x) -> TensorType | None:
    """The tensor type of anything an op accepts (a value, a tensor, an array); None for Python scalars."""
    t = getattr(x, "type", None)
    if isinstance(t, TensorType):
        return t
    if weak_type_of(x) is not None:
        return None
    arr = np.asarray(x)
    return TensorType(arr.shape, supported_dtype(arr.dtype))


class GraphBuilder(Handler):
    """Appends every bound op to ``graph`` as a node; inputs are Values of that graph or constants."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def lift(self, x) -> Value:
        return self.to_value(x)

    def to_value(self, x) -> Value:
        """Turns an op input into a Value of this graph (constants become ``constant`` nodes)."""
        if isinstance(x, Value):
            return x
        weak = weak_type_of(x)
        # a copy: the graph keeps the value it was traced with, whatever the caller does to its array later
        array = np.asarray(x, dtype=weak.default.numpy) if weak else supported_array(np.array(x, copy=True))
        return self.add("constant", [], {"value": array})[0]

    def add(self, op: str, inputs: list[Value], attrs: dict) -> list[Value]:
        """Appends one node; a ``var`` attribute may be the variable object or its name in the graph."""
        infer_attrs = attrs
        if "var" in attrs:
            var = attrs["var"]
            var = self.graph.variables[var] if isinstance(var, str) else var
            infer_attrs, attrs = dict(attrs, var=var), dict(attrs, var=self.variable_name(var))
        out_types = get_op(op).infer([v.type for v in inputs], **infer_attrs)
        node = self.graph.add_node(op, inputs, attrs, out_types, **node_metadata())
        return node.outputs

    def variable_name(self, var) -> str:
        """The graph's name for ``var``, registering it on first use."""
        for name, known in self.graph.variables.items():
            if known is var:
                return name
        name, n = var.name, 1
        while name in self.graph.variables:
            name, n = f"{var.name}_{n}", n + 1
        self.graph.variables[name] = var
        return name

    def process(self, opdef, inputs, attrs):
        return self.add(opdef.name, inputs, attrs)
