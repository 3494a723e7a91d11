"""``gc.math``: graphc's math ops under TensorFlow 2's ``tf.math`` names (only those graphc has).

    gc.math.atan2(y, x), gc.math.cumsum(x, axis=1, reverse=True), gc.math.is_nan(x)
"""
from graphc.ir.ops import (  # noqa: F401  (the namespace re-exports them)
    abs, acos, acosh, add, argmax, argmin, asin, asinh, atan, atan2, atanh, ceil, cos, cumprod, cumsum, divide,
    equal, erf, exp, expm1, floor, floordiv, greater, greater_equal, is_finite, is_inf, is_nan, less, less_equal,
    log, log1p, log_softmax, logical_and, logical_not, logical_or, maximum, minimum, mod, multiply, negative,
    not_equal, power as pow, reciprocal, reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod,
    reduce_std, reduce_sum, reduce_variance, round, rsqrt, segment_mean, segment_sum, sigmoid, sign, sin, softmax,
    softplus, sqrt, square, subtract, tanh, top_k, unsorted_segment_mean, unsorted_segment_sum,
)

floormod = mod  # TensorFlow's name for the remainder with the divisor's sign; tf.math.mod is its alias
