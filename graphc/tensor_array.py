"""``gc.TensorArray``: a fixed number of tensors of one shape, written and read by index, as
TensorFlow's — usable eagerly and as a loop variable of compiled loops (``for i in gc.range(n)``).

It is a value: ``write`` returns a new TensorArray (assign it back, ``ta = ta.write(i, x)``, as in
TensorFlow). It holds one buffer tensor of shape ``[size] + element_shape``; a write replaces one row
(``tensor_scatter_nd_update``, which copies the buffer), a read gathers one. Being a named tuple of
that buffer, it passes through ``gc.while_loop`` and AutoGraph loops like any structure of tensors.
"""
from __future__ import annotations

import collections

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_shape
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.types import as_dtype

from .tensor import Tensor, TensorLike, as_tensor


class TensorArray(collections.namedtuple("TensorArray", ["buffer"])):
    """``TensorArray(dtype, size, element_shape=...)``: ``size`` rows (an int known when traced) of
    ``element_shape`` (which a compiled loop needs before its first write; otherwise the first write
    sets it). The size is fixed: ``dynamic_size=True`` is an error."""

    __slots__ = ()

    def __new__(cls, dtype=None, size=None, dynamic_size=False, clear_after_read=True, element_shape=None,
                infer_shape=True, name=None):
        if isinstance(dtype, (Tensor, np.ndarray)) or dtype is None and size is None:  # rebuilt by gc.nest
            return super().__new__(cls, dtype)
        if size is None:
            raise InvalidArgumentError("TensorArray needs a size")
        dtype = as_dtype(dtype)
        if dynamic_size:
            raise InvalidArgumentError("graphc's TensorArray has a fixed size (its buffer is one tensor): give the "
                                       "final size, or collect the values in a Python list eagerly")
        if element_shape is None:
            return super().__new__(cls, _Unwritten(dtype, size))
        return super().__new__(cls, _zeros(size, tuple(as_shape(element_shape, "element_shape")), dtype))

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def dtype(self):
        return self.buffer.dtype

    @property
    def element_shape(self) -> tuple:
        return tuple(self.buffer.shape[1:]) if isinstance(self.buffer, TensorLike) else None

    def size(self):
        """The number of rows, as an int32 tensor."""
        rows = self.buffer.size if isinstance(self.buffer, _Unwritten) else self.buffer.shape[0]
        return ops.constant(np.int32(rows))

    def read(self, index):
        """Row ``index`` (a Python int or a scalar integer tensor)."""
        return self._written("read")[index]

    def gather(self, indices):
        """The rows at ``indices``, stacked."""
        return ops.gather(self._written("gather"), indices)

    def stack(self):
        """Every row, stacked: ``[size] + element_shape``."""
        return ops.identity(self._written("stack"))

    def concat(self):
        """The rows joined along their first axis."""
        buffer = self._written("concat")
        return ops.reshape(buffer, [-1] + list(buffer.shape[2:]))

    # -- writing -----------------------------------------------------------------------------------------
    def write(self, index, value):
        """A TensorArray with row ``index`` set to ``value`` (of the element shape and dtype)."""
        value = as_tensor(value)
        buffer = self.buffer
        if isinstance(buffer, _Unwritten):
            buffer = _zeros(buffer.size, tuple(value.shape), buffer.dtype)
        if value.dtype != buffer.dtype:
            raise InvalidArgumentError(f"TensorArray of {buffer.dtype.name}: cannot write a {value.dtype.name} value")
        if tuple(value.shape) != tuple(buffer.shape[1:]):
            raise ShapeError(f"TensorArray of elements {list(buffer.shape[1:])}: cannot write a value of shape "
                             f"{list(value.shape)}")
        at = ops.reshape(ops.cast(as_tensor(index), "int32"), [1, 1])
        return TensorArray(ops.tensor_scatter_nd_update(buffer, at, ops.expand_dims(value, 0)))

    def unstack(self, value):
        """A TensorArray whose rows are the slices of ``value`` along its first axis."""
        value = as_tensor(value)
        if isinstance(self.buffer, TensorLike) and tuple(value.shape[1:]) != tuple(self.buffer.shape[1:]):
            raise ShapeError(f"TensorArray of elements {list(self.buffer.shape[1:])}: cannot unstack a value of "
                             f"shape {list(value.shape)}")
        return TensorArray(ops.identity(value))

    def _written(self, what: str):
        if isinstance(self.buffer, _Unwritten):
            raise InvalidArgumentError(f"TensorArray.{what}: nothing has been written, so its element shape is "
                                       "unknown (give element_shape)")
        return self.buffer

    def __repr__(self) -> str:
        return f"<gc.TensorArray {self.buffer!r}>"


class _Unwritten:
    """The state of a TensorArray before its first write when its element shape was not given (not
    a tensor: such a TensorArray cannot be a compiled loop's variable)."""

    def __init__(self, dtype, size):
        self.dtype, self.size = dtype, size


def _zeros(size, element_shape: tuple, dtype):
    """Zeros of ``[size] + element_shape``."""
    if isinstance(size, TensorLike) and not getattr(size._as_tensor(), "is_symbolic", True):
        size = int(size._as_tensor().numpy())
    if not isinstance(size, (int, np.integer)) or size < 0:
        raise InvalidArgumentError(f"TensorArray size must be an int >= 0 known when traced, got {size!r}: for a "
                                   "length known only at run time, use gc.map_fn")
    return ops.zeros((int(size), *element_shape), dtype)
