"""``gc.Variable``: mutable state shared by eager code and every traced function that uses it."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import TensorType, as_dtype, weak_type_of

from .tensor import Tensor, TensorLike
from .tracing import constant_value, init_scope

class Variable(TensorLike):
    """A tensor whose value persists and can be assigned: ``gc.Variable(value, trainable=True)``.

    Traced functions capture variables by reference: an assignment made outside a function is seen
    by its next call without retracing, and assignments inside persist. Shape and dtype are fixed."""

    def __init__(self, initial_value, trainable: bool = True, name: str | None = None, dtype=None):
        with init_scope():
            value = initial_value() if callable(initial_value) else initial_value
        if isinstance(value, Tensor):
            array = constant_value(value)
            if array is None:
                raise InvalidArgumentError(
                    "Variable: the initial value depends on a traced function's inputs; create the variable "
                    "outside the function, or pass a callable or a NumPy value"
                )
        elif isinstance(value, Variable):
            array = value.value
        else:
            weak = weak_type_of(value)
            array = np.asarray(value, dtype=(weak.default.numpy if weak and dtype is None else None))
            if array.dtype == np.float64 and not isinstance(value, (np.ndarray, np.generic)) and dtype is None:
                array = array.astype(np.float32)  # Python floats default to float32, as in TensorFlow
        dtype = as_dtype(dtype if dtype is not None else array.dtype)
        self._value = np.array(array, dtype=dtype.numpy, copy=True)
        self.type = TensorType(self._value.shape, dtype)
        self.trainable = bool(trainable)
        self.name = name or "Variable"

    # -- the backend protocol: the current value as an array -----------------------------------
    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, array: np.ndarray) -> None:
        if array.shape != self._value.shape or array.dtype != self._value.dtype:
            raise InvalidArgumentError(
                f"cannot store a {array.dtype}{list(array.shape)} array in variable {self.name!r} of type {self.type}"
            )
        self._value = array

    # -- the user API -------------------------------------------------------------------------------
    def _as_tensor(self) -> Tensor:
        return self.read_value()

    def read_value(self) -> Tensor:
        """The current value (a symbolic read inside a traced function)."""
        return ops.read_variable(self)

    def assign(self, value):
        """Sets the value; it must have the variable's shape and dtype (Python numbers are converted)."""
        if not isinstance(value, (Tensor, Variable)):
            value = np.asarray(value, dtype=self.type.dtype.numpy) if _is_plain(value) else value
        ops.assign_variable(self, value._as_tensor() if isinstance(value, Variable) else value)
        return self

    def assign_add(self, delta):
        return self.assign(ops.add(self.read_value(), _cast_plain(delta, self)))

    def assign_sub(self, delta):
        return self.assign(ops.subtract(self.read_value(), _cast_plain(delta, self)))

    def numpy(self) -> np.ndarray:
        return self.read_value().numpy().copy()

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    @property
    def shape(self) -> tuple:
        return self.type.shape

    def __repr__(self) -> str:
        return (
            f"<gc.Variable {self.name!r} shape={self.type.shape} dtype={self.type.dtype.name}, "
            f"numpy={np.array2string(self._value, separator=', ')}>"
        )


def _is_plain(value) -> bool:
    return weak_type_of(value) is not None or isinstance(value, (list, tuple))


def _cast_plain(value, var: Variable):
    return np.asarray(value, dtype=var.type.dtype.numpy) if _is_plain(value) else value
