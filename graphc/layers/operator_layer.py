"""``TFOpLambda``: the layer that Python operators on KerasTensors become (``x + y``, ``2 * x``,
``-x``...), as in tf.keras. Its config names the op, which is looked up in a fixed table: loading a
config never runs other code."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError

from .base import Layer, unique_layer_name
from .serialization import register

OPERATOR_OPS = {name: getattr(ops, name) for name in (
    "add", "subtract", "multiply", "divide", "floordiv", "mod", "power", "matmul", "negative", "abs")}


@register
class TFOpLambda(Layer):
    """Applies the op named ``function`` (one of ``OPERATOR_OPS``) to its list of operands."""

    def __init__(self, function, **kwargs):
        if function not in OPERATOR_OPS:
            raise InvalidArgumentError(f"TFOpLambda: function must be one of {sorted(OPERATOR_OPS)}, got {function!r}")
        super().__init__(name=kwargs.pop("name", None) or unique_layer_name(function), **kwargs)
        self.function = function

    def call(self, inputs):
        return OPERATOR_OPS[self.function](*inputs)

    def get_config(self):
        return super().get_config() | {"function": self.function}


def apply_operator(function: str, *operands):
    """``function`` of ``operands`` (KerasTensors and numbers) as a new TFOpLambda layer's call."""
    return TFOpLambda(function)(list(operands))
