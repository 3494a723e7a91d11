"""Functional models, as Keras's: ``gc.Model(inputs, outputs)`` on the KerasTensors of ``gc.Input``
and of layers called on them. The model is the graph of layer calls (nodes) from its inputs to its
outputs; calling it runs those calls in topological order. Its config lists the layers with their
calls (``inbound_nodes``) and the ``input_layers``/``output_layers``, in Keras's format."""
from __future__ import annotations

from graphc.ir.errors import InvalidArgumentError, ShapeError

from .. import nest
from ..layers import InputLayer, deserialize, register, serialize
from ..layers.keras_tensor import KerasTensor
from ..tensor import TensorLike
from .model import Model
from .summary import print_summary


@register
class Functional(Model):
    """A model made of layer calls on KerasTensors: ``gc.Model(inputs, outputs)`` returns one.

    ``inputs`` and ``outputs`` are a KerasTensor, a list (or tuple) of them, or a dict of them; calling
    the model takes and returns the same structures (a dict of inputs may be given to any model, by
    input names)."""

    _untracked_attributes = frozenset({"_nested_inputs", "_nested_outputs", "_layers", "_nodes"})

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._nested_inputs, self._nested_outputs = inputs, outputs
        self.inputs, self.outputs = _keras_tensors(inputs, "inputs"), _keras_tensors(outputs, "outputs")
        for i, tensor in enumerate(self.inputs):
            if not isinstance(tensor._keras_history.layer, InputLayer):
                raise InvalidArgumentError(
                    f"inputs[{i}] ({tensor!r}) is the output of layer {tensor._keras_history.layer.name!r}: a "
                    "functional model's inputs must come from gc.Input")
        self._nodes, layers = _graph_by_depth(self.inputs, self.outputs)
        unused = [t._keras_history.layer for t in self.inputs if t._keras_history.layer not in layers]
        self._layers = unused + layers
        names = [layer.name for layer in self._layers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidArgumentError(
                f"the layer name(s) {repeated} are used more than once in model {self.name!r}: every layer of a "
                "model needs its own name")
        self._output_shape = nest.map_structure(lambda t: tuple(t.shape), outputs)
        self.built = True

    # -- structure -----------------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """Every layer of the model, in Keras's order: by depth from the outputs, deepest first (so an
        input layer comes before the layers that use it)."""
        return list(self._layers)

    @property
    def nodes(self) -> list:
        """The model's layer calls (``gc.layers.keras_tensor.Node``), in the order they run."""
        return list(self._nodes)

    def _trackable_children(self) -> dict:
        return {"layers": self._layers} | super()._trackable_children()

    @property
    def input(self):
        """The model's inputs, in the structure given to ``gc.Model``."""
        return self._nested_inputs

    @property
    def output(self):
        """The model's outputs, in the structure given to ``gc.Model``."""
        return self._nested_outputs

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history.layer.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that make the outputs (the names of their losses and metrics)."""
        return [t._keras_history.layer.name for t in self.outputs]

    def build(self, input_shape=None) -> None:
        """A functional model is built when it is made."""

    # -- running ---------------------------------------------------------------------------------------
    def call(self, inputs, training=None, mask=None):
        values = self._flat_inputs(inputs)
        masks = [None] * len(values) if mask is None else self._flat_inputs(mask, "mask")
        value_of = {id(t): v for t, v in zip(self.inputs, values)}
        mask_of = {id(t): m for t, m in zip(self.inputs, masks)}
        for node in self._nodes:
            args, kwargs = node.arguments(lambda t: value_of[id(t)])
            first = node.call_args[0] if node.call_args else None
            in_mask = nest.map_structure(lambda t: mask_of.get(id(t)) if isinstance(t, KerasTensor) else None, first)
            if all(m is None for m in nest.flatten(in_mask)):
                in_mask = None
            if in_mask is not None and "mask" not in kwargs and node.layer.takes_mask():
                kwargs["mask"] = in_mask
            outputs = nest.flatten(node.layer(*args, **kwargs))
            out_masks = nest.flatten(node.layer.compute_mask(args[0] if args else None, in_mask))
            if len(out_masks) != len(outputs):
                out_masks = [None] * len(outputs)
            for tensor, value, out_mask in zip(node.output_tensors, outputs, out_masks):
                value_of[id(tensor)], mask_of[id(tensor)] = value, out_mask
        return nest.pack_as(self._nested_outputs, [value_of[id(t)] for t in self.outputs])

    def _flat_inputs(self, inputs, what: str = "inputs") -> list:
        """``inputs`` as a list in the order of ``self.inputs``: a dict is matched by input names, any
        other structure flattened; each tensor's shape is checked against its input's."""
        names = self.input_names
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            if missing or len(inputs) != len(names):
                raise InvalidArgumentError(
                    f"model {self.name!r} expects {what} named {names}, got a dict with keys {list(inputs)}")
            flat = [inputs[n] for n in names]
        else:
            flat = nest.flatten(inputs)
        if len(flat) != len(names):
            raise InvalidArgumentError(
                f"model {self.name!r} expects {len(names)} {what} ({', '.join(names)}), got {len(flat)}")
        for i, (tensor, value) in enumerate(zip(self.inputs, flat)):
            shape = tuple(value.shape) if isinstance(value, TensorLike) else None
            if what == "inputs" and shape is not None and not _compatible(tensor.shape, shape):
                raise ShapeError(f"input {i} ({names[i]!r}) of model {self.name!r} expects shape "
                                 f"{tuple(tensor.shape)}, got {shape}")
        return flat

    # -- description ---------------------------------------------------------------------------------------
    def summary(self, print_fn=None) -> None:
        """Prints the layers with their output shapes, parameter counts and the layers they are
        connected to."""
        print_summary(self, print_fn, connected_to=self._connected_to)

    def _connected_to(self, layer) -> str:
        inbound = [t._keras_history for node in self._calls_of(layer) for t in node.input_tensors]
        return ", ".join(f"{h.layer.name}[{h.node_index}][{h.tensor_index}]" for h in inbound) or "-"

    def _calls_of(self, layer) -> list:
        """The calls of ``layer`` that belong to this model, in the order they were made."""
        own = {id(n) for n in self._nodes}
        return [n for n in layer.inbound_nodes if id(n) in own]

    # -- configuration -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras's functional config: every layer with its config and its calls in this model
        (``inbound_nodes``, whose arguments name tensors by ``[layer, node, tensor]``), then the
        ``input_layers`` and ``output_layers``."""
        index_in_model = {}  # id(node) -> its index among the layer's calls in this model
        for layer in self._layers:
            index_in_model.update({id(n): i for i, n in enumerate(self._calls_of(layer))})

        def history(tensor: KerasTensor) -> list:
            layer, _, tensor_index = tensor._keras_history
            return [layer.name, index_in_model.get(id(tensor.node), 0), tensor_index]  # 0: an input layer's

        def argument(value):
            if isinstance(value, KerasTensor):
                return {"class_name": "__keras_tensor__", "config": {
                    "shape": list(value.shape), "dtype": value.dtype.name, "keras_history": history(value)}}
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            raise InvalidArgumentError(
                f"model {self.name!r} cannot be saved as a config: a layer call has the argument {value!r}, which "
                "is neither a KerasTensor nor a plain number, string, bool or None")

        layers = []
        for layer in self._layers:
            calls = [] if isinstance(layer, InputLayer) else [
                {"args": nest.map_structure(argument, list(n.call_args)),
                 "kwargs": nest.map_structure(argument, n.call_kwargs)}
                for n in self._calls_of(layer)]
            layers.append(serialize(layer) | {"name": layer.name, "inbound_nodes": calls})
        ends = lambda s: nest.map_structure(history, _as_lists(s))  # noqa: E731
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": ends(self._nested_inputs), "output_layers": ends(self._nested_outputs)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Functional":
        """The model of ``get_config()``'s dict, with new layers (new weights)."""
        return cls(*_rebuild(config, custom_objects), name=config.get("name"), trainable=config.get("trainable", True))


def _keras_tensors(structure, what: str) -> list:
    leaves = nest.flatten_with_paths(structure)
    if not leaves:
        raise InvalidArgumentError(f"gc.Model: {what} is empty")
    for path, leaf in leaves:
        if not isinstance(leaf, KerasTensor):
            raise InvalidArgumentError(
                f"gc.Model: {what}{path} must be a KerasTensor (from gc.Input or a layer called on one), got "
                f"{type(leaf).__name__}{' (a tensor with a value)' if isinstance(leaf, TensorLike) else ''}")
    return [leaf for _, leaf in leaves]


def _graph_by_depth(inputs: list, outputs: list) -> tuple[list, list]:
    """The layer calls that lead from ``inputs`` to ``outputs`` and their layers, ordered as Keras
    orders them: by depth (the longest path to an output), deepest first; layers of equal depth in the
    order a walk back from the outputs meets them. Each call comes after the calls it depends on."""
    given = {id(t) for t in inputs}
    finished, post_order, first_met = set(), [], {}

    def visit(tensor: KerasTensor, needed_by: str):
        node = tensor.node
        if id(node) in finished:
            return
        first_met.setdefault(id(node.layer), len(first_met))
        if id(tensor) not in given:
            if not node.input_tensors:  # an input layer that is not among the model's inputs
                raise InvalidArgumentError(
                    f"gc.Model: {needed_by} is not connected to the inputs: it needs the input {tensor.name!r}, "
                    "which is not among `inputs`")
            for parent in node.input_tensors:
                visit(parent, needed_by)
        finished.add(id(node))
        post_order.append(node)

    for i, tensor in enumerate(outputs):
        visit(tensor, f"outputs[{i}] ({tensor.name})" if len(outputs) > 1 else f"the output ({tensor.name})")
    node_depth, layer_depth = {}, {}
    for node in reversed(post_order):  # consumers before producers: a call is deeper than its consumers
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        node_depth[id(node)] = layer_depth[id(node.layer)] = depth
        for parent in node.input_tensors:
            node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    nodes = sorted(post_order, key=lambda n: -node_depth[id(n)])
    layers = sorted({id(n.layer): n.layer for n in post_order}.values(),
                    key=lambda layer: (-layer_depth[id(layer)], first_met[id(layer)]))
    return [n for n in nodes if n.input_tensors], layers


def _compatible(expected: tuple, got: tuple) -> bool:
    return len(expected) == len(got) and all(e is None or g is None or e == g for e, g in zip(expected, got))


def _as_lists(structure):
    """Tuples as lists (JSON has no tuples), the leaves kept."""
    if isinstance(structure, dict):
        return {k: _as_lists(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_as_lists(v) for v in structure]
    return structure


def _rebuild(config: dict, custom_objects):
    """The inputs and outputs of a functional config: its layers made and called as recorded."""
    layers, pending = {}, []
    for entry in config.get("layers", []):
        layer = deserialize(entry, custom_objects)
        name = entry.get("name", layer.name)
        if name in layers:
            raise InvalidArgumentError(f"functional config: the layer name {name!r} appears twice")
        layers[name] = layer
        pending += [(layer, name, i, call) for i, call in enumerate(entry.get("inbound_nodes", []))]
    made = {(name, 0): layer.output for name, layer in layers.items() if isinstance(layer, InputLayer)}

    def tensor(value):
        if not (isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"):
            return value
        history = value.get("config", {}).get("keras_history")
        if not (isinstance(history, list) and len(history) == 3):
            raise InvalidArgumentError(f"functional config: bad keras_history {history!r}")
        name, node_index, tensor_index = history
        if (name, node_index) not in made:
            raise LookupError((name, node_index))
        outputs = nest.flatten(made[(name, node_index)])
        if not isinstance(tensor_index, int) or not 0 <= tensor_index < len(outputs):
            raise InvalidArgumentError(f"functional config: layer {name!r} call {node_index} has no output {tensor_index}")
        return outputs[tensor_index]

    while pending:  # a call runs once the calls it takes tensors from have run
        waiting = []
        for layer, name, index, call in pending:
            try:
                args, kwargs = _map_arguments(tensor, call.get("args", [])), _map_arguments(tensor, call.get("kwargs", {}))
            except LookupError:
                waiting.append((layer, name, index, call))
                continue
            made[(name, index)] = layer(*args, **kwargs)
        if len(waiting) == len(pending):
            names = sorted({name for _, name, _, _ in waiting})
            raise InvalidArgumentError(
                f"functional config: the calls of layer(s) {names} take tensors that no layer of the config makes")
        pending = waiting
    ends = lambda key: _ends(config.get(key), key, tensor)  # noqa: E731
    return ends("input_layers"), ends("output_layers")


def _map_arguments(fn, structure):
    """``fn`` applied to the leaves of a call's arguments in a config, a KerasTensor's dict being a leaf."""
    if isinstance(structure, dict) and structure.get("class_name") != "__keras_tensor__":
        return {k: _map_arguments(fn, v) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_map_arguments(fn, v) for v in structure]
    return fn(structure)


def _ends(structure, key: str, tensor):
    """``input_layers``/``output_layers``: ``[name, node, tensor]``, a list of them, or a dict of them."""
    def one(triple):
        try:
            return tensor({"class_name": "__keras_tensor__", "config": {"keras_history": list(triple)}})
        except LookupError:
            raise InvalidArgumentError(f"functional config: {key} names {triple!r}, which no layer makes") from None

    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return one(structure)
    if isinstance(structure, dict):
        return {k: one(v) for k, v in structure.items()}
    if isinstance(structure, list) and structure:
        return [one(v) for v in structure]
    raise InvalidArgumentError(f"functional config: {key} must be [layer, node, tensor] or a list or dict of them")
