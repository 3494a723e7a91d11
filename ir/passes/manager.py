"""Running passes: a declared list, the verifier after each pass, and per-pass statistics."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from ..graph import Graph
from ..verify import verify

log = logging.getLogger("graphc.passes")


@dataclass(frozen=True)
class PassStat:
    stage: str
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float


@dataclass(frozen=True)
class Pass:
    """A named, pure function from graph to graph."""

    name: str
    run: Callable[[Graph], Graph]
    option: str | None = None  # the optimizer option that switches it off


def run_passes(graph: Graph, passes: list[Pass], stage: str, stats: list[PassStat]) -> Graph:
    """Runs ``passes`` in order, verifying after each; appends one ``PassStat`` per pass to ``stats``."""
    for p in passes:
        start, before = time.perf_counter(), len(graph.nodes)
        graph = verify(p.run(graph))
        stat = PassStat(stage, p.name, before, len(graph.nodes), time.perf_counter() - start)
        stats.append(stat)
        log.info("%-10s %-32s %5d -> %5d nodes  %8.2f ms", stage, p.name, before, stat.nodes_after, 1e3 * stat.seconds)
    return graph


def run_to_fixed_point(graph: Graph, passes: list[Pass], stage: str, stats: list[PassStat], max_rounds: int = 8) -> Graph:
    """Repeats ``passes`` until a round leaves the node count unchanged (at most ``max_rounds``)."""
    for _ in range(max_rounds):
        before = len(graph.nodes)
        graph = run_passes(graph, passes, stage, stats)
        if len(graph.nodes) == before:
            break
    return graph


def format_stats(stats: list[PassStat]) -> str:
    """The statistics as a table, one pass a line."""
    lines = [f"{'stage':<10} {'pass':<32} {'before':>6} {'after':>6} {'ms':>8}"]
    for s in stats:
        lines.append(f"{s.stage:<10} {s.name:<32} {s.nodes_before:>6} {s.nodes_after:>6} {1e3 * s.seconds:>8.2f}")
    return "\n".join(lines)
