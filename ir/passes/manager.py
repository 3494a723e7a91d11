"""Running passes: a declared list, the verifier after each pass, and per-pass statistics."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import IRError
from ..graph import Graph
from ..verify import verify
from .rebuild import structure
from .regions import in_regions

log = logging.getLogger("graphc.passes")

HEADER = f"{'stage':<10} {'pass':<32} {'before':>6} {'after':>6} {'ms':>8}"


@dataclass(frozen=True)
class PassStat:
    stage: str
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float

    def __str__(self) -> str:
        """One line of the statistics table (see ``HEADER``)."""
        return f"{self.stage:<10} {self.name:<32} {self.nodes_before:>6} {self.nodes_after:>6} {1e3 * self.seconds:>8.2f}"


@dataclass(frozen=True)
class Pass:
    """A named, pure function from graph to graph: it returns a new graph and leaves its input as it was."""

    name: str
    run: Callable[[Graph], Graph]
    option: str | None = None  # the optimizer option that switches it off


def record(stats: list[PassStat], stat: PassStat) -> None:
    """Appends ``stat`` and logs it as a line of the table (``GRAPHC_LOG=passes``)."""
    stats.append(stat)
    log.info("%s", stat)


def run_passes(graph: Graph, passes: list[Pass], stage: str, stats: list[PassStat]) -> Graph:
    """Runs ``passes`` in order, verifying after each; appends one ``PassStat`` per pass to ``stats``
    (its ``seconds`` are the pass's own, without the verifier).

    A pass that returns a malformed graph raises IRError naming the pass."""
    for p in passes:
        start, before = time.perf_counter(), len(graph.nodes)
        result = in_regions(p.run)(graph)  # the regions of cond and while_loop nodes too
        seconds = time.perf_counter() - start
        try:
            graph = verify(result)
        except IRError as error:
            raise IRError(f"pass {p.name!r} ({stage}) returned an invalid graph: {error.message}") from error
        record(stats, PassStat(stage, p.name, before, len(graph.nodes), seconds))
    return graph


def run_to_fixed_point(graph: Graph, passes: list[Pass], stage: str, stats: list[PassStat], max_rounds: int = 8) -> Graph:
    """Repeats ``passes`` until a round leaves the graph's ops and wiring unchanged (at most ``max_rounds``)."""
    for _ in range(max_rounds):
        before = structure(graph)
        graph = run_passes(graph, passes, stage, stats)
        if structure(graph) == before:
            break
    return graph


def format_stats(stats: list[PassStat]) -> str:
    """The statistics as a table, one pass a line."""
    return "\n".join([HEADER, *map(str, stats)])
