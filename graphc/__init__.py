"""graphc: NumPy-style tensor code in the TensorFlow 2 style, traced into typed graphs and compiled.

    import graphc as gc

    @gc.function
    def predict(x, w, b):
        return gc.nn.sigmoid(gc.matmul(x, w) + b)
"""
import importlib

from graphc.ir import location as _location
from graphc.ir.graph import set_display as _set_display

_location.register_internal_dir(__file__)

from graphc.backends import numpy as _numpy_backend  # noqa: E402  (registers the NumPy kernels)
from graphc.ir.dispatch import name_scope  # noqa: E402
from graphc.ir.ops import (  # noqa: E402
    TABLED_OPS as _TABLED_OPS, argmax, argmin, argsort, boolean_mask, broadcast_to, cast, clip_by_value, concat,
    constant, cumprod, cumsum, einsum, expand_dims, eye, fill, gather, gather_nd, gelu, identity, log_softmax,
    matmul, mean, norm, one_hot, ones, ones_like, reciprocal, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
    reduce_prod, reduce_std, reduce_sum, reduce_variance, reshape, scatter_nd, softmax, softplus, sort, split,
    squeeze, stack, stop_gradient, tensor_scatter_nd_add, tensor_scatter_nd_update, transpose, unstack, where,
    zeros, zeros_like,
)

globals().update(_TABLED_OPS)  # abs, add, ..., exp, ..., power: the ops of the elementwise tables
from graphc.ir.ops import (  # noqa: E402  (shape and layout)
    linspace, meshgrid, pad, rank, repeat, reverse, roll, size, slice_ as slice, strided_slice, tile,
)
from graphc.ir.ops.metadata import shape  # noqa: E402
from graphc.tensor_shape import TensorShape  # noqa: E402
from graphc.ir.ops.clipping import clip_by_global_norm, clip_by_norm  # noqa: E402
from graphc.ir.types import DType, bool_ as bool, float16, float32, float64, int8, int16, int32, int64, uint8, uint16  # noqa: E402

from . import config, errors, nn  # noqa: E402
from .function import ConcreteFunction, Function, RetracingWarning, function  # noqa: E402
from .control_flow import cond, range, while_loop  # noqa: E402  (range: tensor bounds allowed)
from . import autograph  # noqa: E402
from .custom_gradient import custom_gradient  # noqa: E402
from .map_fn import map_fn, vectorized_map  # noqa: E402
from .script_ops import numpy_function, py_function  # noqa: E402
from .printing import print  # noqa: E402,A001
from .gradients import grad, hessian, jvp, value_and_grad  # noqa: E402
from .tape import GradientTape  # noqa: E402
from .tensor import Tensor  # noqa: E402
from .tracing import TensorSpec, init_scope  # noqa: E402
from .variables import Variable  # noqa: E402
from .module import Module  # noqa: E402

# The Keras side, the data pipeline and the pictures load on first use (``gc.layers``, ``gc.Model``,
# ``gc.viz``...), so that importing graphc stays fast.
_LAZY_MODULES = (
    "activations", "callbacks", "data", "initializers", "layers", "linalg", "losses", "math", "metrics",
    "optimizers", "random", "regularizers", "summary", "train", "utils", "viz",
    "models", "saving",
)
_LAZY_MODULES += ("onnx",)  # gc.onnx: export to and load from ONNX (the onnx package loads on first use)
_LAZY_MODULES += ("distribute",)  # gc.distribute: training and inference on Ray (Ray loads on first use)
# name -> (module, attribute): loaded on first use; TensorFlow's initializer aliases among them
_LAZY_NAMES = {
    "Input": ("layers", "Input"), "Model": ("models", "Model"), "Sequential": ("models", "Sequential"),
    "TensorArray": ("tensor_array", "TensorArray"),
    "constant_initializer": ("initializers", "Constant"), "ones_initializer": ("initializers", "Ones"),
    "random_normal_initializer": ("initializers", "RandomNormal"),
    "random_uniform_initializer": ("initializers", "RandomUniform"), "zeros_initializer": ("initializers", "Zeros"),
}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_NAMES:
        module, attribute = _LAZY_NAMES[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_MODULES, *_LAZY_NAMES])


def _graph_mimebundle(graph) -> dict:
    """Notebooks show graphs as pictures (``graphc.viz``, loaded then)."""
    return importlib.import_module("graphc.viz.notebook").graph_mimebundle(graph)


_set_display(_graph_mimebundle)
__version__ = "0.1.0"

# NumPy-style aliases
sum, max, min, prod = reduce_sum, reduce_max, reduce_min, reduce_prod  # and mean: NumPy's (integers as floats)
pow, clip, concatenate, arange = power, clip_by_value, concat, range  # noqa: F821  (power: a tabled op)
logsumexp, var, std = reduce_logsumexp, reduce_variance, reduce_std
bool_ = bool
half = float16  # TensorFlow's name


def convert_to_tensor(value, dtype=None) -> Tensor:
    """``value`` (array, list, scalar, tensor or variable) as a tensor of ``dtype``."""
    if isinstance(value, Variable):
        value = value.read_value()
    if isinstance(value, Tensor):
        return value if dtype is None else cast(value, dtype)
    return constant(value, dtype)


def asarray(value, dtype=None) -> Tensor:
    """NumPy's name for ``convert_to_tensor``."""
    return convert_to_tensor(value, dtype)
