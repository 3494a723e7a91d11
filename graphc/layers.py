"""``gc.layers``: Keras-style layers. A ``Layer`` creates its weights lazily, from the shape of its
first input (``build``), and computes in ``call``; calling it runs ``call`` inside its name scope.

    class Linear(gc.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return gc.matmul(inputs, self.w) + self.b
"""
from __future__ import annotations

import collections
import functools
import inspect
import json
import threading

import numpy as np

from graphc.ir import dispatch, ops
from graphc.ir.arguments import arguments_of, as_int, as_shape, as_size
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.graph import Graph
from graphc.ir.ops import conv as conv_ops
from graphc.ir.types import as_dtype, float32

from . import activations, initializers, nest, regularizers
from . import random as gc_random
from .module import Module, snake_case, trackable_leaves
from .tensor import Tensor, TensorLike
from .tracing import TensorSpec, TraceHandler, init_scope, placeholder
from .variables import Variable

_name_counts: collections.Counter = collections.Counter()


def unique_layer_name(base: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``... (one counter per base name, as Keras)."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


class _CallStack(threading.local):
    """The ``training`` flag of each layer call in progress, innermost last."""

    def __init__(self):
        self.frames: list = []


_CALLS = _CallStack()


class Layer(Module):
    """The base layer, as ``tf.keras.layers.Layer``.

    Subclasses create weights in ``__init__`` or, from the input shape, in ``build(input_shape)``
    with ``add_weight``, and compute in ``call(inputs, ...)``. A ``training`` argument of ``call`` is
    filled in from the enclosing layer's call when not given. ``add_loss`` in ``call`` adds to
    ``losses`` (cleared on each outermost call), with the weights' regularization penalties."""

    _untracked_attributes = frozenset({
        "_own_weights", "_regularizers", "_call_losses", "_callable_losses", "_init_arguments",
    })

    def __init__(self, trainable=True, name=None, dtype=None, activity_regularizer=None, input_shape=None,
                 input_dim=None, batch_input_shape=None):
        super().__init__(name or unique_layer_name(snake_case(type(self).__name__)))
        self._trainable = bool(trainable)
        self._dtype = as_dtype(dtype or float32)
        self.built = False
        self._own_weights: list[tuple[str, Variable, bool]] = []  # (name, weight, named by the caller)
        self._regularizers: list = []
        self._call_losses: list = []
        self._callable_losses: list = []
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._batch_input_shape = _batch_shape(input_shape, input_dim, batch_input_shape)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_init(cls.__dict__["__init__"])

    # -- properties ----------------------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """A layer that is not trainable lists all its weights (and its sub-layers') as non-trainable."""
        self._trainable = bool(value)

    @property
    def layers(self) -> list["Layer"]:
        """The layers directly inside this one."""
        seen, out = set(), []
        for child in self._trackable_children().values():
            for leaf in trackable_leaves(child):
                if isinstance(leaf, Layer) and id(leaf) not in seen:
                    seen.add(id(leaf))
                    out.append(leaf)
        return out

    # -- weights ---------------------------------------------------------------------------------
    def add_weight(self, shape=(), initializer=None, dtype=None, trainable=True, regularizer=None, name=None):
        """A new weight variable of this layer: ``initializer`` (a name such as ``"zeros"`` or
        ``"glorot_uniform"``, the default for floats, or a callable ``(shape, dtype)``) gives its value;
        ``regularizer`` adds ``regularizer(weight)`` to ``losses``."""
        dtype = as_dtype(dtype or self.dtype)
        shape = as_shape(shape, one_int=True)
        init = initializers.get(initializer if initializer is not None else (
            "glorot_uniform" if dtype.is_floating else "zeros"))
        short = self._unique_weight_name(name or "weight")
        var = Variable(lambda: init(shape, dtype), trainable=trainable, name=f"{self.name}/{short}", dtype=dtype)
        self._own_weights.append((short, var, name is not None))
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularizers.append((var, reg))
        return var

    def _unique_weight_name(self, name: str) -> str:
        taken = {n for n, _, _ in self._own_weights}
        unique, n = name, 1
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        return unique

    def _trackable_children(self) -> dict:
        """Own weights first (by name; an unnamed weight held by an attribute goes by the attribute's
        name, as in ``self.w = self.add_weight(...)``), then the other tracked attributes."""
        attributes = super()._trackable_children()
        attribute_of = {id(v): k for k, v in attributes.items() if isinstance(v, Variable)}
        children = {}
        for short, var, named in self._own_weights:
            key = short if named else attribute_of.get(id(var), short)
            children[key if key not in children else short] = var
        for key, value in attributes.items():
            if key in children and children[key] is not value:
                key = f"{key}_attribute"
            children.setdefault(key, value)
        return children

    def _weights_and_trainability(self) -> list[tuple[Variable, bool]]:
        out, seen = [], set()

        def collect(layer, trainable):
            for child in layer._trackable_children().values():
                for leaf in trackable_leaves(child):
                    if id(leaf) in seen:
                        continue
                    seen.add(id(leaf))
                    if isinstance(leaf, Variable):
                        out.append((leaf, trainable and leaf.trainable))
                    elif isinstance(leaf, Layer):
                        collect(leaf, trainable and leaf.trainable)
                    elif isinstance(leaf, Module) and leaf._holds_weights:
                        out.extend((v, trainable and v.trainable) for v in leaf.variables if id(v) not in seen)
                        seen.update(id(v) for v in leaf.variables)

        collect(self, self.trainable)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for v, t in self._weights_and_trainability() if t]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for v, t in self._weights_and_trainability() if not t]

    @property
    def weights(self) -> list[Variable]:
        """Trainable weights first, then the others, each in creation order."""
        return self.trainable_weights + self.non_trainable_weights

    trainable_variables = trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.variables if id(v) not in trainable]

    def count_params(self) -> int:
        return int(sum(np.prod(v.shape, dtype=np.int64) for v in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """The values of ``weights``, as NumPy arrays."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights) -> None:
        """Sets ``weights`` from arrays in the order of ``get_weights``; nothing changes unless every
        array fits (count, shape, dtype kind)."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise InvalidArgumentError(
                f"set_weights: layer {self.name!r} has {len(params)} weights, got {len(weights)} arrays"
            )
        arrays, problems = [], []
        for var, value in zip(params, weights):
            array = np.asarray(value)
            if array.shape != tuple(var.shape):
                problems.append(f"{var.name}: expected shape {tuple(var.shape)}, got {array.shape}")
            elif not np.can_cast(array.dtype, var.dtype.numpy, "same_kind"):
                problems.append(f"{var.name}: cannot store {array.dtype} values in a {var.dtype.name} weight")
            arrays.append(array)
        if problems:
            raise InvalidArgumentError(f"set_weights: nothing was changed: {'; '.join(problems)}")
        with init_scope():
            for var, array in zip(params, arrays):
                var.assign(array.astype(var.dtype.numpy))

    # -- losses ----------------------------------------------------------------------------------
    def add_loss(self, loss) -> None:
        """Adds ``loss`` (a scalar tensor computed in ``call``, or a callable returning one) to ``losses``."""
        (self._callable_losses if callable(loss) else self._call_losses).append(loss)

    @property
    def losses(self) -> list:
        """The losses added in the last outermost call, then the weights' regularization penalties
        and callable losses, of this layer and every layer inside it."""
        out = []
        for layer in self._self_and_sublayers():
            out += layer._call_losses
            out += [reg(var) for var, reg in layer._regularizers]
            out += [fn() for fn in layer._callable_losses]
        return out

    def _self_and_sublayers(self) -> list["Layer"]:
        return [self] + [m for m in self.submodules if isinstance(m, Layer)]

    def _clear_call_losses(self) -> None:
        for layer in self._self_and_sublayers():
            layer._call_losses.clear()

    # -- calling ---------------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Creates the weights for inputs of ``input_shape`` (a tuple; None for unknown sizes)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The layer's computation (the base layer returns its inputs)."""
        return inputs

    def _traced_call(self):
        """``call``, converted by autograph while a function is being traced (so Python ``if`` and
        ``while`` on tensors in a custom layer become graph control flow, as in the function itself)."""
        from .autograph import convert
        from .tracing import current_trace

        return convert(self.call) if current_trace() is not None else self.call

    def __call__(self, *args, **kwargs):
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args:
            raise InvalidArgumentError(f"layer {self.name!r} was called without inputs")
        inputs = nest.map_structure(self._convert_input, args[0])
        frames = _CALLS.frames
        if not frames:
            self._clear_call_losses()
        training = kwargs.get("training")
        if training is None and frames:
            training = frames[-1]
        frames.append(training)
        try:
            if not self.built:
                self._build_on_first_call(inputs)
            outputs = self._traced_call()(inputs, *args[1:], **self._call_kwargs(kwargs, training))
            if getattr(self, "_output_shape", None) is None:
                self._output_shape = nest.map_structure(
                    lambda t: tuple(t.shape) if isinstance(t, TensorLike) else None, outputs)
            if self.activity_regularizer is not None:
                for leaf in nest.flatten(outputs):
                    self.add_loss(self.activity_regularizer(leaf))
        finally:
            frames.pop()
        return outputs

    def _convert_input(self, x):
        """Arrays and Python values become tensors; floating inputs take the layer's dtype."""
        if isinstance(x, TensorLike):
            x = x._as_tensor()
        elif isinstance(x, (np.ndarray, np.generic, list, float, int)):
            array = np.asarray(x)
            x = ops.constant(array, self.dtype if array.dtype.kind == "f" else None)
        else:
            return x
        if x.dtype.is_floating and x.dtype != self.dtype:
            x = ops.cast(x, self.dtype)
        return x

    def _call_kwargs(self, kwargs: dict, training) -> dict:
        kwargs = dict(kwargs)
        kwargs.pop("training", None)
        params = inspect.signature(self.call).parameters
        accepts = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        if accepts and training is not None:
            kwargs["training"] = training
        return kwargs

    def _build_on_first_call(self, inputs) -> None:
        shape = nest.map_structure(lambda t: tuple(t.shape) if isinstance(t, Tensor) else None, inputs)
        with init_scope():
            self.build(shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """The output shape for inputs of ``input_shape`` (a symbolic call; builds the layer)."""
        return symbolic_call(self, input_shape, self.dtype)

    # -- configuration -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (without its weights), JSON-friendly.

        A subclass that does not override this gets the arguments its constructor was called with."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if type(self).get_config is Layer.get_config:
            config.update(self._recorded_arguments())
        return config

    def _recorded_arguments(self) -> dict:
        arguments = dict(self.__dict__.get("_init_arguments", {}))
        bad = [k for k, v in arguments.items() if not _json_friendly(v)]
        if bad:
            raise TypeError(
                f"{type(self).__name__}.get_config: constructor arguments {bad} are not plain data "
                "(numbers, strings, lists, dicts); override get_config to describe them"
            )
        return arguments

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """A new layer from ``get_config()``'s dict. Entries the constructor does not take (such as
        ``name`` for a subclass without ``**kwargs``) are set on the new layer instead."""
        config = dict(config)
        params = inspect.signature(cls.__init__).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        accepted = {k: v for k, v in config.items() if takes_all or k in params}
        layer = cls(**accepted)
        if "name" in config and "name" not in accepted:
            layer._name = config["name"]
        if "trainable" in config and "trainable" not in accepted:
            layer.trainable = config["trainable"]
        return layer

    def __repr__(self) -> str:
        return f"<gc.layers.{type(self).__name__} {self.name!r}>"


def _recording_init(init):
    """Wraps a subclass's ``__init__`` to remember the arguments of the outermost call (for
    ``get_config``)."""

    @functools.wraps(init)
    def recording_init(self, *args, **kwargs):
        if "_init_arguments" not in self.__dict__:
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            arguments = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = inspect.signature(init).parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    arguments[name] = value
            self.__dict__["_init_arguments"] = arguments
        with arguments_of(type(self).__name__):
            init(self, *args, **kwargs)

    return recording_init


def _json_friendly(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _batch_shape(input_shape, input_dim, batch_input_shape):
    if batch_input_shape is not None:
        return as_shape(batch_input_shape, "batch_input_shape", unknown=True)
    if input_shape is not None:
        return (None,) + as_shape(input_shape, "input_shape", one_int=True, unknown=True)
    if input_dim is not None:
        return (None, as_size(input_dim, "input_dim"))
    return None


def symbolic_call(layer: Layer, batch_shape, dtype=float32, training=False):
    """Calls ``layer`` on a placeholder of ``batch_shape`` (None: any size) in a throw-away graph, which
    builds it; returns the output shape(s). Nothing runs, so state is not changed."""
    graph = Graph(f"{layer.name}_build")
    x = placeholder(graph, TensorSpec(list(batch_shape), dtype), "inputs")
    with dispatch.handler(TraceHandler(graph)):
        outputs = layer(x, training=training)
    layer._clear_call_losses()  # they belong to the throw-away graph
    return nest.map_structure(lambda t: tuple(t.shape), outputs)


# -- the input ----------------------------------------------------------------------------------------
class InputLayer(Layer):
    """The input of a ``Sequential`` model: its shape with the batch dimension (None: any)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        if batch_shape is None:
            if shape is None:
                raise InvalidArgumentError("Input needs a shape (without the batch dimension) or a batch_shape")
            batch_size = None if batch_size is None else as_int(batch_size, "batch_size", low=1)
            batch_shape = (batch_size,) + as_shape(shape, one_int=True, unknown=True)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = as_shape(batch_shape, "batch_shape", unknown=True)
        self.built = True

    @property
    def shape(self) -> tuple:
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype.name, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None) -> InputLayer:
    """The input of a ``gc.Sequential`` model, as ``tf.keras.Input``: ``shape`` excludes the batch
    dimension. (graphc has no functional API: use ``Sequential`` or subclass ``gc.Model``.)"""
    return InputLayer(shape, batch_size, dtype, name, batch_shape)


# -- core layers --------------------------------------------------------------------------------------
def _last_dim(input_shape, layer: Layer) -> int:
    last = input_shape[-1] if input_shape else None
    if last is None:
        raise ShapeError(f"layer {layer.name!r} needs inputs whose last dimension is known, got shape {input_shape}")
    return int(last)


def _set_kernel_options(layer, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                        bias_regularizer) -> None:
    """The options Dense and Conv2D share: activation, bias, and their weights' initializers and regularizers."""
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis of the inputs."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = as_int(units, "units", low=1)
        _set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer,
                            kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        self.kernel = self.add_weight((_last_dim(input_shape, self), self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        self.bias = (self.add_weight((self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                                     name="bias") if self.use_bias else None)

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class Activation(Layer):
    """Applies an activation function (a name from ``gc.activations`` or a callable)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return super().get_config() | {"activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Reshapes ``[batch, d1, d2, ...]`` to ``[batch, d1 * d2 * ...]``."""

    def call(self, inputs):
        rest = inputs.shape[1:]
        if any(d is None for d in rest):
            raise ShapeError(f"Flatten needs every dimension but the batch known, got {inputs.shape}")
        return ops.reshape(inputs, [-1, int(np.prod(rest, dtype=np.int64))])


class Reshape(Layer):
    """Reshapes each example to ``target_shape`` (which may hold one -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = as_shape(target_shape, "target_shape", inferred=True)

    def call(self, inputs):
        size = int(np.prod(inputs.shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if self.target_shape.count(-1) > 1 or (known and size % known) or (-1 not in self.target_shape and known != size):
            raise ShapeError(f"layer {self.name!r} cannot reshape examples of shape {inputs.shape[1:]} to {self.target_shape}")
        target = [size // known if d == -1 else d for d in self.target_shape]
        return ops.reshape(inputs, [-1] + target)

    def get_config(self):
        return super().get_config() | {"target_shape": list(self.target_shape)}


class Dropout(Layer):
    """While training, zeroes each input with probability ``rate`` and scales the others by
    ``1 / (1 - rate)``; otherwise the identity. Random numbers come from the global generator, or
    from a generator of its own when ``seed`` is given; either way each call of a compiled
    function draws a fresh mask."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise InvalidArgumentError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.generator = None if seed is None else gc_random.Generator.from_seed(seed, f"{self.name}_generator")

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        generator = self.generator or gc_random.get_global_generator()
        keep = ops.greater_equal(generator.uniform_like(inputs), self.rate)
        return ops.where(keep, ops.divide(inputs, 1.0 - self.rate), ops.zeros_like(inputs))

    def get_config(self):
        return super().get_config() | {"rate": self.rate, "seed": self.seed}


class BatchNormalization(Layer):
    """Normalizes over the batch (and every axis but ``axis``): with the batch's statistics while
    training, which also updates the moving mean and variance (non-trainable weights:
    ``moving = moving * momentum + batch * (1 - momentum)``), with the moving statistics otherwise. A
    layer set ``trainable = False`` always uses the moving statistics (as Keras)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = as_int(axis, "axis"), float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"layer {self.name!r}: axis {self.axis} is out of range for inputs of shape {input_shape}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ShapeError(f"layer {self.name!r} needs the size of axis {self.axis} known, got shape {input_shape}")
        shape = (int(dim),)
        self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                    name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")

    def call(self, inputs, training=False):
        rank = len(inputs.shape)
        axis = self.axis % rank
        reduce_axes = [a for a in range(rank) if a != axis]
        broadcast = [1 if a != axis else -1 for a in range(rank)]
        if training and self.trainable:
            mean = ops.reduce_mean(inputs, reduce_axes)
            variance = ops.reduce_variance(inputs, reduce_axes)
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(ops.add(ops.multiply(moving, self.momentum), ops.multiply(batch, 1.0 - self.momentum)))
        else:
            mean, variance = self.moving_mean.read_value(), self.moving_variance.read_value()
        factor = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.gamma is not None:
            factor = ops.multiply(factor, self.gamma)
        shift = ops.negative(ops.multiply(mean, factor))
        if self.beta is not None:
            shift = ops.add(shift, self.beta)
        return ops.add(ops.multiply(inputs, ops.reshape(factor, broadcast)), ops.reshape(shift, broadcast))

    def get_config(self):
        return super().get_config() | {
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


# -- convolution and pooling (NHWC) ---------------------------------------------------------------------
class Conv2D(Layer):
    """2-D convolution of NHWC images with ``filters`` kernels of ``kernel_size``; ``padding`` is
    ``"valid"`` or ``"same"``. Computed as image patches times the kernel matrix (im2col)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = as_int(filters, "filters", low=1)
        self.kernel_size = conv_ops.pair(kernel_size, "kernel_size")
        self.strides = conv_ops.pair(strides, "strides")
        self.padding = _padding_mode(padding)
        _set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer,
                            kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} expects images [batch, height, width, channels], got shape {input_shape}")
        shape = self.kernel_size + (_last_dim(input_shape, self), self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, regularizer=self.kernel_regularizer, name="kernel")
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                                     name="bias") if self.use_bias else None)

    def call(self, inputs):
        outputs = conv_ops.conv2d(inputs, self.kernel, self.strides, self.padding)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def get_config(self):
        return super().get_config() | {
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


def _padding_mode(padding) -> str:
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise InvalidArgumentError(f"padding must be 'valid' or 'same', got {padding!r}")
    return mode


class _Pooling2D(Layer):
    _pool = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = conv_ops.pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else conv_ops.pair(strides, "strides")
        self.padding = _padding_mode(padding)

    def call(self, inputs):
        return type(self)._pool(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return super().get_config() | {
            "pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding,
        }


class MaxPool2D(_Pooling2D):
    """The maximum over each ``pool_size`` window of NHWC images (strides default to the window)."""

    _pool = staticmethod(conv_ops.max_pool2d)


class AveragePool2D(_Pooling2D):
    """The mean over each ``pool_size`` window of NHWC images (with ``"same"``, of the elements inside)."""

    _pool = staticmethod(conv_ops.avg_pool2d)


MaxPooling2D, AveragePooling2D = MaxPool2D, AveragePool2D


# -- serialization ---------------------------------------------------------------------------------------
_REGISTRY: dict[str, type] = {
    cls.__name__: cls for cls in (
        Layer, InputLayer, Dense, Activation, Flatten, Reshape, Dropout, BatchNormalization, Conv2D,
        MaxPool2D, AveragePool2D,
    )
} | {"MaxPooling2D": MaxPool2D, "AveragePooling2D": AveragePool2D}


def register(cls: type) -> type:
    """Makes a layer class known to ``deserialize`` (also usable as a class decorator)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """A new layer from ``serialize``'s dict; ``custom_objects`` maps class names to your classes."""
    classes = {**_REGISTRY, **(custom_objects or {})}
    name = config.get("class_name")
    if name not in classes:
        raise InvalidArgumentError(
            f"unknown layer class {name!r}: pass it in custom_objects={{{name!r}: {name}}} or gc.layers.register it"
        )
    return classes[name].from_config(config.get("config", {}))
