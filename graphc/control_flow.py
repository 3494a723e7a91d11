"""Control flow on tensors: ``gc.cond``, ``gc.while_loop`` and ``gc.range`` with tensor bounds.

Eagerly (and when the condition is a Python value) these run plain Python. Inside a traced function
each branch, loop condition and loop body is traced into a graph of its own, a *region* of a
``cond`` or ``while_loop`` node (``graphc.ir.ops.control``), by a ``RegionTracer``:

- a tensor of an enclosing graph used inside becomes an extra operand of the node (a *capture*);
- a variable read inside is read before the node and passed in; a variable assigned inside comes out
  as an extra result (of the branches; a loop variable of loops) and is assigned after the node.

So regions stay pure, and gradients and backends see plain values. Loop variables keep their dtype
and shape; the values two branches give a variable must agree in dtype and shape; Python values must
be equal in both branches (numbers that differ become tensors) and unchanged by a loop body.
"""
from __future__ import annotations

import builtins

import numpy as np

from graphc.ir import dispatch
from graphc.ir import ops as irops
from graphc.ir.arguments import arguments_of, as_size
from graphc.ir.errors import DTypeError, GraphcError, InvalidArgumentError, OperatorNotAllowedInGraphError, ShapeError
from graphc.ir.graph import Graph, Value
from graphc.ir.location import user_line
from graphc.ir.types import TensorType, as_dtype, bool_, result_dtype, weak_type_of

from . import nest
from .tensor import Tensor
from .tracing import REGION_GRAPHS, TraceHandler, current_trace
from .variables import Variable


class Undefined:
    """The value of a variable not assigned yet (a branch or loop may assign it). Any use raises."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def fail(self, *args, **kwargs):
        raise UnboundLocalError(f"local variable {self.name!r} is used before it is assigned")

    __bool__ = __call__ = __iter__ = __len__ = __getitem__ = __add__ = __radd__ = __sub__ = __rsub__ = fail
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __neg__ = __lt__ = __gt__ = __le__ = __ge__ = fail

    def __getattr__(self, attr):
        if attr.startswith("_"):  # probes such as getattr(x, "_graph", None) see no attribute
            raise AttributeError(attr)
        self.fail()

    def __repr__(self) -> str:
        return f"<undefined {self.name}>"


class Site:
    """Where a control-flow statement is: ``description`` ("the if") and the user's ``location``."""

    __slots__ = ("description", "location")

    def __init__(self, description: str, location: str | None):
        self.description, self.location = description, location

    def __str__(self) -> str:
        return f"{self.description} at {self.location}" if self.location else self.description

    def error(self, kind, message: str) -> GraphcError:
        return kind(message, location=self.location)


def _here() -> str | None:
    return user_line()


# -- tracing regions -----------------------------------------------------------------------------
class RegionTracer(TraceHandler):
    """Traces one region into its own graph, inside the trace of ``parent`` (see the module docstring).

    ``reads`` maps ``id(variable)`` to the variable's value read in the parent; the regions of one
    node share it, so each variable is read once."""

    def __init__(self, name: str, parent: TraceHandler, reads: dict):
        super().__init__(Graph(name), getattr(parent, "on_first_product", None))  # (a product in a region counts)
        REGION_GRAPHS.add(self.graph)
        self.parent = parent
        self.reads = reads
        self.captures: dict[Value, Value] = {}  # outer value -> the region input standing for it
        self.operand_of: dict[Value, Tensor] = {}  # outer value -> the tensor passed as the operand
        self.variables: dict[int, object] = {}  # id -> variable, in order of first use
        self.entry: dict[int, Value] = {}  # id(variable) -> the region input holding its first value
        self.current: dict[int, Value] = {}  # id(variable) -> its value now

    def input(self, t: TensorType, name: str | None = None) -> Tensor:
        return self.wrap(self.graph.add_input(t, name))

    def to_value(self, x) -> Value:
        if isinstance(x, Tensor) and x.is_symbolic and x.graph is not self.graph:
            return self._capture(x)
        if isinstance(x, Variable):
            return self.variable_value(x)
        return super().to_value(x)

    def _capture(self, x: Tensor) -> Value:
        outer = self.parent.to_value(x)  # captured by the parent first when it is a region too
        if outer not in self.captures:
            self.captures[outer] = self.graph.add_input(outer.type, outer.name)
            self.operand_of[outer] = x if x.graph is self.parent.graph else self.parent.wrap(outer)
        return self.captures[outer]

    def process(self, opdef, inputs, attrs):
        if opdef.name == "read_variable":
            return [self.wrap(self.variable_value(attrs["var"]))]
        if opdef.name == "assign_variable":
            var = attrs["var"]
            opdef.infer([inputs[0].type], var=var)  # raises for a value of another type
            self.variables.setdefault(id(var), var)
            self.current[id(var)] = inputs[0]._value
            return []
        return super().process(opdef, inputs, attrs)

    def variable_value(self, var) -> Value:
        if id(var) not in self.current:
            self.current[id(var)] = self.variable_entry(var)
        return self.current[id(var)]

    def variable_entry(self, var) -> Value:
        """The region input holding ``var``'s value when the region starts (read in the parent)."""
        key = id(var)
        if key not in self.entry:
            self.variables.setdefault(key, var)
            self.entry[key] = self.graph.add_input(var.type, var.name)
            if key not in self.reads:
                with dispatch.handler(self.parent):
                    self.reads[key] = irops.read_variable(var)
        return self.entry[key]

    def written(self) -> list:
        """The variables this region assigns, in order."""
        return [self.variables[k] for k, v in self.current.items() if v is not self.entry.get(k)]

    def as_value(self, x, dtype=None) -> Value:
        """A branch or body result as a value of this region; a Python number as a constant of
        ``dtype`` (default: its own)."""
        if weak_type_of(x) is not None or (dtype is not None and isinstance(x, np.generic)):
            dtype = dtype or weak_type_of(x).default
            return self.add("constant", [], {"value": np.asarray(x, dtype.numpy)})[0]
        return self.to_value(x)


def _set_inputs(graph: Graph, values: list[Value]) -> None:
    graph.inputs = list(values)
    for i, v in enumerate(values):
        v.index = i


def _align(tracers: list[RegionTracer], leading: list[list[Value]], carried: list) -> list:
    """Gives every region the same inputs: its ``leading`` ones, the entry values of the ``carried``
    variables, then every value any of them captured or variable any of them read (unused inputs
    where a region does not need one). Returns the operands for the captured values and variables."""
    for tracer in tracers:
        for var in carried:
            tracer.variable_entry(var)
    carried_ids = {id(v) for v in carried}
    keys: list[tuple] = []
    for tracer in tracers:
        keys += [("value", outer) for outer in tracer.captures if ("value", outer) not in keys]
        keys += [("var", k) for k in tracer.entry if k not in carried_ids and ("var", k) not in keys]
    operands = []
    for kind, key in keys:
        if kind == "var":
            operands.append(tracers[0].reads[key])
        else:
            operands.append(next(t.operand_of[key] for t in tracers if key in t.operand_of))
    for tracer, lead in zip(tracers, leading):
        rest = []
        for kind, key in keys:
            found = (tracer.captures if kind == "value" else tracer.entry).get(key)
            rest.append(found if found is not None else Value(_key_type(kind, key, tracers), None))
        _set_inputs(tracer.graph, lead + [tracer.entry[id(v)] for v in carried] + rest)
    return operands


def _key_type(kind: str, key, tracers) -> TensorType:
    if kind == "value":
        return key.type
    return next(t.variables[key] for t in tracers if key in t.variables).type


def _assign_after(variables: list, values) -> None:
    for var, value in zip(variables, values):
        irops.assign_variable(var, value)


def _require_trace(what: str) -> TraceHandler:
    trace = current_trace()
    if trace is None:
        raise OperatorNotAllowedInGraphError(
            f"{what}: the condition is a symbolic tensor of a traced function, used outside it", location=_here()
        )
    return trace


# -- conditions ----------------------------------------------------------------------------------
def as_condition(x):
    """A condition as given (Python values, eager tensors) or, when symbolic, as a bool scalar tensor
    (a number is true when it is not zero, as in Python)."""
    if isinstance(x, Variable):
        x = x.read_value()
    if not is_symbolic(x):
        return x
    if x.type.shape != ():
        raise OperatorNotAllowedInGraphError(
            f"using a tensor of type {x.type} as a Python bool (the condition of an if, while, and, or, not) needs "
            "a scalar: choose elementwise with gc.where(condition, x, y), or reduce the condition to a scalar "
            "first; or run the function eagerly (gc.config.run_functions_eagerly(True))",
            location=_here(),
        )
    return x if x.dtype == bool_ else irops.not_equal(x, 0)


def is_symbolic(x) -> bool:
    """True for a symbolic tensor of a traced function (variables read inside one count too)."""
    if isinstance(x, Variable):
        return current_trace() is not None
    return isinstance(x, Tensor) and x.is_symbolic


# -- cond ----------------------------------------------------------------------------------------
def _is_tensor_like(x) -> bool:
    return isinstance(x, (Tensor, Variable, np.ndarray, np.generic))


def _is_number(x) -> bool:
    return weak_type_of(x) is not None


def _same_python_value(a, b) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return False


def _type_of(x) -> TensorType:
    return x.type if isinstance(x, (Tensor, Variable)) else TensorType(np.shape(x), as_dtype(np.asarray(x).dtype))


def zeros_like_value(x):
    """A zero standing for ``x`` (a nested structure of tensors and numbers) under the current handler,
    for a return value a branch or loop entry does not define yet."""

    def zero(leaf):
        if _is_number(leaf):
            return type(leaf)(0)
        t = _type_of(leaf)
        if not t.is_static:
            raise InvalidArgumentError(
                f"a value of type {t} (a size known only at run time) is returned in some branches or iterations "
                "only: return in every branch, or assign the result to a variable first",
                location=_here(),
            )
        return irops.zeros(t.shape, t.dtype)

    return nest.map_structure(zero, x)


class _Merge:
    """The results of the branches of one cond, leaf by leaf: each leaf either stays a Python value
    (equal in every branch, or undefined in every branch) or becomes a result of the node."""

    def __init__(self, tracers, names, where, placeholders):
        self.tracers, self.names, self.where, self.placeholders = tracers, names, where, placeholders
        self.outputs: list[list[Value]] = [[] for _ in tracers]

    def structure(self, name: str, values: list):
        """The merged structure of one named result: a ``_PythonLeaf`` or a ``_Slot`` (a result of the
        node) at each leaf."""
        undefined = [isinstance(v, Undefined) for v in values]
        if all(undefined):
            return _PythonLeaf(values[0])
        if any(undefined):
            if name not in self.placeholders:
                branch = "true" if undefined[1] else "false"
                raise self.where.error(
                    InvalidArgumentError,
                    f"{name!r} is assigned in the {branch} branch of {self.where} but not in the other: give it a "
                    "value in both branches (or before the if)",
                )
            like = values[undefined.index(False)]
            for i, u in enumerate(undefined):
                if u:
                    with dispatch.handler(self.tracers[i]):
                        values[i] = zeros_like_value(like)
        keys = {nest.structure_key(v) for v in values}
        if len(keys) > 1:
            raise self.where.error(
                InvalidArgumentError,
                f"{name!r} has a different nesting in the two branches of {self.where}: {values[0]!r} and {values[1]!r}",
            )
        columns = zip(*(nest.flatten(v) for v in values))
        merged = [self.leaf(name, list(column)) for column in columns]
        return nest.pack_as(values[0], merged)

    def leaf(self, name: str, values: list):
        own_graphs = {t.graph for t in self.tracers}
        if all(v is values[0] for v in values) and getattr(values[0], "_graph", None) not in own_graphs:
            return _PythonLeaf(values[0])  # the same value from outside in every branch: no result needed
        tensors = [_is_tensor_like(v) for v in values]
        if not any(tensors):
            if all(_same_python_value(values[0], v) for v in values):
                return _PythonLeaf(values[0])
            if not all(_is_number(v) for v in values):
                raise self.where.error(
                    InvalidArgumentError,
                    f"{name!r} is {values[0]!r} in one branch of {self.where} and {values[1]!r} in the other: a Python "
                    "value must be the same in both branches (make it a tensor)",
                )
            dtype = result_dtype(*(weak_type_of(v) for v in values))
        elif not all(t or _is_number(v) for t, v in zip(tensors, values)):
            raise self.where.error(
                InvalidArgumentError,
                f"{name!r} is a tensor in one branch of {self.where} and {values[tensors.index(False)]!r} in the other",
            )
        else:
            dtype = next(_type_of(v).dtype for v, t in zip(values, tensors) if t)
            for v in values:
                if _is_number(v) and result_dtype(dtype, weak_type_of(v)) != dtype:
                    raise self.where.error(
                        DTypeError, f"{name!r} is a {dtype.name} tensor in one branch of {self.where} and {v!r} in the other"
                    )
        region_values = [tracer.as_value(v, dtype) for tracer, v in zip(self.tracers, values)]
        types = [v.type for v in region_values]
        if any(t != types[0] for t in types):
            raise self.where.error(
                DTypeError if types[0].dtype != types[1].dtype else ShapeError,
                f"{name!r} is {types[0]} in the true branch of {self.where} and {types[1]} in the false branch: "
                "a variable must have the same dtype and shape in both branches",
            )
        for outputs, v in zip(self.outputs, region_values):
            outputs.append(v)
        return _Slot(len(self.outputs[0]) - 1)


class _PythonLeaf:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def trace_cond(pred, branch_fns, names: list[str], where: Site, placeholders=()) -> list:
    """Traces the two branches (each returning one value per name) into a ``cond`` node on ``pred``
    (a symbolic bool scalar); returns the merged values (Python values where the branches agree)."""
    parent = _require_trace(str(where))
    reads: dict = {}
    tracers, results = [], []
    for label, fn in zip(("true", "false"), branch_fns):
        tracer = RegionTracer(f"cond_{label}", parent, reads)
        with dispatch.handler(tracer):
            results.append(list(fn()))
        tracers.append(tracer)
    merge = _Merge(tracers, names, where, set(placeholders))
    merged = [merge.structure(name, [r[i] for r in results]) for i, name in enumerate(names)]
    written = list({id(v): v for t in tracers for v in t.written()}.values())
    for tracer, outputs in zip(tracers, merge.outputs):
        tracer.graph.outputs = outputs + [tracer.variable_value(v) for v in written]
    operands = _align(tracers, [[], []], [])
    outs = irops.cond(pred, *operands, then_branch=tracers[0].graph, else_branch=tracers[1].graph)
    n = len(merge.outputs[0])
    _assign_after(written, outs[n:])
    return [_unpack(m, outs) for m in merged]


def _unpack(merged, outs):
    def leaf(x):
        return x.value if isinstance(x, _PythonLeaf) else outs[x.index]

    return nest.map_structure(leaf, merged)


def cond(pred, true_fn, false_fn, name=None):
    """``true_fn()`` if ``pred`` else ``false_fn()``, like ``tf.cond``.

    With a symbolic ``pred`` (a bool scalar, inside ``@gc.function``) both functions are traced and
    the graph runs the one ``pred`` selects; they must return the same nesting of tensors of equal
    dtypes and shapes (Python values must be equal). Otherwise ``pred`` decides in Python."""
    pred = as_condition(pred)
    if not is_symbolic(pred):
        return true_fn() if pred else false_fn()
    where = Site("gc.cond", _here())
    (result,) = trace_cond(pred, [lambda: [true_fn()], lambda: [false_fn()]], ["the result"], where)
    return result


# -- while_loop -----------------------------------------------------------------------------------
class LoopVariableTypeError(DTypeError):
    """A loop variable's dtype or shape differs after an iteration (``index``: which one)."""

    def __init__(self, message: str, index: int, new_type: TensorType, location=None):
        super().__init__(message, location=location)
        self.index, self.new_type = index, new_type


def trace_while(cond_fn, body_fn, loop_vars: list, names: list[str], where: Site, maximum_iterations=None) -> list:
    """Traces ``cond_fn(*vars)`` and ``body_fn(*vars) -> vars`` into a ``while_loop`` node.

    ``loop_vars`` are flat: tensors (and Python numbers, which become tensors) are loop variables,
    other Python values must come out of the body unchanged. Returns the final values."""
    parent = _require_trace(str(where))
    is_var = [_is_tensor_like(v) or _is_number(v) for v in loop_vars]
    init = [_as_tensor(v) if var else v for v, var in zip(loop_vars, is_var)]
    reads: dict = {}

    def trace(fn, label):
        tracer = RegionTracer(f"while_{label}", parent, reads)
        args = [tracer.input(v.type, name) if var else v for v, var, name in zip(init, is_var, names)]
        with dispatch.handler(tracer):
            return tracer, [a.ir_value for a, var in zip(args, is_var) if var], fn(*args)

    cond_tracer, cond_inputs, pred = trace(cond_fn, "cond")
    with dispatch.handler(cond_tracer):
        cond_tracer.graph.outputs = [cond_tracer.as_value(as_condition(pred), bool_)]
    if cond_tracer.written():
        raise where.error(InvalidArgumentError, f"the condition of {where} assigns a variable: assign it in the body")
    body_tracer, body_inputs, new = trace(body_fn, "body")
    new = list(new)
    if len(new) != len(init):
        raise where.error(InvalidArgumentError, f"the body of {where} returns {len(new)} values for {len(init)} loop variables")
    with dispatch.handler(body_tracer):
        outputs = [_body_result(body_tracer, i, names[i], v, n, where)
                   for i, (v, n, var) in enumerate(zip(init, new, is_var)) if var]
    for name, v, n, var in zip(names, init, new, is_var):
        if not var and not _same_python_value(v, n):
            raise where.error(
                InvalidArgumentError,
                f"{name!r} is the Python value {v!r} before {where} and {n!r} after an iteration: a Python value cannot "
                "change in a loop on tensors (make it a tensor before the loop)",
            )
    carried = body_tracer.written()
    body_tracer.graph.outputs = outputs + [body_tracer.current[id(v)] for v in carried]
    operands = _align([cond_tracer, body_tracer], [cond_inputs, body_inputs], carried)
    tensors = [v for v, var in zip(init, is_var) if var]
    outs = irops.while_loop(
        *tensors, *(reads[id(v)] for v in carried), *operands,
        cond=cond_tracer.graph, body=body_tracer.graph, maximum_iterations=maximum_iterations,
    )
    _assign_after(carried, outs[len(tensors):])
    it = iter(outs[:len(tensors)])
    return [next(it) if var else v for v, var in zip(loop_vars, is_var)]


def _as_tensor(x) -> Tensor:
    if isinstance(x, Variable):
        return x.read_value()
    if isinstance(x, Tensor):
        return x
    return irops.constant(x) if _is_number(x) else irops.constant(np.asarray(x), np.asarray(x).dtype)


def _body_result(tracer: RegionTracer, index: int, name: str, before: Tensor, after, where: Site) -> Value:
    """The region value of a loop variable after an iteration, checked against its type before."""
    if not (_is_tensor_like(after) or _is_number(after)):
        raise where.error(
            InvalidArgumentError,
            f"{name!r} is a tensor before {where} and {after!r} after an iteration: a loop variable stays a tensor",
        )
    after_type = _type_of(after) if _is_tensor_like(after) else TensorType(
        before.type.shape, result_dtype(before.dtype, weak_type_of(after)))
    if after_type != before.type:
        what = "dtype" if after_type.dtype != before.dtype else "shape"
        raise LoopVariableTypeError(
            f"{name!r} is {before.type} before {where} and {after_type} after an iteration: a loop variable keeps its "
            f"{what} (cast it, or give it its final {what} before the loop)",
            index, after_type, where.location,
        )
    return tracer.as_value(after, before.dtype)


def while_loop(cond, body, loop_vars, maximum_iterations=None, name=None):
    """Repeats ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``, like ``tf.while_loop``;
    returns the final ``loop_vars`` (same nesting; a single tensor may be given instead of a list).

    Inside ``@gc.function`` this is one ``while_loop`` node: loop variables keep their dtype and shape.
    ``maximum_iterations`` (an int or an int scalar tensor) bounds the number of iterations.
    Eagerly the loop runs in Python."""
    if maximum_iterations is not None and not isinstance(maximum_iterations, (Tensor, Variable)):
        with arguments_of("gc.while_loop"):
            maximum_iterations = as_size(maximum_iterations, "maximum_iterations")
    single = not isinstance(loop_vars, (list, tuple))
    structure = [loop_vars] if single else list(loop_vars)

    def call(fn, flat):
        args = nest.pack_as(structure, list(flat))
        return fn(*args)

    def flat_result(result):
        if single or (len(structure) == 1 and not isinstance(result, (list, tuple))):
            result = [result]
        if nest.structure_key(list(result)) != nest.structure_key(structure):
            raise InvalidArgumentError(f"gc.while_loop: the body returns {result!r} for loop variables {loop_vars!r}")
        return nest.flatten(list(result))

    if current_trace() is None:
        return _python_while(cond, body, loop_vars, maximum_iterations)
    flat = nest.flatten(structure)
    names = [f"loop_vars{path}" for path, _ in nest.flatten_with_paths(structure)]
    where = Site("gc.while_loop", _here())
    limit = maximum_iterations.read_value() if isinstance(maximum_iterations, Variable) else maximum_iterations
    if isinstance(limit, Tensor):
        n = len(flat)
        results = trace_while(
            lambda *a: irops.logical_and(irops.less(a[n], limit), as_condition(call(cond, a[:n]))),
            lambda *a: [*flat_result(call(body, a[:n])), irops.add(a[n], 1)],
            [*flat, irops.zeros((), limit.dtype)], [*names, "the iteration count"], where,
        )[:n]
    else:
        results = trace_while(
            lambda *a: call(cond, a), lambda *a: flat_result(call(body, a)), flat, names, where, limit,
        )
    packed = nest.pack_as(structure, results)
    if single:
        return packed[0]
    return type(loop_vars)(packed) if isinstance(loop_vars, tuple) and not nest._is_namedtuple(loop_vars) else packed


def _python_while(cond, body, loop_vars, maximum_iterations):
    single = not isinstance(loop_vars, (list, tuple))
    state = loop_vars
    limit = None if maximum_iterations is None else int(maximum_iterations)
    iterations = 0
    while (limit is None or iterations < limit) and (cond(state) if single else cond(*state)):
        state = body(state) if single else body(*state)
        if not single and len(loop_vars) == 1 and not isinstance(state, (list, tuple)):
            state = [state]
        iterations += 1
    return state


# -- range -------------------------------------------------------------------------------------
class SymbolicRange:
    """``gc.range`` with a bound known only when the graph runs: iterate over it in a ``for`` loop of
    a function compiled by ``@gc.function`` (autograph turns the loop into a ``while_loop``)."""

    def __init__(self, start, limit, delta, dtype):
        self.dtype = dtype
        self.start, self.limit, self.delta = (_cast(v, dtype) for v in (start, limit, delta))

    def __iter__(self):
        raise OperatorNotAllowedInGraphError(
            "iterating over gc.range with a symbolic bound needs a for loop that autograph converts (the default in "
            "@gc.function), or gc.while_loop",
            location=_here(),
        )

    def __repr__(self) -> str:
        return f"<gc.range({self.start!r}, {self.limit!r}, {self.delta!r}) (symbolic)>"


def _cast(x, dtype):
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else irops.cast(x, dtype)
    return np.asarray(x, dtype.numpy)[()]


def range(start, limit=None, delta=1, dtype=None):  # noqa: A001 - gc.range, as tf.range
    """``[start, start + delta, ...)`` up to ``limit``, like ``tf.range``. The bounds may be tensors;
    inside a traced function a symbolic bound gives a range for ``for`` loops (a ``while_loop``)."""
    if limit is None:
        start, limit = 0, start
    bounds = [b.read_value() if isinstance(b, Variable) else b for b in (start, limit, delta)]
    if any(is_symbolic(b) for b in bounds):
        kinds = [b.dtype if isinstance(b, Tensor) else weak_type_of(b) for b in bounds]
        if any(k is None for k in kinds):
            raise InvalidArgumentError(f"gc.range: bounds must be numbers or scalar tensors, got {bounds!r}")
        for b in bounds:
            if isinstance(b, Tensor) and b.type.shape != ():
                raise InvalidArgumentError(f"gc.range: bounds must be scalars, got a tensor of type {b.type}")
        return SymbolicRange(*bounds, as_dtype(dtype) if dtype is not None else result_dtype(*kinds))
    bounds = [b.numpy().item() if isinstance(b, Tensor) else b for b in bounds]
    return irops.range_(*bounds, dtype=dtype)


def python_range(*args):
    """``range(*args)`` in converted code: Python's range, or a ``SymbolicRange`` for symbolic bounds."""
    if any(is_symbolic(a) for a in args):
        return range(*args)
    return builtins.range(*(a.numpy().item() if isinstance(a, Tensor) else a for a in args))
