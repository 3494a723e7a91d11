"""``gc.utils.plot_model``: a model's layer graph drawn with Graphviz, as Keras's ``plot_model``. One box
per layer (name, class, input and output shapes), one arrow per tensor passed between layers; a
nested model is one box, or (``expand_nested``) a frame holding its own layers."""
from __future__ import annotations

import html
from pathlib import Path

from graphc.ir.errors import InvalidArgumentError

from .. import nest
from ..layers import InputLayer
from ..layers.keras_tensor import KerasTensor
from ..viz.graphviz_package import GraphvizMissingError, import_graphviz
from ..viz.render import dot_available, output_format, write
from .functional import Functional
from .model import Model
from .sequential import Sequential
from .summary import shape_text


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False):
    """The layer graph of ``model`` as a ``graphviz.Digraph`` (see ``plot_model``)."""
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"plot_model: model must be a gc.Model, got {type(model).__name__}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"plot_model: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if isinstance(model, Sequential) and not model.layers:
        raise InvalidArgumentError(f"plot_model: model {model.name!r} has no layers to draw")
    dot = import_graphviz().Digraph(model.name, graph_attr={"rankdir": rankdir, "dpi": str(dpi), "concentrate": "true"},
                                    node_attr={"shape": "plaintext", "fontname": "Helvetica"})
    options = dict(shapes=show_shapes, dtype=show_dtype, names=show_layer_names,
                   activations=show_layer_activations, trainable=show_trainable, expand=expand_nested)
    _draw(model, dot, options)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False) -> str:
    """Draws ``model``'s layer graph to ``to_file`` (``.png``, ``.svg``, ``.pdf``, or ``.dot`` for the
    Graphviz source), as ``tf.keras.utils.plot_model``; returns the file's path. Needs the graphviz
    package (``pip install 'graphc[viz]'``) and, except for ``.dot``, Graphviz's ``dot`` program."""
    if output_format(to_file) is not None and not dot_available():
        raise GraphvizMissingError(
            f"plot_model: writing {str(to_file)!r} needs Graphviz's dot program, which is not installed (Debian: "
            f"apt-get install graphviz); or write the Graphviz source with to_file='{Path(to_file).with_suffix('.dot')}'")
    dot = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
                       show_layer_activations, show_trainable)
    return write(dot, to_file)


def _draw(model, dot, options) -> tuple[list, list]:
    """Draws ``model``'s layers into ``dot``; returns the box ids where its inputs enter and where its
    outputs leave (per input and per output). A subclassed model is one box: its graph is its code."""
    if not _drawn_as_layers(model):
        return _draw_box(model, dot, options)
    ends = {id(layer): _draw_layer(layer, dot, options) for layer in model.layers}
    if isinstance(model, Sequential):  # each layer feeds the next
        chain = [ends[id(layer)] for layer in model.layers]
        for (_, exits), (entries, _) in zip(chain, chain[1:]):
            dot.edge(exits[0], entries[0])
        return chain[0][0], chain[-1][1]
    for node in model.nodes:
        entries, _ = ends[id(node.layer)]
        for position, tensor in enumerate(node.input_tensors):
            source, _, tensor_index = tensor._keras_history
            exits = ends[id(source)][1]
            dot.edge(exits[min(tensor_index, len(exits) - 1)], entries[min(position, len(entries) - 1)])
    return ([ends[id(t._keras_history.layer)][0][0] for t in model.inputs],
            [ends[id(t._keras_history.layer)][1][t._keras_history.tensor_index] for t in model.outputs])


def _drawn_as_layers(model) -> bool:
    return bool(model.layers) and (isinstance(model, (Functional, Sequential)))


def _draw_layer(layer, dot, options) -> tuple[list, list]:
    if options["expand"] and isinstance(layer, Model) and _drawn_as_layers(layer):
        with dot.subgraph(name=f"cluster_{id(layer)}") as frame:
            frame.attr(label=f"{layer.name} ({type(layer).__name__})", style="dashed", fontname="Helvetica")
            return _draw(layer, frame, options)
    return _draw_box(layer, dot, options)


def _draw_box(layer, dot, options) -> tuple[list, list]:
    box = str(id(layer))
    dot.node(box, label=_label(layer, options))
    outputs = len(layer.output_shape) if isinstance(layer.output_shape, list) else 1
    return [box], [box] * outputs


def _label(layer, options) -> str:
    """An HTML-like Graphviz label: the layer's name and class, then the rows asked for."""
    title = f"{layer.name} ({type(layer).__name__})" if options["names"] else type(layer).__name__
    rows = [f'<b>{html.escape(title)}</b>']
    activation = getattr(layer, "activation", None)
    if options["activations"] and activation is not None:
        rows.append(f"Activation: {html.escape(getattr(activation, '__name__', str(activation)))}")
    if options["shapes"]:
        rows.append(f"Input shape: {html.escape(shape_text(_input_shape(layer)))}")
        rows.append(f"Output shape: {html.escape(shape_text(layer.output_shape))}")
    if options["dtype"]:
        rows.append(f"dtype: {layer.dtype.name}")
    if options["trainable"]:
        rows.append(f"Trainable: {'Y' if layer.trainable else 'N'}")
    cells = "".join(f'<tr><td bgcolor="{"#cfe2f3" if i == 0 else "white"}">{row}</td></tr>' for i, row in enumerate(rows))
    return f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">{cells}</table>>'


def _input_shape(layer):
    """The shape(s) of the layer's first call on KerasTensors (an input layer: its own); None if unknown."""
    if isinstance(layer, InputLayer):
        return layer.batch_shape
    if not layer.inbound_nodes or not layer.inbound_nodes[0].call_args:
        return None
    return nest.map_structure(lambda t: tuple(t.shape) if isinstance(t, KerasTensor) else t,
                              layer.inbound_nodes[0].call_args[0])
