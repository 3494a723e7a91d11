"""Neural-network ops (``gc.nn``), as in ``tf.nn``."""
from graphc.ir.ops import (  # noqa: F401
    gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh,
)
from graphc.ir.ops.conv import (  # noqa: F401,E402
    avg_pool2d, conv1d, conv2d, conv2d_transpose, depthwise_conv2d, max_pool2d,
)
