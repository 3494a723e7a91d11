"""``gc.onnx.export``: a traced graph, optimised but not fused, written as an ONNX model.

The graph's inputs keep their names (a None dimension becomes a symbolic ``dim_param``), its
variables become initializers (named as the variables), each node becomes the ONNX nodes of its
rule in ``export_ops`` (named ``scope/OpType_k``, with the user's line in ``doc_string``), and
``cond``/``while_loop`` become ``If``/``Loop`` with their regions as subgraphs; convolutions
(image patches times reshaped filters) become ``Conv`` (``export_conv``). The model is built
with the ``onnx`` package's helpers and must pass ``onnx.checker.check_model(full_check=True)``.
"""
from __future__ import annotations

import os
import re

import numpy as np

from graphc import __version__, config
from graphc.backends.numpy.ops import run_op
from graphc.ir.graph import Graph, Node, Value
from graphc.ir.ops.control import build_region
from graphc.ir.passes import optimize
from graphc.ir.types import DType

from ..function import ConcreteFunction, Function, function
from ..layers.base import Layer
from ..tracing import TensorSpec
from .errors import ExportError, require_onnx
from .export_conv import emit_convolution, find_convolutions
from .export_ops import EXPORTERS, NOT_EXPORTABLE

DEFAULT_OPSET = 18  # every rule is written for opset 18 and checked up to the onnx package's newest
MIN_OPSET = 18


class Builder:
    """The ONNX nodes (and, for the model's own graph, initializers) of one graph being written."""

    def __init__(self, onnx, names: set, variables: dict, top: bool):
        self.onnx = onnx
        self.names = names  # every name used so far, shared by a model's graph and its subgraphs
        self.variables = variables  # graphc variable name -> variable (the model's graph only)
        self.top = top
        self.nodes: list = []
        self.initializers: dict = {}
        self.source: Node | None = None  # the graphc node being written

    # -- what rules call --------------------------------------------------------------------------
    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs):
        """Adds one ONNX node; returns its result's name (a list of names when ``outputs`` > 1)."""
        node = self.source
        name = self.fresh(f"{node.scope}/{op_type}" if node is not None and node.scope else op_type)
        results = [f"{name}:{i}" for i in range(outputs)]
        self.names.update(results)
        doc = f"graphc {node.op} at {node.loc.long}" if node is not None and node.loc else ""
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, results, name=name, doc_string=doc, **attrs))
        return results[0] if outputs == 1 else results

    def const(self, array: np.ndarray) -> str:
        """A constant: an initializer of the model's graph, a ``Constant`` node inside a subgraph."""
        if not self.top:
            return self.op("Constant", [], value=self.onnx.numpy_helper.from_array(array))
        name = self.fresh("const")
        self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return name

    def variable(self, name: str) -> str:
        """The initializer holding the variable's current value, named as the variable."""
        if name not in self.initializers:
            value = np.asarray(self.variables[name].numpy())
            self.initializers[name] = self.onnx.numpy_helper.from_array(value, name)
        return name

    def onnx_type(self, dtype: DType) -> int:
        return self.onnx.helper.np_dtype_to_tensor_dtype(dtype.numpy)

    def evaluate(self, node: Node) -> np.ndarray:
        """The value of a node without inputs (fill, range, eye), from its NumPy meaning."""
        for value in node.outputs:
            self.static_shape(value, "its result")
        return run_op(node.op, [], node.attrs, [v.type for v in node.outputs])[0]

    def static_shape(self, value: Value, what: str) -> tuple[int, ...]:
        if not value.type.is_static:
            raise self.error(f"ONNX form needs the shape of {what}, which is known only at run time ({value.type})")
        return value.type.shape

    def error(self, message: str) -> ExportError:
        return ExportError(f"cannot export to ONNX: {message}").at(self.source)

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    # -- graphs -----------------------------------------------------------------------------------
    def emit(self, graph: Graph, names: dict[Value, str], source: Node | None = None) -> list[str]:
        """Writes ``graph``'s nodes (its inputs named by ``names``); returns its outputs' names.
        ``source`` names the written nodes after another node (a decomposition's)."""
        outer = self.source
        convolutions, replaced = find_convolutions(graph)
        try:
            for node in graph.nodes:
                if node in replaced:
                    continue
                self.source = source or node
                if node in convolutions:
                    results = emit_convolution(self, convolutions[node], names)
                else:
                    results = self._emit_node(node, [names[v] for v in node.inputs])
                names.update(zip(node.outputs, [results] if isinstance(results, str) else results))
        finally:
            self.source = outer
        return [names[v] for v in graph.outputs]

    def _emit_node(self, node: Node, inputs: list[str]):
        rule = EXPORTERS.get(node.op)
        if rule is not None:
            return rule(self, node, *inputs)
        if node.op in NOT_EXPORTABLE:
            raise self.error(NOT_EXPORTABLE[node.op])
        decomposition = node.opdef.decomposition
        if decomposition is None:
            raise self.error("graphc has no ONNX form for this op")
        region = build_region(f"{node.op}_decomposition", [v.type for v in node.inputs],
                              lambda *xs: [decomposition(*xs, **node.attrs)])
        return self.emit(region, dict(zip(region.inputs, inputs)), source=node)

    def inline(self, graph: Graph, inputs: list[str]) -> list[str]:
        """Writes ``graph``'s nodes here, reading ``inputs``."""
        return self.emit(graph, dict(zip(graph.inputs, inputs)))

    def _child(self) -> "Builder":
        child = Builder(self.onnx, self.names, {}, top=False)
        child.source = self.source
        return child

    def region(self, graph: Graph, operands: list[str], label: str):
        """An ``If`` branch: a subgraph without inputs reading ``operands`` from the enclosing graph."""
        child = self._child()
        outputs = child.inline(graph, operands)
        return child.subgraph(label, [], graph.outputs, outputs)

    def loop_body(self, cond: Graph, body: Graph, captured: list[str]):
        """A ``Loop`` body: (iteration, condition, *loop variables) -> (next condition, *next variables)."""
        child = self._child()
        n = len(body.outputs)
        iteration, condition = child.fresh("iteration"), child.fresh("condition")
        carried = [child.fresh(f"loop_var_{i}") for i in range(n)]
        new = child.inline(body, carried + captured)
        (next_condition,) = child.inline(cond, new + captured)
        helper = self.onnx.helper
        inputs = [
            helper.make_tensor_value_info(iteration, self.onnx.TensorProto.INT64, []),
            helper.make_tensor_value_info(condition, self.onnx.TensorProto.BOOL, []),
            *(child.value_info(name, v) for name, v in zip(carried, body.inputs[:n])),
        ]
        return child.subgraph("body", inputs, [cond.outputs[0], *body.outputs], [next_condition, *new])

    def subgraph(self, label: str, inputs: list, values: list[Value], results: list[str]):
        """A GraphProto of this builder's nodes; each result passes through an Identity of its own
        (a subgraph's outputs must be produced inside it, and be distinct)."""
        outputs = [self.value_info(self.op("Identity", [r]), v) for r, v in zip(results, values)]
        name = self.fresh(f"{self.source.scope}/{label}" if self.source.scope else label)
        return self.onnx.helper.make_graph(self.nodes, name, inputs, outputs, list(self.initializers.values()))

    def value_info(self, name: str, value: Value, symbols: dict | None = None):
        """The type of ``value`` under ``name``: symbolic sizes as ``dim_param`` named by ``symbols``
        (graphc's symbol otherwise), or left unknown without ``symbols``."""
        shape = [d if isinstance(d, int) else None if symbols is None else symbols.get(d, re.sub(r"\W", "_", d))
                 for d in value.shape]
        return self.onnx.helper.make_tensor_value_info(name, self.onnx_type(value.dtype), shape)


def _dim_names(inputs: list[Value]) -> dict[str, str]:
    """ONNX names of the inputs' symbolic sizes: ``batch`` for the first one on a leading axis."""
    leading = [v.shape[0] for v in inputs if v.shape and isinstance(v.shape[0], str)]
    return {leading[0]: "batch"} if leading else {}


# -- the model ------------------------------------------------------------------------------------
def graph_to_model(graph: Graph, opset: int = DEFAULT_OPSET, name: str | None = None):
    """The ONNX ModelProto of an (optimised, unfused) graphc graph, checked by ``onnx.checker``."""
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"opset must be an int in [{MIN_OPSET}, {newest}] (the installed onnx package's newest), "
                          f"got {opset!r}")
    if not graph.outputs:
        raise ExportError(f"cannot export {graph.name} to ONNX: it returns no tensors")
    names = set(graph.variables)  # the variables' names are their initializers'
    b = Builder(onnx, names, graph.variables, top=True)
    input_names = [b.fresh(_input_name(v, i)) for i, v in enumerate(graph.inputs)]
    results = b.emit(graph, dict(zip(graph.inputs, input_names)))
    b.source = None
    output_names = [b.fresh(f"output_{i}") for i in range(len(results))]
    for result, output in zip(results, output_names):
        b.nodes.append(onnx.helper.make_node("Identity", [result], [output], name=b.fresh(f"{output}/Identity")))
    helper = onnx.helper
    dims = _dim_names(graph.inputs)
    onnx_graph = helper.make_graph(
        b.nodes, name or graph.name,
        [b.value_info(n, v, dims) for n, v in zip(input_names, graph.inputs)],
        [b.value_info(n, v, dims) for n, v in zip(output_names, graph.outputs)],
        list(b.initializers.values()),
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="graphc",
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.producer_version = __version__
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"ONNX refuses the exported graph{_culprit(str(error), b.nodes)}: {error}") from None
    return model


def _culprit(message: str, nodes: list) -> str:
    """`` at <the graphc op and user line>`` of the node an ONNX checker message names, if any (an
    ONNX op may lack a dtype graphc has: ReduceSum on uint8, say)."""
    named = re.search(r"node name: ([^)\s]+)", message)
    doc = next((n.doc_string for n in nodes if named and n.name == named.group(1)), "")
    return f" at {doc}" if doc else ""


def _input_name(value: Value, index: int) -> str:
    return re.sub(r"[^\w./:-]", "_", value.name) if value.name else f"input_{index}"


def export(function_or_model, *input_specs, path=None, opset: int = DEFAULT_OPSET):
    """Exports a ``gc.function`` (or a plain Python function, a ``ConcreteFunction``, a layer or
    model) as an ONNX model and returns its ``onnx.ModelProto``; writes it to ``path`` when given.

    ``input_specs`` are the arguments to trace with (``gc.TensorSpec``; a None dimension stays
    symbolic, so the model takes any size there); a function's ``input_signature`` and a model's
    input shape are used when none are given. The exported graph is the optimised one, before
    fusion; variables are stored as initializers (their current values), so export the
    inference function, not a training step. ``opset`` is the ONNX opset (18 at least).
    Raises ``ExportError`` naming the op and the user's line for an op ONNX cannot express.
    """
    onnx = require_onnx()
    concrete = concrete_function_of(function_or_model, input_specs)
    graph = optimize(concrete.graph, run_op, config.get_optimizer_options(), [])
    model = graph_to_model(graph, opset, concrete.function.name)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model


def concrete_function_of(target, input_specs: tuple) -> ConcreteFunction:
    """The traced graph to export: ``target`` traced with ``input_specs``."""
    if isinstance(target, ConcreteFunction):
        if input_specs:
            raise ExportError("a ConcreteFunction has its input types already: pass no input_specs")
        return target
    if isinstance(target, Layer):
        specs = input_specs or model_input_specs(target)
        layer = target
        if len(specs) == 1:
            target = function(lambda inputs: layer(inputs, training=False), name=layer.name)
        else:
            target = function(lambda *inputs: layer(list(inputs), training=False), name=layer.name)
        return target.get_concrete_function(*specs)
    if not isinstance(target, Function):
        if not callable(target):
            raise ExportError(f"expected a gc.function, a Python function or a model, got {type(target).__name__}")
        target = function(target)
    return target.get_concrete_function(*input_specs)


def model_input_specs(layer: Layer) -> tuple[TensorSpec, ...]:
    """A model's input specs from its input KerasTensors (``model.inputs``: a functional model's, or
    a Sequential's started with ``gc.Input``)."""
    try:
        inputs = layer.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ExportError(f"model {layer.name!r} has no declared input shape: pass input specs, "
                          "e.g. gc.TensorSpec([None, 784], gc.float32)")
    return tuple(TensorSpec(list(t.shape), t.dtype) for t in inputs)
