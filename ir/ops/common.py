"""Helpers shared by the op definitions: defining ops, dtype promotion, and un-broadcasting gradients."""
from __future__ import annotations

import functools

import numpy as np

from ..arguments import as_list, is_list
from ..dispatch import bind, current_handler, type_of
from ..errors import DTypeError, GraphcError, InvalidArgumentError, ShapeError
from ..location import user_line
from ..registry import REFERENCE, OpDef, implement, register
from ..types import DType, TensorType, as_dtype, result_dtype, weak_type_of


def define(name: str, infer, *, reference=None, **fields) -> OpDef:
    """Registers an op; see ``ir.registry.OpDef`` for the fields. ``reference(*arrays, **attrs)``, when
    given, is the op's meaning on NumPy arrays: its implementation in the reference backend."""
    opdef = register(OpDef(name, infer, **fields))
    if reference is not None:
        implement(name, REFERENCE)(reference)
    return opdef


def user_op(name: str):
    """Decorates an op function users call: an error raised while it checks its arguments, or by an op
    it is built from (then named ``name/inner``), names ``name`` and the caller's source line."""

    def decorate(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GraphcError as error:
                if error.op and error.op != name and not error.op.startswith(name + "/"):
                    error.op = f"{name}/{error.op}"
                raise error.with_context(op=name, location=user_line()) from None

        return op

    return decorate


def known_value(value):
    """``value`` as it is when tracing (an eager tensor's array); a tensor known only when the graph
    runs is refused: for arguments that decide the result's shape."""
    if getattr(value, "is_symbolic", False) or (hasattr(value, "type") and not hasattr(value, "numpy")):
        raise InvalidArgumentError("needs values known when tracing (Python numbers, lists, arrays, eager tensors), "
                                   "got a tensor known only when the graph runs")
    return value.numpy() if hasattr(value, "numpy") else value


def int_list(value, what: str) -> list:
    """An int or a list of them (a 0-d or 1-D array or eager tensor too) as a list, items unchecked."""
    value = known_value(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return as_list(value, what) if is_list(value) else [value]


def dtype_kind(x) -> DType:
    """The dtype of an op input, or the weak type of a Python scalar or of a (nested) list or tuple of
    them (``[1.0, 2.0]`` is float32 by default and takes a tensor partner's dtype, as in TensorFlow)."""
    if isinstance(x, (list, tuple)):
        weak = _weak_type_of_list(x)
        if weak is not None:
            return weak
    t = type_of(x)
    return t.dtype if t is not None else weak_type_of(x)


def kind_name(kind) -> str:
    """A dtype's name, or ``Python floats`` (ints, bools) for the weak type of Python numbers."""
    return kind.name if isinstance(kind, DType) else f"Python {kind.kind}s"


def _weak_type_of_list(x):
    """The widest weak type of the Python scalars in ``x`` (bool < int < float), or None when it holds
    anything else (arrays, tensors, NumPy scalars) or nothing."""
    stack, widest = [x], None
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        weak = weak_type_of(item)
        if weak is None:
            return None
        widest = weak if widest is None or _WEAK_ORDER.index(weak.kind) > _WEAK_ORDER.index(widest.kind) else widest
    return widest


_WEAK_ORDER = ("bool", "int", "float")


def shape_of(x) -> tuple:
    t = type_of(x)
    return t.shape if t is not None else ()


def cast_to(x, dtype: DType):
    """``x`` as ``dtype``: Python scalars and arrays become constants, tensors get a ``cast`` node."""
    t = type_of(x)
    if t is None:
        try:
            return np.asarray(x, dtype=dtype.numpy)
        except OverflowError:
            raise InvalidArgumentError(f"the Python number {x} is out of the range of {dtype.name}") from None
    if t.dtype == dtype:
        return x
    if not hasattr(x, "type"):  # a NumPy array or scalar: convert now, no node needed
        return np.asarray(x, dtype=dtype.numpy)
    return bind("cast", x, dtype=dtype)


def unchanged(x):
    """The result of an op that leaves ``x`` as it is: a tensor (or graph value) itself, a variable's
    current value, anything else (an array, a Python number) as a tensor of the current handler."""
    if hasattr(x, "_as_tensor"):
        return x._as_tensor()
    return x if hasattr(x, "type") else current_handler().lift(x)


def float_dtype_for(dtype: DType) -> DType:
    """The float type integers and bools turn into for float-only ops (int64 -> f64, else f32)."""
    if dtype.is_floating:
        return dtype
    return {"int64": as_dtype("float64")}.get(dtype.name, as_dtype("float32"))


def promote(*xs, to_float: bool = False):
    """Casts the operands to their common dtype (see ``types.result_dtype``)."""
    dtype = result_dtype(*(dtype_kind(x) for x in xs))
    if to_float:
        dtype = float_dtype_for(dtype)
    return [cast_to(x, dtype) for x in xs]


def require(dtype: DType, *, floating=False, numeric=False, boolean=False, integer=False, what="input"):
    ok = (
        (floating and dtype.is_floating)
        or (numeric and not dtype.is_bool)
        or (boolean and dtype.is_bool)
        or (integer and dtype.is_integer)
    )
    if not ok:
        wanted = [w for w, f in (("float", floating), ("numeric", numeric), ("bool", boolean), ("integer", integer)) if f]
        raise DTypeError(f"{what} must be {' or '.join(wanted)}, got {dtype.name}")


def reduced_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def unbroadcast(g, target_type: TensorType):
    """Sums ``g`` over the axes that broadcasting added to a value of ``target_type``."""
    from . import reduction, shape as shape_ops

    g_shape = shape_of(g)
    lead = len(g_shape) - target_type.ndim
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(target_type.shape) if d == 1 and g_shape[lead + i] != 1]
    if axes:
        g = reduction.reduce_sum(g, axes, keepdims=True)
    if lead:
        g = shape_ops.squeeze(g, tuple(range(lead)))
    return g


def static_tensor_type(shape, dtype) -> TensorType:
    return TensorType(tuple(int(d) for d in shape), as_dtype(dtype))


def reshape_target(dims) -> list[int]:
    """A reshape target for sizes ``dims``: the one size known only at run time becomes -1 (more
    than one is a ShapeError)."""
    unknown = [d for d in dims if not isinstance(d, int)]
    if len(unknown) > 1:
        raise ShapeError(f"cannot merge axes of sizes {list(dims)} into one: more than one is known only at run time")
    return [d if isinstance(d, int) else -1 for d in dims]
