"""Neural-network ops (``gc.nn``), as in ``tf.nn``."""
from graphc.ir.ops import (  # noqa: F401
    gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh,
)
