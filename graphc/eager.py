"""The eager handler: ops outside any traced function run at once with their NumPy implementations."""
from __future__ import annotations

import numpy as np

from graphc.backends.numpy.ops import run_op
from graphc.ir import dispatch
from graphc.ir.boundary import supported_array
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import TensorType, as_dtype, weak_type_of

from .tensor import Tensor, eager_array


def to_array(x) -> np.ndarray:
    """An op input as an array: eager tensors unwrap, Python scalars take their default dtype, arrays of
    dtypes graphc lacks widen (``graphc.ir.boundary``). An array of a supported dtype is returned itself."""
    if isinstance(x, Tensor):
        if x.is_symbolic:
            raise InvalidArgumentError(
                f"the symbolic tensor {x!r} belongs to a traced function and cannot be used outside it: "
                "return it from the function instead"
            )
        return eager_array(x)
    weak = weak_type_of(x)
    return np.asarray(x, dtype=weak.default.numpy) if weak else supported_array(np.asarray(x))


def owned_array(x) -> np.ndarray:
    """``to_array(x)``, copied unless it is a new array (from a list or a scalar, or widened): a tensor
    never shares memory the caller can write."""
    array = to_array(x)
    return np.array(array, copy=True) if array is x or array.base is not None else array


class EagerHandler(dispatch.Handler):
    def lift(self, x) -> Tensor:
        return x if isinstance(x, Tensor) and not x.is_symbolic else Tensor(owned_array(x))

    def process(self, opdef, inputs, attrs):
        arrays = [eager_array(x) for x in inputs]
        out_types = opdef.infer([TensorType(a.shape, as_dtype(a.dtype)) for a in arrays], **attrs)
        if opdef.name == "assign_variable":
            attrs["var"].value = np.array(arrays[0], copy=True)
            return []
        return [Tensor(a) for a in run_op(opdef.name, arrays, attrs, out_types)]


EAGER = EagerHandler()
dispatch.set_default_handler(EAGER)
