"""``gc.activations``: activation functions by Keras name, for ``Dense(..., activation="relu")``."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.ops import nn as nn_ops
from graphc.ir.errors import InvalidArgumentError

from .saving.registry import function_name, get_registered_object

__all__ = [
    "elu", "gelu", "get", "leaky_relu", "linear", "log_softmax", "relu", "selu", "serialize", "sigmoid",
    "softmax", "softplus", "swish", "tanh",
]


def linear(x):
    """The identity (no activation)."""
    return x


def relu(x):
    """``max(x, 0)``."""
    return ops.relu(x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return ops.sigmoid(x)


def tanh(x):
    """The hyperbolic tangent."""
    return ops.tanh(x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` over ``axis``."""
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` over ``axis``, computed stably."""
    return ops.log_softmax(x, axis)


def softplus(x):
    """``log(1 + exp(x))``."""
    return ops.softplus(x)


def gelu(x, approximate=False):
    """The Gaussian error linear unit (``approximate``: the tanh form)."""
    return ops.gelu(x, approximate)


def swish(x):
    """``x * sigmoid(x)`` (also called silu)."""
    return nn_ops.silu(x)


def elu(x, alpha=1.0):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    result = nn_ops.elu(x)
    return result if alpha == 1 else ops.where(ops.greater(x, 0), result, ops.multiply(alpha, result))


def selu(x):
    """``scale * elu(x, alpha)`` with the self-normalizing constants (``gc.nn.selu``)."""
    return nn_ops.selu(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""
    return nn_ops.leaky_relu(x, negative_slope)


_BY_NAME = {
    f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, log_softmax, softplus, gelu, swish, elu, selu,
                            leaky_relu)
} | {"silu": swish}


def get(identifier):
    """The activation function of a name (None and ``"linear"``: identity) or a callable."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    registered = get_registered_object(identifier) if isinstance(identifier, str) else None
    if callable(registered) and not isinstance(registered, type):
        return registered
    raise InvalidArgumentError(f"unknown activation {identifier!r}; known: {', '.join(sorted(_BY_NAME))}")


def serialize(activation) -> str:
    """The name of a built-in activation (configs store names only)."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "gelu"):
        if getattr(ops, name, None) is activation:
            return name
    for name in ("elu", "selu", "leaky_relu", "silu"):  # gc.nn's functions, the activations of their names
        if getattr(nn_ops, name) is activation:
            return name
    return function_name(activation, "activation", {})
