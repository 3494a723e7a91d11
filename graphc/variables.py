"""``gc.Variable``: mutable state shared by eager code and every traced function that uses it."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.boundary import converted, same_kind
from graphc.ir.errors import DTypeError, InPlaceOperatorError, InvalidArgumentError
from graphc.ir.location import user_line
from graphc.ir.state import SharedVariable
from graphc.ir.types import TensorType, as_dtype

from .tensor import Tensor, TensorLike
from .tensor_shape import TensorShape, static_shape
from .tracing import constant_value, init_scope


def _refused_in_place(operator: str, update: str | None = None):
    """An in-place operator of ``Variable`` that raises, as TensorFlow's does: without it Python would
    silently rebind the name to a new tensor, leaving the variable unchanged."""
    update = update or f"assign(variable {operator} value)"

    def refuse(self, other):
        raise InPlaceOperatorError(
            f"`variable {operator}= value` is not supported on gc.Variable {self.name!r}: use "
            f"`variable.{update}` to change the variable, or `out = variable {operator} value` for a new tensor",
            location=user_line(),
        )

    return refuse


class Variable(TensorLike, SharedVariable):
    """A tensor whose value persists and can be assigned: ``gc.Variable(value, trainable=True)``.

    ``value`` is anything ``gc.constant`` accepts, a tensor computed from constants (also inside a
    traced function), or a callable returning one. Traced functions capture variables by
    reference: an assignment made outside a function is seen by its next call without retracing,
    and assignments inside persist. Shape and dtype are fixed at creation.

    Variables may be shared by threads: a read (eager or in a compiled function) sees one whole
    value, one that was assigned; a compiled function publishes all its assignments at once, and
    ``assign_add``/``assign_sub`` (eager or compiled) never lose an update to a concurrent one."""

    def __init__(self, initial_value, trainable: bool = True, name: str | None = None, dtype=None):
        with init_scope():
            value = initial_value() if callable(initial_value) else initial_value
            array = _initial_array(value, dtype)
        self.type = TensorType(array.shape, as_dtype(array.dtype))
        super().__init__(array)
        self.trainable = bool(trainable)
        self.name = name or "Variable"

    # -- the user API -------------------------------------------------------------------------------
    def _as_tensor(self) -> Tensor:
        return self.read_value()

    def read_value(self) -> Tensor:
        """The current value (a symbolic read inside a traced function)."""
        return ops.read_variable(self)

    def assign(self, value) -> "Variable":
        """Sets the value. Tensors must have the variable's dtype; Python numbers, lists and NumPy
        arrays are converted to it when that loses no kind (no float into an int variable)."""
        ops.assign_variable(self, self._assignable(value))
        return self

    def assign_add(self, delta) -> "Variable":
        with self.write_lock:  # eagerly, nobody assigns between the read and the assignment
            return self.assign(ops.add(self.read_value(), self._assignable(delta)))

    def assign_sub(self, delta) -> "Variable":
        with self.write_lock:
            return self.assign(ops.subtract(self.read_value(), self._assignable(delta)))

    def __getitem__(self, index) -> "SlicedValue":
        """``variable[index]``: the slice's current value, a tensor that can also be assigned, as in
        TensorFlow: ``v[1, 2].assign(9)``, ``v[:, 0].assign_add(delta)``."""
        return SlicedValue.of(self, index)

    def numpy(self) -> np.ndarray:
        """A copy of the current value (eagerly; inside a traced function this raises)."""
        return self.read_value().numpy()

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    @property
    def shape(self) -> TensorShape:
        return static_shape(self.type.shape)

    def _assignable(self, value):
        """``value`` as an operand of an assignment: tensors as they are, other values converted when
        that keeps every value (``graphc.ir.boundary``): no float into an int variable, no int out of its range."""
        if isinstance(value, TensorLike):
            return value._as_tensor()
        array = np.asarray(value)
        reason = "another kind of number"
        if same_kind(array.dtype, self.type.dtype):
            try:
                return converted(array, self.type.dtype)
            except DTypeError as error:
                reason = error.message
        raise DTypeError(
            f"cannot assign {type(value).__name__} of dtype {array.dtype} to variable {self.name!r} of "
            f"type {self.type}: {reason}",
            location=user_line(),
        )

    __iadd__ = _refused_in_place("+", "assign_add(value)")
    __isub__ = _refused_in_place("-", "assign_sub(value)")
    __imul__ = _refused_in_place("*")
    __itruediv__ = _refused_in_place("/")
    __ifloordiv__ = _refused_in_place("//")
    __imod__ = _refused_in_place("%")
    __ipow__ = _refused_in_place("**")
    __imatmul__ = _refused_in_place("@")
    __iand__ = _refused_in_place("&")
    __ior__ = _refused_in_place("|")

    def __repr__(self) -> str:
        return (
            f"<gc.Variable {self.name!r} shape={self.type.shape} dtype={self.type.dtype.name}, "
            f"numpy={np.array2string(self.value, separator=', ')}>"
        )


def _initial_array(value, dtype) -> np.ndarray:
    """The initial value as an array of ``dtype`` (default: the value's, as ``gc.constant`` infers it)."""
    if isinstance(value, Variable):
        array = value.value
    elif isinstance(value, Tensor):
        array = constant_value(value)
        if array is None:
            raise InvalidArgumentError(
                "Variable: the initial value depends on a traced function's inputs or variables; create the "
                "variable from constants or a callable, or outside the function",
                location=user_line(),
            )
    else:
        array = ops.constant(value, dtype).numpy()
    return array if dtype is None else converted(array, as_dtype(dtype))



class SlicedValue(TensorLike):
    """A slice of a variable's current value (basic indexing: ints, slices, None, Ellipsis): it
    computes as that tensor, and ``assign``/``assign_add``/``assign_sub`` write the slice back
    into the variable. Each assignment reads the whole variable and writes it back with the slice
    replaced, holding the variable's write lock in between."""

    __slots__ = ("_tensor", "_variable", "_index")

    @classmethod
    def of(cls, variable: Variable, index) -> "SlicedValue":
        sliced = cls()
        sliced._tensor = ops.getitem(variable.read_value(), index)
        sliced._variable, sliced._index = variable, index
        return sliced

    def _as_tensor(self) -> Tensor:
        return self._tensor

    @property
    def type(self) -> TensorType:
        return self._tensor.type

    def numpy(self) -> np.ndarray:
        return self._tensor.numpy()

    def __array__(self, dtype=None, copy=None):
        return self._tensor.__array__(dtype)

    def __repr__(self) -> str:
        return f"<slice {self._index!r} of {self._variable!r}: {self._tensor!r}>"

    def assign(self, value) -> Variable:
        """Sets the slice (``value`` broadcast to its shape); returns the variable."""
        var = self._variable
        with var.write_lock:
            return var.assign(self._replaced(var.read_value(), var._assignable(value)))

    def assign_add(self, delta) -> Variable:
        var = self._variable
        with var.write_lock:
            current = var.read_value()
            updated = ops.add(ops.getitem(current, self._index), var._assignable(delta))
            return var.assign(self._replaced(current, updated))

    def _replaced(self, current, update):
        """``current`` with the slice replaced by ``update``. An index with scalar integer tensors
        (``v[i]`` in a compiled loop) may mix them with ints and full slices only: the slice is then
        selected with ``where`` on a mask of the positions it covers."""
        items = self._index if isinstance(self._index, tuple) else (self._index,)
        if not any(isinstance(item, TensorLike) for item in items):
            return ops.scatter_slice(current, update, self._index)
        if any(not (isinstance(item, (TensorLike, int, np.integer)) or _is_full_slice(item)) for item in items):
            raise InvalidArgumentError(f"assigning to {self._variable.name!r}[{self._index!r}]: with an index tensor, "
                                       "the other index items must be ints or ':'")
        mask, update = None, ops.cast(update, self._variable.dtype) if not isinstance(update, TensorLike) else update
        shape = current.shape
        for axis, item in enumerate(items):
            if _is_full_slice(item):
                continue
            update = ops.expand_dims(update, axis)  # the axis the int or tensor removed
            # row ``item`` of the identity: a negative index counts from the end, one out of range is
            # gather's error at run time
            hit = ops.gather(ops.constant(np.eye(shape[axis], dtype=bool)), item)
            hit = ops.reshape(hit, [-1] + [1] * (len(shape) - axis - 1))
            mask = hit if mask is None else ops.logical_and(mask, hit)
        return ops.where(mask, ops.broadcast_to(update, shape), current)

    def assign_sub(self, delta) -> Variable:
        return self.assign_add(ops.negative(self._variable._assignable(delta)))


def _is_full_slice(item) -> bool:
    return isinstance(item, slice) and item == slice(None)
