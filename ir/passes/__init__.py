"""Graph passes and the pipeline that runs them.

Stages of a compiled function, each an IR graph:
- ``traced``: as recorded from Python (forward and backward);
- ``optimized``: constant folding, algebraic simplification, common-subexpression elimination and
  dead-code elimination, repeated until nothing changes;
- ``fused``: elementwise and reduction ops grouped into ``fused`` kernels (with the ``fusion``
  option off, one kernel per op: backends lower kernels, not lone elementwise ops).
Memory planning then assigns the fused graph's intermediates to one arena (``plan_memory``).
"""
from __future__ import annotations

from functools import partial

from ..graph import Graph
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fold import fold_constants
from .fusion import fuse, kernel_per_op, partition
from .manager import HEADER, Pass, PassStat, format_stats, log, record, run_passes, run_to_fixed_point
from .memory import MemoryPlan, plan_memory
from .simplify import simplify

# Optimizer options, named after TensorFlow's where it has one: all on by default.
DEFAULT_OPTIONS = {
    "constant_folding": True,
    "arithmetic_optimization": True,
    "common_subgraph_elimination": True,
    "dead_code_elimination": True,
    "fusion": True,
}


def optimization_passes(evaluate) -> list[Pass]:
    return [
        Pass("fold_constants", partial(fold_constants, evaluate=evaluate), "constant_folding"),
        Pass("simplify", simplify, "arithmetic_optimization"),
        Pass("eliminate_common_subexpressions", eliminate_common_subexpressions, "common_subgraph_elimination"),
        Pass("eliminate_dead_code", eliminate_dead_code, "dead_code_elimination"),
    ]


def fusion_passes(options: dict) -> list[Pass]:
    kernels = Pass("fuse", fuse) if options["fusion"] else Pass("kernel_per_op", kernel_per_op)
    return [kernels, Pass("eliminate_dead_code", eliminate_dead_code, "dead_code_elimination")]


def compile_stages(graph: Graph, evaluate, options: dict | None = None) -> tuple[dict[str, Graph], list[PassStat]]:
    """The graph at every stage (``traced``, ``optimized``, ``fused``) and the per-pass statistics.

    ``evaluate(op, arrays, attrs, types)`` computes constant nodes for folding; ``options`` switches
    passes off by name (see ``DEFAULT_OPTIONS``)."""
    options = _checked(options)
    log.info("passes of graph %s\n%s", graph.name, HEADER)
    stats: list[PassStat] = []
    optimized = optimize(graph, evaluate, options, stats)
    fused = run_passes(optimized, _enabled(fusion_passes(options), options), "fuse", stats)
    return {"traced": graph, "optimized": optimized, "fused": fused}, stats


def optimize(graph: Graph, evaluate, options: dict | None, stats: list[PassStat]) -> Graph:
    """The ``optimized`` stage of ``graph`` (see ``compile_stages``), its passes' statistics appended to ``stats``."""
    return run_to_fixed_point(graph, _enabled(optimization_passes(evaluate), _checked(options)), "optimize", stats)


def _checked(options: dict | None) -> dict:
    unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown optimizer options {unknown}; known: {', '.join(DEFAULT_OPTIONS)}")
    return {**DEFAULT_OPTIONS, **(options or {})}


def _enabled(passes: list[Pass], options: dict) -> list[Pass]:
    return [p for p in passes if p.option is None or options[p.option]]
