"""``call``: a whole graph applied as one op, with gradient and tangent graphs built on demand.

Gradient tapes see a call of a compiled function as one ``call`` op. Its VJP calls the *gradient
function* (the graph differentiated by ``ir.autodiff``) and its JVP the *tangent function*; both are
built once per graph function and cached, and are graph functions themselves, so they can be
differentiated again.
"""
from __future__ import annotations

import contextlib
import threading

from .. import dispatch
from ..autodiff import forward, gradients
from ..dispatch import bind
from ..graph import Graph
from ..passes.dce import live_nodes
from ..transform import clone_into
from ..verify import verify
from .common import define
from .creation import zeros_like
from .host import make_pure


class GraphFunction:
    """A graph with no variable reads of its own except for variables it also assigns.

    ``from_graph`` turns the variables a graph only reads into extra inputs, so that gradients reach
    them through the call's inputs. Variables the graph assigns stay state: no gradient flows
    through them, and the gradient and tangent functions leave the assignments out."""

    def __init__(self, graph: Graph, origin: dict | None = None):
        self.graph = verify(graph)
        # values of the graph this one was cloned from (the traced graph) -> values of this graph, for
        # gradient functions that refer to the traced graph's tensors (graphc.custom_gradient)
        self.origin = origin or {}
        self.float_inputs = [i for i, v in enumerate(graph.inputs) if v.dtype.is_floating]
        self.float_outputs = [i for i, v in enumerate(graph.outputs) if v.dtype.is_floating]
        self._gradient: GraphFunction | None = None
        self._tangent: GraphFunction | None = None

    @classmethod
    def from_graph(cls, graph: Graph) -> tuple["GraphFunction", list]:
        """The graph function and the variables that became its trailing inputs."""
        assigned = {n.attrs["var"] for n in graph.nodes if n.op == "assign_variable"}
        read_only = [name for name in graph.variables if name not in assigned]
        g = Graph(graph.name)
        inputs = [g.add_input(v.type, v.name) for v in graph.inputs]
        var_inputs = {name: g.add_input(graph.variables[name].type, name) for name in read_only}

        def lift_reads(node):
            if node.op == "read_variable" and node.attrs["var"] in var_inputs:
                return [var_inputs[node.attrs["var"]]]
            return None

        vmap = clone_into(g, graph, inputs, lift_reads)
        g.variables = {name: graph.variables[name] for name in assigned}
        g.outputs = [vmap[v] for v in graph.outputs]
        return cls(g, vmap), [graph.variables[name] for name in read_only]

    def _derived(self, suffix: str) -> tuple[Graph, list, dict]:
        """A new graph recomputing this one without its side effects: no assignments, and host calls that
        run again only where their results are needed."""
        g = Graph(f"{self.graph.name}_{suffix}")
        inputs = [g.add_input(v.type, v.name) for v in self.graph.inputs]
        vmap = clone_into(g, self.graph, inputs, lambda n: [] if n.op == "assign_variable" else None)
        make_pure(g)
        g.variables = {}
        return g, inputs, vmap

    def gradient(self) -> "GraphFunction":
        """(inputs, cotangents of the float outputs) -> cotangents of the float inputs."""
        if self._gradient is None:
            g, inputs, vmap = self._derived("grad")
            cts = [g.add_input(self.graph.outputs[i].type, f"ct{i}") for i in self.float_outputs]
            outs = [vmap[self.graph.outputs[i]] for i in self.float_outputs]
            origin = self._origin_in(vmap)
            with _translating(origin):
                g.outputs = gradients(g, outs, [inputs[i] for i in self.float_inputs], cts, unconnected="zero")
            self._gradient = GraphFunction(_needed_only(g), origin)
        return self._gradient

    def tangent(self) -> "GraphFunction":
        """(inputs, tangents of the float inputs) -> tangents of the float outputs."""
        if self._tangent is None:
            g, inputs, vmap = self._derived("jvp")
            tangents = [g.add_input(inputs[i].type, f"t{i}") for i in self.float_inputs]
            records = list(g.nodes)
            with dispatch.handler(dispatch.GraphBuilder(g)):
                tangent_of = forward(records, [inputs[i] for i in self.float_inputs], tangents)
                outs = [vmap[self.graph.outputs[i]] for i in self.float_outputs]
                g.outputs = [tangent_of.get(id(o)) or zeros_like(o) for o in outs]
            self._tangent = GraphFunction(_needed_only(g), self._origin_in(vmap))
        return self._tangent

    def _origin_in(self, vmap: dict) -> dict:
        """``origin`` carried into a graph cloned from this one with ``vmap``."""
        return {source: vmap[v] for source, v in self.origin.items() if v in vmap}

    def __repr__(self) -> str:
        return f"<GraphFunction {self.graph.name}>"


def _needed_only(graph: Graph) -> Graph:
    """``graph`` without the nodes its outputs do not need (a derived graph has no side effects left):
    the forward pass it recomputes runs no more of the forward graph than its results need, which
    matters for host calls, whose functions would run again."""
    graph.nodes = live_nodes(graph)
    return graph


_ORIGIN = threading.local()


@contextlib.contextmanager
def _translating(origin: dict):
    previous = getattr(_ORIGIN, "map", None)
    _ORIGIN.map = origin
    try:
        yield
    finally:
        _ORIGIN.map = previous


def traced_origin() -> dict:
    """While a gradient function is built: the traced graph's values -> the gradient graph's (empty
    otherwise)."""
    return getattr(_ORIGIN, "map", None) or {}


def _call_infer(types, function):
    return [v.type for v in function.graph.outputs]


def _call_vjp(cts, inputs, outputs, function):
    grad_fn = function.gradient()
    out_cts = [cts[i] if cts[i] is not None else zeros_like(outputs[i]) for i in function.float_outputs]
    grads = call(grad_fn, *inputs, *out_cts)
    result = [None] * len(inputs)
    for k, i in enumerate(function.float_inputs):
        result[i] = grads[k]
    return result


def _call_jvp(tangents, inputs, outputs, function):
    in_tangents = [tangents[i] if tangents[i] is not None else zeros_like(inputs[i]) for i in function.float_inputs]
    out_tangents = call(function.tangent(), *inputs, *in_tangents)
    result = [None] * len(outputs)
    for k, i in enumerate(function.float_outputs):
        result[i] = out_tangents[k]
    return result


define("call", _call_infer, vjp=_call_vjp, jvp=_call_jvp, multi_output=True, foldable=False)


def call(function: GraphFunction, *inputs) -> tuple:
    """Runs ``function``'s graph on ``inputs`` as one op; returns its outputs."""
    return bind("call", *inputs, function=function)
