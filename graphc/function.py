"""``@gc.function``: trace a Python function once per input signature, then run the cached graph."""
from __future__ import annotations

import functools
import inspect
import logging
import threading
import warnings
import weakref

import numpy as np

from graphc.ir import dispatch, environment
from graphc.ir.errors import GraphcError, InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.location import Location, user_location
from graphc.ir.ops import GraphFunction, call
from graphc.ir.ops.host import RaisedByHostFunction
from graphc.ir.verify import verify

from . import config, nest
from .autograph import convert
from .compiler import Compiled
from .tensor import Tensor, TensorLike, eager_array
from .trace_keys import (
    FlatCall, TensorKey, keyed_structure, leaf_key, leaf_key_for_spec, relaxed_keys, specs_by_parameter,
    why_retrace,
)
from .tracing import TensorSpec, TraceHandler, current_trace, placeholder

log = logging.getLogger("graphc.trace")

RETRACE_WARNING_THRESHOLD = 5


class RetracingWarning(UserWarning):
    """A function was traced again and again: its arguments keep changing shape or Python value."""


def function(func=None, *, input_signature=None, reduce_retracing=False, backend=None, eager=None, name=None,
             autograph=True):
    """Compiles ``func`` into graphs: traced once per input signature, then run without Python.

    Usable as ``@gc.function`` and ``@gc.function(...)``, on functions and methods (each instance
    has its own traces). Arguments and results may be nested lists, tuples and dicts. Tensor
    arguments (gc tensors, NumPy arrays and scalars) are keyed by dtype and shape; any other Python
    argument by its value, so a new value traces a new graph. Variables are captured by reference:
    their current value is read on every call, and assignments persist.

    Python side effects (``print``, appending to a list, counting calls) run while tracing only, not
    on later calls of the cached graph; run eagerly (``eager=True`` or
    ``gc.config.run_functions_eagerly(True)``) to run the Python body on every call.

    - ``input_signature``: one ``gc.TensorSpec`` (or nested structure of them) per leading
      argument; a None dimension accepts any size, so one graph serves every call.
    - ``reduce_retracing``: a dimension that changes between calls becomes unknown instead of
      tracing a graph per size.
    - ``backend``: ``"llvm"`` (native code) or ``"numpy"`` (the reference interpreter); default
      ``gc.config.get_backend()``, which is ``"llvm"``.
    - ``eager``: True runs this function eagerly, False compiles it whatever
      ``gc.config.run_functions_eagerly`` says.
    - ``autograph``: True (the default) traces Python ``if``/``while``/``for`` whose conditions are
      tensors as ``cond``/``while_loop`` nodes (see ``graphc.autograph``); False traces the Python as is.
    """
    if func is None:
        return functools.partial(
            function, input_signature=input_signature, reduce_retracing=reduce_retracing,
            backend=backend, eager=eager, name=name, autograph=autograph,
        )
    return Function(func, input_signature, reduce_retracing, backend, eager, name, autograph)


class Function:
    """A Python function compiled per input signature; see ``gc.function``."""

    def __init__(self, func, input_signature=None, reduce_retracing=False, backend=None, eager=None, name=None,
                 autograph=True):
        functools.update_wrapper(self, func)
        self._autograph = autograph
        self._converted = None  # the function traced: converted by autograph on first use
        if backend is not None and backend not in config.BACKENDS:
            choices = ", ".join(config.BACKENDS)
            raise InvalidArgumentError(f"gc.function: unknown backend {backend!r}; choose one of {choices}")
        self.python_function = func
        self.name = name or getattr(func, "__name__", "function")
        self._signature = inspect.signature(func)
        self._input_signature = None if input_signature is None else list(input_signature)
        self._specs = specs_by_parameter(self.name, self._signature, self._input_signature)
        self._reduce_retracing = reduce_retracing
        self._backend = backend
        self._eager = eager
        self._cache: dict = {}  # (structure, keys) -> ConcreteFunction
        self._fast_path: _FastPath | None = None  # for calls like the latest call of tensors only
        self._lock = threading.RLock()
        self._instances: dict[int, Function] = {}
        self.trace_count = 0

    def _arguments(self, func) -> tuple:
        """The constructor's arguments for a Function of ``func`` with this one's options."""
        return func, self._input_signature, self._reduce_retracing, self._backend, self._eager, self.name, self._autograph

    def __reduce__(self):
        """Pickled, a Function is its Python function and options, without traces: a copy in another
        process traces anew (``gc.distribute`` sends functions to its workers so)."""
        return Function, self._arguments(self.python_function)

    def __get__(self, instance, owner=None):
        """``instance.method``: a Function of its own per instance, so each has its own traces."""
        if instance is None:
            return self
        with self._lock:
            bound = self._instances.get(id(instance))
            if bound is None:
                bound = Function(*self._arguments(_weak_method(self.python_function, instance)))
                if self._autograph:
                    bound._converted = _weak_method(self._traced_function(), instance)
                self._instances[id(instance)] = bound
                weakref.finalize(instance, self._instances.pop, id(instance), None)
        return bound

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        fast = self._fast_path
        if fast is not None and not kwargs and config.plain_calls and dispatch.idle():
            result = fast(args)
            if result is not _MISSED:
                return result
        caller = user_location()
        call_ = self._flatten_call(args, kwargs, caller)
        if any(isinstance(k, TensorKey) and v is None for k, v in zip(call_.keys, call_.values)):
            raise InvalidArgumentError(
                f"{self.name}(): gc.TensorSpec arguments are for get_concrete_function; call with tensors",
                location=_long(caller),
            )
        if current_trace() is not None:  # inlined into the graph being traced
            args, kwargs = call_.rebuild(call_.values)
            return self._traced_function()(*args, **kwargs)
        if self._runs_eagerly():
            args, kwargs = call_.rebuild(call_.owned_values())
            return self.python_function(*args, **kwargs)
        concrete = self._concrete_function(call_, caller)
        result = concrete._run(call_, caller)
        if not kwargs and self._input_signature is None and config.plain_calls and dispatch.idle():  # (compiled now)
            self._fast_path = _FastPath.of(concrete, args, call_) or self._fast_path
        return result

    def _runs_eagerly(self) -> bool:
        return self._eager if self._eager is not None else config.functions_run_eagerly()

    def _traced_function(self):
        """The Python function traced into graphs (converted by autograph unless ``autograph=False``)."""
        if self._converted is None:
            self._converted = convert(self.python_function) if self._autograph else self.python_function
        return self._converted

    def get_concrete_function(self, *args, **kwargs) -> "ConcreteFunction":
        """The traced graph for these arguments (tensors, arrays or ``gc.TensorSpec``), traced now if
        needed; without arguments, the one for the ``input_signature``."""
        if not args and not kwargs and self._input_signature is not None:
            args = tuple(self._input_signature)
        caller = user_location()
        return self._concrete_function(self._flatten_call(args, kwargs, caller), caller)

    @property
    def concrete_functions(self) -> list["ConcreteFunction"]:
        """Every graph traced so far, oldest first."""
        return list(self._cache.values())

    def __repr__(self) -> str:
        return f"<gc.Function {self.name}: {self.trace_count} traces>"

    # -- arguments -------------------------------------------------------------------------------
    def _flatten_call(self, args, kwargs, caller) -> FlatCall:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise InvalidArgumentError(f"{self.name}(): {error}", location=_long(caller)) from None
        bound.apply_defaults()
        templates, keys, values, borrowed = {}, [], [], []
        for param, value in bound.arguments.items():
            templates[param] = self._specs.get(param, value)
            for path, leaf, spec in self._parameter_leaves(param, value, caller):
                try:
                    key, converted = leaf_key(path, leaf) if spec is None else leaf_key_for_spec(path, leaf, spec)
                except GraphcError as error:
                    raise self._argument_error(f"argument {path!r}: {error.message}", caller, type(error)) from None
                keys.append(key)
                values.append(converted)
                borrowed.append(isinstance(leaf, np.ndarray))
        return FlatCall(self._signature, templates, tuple(keys), values, borrowed)

    def _parameter_leaves(self, param: str, value, caller) -> list[tuple]:
        """``(path, leaf, spec or None)`` for each leaf of one parameter's value."""
        if param not in self._specs:
            return [(path, leaf, None) for path, leaf in nest.flatten_with_paths(value, param)]
        template = self._specs[param]
        try:
            flat = nest.flatten_up_to(template, value, param)
        except InvalidArgumentError as error:
            raise self._argument_error(error.message, caller) from None
        return [(path, leaf, spec) for (path, leaf), spec in zip(flat, nest.flatten(template))]

    def _argument_error(self, message: str, caller, kind=InvalidArgumentError) -> GraphcError:
        return kind(f"{self.name}(): {message}", location=_long(caller))

    # -- the trace cache -------------------------------------------------------------------------
    def _concrete_function(self, call_: FlatCall, caller) -> "ConcreteFunction":
        deterministic = dispatch.op_determinism()
        structure = keyed_structure(call_.structure, deterministic)
        with self._lock, dispatch.holding_op_determinism(deterministic):  # the trace keeps what its key says
            concrete = self._lookup(structure, call_.keys)
            if concrete is None:
                keys = relaxed_keys(self._cache, structure, call_.keys) if self._reduce_retracing else call_.keys
                concrete = self._lookup(structure, keys) or self._trace(call_, structure, keys, caller)
        return concrete

    def _lookup(self, structure, keys) -> "ConcreteFunction | None":
        concrete = self._cache.get((structure, keys))
        if concrete is not None:
            return concrete
        for (s, traced), concrete in self._cache.items():
            if s == structure and len(traced) == len(keys) and all(a.accepts(b) for a, b in zip(traced, keys)):
                return concrete
        return None

    def _trace(self, call_: FlatCall, structure, keys, caller) -> "ConcreteFunction":
        self._log_trace(structure, keys, caller)
        graph = Graph(self.name)
        leaves = [
            placeholder(graph, key.spec, key.spec.name or key.path) if isinstance(key, TensorKey) else value
            for key, value in zip(keys, call_.values)
        ]
        args, kwargs = call_.rebuild(leaves)
        handler = TraceHandler(graph, _product_preparation(self._backend or config.get_backend()))
        try:
            with dispatch.handler(handler):
                result = self._traced_function()(*args, **kwargs)
                outputs = [_output_value(handler, leaf) for leaf in nest.flatten(result)]
        except GraphcError as error:
            raise _called_from(error, caller, f"while tracing {self.name}, called")
        graph.outputs = [v for v in outputs if v is not None]
        concrete = ConcreteFunction(self, verify(graph), keys, result, [v is not None for v in outputs])
        self._cache[(structure, keys)] = concrete  # only now: a trace that raised leaves no entry
        self.trace_count += 1
        return concrete

    def _log_trace(self, structure, keys, caller) -> None:
        where = f"; called from {caller.long}" if caller else ""
        if not self._cache:
            log.info("tracing %s(%s)%s", self.name, ", ".join(map(str, keys)), where)
            return
        reason = why_retrace(self._cache, structure, keys)
        log.info("retracing %s (trace %d): %s%s", self.name, self.trace_count + 1, reason, where)
        if self.trace_count + 1 >= RETRACE_WARNING_THRESHOLD:
            message = (
                f"{self.name} has been traced {self.trace_count + 1} times: its arguments keep changing "
                f"({reason}). Pass tensors instead of Python values, give an input_signature with None "
                "dimensions, or use reduce_retracing=True."
            )
            if caller:
                warnings.warn_explicit(message, RetracingWarning, caller.file, caller.line)
            else:
                warnings.warn(message, RetracingWarning)


def _product_preparation(backend: str):
    """What a trace starts at its first product (``TraceHandler``): for the LLVM backend,
    ``blas.load_in_background`` (MKL, when it is the BLAS asked for, loads on another thread while
    the trace goes on)."""
    if backend != "llvm":
        return None
    from graphc.backends.llvm.blas import load_in_background

    return load_in_background


def _weak_method(func, instance):
    """``func`` bound to ``instance`` without keeping the instance alive."""
    ref = weakref.ref(instance)

    @functools.wraps(func)
    def method(*args, **kwargs):
        obj = ref()
        if obj is None:
            raise InvalidArgumentError(f"{func.__name__}: the instance this method was bound to no longer exists")
        return func(obj, *args, **kwargs)

    method.__signature__ = inspect.signature(func.__get__(instance))
    return method


def _called_from(error: GraphcError, caller: Location | None, what: str) -> GraphcError:
    """``error`` with the line that called the function added to its message."""
    if caller:
        error.args = (f"{error.args[0]}\n  {what} from {caller.long}",)
    return error


def _long(location: Location | None) -> str | None:
    return location.long if location else None


def _output_value(handler: TraceHandler, leaf):
    """The graph value of a tensor result; None for a Python result (returned as it was traced)."""
    if isinstance(leaf, TensorLike):  # a variable or a variable's slice: its current value
        leaf = leaf._as_tensor()
    if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
        return handler.to_value(leaf)
    return None


class ConcreteFunction:
    """One traced graph of a ``gc.function`` and its compiled form; callable."""

    def __init__(self, function: Function, graph: Graph, keys: tuple, structured_outputs, output_is_tensor: list):
        self.function = function
        self.graph = graph
        self._keys = keys
        self.structured_outputs = structured_outputs
        self._output_is_tensor = output_is_tensor
        self._output_leaves = nest.flatten(structured_outputs)  # (flattened once: per call it cost over 1 us for two results)
        self._compiled: Compiled | None = None
        self._callee = None  # (GraphFunction, variables it reads) once a gradient tape saw a call
        self._single_tensor = output_is_tensor == [True] and isinstance(structured_outputs, TensorLike)
        self._returns_inputs = any(v.node is None for v in graph.outputs)

    @property
    def inputs(self) -> list[Tensor]:
        """The graph's inputs, as symbolic tensors."""
        return [Tensor(value=v, graph=self.graph) for v in self.graph.inputs]

    @property
    def outputs(self) -> list[Tensor]:
        """The graph's outputs, as symbolic tensors."""
        return [Tensor(value=v, graph=self.graph) for v in self.graph.outputs]

    @property
    def structured_input_signature(self) -> list[tuple[str, TensorSpec]]:
        return [(k.path, k.spec) for k in self._keys if isinstance(k, TensorKey)]

    @property
    def variables(self) -> list:
        return list(self.graph.variables.values())

    def __call__(self, *args, **kwargs):
        caller = user_location()
        call_ = self.function._flatten_call(args, kwargs, caller)
        if len(call_.keys) != len(self._keys) or not all(a.accepts(b) for a, b in zip(self._keys, call_.keys)):
            raise InvalidArgumentError(
                f"{self.function.name}: this concrete function was traced for "
                f"({', '.join(map(str, self._keys))}); got ({', '.join(map(str, call_.keys))})",
                location=_long(caller),
            )
        return self._run(call_, caller)

    @property
    def is_compiled(self) -> bool:
        """Whether the graph was compiled (it is on the first call, or by ``compiled()``)."""
        return self._compiled is not None

    def compiled(self) -> Compiled:
        """The optimised, fused graph and its executable for the function's backend (built on first use)."""
        if self._compiled is None:
            self._compiled = Compiled(self.graph, self.function._backend or config.get_backend())
            directory = environment.value("GRAPHC_DUMP_DIR")
            if directory:  # (gc.viz loads only then: importing it took 5 ms of every first call)
                from .viz.dump_directory import dump

                dump(self, directory)
        return self._compiled

    def executable(self):
        return self.compiled().executable

    @property
    def graphs(self) -> dict[str, Graph]:
        """Every stage of the graph: ``{"traced": ..., "optimized": ..., "fused": ...}``."""
        return self.compiled().stages

    @property
    def pass_stats(self) -> list:
        """Per-pass statistics (nodes before and after, seconds), compile stages included."""
        return self.compiled().stats

    @property
    def memory_plan(self):
        """The planned arena: peak bytes, and each intermediate buffer's lifetime and offset."""
        return self.compiled().memory_plan

    def llvm_ir(self, optimized: bool = False) -> str:
        """The LLVM IR of the native code (after LLVM's O3 pipeline with ``optimized=True``)."""
        return self.compiled().native().llvm_ir(optimized)

    def asm(self) -> str:
        """The host assembly of the native code."""
        return self.compiled().native().asm()

    def _run(self, call_: FlatCall, caller: Location | None):
        inputs = call_.tensor_values()
        if not dispatch.active_observers():
            return self._run_arrays([eager_array(t) for t in inputs], caller)
        try:  # (not a context manager: on the per-call path it cost 1.7 us of W4's 5.7)
            results = self._call_recorded(inputs)
        except (RaisedByHostFunction, GraphcError) as error:
            raise _raised(error, caller)
        return self._pack(results)

    def _run_arrays(self, arrays: list, caller: Location | None):
        """Runs the compiled graph on the input arrays; returns the structured results."""
        try:
            results = self.compiled().run(arrays)
        except (RaisedByHostFunction, GraphcError) as error:
            raise _raised(error, caller)
        return self._finish(results)

    def _finish(self, results: list):
        """The structured results of the compiled graph's result arrays."""
        if self._returns_inputs:
            results = [_fresh(r, v) for r, v in zip(results, self.graph.outputs)]
        return self._pack(results)

    def _pack(self, results: list):
        """The function's Python results with ``results`` (arrays or tensors) in the tensor places."""
        if self._single_tensor:
            return _as_tensor(results[0])
        it = iter(results)
        leaves = [
            _as_tensor(next(it)) if is_tensor else leaf
            for is_tensor, leaf in zip(self._output_is_tensor, self._output_leaves)
        ]
        return nest.pack_as(self.structured_outputs, leaves)

    def _call_recorded(self, inputs: list[Tensor]) -> list[Tensor]:
        """Runs the call as one ``call`` op that gradient tapes record: its gradient is the graph's
        gradient function, built once and cached. Variables the function only reads become inputs."""
        if self._callee is None:
            self._callee = GraphFunction.from_graph(self.graph)
        callee, variables = self._callee
        return list(call(callee, *inputs, *(v.read_value() for v in variables)))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Notebook display: the traced graph as SVG, or its text IR when Graphviz's ``dot`` is missing."""
        from .viz.notebook import mimebundle

        return mimebundle(self)

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")

    def __repr__(self) -> str:
        return f"<ConcreteFunction {self.function.name}({', '.join(map(str, self._keys))})>"


def _raised(error: Exception, caller: Location | None) -> Exception:
    """What a failed run of a compiled graph raises: a host function's own exception as it was,
    graphc's errors naming the line that called the function."""
    if isinstance(error, RaisedByHostFunction):
        error = error.error
        error.__cause__, error.__suppress_context__ = None, True  # as ``raise error from None``
    return _called_from(error, caller or user_location(), "called") if isinstance(error, GraphcError) else error


_MISSED = object()  # what a _FastPath returns for arguments it does not take


class _FastPath:
    """The per-call fast path of one traced signature, for positional arguments that are all NumPy
    arrays or eager gc tensors: a call whose arguments have the same types, shapes and dtypes, C-order
    and aligned, runs the compiled code on them as they are. Static graphs of the LLVM backend check
    the arguments in native code (``backends/llvm/pyobjects.py``), others here. Any other call
    returns ``_MISSED`` and takes the general path (which also raises the errors)."""

    __slots__ = ("_expected", "_run", "_run_arrays", "_concrete", "_single_tensor")

    def __init__(self, concrete: ConcreteFunction, expected: tuple):
        self._expected = expected  # per argument: (type, shape, strides, dtype)
        self._concrete = concrete
        compiled = concrete.compiled()
        native = getattr(compiled.executable, "run_if_exact", None)
        self._run, self._run_arrays = native or self._run_checked, compiled.run
        self._single_tensor = concrete._single_tensor and not concrete._returns_inputs

    @classmethod
    def of(cls, concrete: ConcreteFunction, args: tuple, call_: FlatCall) -> "_FastPath | None":
        """The fast path for calls like this one (the general path's ``call_`` of ``args``), or None
        when they need argument processing: a Python argument, a nested structure, a dtype widened
        (``ir.boundary``), an array not C-contiguous or not aligned."""
        if len(call_.keys) != len(args) or not all(isinstance(k, TensorKey) for k in call_.keys):
            return None
        expected = []
        for arg, value in zip(args, call_.values):
            array = eager_array(arg) if type(arg) is Tensor else arg
            if not (type(arg) in (Tensor, np.ndarray) and eager_array(value) is array
                    and array.flags.c_contiguous and array.flags.aligned):
                return None
            expected.append((type(arg), array.shape, array.strides, array.dtype))
        return cls(concrete, tuple(expected))

    def __call__(self, args: tuple):
        try:
            results = self._run(args)
        except (RaisedByHostFunction, GraphcError) as error:
            raise _raised(error, None)
        if results is None:
            return _MISSED
        return Tensor(results[0]) if self._single_tensor else self._concrete._finish(results)

    def _run_checked(self, args: tuple) -> list | None:
        """The compiled graph's results for ``args`` when they fit the signature, else None."""
        if len(args) != len(self._expected):
            return None
        arrays = []
        for arg, (kind, shape, strides, dtype) in zip(args, self._expected):
            if type(arg) is not kind:
                return None
            array = eager_array(arg) if kind is Tensor else arg
            if array is None or array.shape != shape or array.strides != strides or array.dtype != dtype:
                return None
            if not array.flags.aligned:
                return None
            arrays.append(array)
        return self._run_arrays(arrays)


def _fresh(array: np.ndarray, value) -> np.ndarray:
    """A result array, copied when the graph returns an input unchanged (results never alias arguments)."""
    return array.copy() if value.node is None else array


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)
