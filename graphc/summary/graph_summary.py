"""A graphc graph in TensorBoard's ``GraphDef`` format, and ``gc.summary.graph``, which writes it.

One ``NodeDef`` per op, named by its name scope (``dense/matmul``, ``dense/matmul_1``), with its
inputs (``producer`` or ``producer:index``), the dtype of its first result (``T``), every result's
shape (``_output_shapes``, -1 for a dimension known only at run time) and its attributes as text.
The Graphs tab groups nodes by these '/'-separated names, so:

- the graph's arguments are ``Placeholder`` nodes, its results ``_Retval`` nodes (``output_i``);
- each variable is a node of its own (``VarHandleOp``, named by the variable), read and written
  by ``read_variable``/``assign_variable`` nodes;
- gradient ops sit under a top-level ``gradients/`` scope;
- a fused kernel is a scope (``<scope>/matmul_0/...``) holding the ops it fuses;
- the regions of ``cond``/``while_loop`` are scopes under their op (``while_loop/body/...``),
  with ``_Arg`` nodes for their arguments and ``_Retval`` nodes for their results.
"""
from __future__ import annotations

import re

from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError
from graphc.ir.graph import Graph, Node, Value, common_scope
from graphc.ir.text import format_attr
from graphc.ir.types import TensorType

from ..function import ConcreteFunction
from ..tracing import current_trace
from .tensorboard_package import tensorboard_api
from .writer import default_writer, should_record_summaries

GRADIENTS = "gradients"
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.\-/>]")  # TensorFlow's node names: [A-Za-z0-9.][A-Za-z0-9_.\-/>]*


def graph_def(graph: Graph):
    """``graph`` as a TensorBoard ``GraphDef`` proto (see the module docstring)."""
    return _GraphDefBuilder().build(graph)


class _GraphDefBuilder:
    def __init__(self):
        self.api = tensorboard_api()
        self.nodes: list = []
        self.taken: set[str] = set()
        self.variable_nodes: dict[str, str] = {}

    def build(self, graph: Graph):
        env: dict[Value, str] = {}
        for i, v in enumerate(graph.inputs):
            env[v] = self.add("", v.name or f"input_{i}", "Placeholder", [], [v.type], dtype_attr="dtype")
        for name, variable in graph.variables.items():
            self.variable_nodes[name] = self.add("", name, "VarHandleOp", [], [], dtype_attr=None)
            self.nodes[-1].attr["dtype"].type = self.datatype(variable.dtype.numpy)
        self.add_nodes(graph, env, "", "")
        for i, v in enumerate(graph.outputs):
            self.add("", f"output_{i}", "_Retval", [env[v]], [v.type])
        versions = self.api.versions_pb2.VersionDef(producer=1)
        return self.api.graph_pb2.GraphDef(node=self.nodes, versions=versions)

    def add_nodes(self, graph: Graph, env: dict, prefix: str, base: str) -> None:
        """NodeDefs for ``graph``'s nodes; inside a kernel or region, under its scope ``prefix``, which
        stands for name scope ``base``."""
        for node in graph.nodes:
            if node.op == "fused":
                self.add_kernel(node, env, prefix, base)
                continue
            inputs = [env[v] for v in node.inputs]
            var = node.attrs.get("var") if node.opdef.effect else None
            if isinstance(var, str) and var in self.variable_nodes:
                inputs.append(self.variable_nodes[var])
            scope = _join(prefix, _scope_below(node, base, _in_gradients(prefix)))
            name = self.add(scope, node.op, node.op, inputs, [v.type for v in node.outputs], node)
            env.update({v: name if i == 0 else f"{name}:{i}" for i, v in enumerate(node.outputs)})
            for key, region in node.subgraphs.items():
                self.add_region(region, f"{name}/{key}", node.scope)

    def add_kernel(self, node: Node, env: dict, prefix: str, base: str) -> None:
        """A fused kernel as a scope (under the name scope its ops share, under ``gradients/`` when all
        are gradient ops) holding its body's ops, which read the kernel's inputs."""
        body = node.attrs["body"]
        ops = [n for n in body.nodes if n.op != "constant"] or body.nodes
        shared = common_scope(n.scope for n in ops)
        gradient = bool(ops) and all(n.is_gradient for n in ops) and not _in_gradients(prefix)
        below = shared[len(base):].lstrip("/") if base and (shared + "/").startswith(base + "/") else shared
        kernel_scope = _join(prefix, _join(GRADIENTS if gradient else "", below))
        kernel_scope = self.unique(_clean(_join(kernel_scope, node.attrs.get("kernel", "fused"))))
        body_env = {inner: env[outer] for inner, outer in zip(body.inputs, node.inputs)}
        self.add_nodes(body, body_env, kernel_scope, shared)
        env.update({outer: body_env[inner] for outer, inner in zip(node.outputs, body.outputs)})

    def add_region(self, region: Graph, scope: str, base: str) -> None:
        """A ``cond`` branch or loop body under ``scope``: ``_Arg`` nodes, its ops, ``_Retval`` nodes."""
        env = {v: self.add(scope, f"arg_{i}", "_Arg", [], [v.type]) for i, v in enumerate(region.inputs)}
        self.add_nodes(region, env, scope, base)
        for i, v in enumerate(region.outputs):
            self.add(scope, f"retval_{i}", "_Retval", [env[v]], [v.type])

    def add(self, scope: str, base: str, op: str, inputs: list[str], types: list[TensorType], node: Node | None = None,
            dtype_attr: str | None = "T") -> str:
        name = self.unique(_clean(_join(scope, base)))
        node_def = self.api.node_def_pb2.NodeDef(name=name, op=op, input=inputs)
        if types and dtype_attr:
            node_def.attr[dtype_attr].type = self.datatype(types[0].dtype.numpy)
        if types:
            shapes = node_def.attr["_output_shapes"].list.shape
            for t in types:
                shapes.add(dim=[self.api.tensor_shape_pb2.TensorShapeProto.Dim(size=d if isinstance(d, int) else -1)
                                for d in t.shape])
        for key, value in (node.attrs.items() if node is not None else ()):
            if not isinstance(value, Graph):
                node_def.attr[key].s = format_attr(key, value).encode()
        self.nodes.append(node_def)
        return name

    def unique(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``... when taken (TensorFlow's numbering)."""
        candidate, n = name, 1
        while candidate in self.taken:
            candidate, n = f"{name}_{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def datatype(self, numpy_dtype) -> int:
        return self.api.dtypes.as_dtype(numpy_dtype).as_datatype_enum


def _scope_below(node: Node, base: str, in_gradients: bool) -> str:
    """``node``'s name scope below ``base``, under ``gradients/`` for a gradient op not already there."""
    scope = node.scope
    if base and (scope + "/").startswith(base + "/"):
        scope = scope[len(base):].lstrip("/")
    return _join(GRADIENTS, scope) if node.is_gradient and not in_gradients else scope


def _join(scope: str, name: str) -> str:
    return f"{scope}/{name}" if scope and name else scope or name


def _in_gradients(scope: str) -> bool:
    return scope == GRADIENTS or scope.startswith(f"{GRADIENTS}/")


def _clean(name: str) -> str:
    name = _NOT_IN_NAMES.sub("_", name.strip("/"))
    return name if name and name[0] not in "_-/>" else f"n{name}"


def graph(graph_data) -> bool:
    """Writes a graph to the default writer for TensorBoard's Graphs tab: a ``ConcreteFunction``
    (``f.get_concrete_function(...)``: the optimised graph it runs, fused kernels as scopes), a graphc
    ``Graph`` (any stage, e.g. ``concrete.graph`` as traced) or a ``GraphDef`` proto. Returns whether
    it was written."""
    if current_trace() is not None:
        raise InvalidArgumentError("gc.summary.graph cannot be called inside gc.function: call it on the concrete function outside")
    api = tensorboard_api()
    if isinstance(graph_data, ConcreteFunction):
        graph_data = graph_data.graphs["fused"]
    if isinstance(graph_data, Graph):
        graph_data = graph_def(graph_data)
    elif not isinstance(graph_data, api.graph_pb2.GraphDef):
        raise ArgumentTypeError(
            "graph: graph_data must be a gc ConcreteFunction (f.get_concrete_function(...)), a graphc Graph or a "
            f"GraphDef, got {type(graph_data).__name__}"
        )
    if not should_record_summaries():
        return False
    default_writer().write_event(graph_def=graph_data.SerializeToString())
    return True
