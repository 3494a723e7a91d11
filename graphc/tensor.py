"""``gc.Tensor``: an eager value (wrapping an ndarray) or a symbolic value of a graph being traced."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import OperatorNotAllowedInGraphError
from graphc.ir.graph import Value
from graphc.ir.location import user_line
from graphc.ir.types import TensorType, Typed, as_dtype
from .tensor_shape import TensorShape, static_shape


class TensorLike(Typed):
    """Operators shared by tensors and variables; subclasses define ``_as_tensor()``, the tensor to
    compute with."""

    __slots__ = ()
    __array_priority__ = 100
    __array_ufunc__ = None  # NumPy defers to our reflected operators: array + tensor -> Tensor

    def __add__(self, other): return ops.add(self._as_tensor(), _operand(other))
    def __radd__(self, other): return ops.add(_operand(other), self._as_tensor())
    def __sub__(self, other): return ops.subtract(self._as_tensor(), _operand(other))
    def __rsub__(self, other): return ops.subtract(_operand(other), self._as_tensor())
    def __mul__(self, other): return ops.multiply(self._as_tensor(), _operand(other))
    def __rmul__(self, other): return ops.multiply(_operand(other), self._as_tensor())
    def __truediv__(self, other): return ops.divide(self._as_tensor(), _operand(other))
    def __rtruediv__(self, other): return ops.divide(_operand(other), self._as_tensor())
    def __floordiv__(self, other): return ops.floordiv(self._as_tensor(), _operand(other))
    def __rfloordiv__(self, other): return ops.floordiv(_operand(other), self._as_tensor())
    def __mod__(self, other): return ops.mod(self._as_tensor(), _operand(other))
    def __rmod__(self, other): return ops.mod(_operand(other), self._as_tensor())
    def __pow__(self, other): return ops.power(self._as_tensor(), _operand(other))
    def __rpow__(self, other): return ops.power(_operand(other), self._as_tensor())
    def __matmul__(self, other): return ops.matmul(self._as_tensor(), _operand(other))
    def __rmatmul__(self, other): return ops.matmul(_operand(other), self._as_tensor())
    def __neg__(self): return ops.negative(self._as_tensor())
    def __pos__(self): return self._as_tensor()
    def __abs__(self): return ops.abs(self._as_tensor())
    def __invert__(self): return ops.logical_not(self._as_tensor())
    def __and__(self, other): return ops.logical_and(self._as_tensor(), _operand(other))
    def __rand__(self, other): return ops.logical_and(_operand(other), self._as_tensor())
    def __or__(self, other): return ops.logical_or(self._as_tensor(), _operand(other))
    def __ror__(self, other): return ops.logical_or(_operand(other), self._as_tensor())
    def __lt__(self, other): return ops.less(self._as_tensor(), _operand(other))
    def __le__(self, other): return ops.less_equal(self._as_tensor(), _operand(other))
    def __gt__(self, other): return ops.greater(self._as_tensor(), _operand(other))
    def __ge__(self, other): return ops.greater_equal(self._as_tensor(), _operand(other))
    def __eq__(self, other): return ops.equal(self._as_tensor(), _operand(other))
    def __ne__(self, other): return ops.not_equal(self._as_tensor(), _operand(other))
    def __getitem__(self, index): return ops.getitem(self._as_tensor(), index)

    __hash__ = None  # == is elementwise, as in TensorFlow 2: use .ref() as a dictionary key

    @property
    def T(self):
        return ops.transpose(self._as_tensor())

    @property
    def shape(self) -> TensorShape:
        """The static shape (a tuple); a dimension known only at run time is None."""
        return static_shape(self.type.shape)

    def ref(self):
        """A hashable reference to this object (for dictionary keys and sets)."""
        return _Ref(self)

    # Python conversions go through the current value; Tensor checks that it is concrete
    def __bool__(self): return bool(self._as_tensor())
    def __int__(self): return int(self._as_tensor())
    def __float__(self): return float(self._as_tensor())
    def __index__(self): return self._as_tensor().__index__()


_RETURN_IT = "return the tensor from the function to get its value, and compute inside with gc ops"


class _Ref:
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def deref(self):
        return self.obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Ref) and other.obj is self.obj


def as_tensor(x) -> "Tensor":
    """``x`` as a tensor: a tensor as it is, a variable's current value, anything else a constant."""
    return x._as_tensor() if isinstance(x, TensorLike) else ops.constant(x)


def _operand(x):
    """Variables take part in arithmetic through their current value; everything else as is."""
    return x._as_tensor() if isinstance(x, TensorLike) else x


class Tensor(TensorLike):
    """An immutable multi-dimensional array of one dtype.

    Eager tensors hold their value (``.numpy()``); symbolic tensors stand for a value of a graph
    being traced by ``@gc.function`` and have a static type only. An eager tensor's memory is its
    own: arrays it was made from are copied, ``.numpy()`` returns a copy (as TensorFlow does) and
    ``np.asarray(tensor)`` a read-only view."""

    __slots__ = ("_array", "_value", "_graph", "__weakref__")

    def __init__(self, array: np.ndarray | None = None, *, value: Value | None = None, graph=None):
        self._array = array
        self._value = value
        self._graph = graph

    def _as_tensor(self) -> "Tensor":
        return self

    @property
    def is_symbolic(self) -> bool:
        return self._array is None

    @property
    def graph(self):
        """The graph a symbolic tensor belongs to (None for an eager tensor)."""
        return self._graph

    @property
    def ir_value(self) -> Value | None:
        """The graph value a symbolic tensor stands for (None for an eager tensor)."""
        return self._value

    @property
    def type(self) -> TensorType:
        if self._value is not None:
            return self._value.type
        return TensorType(self._array.shape, as_dtype(self._array.dtype))

    @property
    def name(self) -> str | None:
        return self._value.name if self._value is not None else None

    def numpy(self) -> np.ndarray:
        """A copy of the value as a NumPy array (eager tensors only)."""
        self._require_concrete("numpy()", _RETURN_IT)
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        """The value for NumPy: a read-only view, or a copy when ``copy`` or a different ``dtype`` asks."""
        self._require_concrete("np.asarray()", _RETURN_IT)
        if copy is False and dtype is not None and np.dtype(dtype) != self._array.dtype:
            raise ValueError("np.asarray(tensor, dtype, copy=False): a different dtype needs a copy")
        if copy or (dtype is not None and np.dtype(dtype) != self._array.dtype):
            return self._array.astype(dtype or self._array.dtype)
        view = self._array.view()
        view.flags.writeable = False
        return view

    def _require_concrete(self, what: str, instead: str) -> None:
        if self._array is None:
            name = f" {self.name!r}" if self.name else ""
            raise OperatorNotAllowedInGraphError(
                f"{what} needs a concrete value, but the tensor{name} of type {self.type} is symbolic inside a "
                f"traced function: {instead}; or run the function eagerly (gc.config.run_functions_eagerly(True))",
                location=user_line(),
            )

    def __bool__(self):
        self._require_concrete(
            "using a tensor as a Python bool (if, while, and, or, not)",
            "choose between values with gc.where(condition, x, y), and keep the condition a tensor",
        )
        return bool(self._array)

    def __int__(self):
        self._require_concrete("int()", "keep the value a tensor (gc.cast(x, gc.int32) changes its dtype)")
        return int(self._array)

    def __float__(self):
        self._require_concrete("float()", "keep the value a tensor (gc.cast(x, gc.float32) changes its dtype)")
        return float(self._array)

    def __index__(self):
        self._require_concrete("using a tensor as a Python index", "index with a tensor through gc.gather(x, indices)")
        if not self.dtype.is_integer:
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype.name}")
        return int(self._array)

    def __len__(self):
        if not self.type.shape:
            raise TypeError("len() of a 0-d tensor")
        first = self.type.shape[0]
        if not isinstance(first, int):
            raise OperatorNotAllowedInGraphError(
                f"len() of a tensor of type {self.type}, whose first dimension is known only when the graph "
                "runs: use ops that need no size (reductions, broadcasting), or give the dimension a size "
                "in the input_signature",
                location=user_line(),
            )
        return first

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        shape = "(" + ", ".join(str(d) for d in self.shape) + ("," if self.ndim == 1 else "") + ")"
        if self._array is None:
            name = f" {self.name!r}" if self.name else ""
            return f"<gc.Tensor{name} shape={shape} dtype={self.dtype.name} (symbolic)>"
        return f"<gc.Tensor: shape={shape}, dtype={self.dtype.name}, numpy={np.array2string(self._array, separator=', ')}>"

    def __str__(self) -> str:
        return repr(self) if self._array is None else str(self._array)


def eager_array(tensor: Tensor) -> np.ndarray | None:
    """The array of an eager tensor, not copied (None for a symbolic one): for graphc's own runtime,
    which never writes it nor hands it out (users get copies: ``Tensor.numpy``)."""
    return tensor._array
