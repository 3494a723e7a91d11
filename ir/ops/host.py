"""Host calls: a graph calling back into Python on every run (``gc.numpy_function``, ``gc.py_function``,
``gc.print``).

Two ops share one rule: ``host_call`` is stateful (``effect="call"``): it runs on every call of the
graph, in program order with the other host calls and the variable assignments, and no pass removes,
merges or folds it, even when nothing uses its results; ``pure_host_call`` is a function of its
inputs, which dead-code elimination may remove and CSE may merge with an identical call. A region
op (cond, while_loop) holding a stateful call is stateful too (``Node.calls_host``).

The ``function`` attribute is a ``HostFunction``: the Python callable, how it takes its inputs and
the types of its results. Every backend runs a node by calling ``HostFunction.run`` with the input
arrays: it calls the callable and checks what it returned against the declared types (the number of
results, their dtypes, their static sizes). An exception the callable raises reaches the caller as it
is (its type and traceback), wrapped on the way through the backends in ``RaisedByHostFunction``.
No gradient flows through a host call (as TensorFlow's ``numpy_function``).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from ..dispatch import bind
from ..errors import InvalidArgumentError, ShapeError
from ..graph import Graph, Node
from ..transform import clone_into
from ..types import TensorType
from .common import define


class RaisedByHostFunction(Exception):
    """Carries the exception a host function raised through a backend, which lets it pass unchanged
    (the backends turn the errors of their own code into graphc errors); ``error`` is the original."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


@contextlib.contextmanager
def raised_as_it_was():
    """Re-raises the exception a host function raised (carried through the backends) as it was."""
    try:
        yield
    except RaisedByHostFunction as raised:
        raise raised.error from None


class HostFunction:
    """A Python function a graph calls: ``func`` takes the inputs as ``wrap`` makes them (NumPy arrays
    by default) and returns one result per type of ``output_types`` (a value, or a list or tuple of
    them; None for no result), which ``unwrap`` turns into arrays or Python values. ``kind`` names the
    API that made it, for messages and the text IR; ``location`` the user's line that made it."""

    def __init__(self, func: Callable, output_types: list[TensorType], *, kind: str, single: bool,
                 wrap: Callable | None = None, unwrap: Callable | None = None, location: str | None = None):
        self.func = func
        self.output_types = list(output_types)
        self.kind = kind
        self.single = single  # Tout was one dtype: the function returns one value, not a list of them
        self.wrap = wrap
        self.unwrap = unwrap or (lambda value: value)
        self.name = getattr(func, "__name__", type(func).__name__)
        self.location = location  # the line that made the call: notes on the errors it raises name it

    def call(self, *values) -> list:
        """The function's results on ``values`` as a list (unchecked: eager mode takes any shape)."""
        try:
            with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):  # NumPy's defaults
                results = self.func(*(values if self.wrap is None else map(self.wrap, values)))
        except BaseException as error:
            if self.location:
                error.add_note(f"raised by the function of {self.description} called at {self.location}")
            raise RaisedByHostFunction(error) from None
        if not self.output_types and results is None:
            return []
        if self.single:
            return [results]
        if not isinstance(results, (list, tuple)):
            results = [results]  # TensorFlow accepts one value for a list of one dtype
        if len(results) != len(self.output_types):
            raise InvalidArgumentError(
                f"{self.description} returned {len(results)} values, but its Tout declares {len(self.output_types)}"
            )
        return list(results)

    def converted(self, index: int, result, check_shape: bool = True) -> np.ndarray:
        """Result ``index`` as an array of its declared dtype; raises if it has another dtype (Python
        numbers and lists are converted) or, with ``check_shape``, another shape."""
        expected = self.output_types[index]
        value = self.unwrap(result)
        if isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            if array.dtype != expected.dtype.numpy:
                raise InvalidArgumentError(
                    f"{self.description} returned output {index} of dtype {array.dtype}, but its Tout declares "
                    f"{expected.dtype.name}"
                )
        else:  # a Python number or list takes the declared dtype
            try:
                array = np.asarray(value, dtype=expected.dtype.numpy)
            except (TypeError, ValueError, OverflowError) as error:
                raise InvalidArgumentError(
                    f"{self.description} returned output {index} ({type(value).__name__}), which is not a "
                    f"{expected.dtype.name} value: {error}"
                ) from None
        if check_shape and (array.ndim != expected.ndim or any(
                isinstance(d, int) and d != n for d, n in zip(expected.shape, array.shape))):
            declared = [d if isinstance(d, int) else None for d in expected.shape]
            raise ShapeError(
                f"{self.description} returned output {index} of shape {list(array.shape)}, but the graph expects "
                f"{declared}: declare the shape with Tout=gc.TensorSpec({list(array.shape)}, gc.{expected.dtype.name}) "
                "(a compiled graph needs its results' shapes when it is traced)"
            )
        return np.asarray(array, order="C")

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """One call in a graph: the checked results."""
        return [self.converted(i, r) for i, r in enumerate(self.call(*arrays))]

    @property
    def description(self) -> str:
        return self.kind if self.name == self.kind else f"{self.kind} {self.name!r}"

    def __repr__(self) -> str:
        # no address: the text IR (and the compile cache's key) stays the same from run to run
        return self.description


def _infer(types, function: HostFunction):
    return list(function.output_types)


def _reference(*arrays, function: HostFunction):
    return tuple(function.run(*arrays))


define("host_call", _infer, effect="call", multi_output=True, reference=_reference)
define("pure_host_call", _infer, multi_output=True, foldable=False, reference=_reference)


def holds_host_call(node: Node) -> bool:
    """Whether ``node`` is a host call, stateful or pure, or a region op holding one."""
    return isinstance(node.attrs.get("function"), HostFunction) or any(
        holds_host_call(n) for g in node.subgraphs.values() for n in g.nodes)


def make_pure(graph: Graph, start: int = 0) -> None:
    """Makes ``graph.nodes[start:]`` free of stateful host calls, in place: for nodes recomputing a
    forward pass whose calls already ran (gradients, tangents), where a call runs again only if its
    results are needed. Calls without results are dropped, the others become pure; a region holding
    one is replaced by a pure copy (the original may be the forward graph's own)."""
    kept = graph.nodes[:start]
    for node in graph.nodes[start:]:
        if node.op == "host_call" and not node.outputs:
            continue
        if node.op == "host_call":
            node.op = "pure_host_call"
        for name, region in node.subgraphs.items():
            if any(n.calls_host for n in region.nodes):
                node.attrs[name] = _pure_copy(region)
        kept.append(node)
    graph.nodes = kept


def _pure_copy(region: Graph) -> Graph:
    copy = Graph(region.name)
    vmap = clone_into(copy, region, [copy.add_input(v.type, v.name) for v in region.inputs])
    copy.outputs = [vmap[v] for v in region.outputs]
    make_pure(copy)
    return copy


def host_call(function: HostFunction, *inputs, stateful: bool = True) -> tuple:
    """Binds a call of ``function`` on ``inputs``; returns its results."""
    return bind("host_call" if stateful else "pure_host_call", *inputs, function=function)
