"""``@gc.function``: trace a Python function once per input signature, then run the cached graph.

Python side effects (print, appending to lists, creating objects) happen while tracing only, not on
later calls of the compiled graph; use ``gc.print`` or eager mode to see values on every call.
"""
from __future__ import annotations

import functools
import inspect
import logging
import threading
import warnings
import weakref

import numpy as np

from graphc.backends.numpy import compile_graph as compile_numpy
from graphc.ir import dispatch
from graphc.ir.errors import DTypeError, GraphcError, InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.location import user_location
from graphc.ir.types import TensorType, as_dtype, weak_type_of
from graphc.ir.verify import verify

from . import config, nest
from .eager import to_array
from .tensor import Tensor, _Ref
from .tracing import TensorSpec, TraceHandler, current_trace, placeholder
from .variables import Variable

log = logging.getLogger("graphc.trace")

RETRACE_WARNING_THRESHOLD = 5
_BACKENDS = {"numpy": compile_numpy}


class RetracingWarning(UserWarning):
    """A function was traced again and again: its arguments keep changing shape or Python value."""


def function(func=None, *, input_signature=None, reduce_retracing=False, backend=None, eager=None, name=None):
    """Compiles ``func`` into graphs: traced once per input signature, then run without Python.

    - ``input_signature``: a list of ``gc.TensorSpec`` fixing the tensor arguments (None dims
      accept any size); one graph then serves every call.
    - ``reduce_retracing``: dimensions that change between calls become unknown instead of retracing.
    - ``backend``: ``"numpy"`` (the interpreter); default ``gc.config.get_backend()``.
    - ``eager``: True runs this function eagerly, whatever ``gc.config.run_functions_eagerly`` says.
    """
    if func is None:
        return functools.partial(
            function, input_signature=input_signature, reduce_retracing=reduce_retracing,
            backend=backend, eager=eager, name=name,
        )
    return Function(func, input_signature, reduce_retracing, backend, eager, name)


class Function:
    """A Python function compiled per input signature; see ``gc.function``."""

    def __init__(self, func, input_signature=None, reduce_retracing=False, backend=None, eager=None, name=None):
        functools.update_wrapper(self, func)
        self.python_function = func
        self.name = name or getattr(func, "__name__", "function")
        self._signature = inspect.signature(func)
        self._input_signature = None if input_signature is None else list(input_signature)
        self._reduce_retracing = reduce_retracing
        self._backend = backend
        self._eager = eager
        self._cache: dict = {}
        self._lock = threading.RLock()
        self._methods = weakref.WeakKeyDictionary()
        self.trace_count = 0

    # -- binding as a method --------------------------------------------------------------------
    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        bound = self._methods.get(instance)
        if bound is None:
            bound = Function(
                func=_bound_method(self.python_function, instance),
                input_signature=self._input_signature, reduce_retracing=self._reduce_retracing,
                backend=self._backend, eager=self._eager, name=self.name,
            )
            self._methods[instance] = bound
        return bound

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self._runs_eagerly():
            return self._call_eagerly(args, kwargs)
        if current_trace() is not None:
            return self.python_function(*args, **kwargs)  # inlined into the graph being traced
        cf, leaves = self._concrete_for_call(args, kwargs)
        return cf._call_with_leaves(leaves)

    def _runs_eagerly(self) -> bool:
        return self._eager if self._eager is not None else config.functions_run_eagerly()

    def _call_eagerly(self, args, kwargs):
        convert = lambda x: Tensor(to_array(x)) if isinstance(x, (np.ndarray, np.generic)) else x
        return self.python_function(*nest.map_structure(convert, args), **nest.map_structure(convert, kwargs))

    def get_concrete_function(self, *args, **kwargs) -> "ConcreteFunction":
        """The traced function for these arguments (tensors, arrays or ``gc.TensorSpec``)."""
        if not args and not kwargs and self._input_signature is not None:
            args = tuple(self._input_signature)
        return self._concrete_for_call(args, kwargs)[0]

    @property
    def concrete_functions(self) -> list["ConcreteFunction"]:
        return list(self._cache.values())

    # -- signatures and the trace cache ----------------------------------------------------------
    def _bind_arguments(self, args, kwargs) -> dict:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def _leaves(self, arguments: dict) -> list[tuple[str, object]]:
        return [item for name, value in arguments.items() for item in nest.flatten_with_paths(value, name)]

    def _concrete_for_call(self, args, kwargs):
        caller = user_location()
        arguments = self._bind_arguments(args, kwargs)
        leaves = self._leaves(arguments)
        if self._input_signature is not None:
            leaves = self._apply_input_signature(leaves, caller)
        keys = tuple(_leaf_key(path, leaf) for path, leaf in leaves)
        structure = nest.structure_key(tuple(arguments.values()))
        with self._lock:
            cf = self._cache.get((structure, keys)) or self._find_compatible(structure, keys)
            if cf is None:
                if self._reduce_retracing:
                    keys = self._relaxed_keys(structure, keys)
                    cf = self._cache.get((structure, keys))
                if cf is None:
                    cf = self._trace(arguments, leaves, structure, keys, caller)
        return cf, leaves

    def _apply_input_signature(self, leaves, caller):
        specs = nest.flatten(self._input_signature)
        if len(specs) != len(leaves):
            raise InvalidArgumentError(
                f"{self.name}(): input_signature has {len(specs)} tensors, the call passes {len(leaves)} values",
                location=_long(caller),
            )
        result = []
        for (path, leaf), spec in zip(leaves, specs):
            if isinstance(leaf, TensorSpec):
                result.append((path, spec))
                continue
            array = _array_for_spec(leaf, spec, f"{self.name}(): argument {path!r}", caller)
            result.append((path, _SpecMatched(array, spec)))
        return result

    def _find_compatible(self, structure, keys):
        for (s, k), cf in self._cache.items():
            if s == structure and len(k) == len(keys) and all(_key_accepts(a, b) for a, b in zip(k, keys)):
                return cf
        return None

    def _relaxed_keys(self, structure, keys):
        """Keys with every dimension that differs from an earlier trace generalised to None."""
        for s, k in self._cache:
            if s != structure or len(k) != len(keys):
                continue
            relaxed = [_relax(a, b) for a, b in zip(k, keys)]
            if all(r is not None for r in relaxed):
                return tuple(relaxed)
        return keys

    def _trace(self, arguments, leaves, structure, keys, caller) -> "ConcreteFunction":
        self._log_trace(keys, caller)
        graph = Graph(self.name)
        tensors_in = []
        placeholders = {}
        for (path, leaf), key in zip(leaves, keys):
            if key[0] == "T":
                placeholders[path] = placeholder(graph, key[2], path)
                tensors_in.append(path)
        traced_args = {
            name: nest.pack_as(value, [placeholders.get(p, leaf) for p, leaf in nest.flatten_with_paths(value, name)])
            for name, value in arguments.items()
        }
        handler = TraceHandler(graph)
        with dispatch.handler(handler):
            result = self.python_function(*_positional(self._signature, traced_args), **_keywords(self._signature, traced_args))
            output_leaves = nest.flatten(result)
            outputs = [_output_value(handler, leaf) for leaf in output_leaves]
        graph.outputs = [v for v in outputs if v is not None]
        verify(graph)
        cf = ConcreteFunction(self, graph, structure, keys, result, outputs, self._backend)
        self._cache[(structure, keys)] = cf
        self.trace_count += 1
        return cf

    def _log_trace(self, keys, caller):
        where = f" (called from {caller})" if caller else ""
        if not self._cache:
            log.info("tracing %s(%s)%s", self.name, ", ".join(_describe(k) for k in keys), where)
            return
        previous = list(self._cache)[-1][1]
        log.info("retracing %s: %s%s", self.name, _why_retrace(previous, keys), where)
        if len(self._cache) + 1 >= RETRACE_WARNING_THRESHOLD:
            warnings.warn(
                f"{self.name} has been traced {len(self._cache) + 1} times: its arguments keep changing "
                f"({_why_retrace(previous, keys)}). Pass tensors instead of Python values, use "
                "input_signature with None dimensions, or reduce_retracing=True.",
                RetracingWarning, stacklevel=4,
            )


class _SpecMatched:
    """An argument already converted for an ``input_signature`` spec."""

    def __init__(self, array, spec):
        self.array, self.spec = array, spec


def _bound_method(func, instance):
    @functools.wraps(func)
    def method(*args, **kwargs):
        return func(instance, *args, **kwargs)

    method.__signature__ = inspect.signature(func.__get__(instance))
    return method


def _positional(signature, arguments):
    out = []
    for name, p in signature.parameters.items():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            out.append(arguments[name])
        elif p.kind is p.VAR_POSITIONAL:
            out.extend(arguments.get(name, ()))
    return out


def _keywords(signature, arguments):
    out = {}
    for name, p in signature.parameters.items():
        if p.kind is p.KEYWORD_ONLY:
            out[name] = arguments[name]
        elif p.kind is p.VAR_KEYWORD:
            out.update(arguments.get(name, {}))
    return out


def _leaf_key(path: str, leaf):
    """How a leaf argument enters the cache key: tensors by type, variables by identity, the rest by value."""
    if isinstance(leaf, _SpecMatched):
        return ("T", path, leaf.spec)
    if isinstance(leaf, TensorSpec):
        return ("T", path, leaf)
    if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
        return ("T", path, TensorSpec.from_value(_checked_array(leaf, path)))
    if isinstance(leaf, Variable):
        return ("V", path, _Ref(leaf))
    try:
        hash(leaf)
    except TypeError:
        raise TypeError(
            f"argument {path!r} of type {type(leaf).__name__} is neither a tensor nor hashable: "
            "Python arguments are part of the trace key and must be hashable"
        ) from None
    return ("P", path, type(leaf), leaf)


def _checked_array(leaf, path):
    try:
        return leaf if isinstance(leaf, Tensor) else to_array(leaf)
    except DTypeError as error:
        raise error.with_context(op=f"argument {path!r}") from None


def _key_accepts(traced, new) -> bool:
    if traced[0] == "T" and new[0] == "T":
        return traced[1] == new[1] and traced[2].is_compatible_with(new[2])
    return traced == new


def _relax(a, b):
    if a[0] != "T" or b[0] != "T":
        return a if a == b else None
    sa, sb = a[2], b[2]
    if sa.dtype != sb.dtype or sa.shape is None or len(sa.shape) != len(sb.shape):
        return None
    return ("T", a[1], TensorSpec(tuple(x if x == y else None for x, y in zip(sa.shape, sb.shape)), sa.dtype))


def _describe(key) -> str:
    if key[0] == "T":
        return f"{key[1]}: {key[2]}"
    if key[0] == "V":
        return f"{key[1]}: variable {key[2].deref().name!r}"
    return f"{key[1]}={key[3]!r}"


def _why_retrace(previous, keys) -> str:
    if len(previous) != len(keys):
        return f"the arguments' structure changed ({len(previous)} -> {len(keys)} values)"
    for a, b in zip(previous, keys):
        if a != b:
            if a[0] == b[0] == "T":
                return f"argument {b[1]!r} changed from {a[2]} to {b[2]}"
            if a[0] == b[0] == "P":
                return f"Python argument {b[1]!r} changed from {a[3]!r} to {b[3]!r}"
            return f"argument {b[1]!r} changed from {_describe(a)} to {_describe(b)}"
    return "the arguments' structure changed"


def _long(location) -> str | None:
    return location.long if location else None


def _array_for_spec(leaf, spec: TensorSpec, what: str, caller) -> np.ndarray:
    where = _long(caller)
    if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
        array = to_array(leaf)
        if as_dtype(array.dtype) != spec.dtype:
            raise DTypeError(f"{what}: expected dtype {spec.dtype.name}, got {array.dtype}", location=where)
    else:
        try:
            array = np.asarray(leaf, dtype=spec.dtype.numpy)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{what}: expected a tensor {spec}, got {type(leaf).__name__}", location=where
            ) from None
    got = TensorSpec(array.shape, spec.dtype)
    if not spec.is_compatible_with(got):
        detail = ""
        if spec.shape is not None and len(spec.shape) == array.ndim:
            axis = next(i for i, (a, b) in enumerate(zip(spec.shape, array.shape)) if a is not None and a != b)
            detail = f" (dimension {axis}: expected {spec.shape[axis]}, got {array.shape[axis]})"
        raise InvalidArgumentError(f"{what}: expected shape {spec}, got {got}{detail}", location=where)
    return array


def _output_value(handler: TraceHandler, leaf):
    if isinstance(leaf, Variable):
        leaf = leaf.read_value()
    if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
        return handler.to_value(leaf)
    return None


class ConcreteFunction:
    """One traced graph of a ``gc.function`` and its compiled form; callable."""

    def __init__(self, function: Function, graph: Graph, structure, keys, result, outputs, backend):
        self.function = function
        self.graph = graph
        self._structure = structure
        self._keys = keys
        self._result = result
        self._output_is_tensor = [v is not None for v in outputs]
        self._backend = backend
        self._executable = None

    @property
    def inputs(self) -> list[Tensor]:
        return [Tensor(value=v, graph=self.graph) for v in self.graph.inputs]

    @property
    def outputs(self) -> list[Tensor]:
        return [Tensor(value=v, graph=self.graph) for v in self.graph.outputs]

    @property
    def structured_input_signature(self) -> list[tuple[str, TensorSpec]]:
        return [(k[1], k[2]) for k in self._keys if k[0] == "T"]

    @property
    def variables(self) -> list:
        return list(self.graph.variables.values())

    def __call__(self, *args, **kwargs):
        arguments = self.function._bind_arguments(args, kwargs)
        leaves = self.function._leaves(arguments)
        if self.function._input_signature is not None:
            leaves = self.function._apply_input_signature(leaves, user_location())
        keys = tuple(_leaf_key(p, leaf) for p, leaf in leaves)
        if len(keys) != len(self._keys) or not all(_key_accepts(a, b) for a, b in zip(self._keys, keys)):
            raise InvalidArgumentError(
                f"{self.function.name}: this concrete function was traced for "
                f"({', '.join(_describe(k) for k in self._keys)}); "
                f"got ({', '.join(_describe(k) for k in keys)})",
                location=_long(user_location()),
            )
        return self._call_with_leaves(leaves)

    def executable(self):
        if self._executable is None:
            backend = self._backend or config.get_backend()
            self._executable = _BACKENDS[backend](self.graph)
        return self._executable

    def _call_with_leaves(self, leaves):
        arrays = [
            leaf.array if isinstance(leaf, _SpecMatched) else to_array(leaf)
            for (_, leaf), key in zip(leaves, self._keys)
            if key[0] == "T"
        ]
        try:
            results = self.executable().run(arrays)
        except GraphcError as error:
            caller = user_location()
            if caller:
                error.args = (f"{error.args[0]}\n  called from {caller.long}",)
            raise
        it = iter(results)
        leaves_out = [Tensor(next(it)) if is_tensor else leaf
                      for is_tensor, leaf in zip(self._output_is_tensor, nest.flatten(self._result))]
        return nest.pack_as(self._result, leaves_out)

    def __repr__(self) -> str:
        return f"<ConcreteFunction {self.function.name}({', '.join(_describe(k) for k in self._keys)})>"
