"""Running passes: a declared list, the verifier after each pass, and per-pass statistics."""
from __future__ import annotations

import logging
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import IRError
from ..graph import Graph
from ..verify import verify
from .rebuild import structure
from .regions import in_regions

log = logging.getLogger("graphc.passes")

HEADER = f"{'stage':<10} {'pass':<32} {'before':>6} {'after':>6} {'ms':>8}  counts"

# What the pass that run_passes is running counts (see report_counts); None outside run_passes.
_running_counts: ContextVar[Counter | None] = ContextVar("running_counts", default=None)


@dataclass(frozen=True)
class PassStat:
    stage: str
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict, hash=False)  # what the pass counted, most frequent first

    def __str__(self) -> str:
        """One line of the statistics table (see ``HEADER``), the counts as ``name=n``."""
        line = f"{self.stage:<10} {self.name:<32} {self.nodes_before:>6} {self.nodes_after:>6} {1e3 * self.seconds:>8.2f}"
        counts = " ".join(f"{name}={n}" for name, n in self.counts.items())
        return f"{line}  {counts}" if counts else line


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


def report_counts(counts: Mapping[str, int]) -> None:
    """Adds ``counts`` (events by name: the rewrite rules that fired, say) to the statistics of the pass
    that ``run_passes`` is running; outside ``run_passes`` they are dropped."""
    running = _running_counts.get()
    if running is not None:
        running.update(counts)


def run_passes(graph: Graph, passes: list[Pass], stage: str, stats: list[PassStat]) -> Graph:
    """Runs ``passes`` in order, verifying after each; appends one ``PassStat`` per pass to ``stats``
    (its ``seconds`` are the pass's own, without the verifier).

    A pass that returns a malformed graph raises IRError naming the pass."""
    for p in passes:
        start, before, counts = time.perf_counter(), len(graph.nodes), Counter()
        token = _running_counts.set(counts)
        try:
            result = in_regions(p.run)(graph)  # the regions of cond and while_loop nodes too
        finally:
            _running_counts.reset(token)
        seconds = time.perf_counter() - start
        try:
            graph = verify(result)
        except IRError as error:
            raise IRError(f"pass {p.name!r} ({stage}) returned an invalid graph: {error.message}") from error
        record(stats, PassStat(stage, p.name, before, len(graph.nodes), seconds, dict(counts.most_common())))
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
    """The statistics as a table, one pass a line, with what each counted."""
    return "\n".join([HEADER, *map(str, stats)])
