"""Neural-network ops (``gc.nn``), as in ``tf.nn``."""
from graphc.ir.ops import (  # noqa: F401
    gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh,
)
from graphc.ir.ops.conv import avg_pool2d, conv2d, max_pool2d  # noqa: F401,E402
