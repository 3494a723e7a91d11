"""The base ``Layer``: weights created lazily from the first input's shape, losses, calling in the
layer's name scope, and configuration (``get_config``/``from_config``)."""
from __future__ import annotations

import collections
import inspect
import threading

import numpy as np

from graphc.ir import dispatch, ops
from graphc.ir.arguments import as_shape, as_size
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.types import as_dtype, float32

from .. import initializers, nest, regularizers
from ..autograph import convert
from ..module import Module, recorded_arguments, recording_arguments, snake_case, trackable_leaves
from ..tensor import Tensor, TensorLike
from ..tracing import TensorSpec, TraceHandler, current_trace, init_scope, placeholder
from ..variables import Variable
from .keras_tensor import call_on_keras_tensors, holds_keras_tensors
from .serialization import register

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


@register
class Layer(Module):
    """The base layer, as ``tf.keras.layers.Layer``.

    Subclasses create weights in ``__init__`` or, from the input shape, in ``build(input_shape)``
    with ``add_weight``, and compute in ``call(inputs, ...)``. A ``training`` argument of ``call`` is
    filled in from the enclosing layer's call when not given. ``add_loss`` in ``call`` adds to
    ``losses`` (cleared on each outermost call), with the weights' regularization penalties."""

    _untracked_attributes = frozenset({
        "_own_weights", "_regularizers", "_call_losses", "_callable_losses", "_inbound_nodes"})
    supports_masking = False  # an input mask passes through unchanged (Keras's masking)

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
        self._inbound_nodes: list = []  # the layer's calls on KerasTensors (the functional API)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = recording_arguments(cls.__dict__["__init__"])

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

    @property
    def output_shape(self):
        """The shape (or structure of shapes) of the outputs of the layer's first call; None before it."""
        return getattr(self, "_output_shape", None)

    # -- the functional API's calls -------------------------------------------------------------
    @property
    def input(self):
        """The inputs (KerasTensors) of the layer's only call on KerasTensors."""
        return self.get_input_at(self._only_node("input"))

    @property
    def output(self):
        """The outputs (KerasTensors) of the layer's only call on KerasTensors."""
        return self.get_output_at(self._only_node("output"))

    @property
    def inbound_nodes(self) -> list:
        """The layer's calls on KerasTensors (``gc.layers.keras_tensor.Node``), in order; each call
        appends its node (entries are never removed: KerasTensors refer to them by index)."""
        return self._inbound_nodes

    def get_input_at(self, node_index: int):
        """The inputs of the layer's call number ``node_index`` on KerasTensors."""
        node = self._node_at(node_index, "input")
        return node.call_args[0] if node.call_args else node.outputs

    def get_output_at(self, node_index: int):
        """The outputs of the layer's call number ``node_index`` on KerasTensors."""
        return self._node_at(node_index, "output").outputs

    def _only_node(self, what: str) -> int:
        if len(self._inbound_nodes) > 1:
            raise AttributeError(
                f"layer {self.name!r} has multiple inbound nodes, hence the notion of \"layer {what}\" is ill-defined."
                f" Use `get_{what}_at(node_index)` instead")
        return 0

    def _node_at(self, node_index: int, what: str):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} is not connected, no {what} to return (call it on gc.Input "
                                 "tensors first)")
        if not isinstance(node_index, int) or not 0 <= node_index < len(self._inbound_nodes):
            raise InvalidArgumentError(f"get_{what}_at: node_index must be in [0, {len(self._inbound_nodes)}) for "
                                       f"layer {self.name!r}, got {node_index!r}")
        return self._inbound_nodes[node_index]

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
        return convert(self.call) if current_trace() is not None else self.call

    def __call__(self, *args, **kwargs):
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args:
            raise InvalidArgumentError(f"layer {self.name!r} was called without inputs")
        if holds_keras_tensors((args, kwargs)):
            outputs = call_on_keras_tensors(self, args, kwargs)
            self._clear_call_losses()  # they belong to the throw-away graph
            return outputs
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
        """Arrays and Python values become tensors; floating inputs take the layer's dtype, and so do
        uint8, int8, uint16 and int16 ones (images, as Keras's Dense casts them; graphc never promotes
        these implicitly)."""
        x = self._input_tensor(x)
        if isinstance(x, TensorLike) and x.dtype != self.dtype and (x.dtype.is_floating or x.dtype.rank is None):
            x = ops.cast(x, self.dtype)
        return x

    def _input_tensor(self, x):
        """``x`` as a tensor when it is one, an array or a Python value (float arrays in the layer's dtype)."""
        if isinstance(x, TensorLike):
            return x._as_tensor()
        if isinstance(x, (np.ndarray, np.generic, list, float, int)):
            array = np.asarray(x)
            return ops.constant(array, self.dtype if array.dtype.kind == "f" else None)
        return x

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's outputs for ``inputs`` whose steps are masked by ``mask`` (a bool
        [batch, steps] tensor, True where a step counts), as in Keras: the input mask for a layer that
        ``supports_masking``, else None. Layers that make or change masks override it."""
        return mask if self.supports_masking else None

    def takes_mask(self) -> bool:
        """Whether ``call`` takes a ``mask`` argument (models pass masks only to those layers)."""
        return "mask" in inspect.signature(self.call).parameters

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
            config.update(recorded_arguments(self))
        return config

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

