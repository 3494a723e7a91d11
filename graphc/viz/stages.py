"""Which graph a picture shows: the concrete function of what the user passed (a ``gc.function``, a
concrete function, a plain function or a graph) and one of its compile stages, drawn or rendered."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from graphc.backends.numpy.ops import run_op
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.passes import PassStat, compile_stages

from .. import config
from ..function import ConcreteFunction, Function, function
from .dot import graph_to_dot
from .render import output_format, write

if TYPE_CHECKING:
    import graphviz

STAGES = ("traced", "optimized", "fused")


def concrete_function(fn, *example_args, **example_kwargs) -> ConcreteFunction:
    """The concrete function of ``fn`` (a ``gc.function``, a concrete function or a plain Python
    function, compiled here) for the example arguments (arrays, tensors or ``gc.TensorSpec``)."""
    if isinstance(fn, ConcreteFunction):
        if example_args or example_kwargs:
            raise InvalidArgumentError("gc.viz: a concrete function takes no example arguments")
        return fn
    if not isinstance(fn, Function):
        if not callable(fn):
            raise InvalidArgumentError(f"gc.viz: expected a function or a graph, got {type(fn).__name__}")
        fn = function(fn)
    return fn.get_concrete_function(*example_args, **example_kwargs)


def subject_of(fn, example_args) -> Graph | ConcreteFunction:
    """What ``fn`` and its example arguments name: a graph as it is, else a concrete function."""
    if isinstance(fn, Graph):
        if example_args:
            raise InvalidArgumentError("gc.viz: a graph takes no example arguments")
        return fn
    return concrete_function(fn, *example_args)


def stage_graphs(fn, *example_args) -> tuple[dict[str, Graph], list[PassStat]]:
    """Every stage of ``fn``'s graph and the per-pass statistics. Runs the graph passes only (no
    native code) unless the function was already compiled."""
    subject = subject_of(fn, example_args)
    if isinstance(subject, ConcreteFunction):
        if subject.is_compiled:
            return subject.graphs, subject.pass_stats
        subject = subject.graph
    return compile_stages(subject, run_op, config.get_optimizer_options())


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise InvalidArgumentError(f"gc.viz: unknown stage {stage!r}; choose one of {', '.join(STAGES)}")


def signature_of(subject: Graph | ConcreteFunction) -> str:
    """``predict(x: f32[2,4])`` for a concrete function, the name for a graph."""
    if isinstance(subject, Graph):
        return subject.name
    specs = ", ".join(f"{path}: {spec}" for path, spec in subject.structured_input_signature)
    return f"{subject.function.name}({specs})"


def stage_title(signature: str, stage: str | None, graph: Graph) -> str:
    """A picture's caption: ``predict(x: f32[2,4]) · fused · 9 nodes, 2 kernels`` (no stage: a graph
    given as it is, whose stage graphc does not know)."""
    kernels = f", {len(graph.kernels)} kernels" if graph.kernels else ""
    return f"{signature}{f' · {stage}' if stage else ''} · {len(graph.nodes)} nodes{kernels}"


def to_dot(fn, *example_args, stage: str = "traced", **options) -> graphviz.Digraph:
    """The picture of one stage of ``fn``'s graph as a ``graphviz.Digraph``; ``options`` go to
    ``graphc.viz.dot.graph_to_dot`` (gradients, collapse_scopes, expand_kernels, edge_labels, rankdir, ...)."""
    check_stage(stage)
    subject = subject_of(fn, example_args)
    if stage == "traced":
        graph = subject if isinstance(subject, Graph) else subject.graph
    else:
        graph = stage_graphs(subject)[0][stage]
    shown = None if isinstance(subject, Graph) and stage == "traced" else stage  # a Graph is drawn as given
    options.setdefault("title", stage_title(signature_of(subject), shown, graph))
    return graph_to_dot(graph, **options)


def render(
    fn, *example_args, path: str | os.PathLike = "graph.svg", stage: str = "traced", gradients: bool = True,
    collapse_scopes=False, **options,
) -> str:
    """Draws one stage of ``fn``'s graph into ``path``: ``.svg``, ``.png``, ``.pdf`` or ``.dot`` by its
    suffix. ``fn`` is a ``gc.function``, a concrete function, a plain function or a graph; the example
    arguments (arrays or ``gc.TensorSpec``) pick the trace. Returns the path written: without
    Graphviz's ``dot`` program that is the ``.dot`` file, and one line says how to render it."""
    output_format(path)  # a bad suffix fails before any tracing
    dot = to_dot(fn, *example_args, stage=stage, gradients=gradients, collapse_scopes=collapse_scopes, **options)
    return write(dot, path)
