"""The optimised and fused graph of a traced graph, cached beside its object code, so that a process
that finds it skips the optimisation and fusion passes.

The key hashes the traced graph's structure, printed with a ``Renaming``: ops, wiring, types,
attributes, full constants, name scopes, gradient marks, which nodes share a source location and
the variables' types and order, but neither the function's nor its parameters' nor its variables'
names (nor any nested graph's), nor the files and lines of its source. Graphs that differ only in those share one entry. The
key also covers the optimizer options, graphc's version and the source of the IR and of both
backends (``cache.generator_fingerprint``).

The entry (``cache.GRAPH``, with the same checks of path, key, length and checksum as object code)
holds the fused graph's text under the same renaming. It is read back with this process's names:
its variables bind to the traced graph's variable objects by position, its locations to the traced
graph's. Text that does not parse or match the traced graph's inputs and outputs is reported and
the graph is rebuilt; only text that verifies and reads back to itself is stored, so text read from
an entry is not verified again (its key and checksum show it is such text; whoever could forge an
entry with a valid checksum could as well write object code, which is run).
"""
from __future__ import annotations

import hashlib

from graphc.ir.errors import IRError
from graphc.ir.graph import Graph
from graphc.ir.text import Renaming, format_graph, parse_graph
from graphc.ir.verify import verify

from . import cache


class GraphEntry:
    """The cache entry of one traced graph's fused form under some optimizer options. A graph whose
    text cannot carry an attribute (a Python object) has no entry (``key`` is None)."""

    def __init__(self, traced: Graph, options: dict):
        from graphc import __version__

        self.traced = traced
        self.renaming = Renaming.of(traced)
        try:
            text = format_graph(traced, full_constants=True, renaming=self.renaming)
        except ValueError as error:
            cache.log.info("graph not cached (%s): %s", traced.name, error)
            self.key = None
            return
        h = hashlib.sha256()
        for part in (__version__, cache.generator_fingerprint(), repr(sorted(options.items())), text):
            h.update(part.encode())
            h.update(b"\0")
        self.key = h.hexdigest()

    def load(self) -> Graph | None:
        """The fused graph, or None: no entry, or one that is unusable (reported)."""
        if self.key is None:
            return None
        payload = cache.load(self.key, cache.GRAPH)
        if payload is None:
            return None
        try:
            fused = self._read(payload.decode(), stored=True)
        except (IRError, UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError) as error:
            cache.reject(self.key, f"its graph cannot be used: {type(error).__name__}: {error}", cache.GRAPH)
            return None
        return fused

    def store(self, fused: Graph) -> None:
        """Stores ``fused`` unless its text fails to read back to itself (logged, not stored)."""
        if self.key is None:
            return
        try:
            text = format_graph(fused, full_constants=True, renaming=self.renaming)
            readable = format_graph(self._read(text), full_constants=True, renaming=self.renaming) == text
        except (IRError, ValueError, TypeError, KeyError, IndexError) as error:
            cache.log.info("graph not stored %s: %s: %s", self.key[:16], type(error).__name__, error)
            return
        if not readable:
            cache.log.info("graph not stored %s: its text does not read back the same", self.key[:16])
            return
        cache.store(self.key, text.encode(), cache.GRAPH)

    def _read(self, text: str, stored: bool = False) -> Graph:
        """The graph ``text`` holds, checked against the traced graph's signature and verified unless
        it is the text of an entry (``stored``: only text that verifies is stored, and the entry's key
        and checksum show this graphc stored it; verifying again took 1 ms of a warm first call)."""
        fused = parse_graph(text, self.traced.variables, self.renaming)
        if not stored:
            verify(fused)
        if _signature(fused) != _signature(self.traced):
            raise IRError(f"its inputs and outputs are {_signature(fused)}, not {_signature(self.traced)}")
        return fused


def _signature(graph: Graph) -> tuple:
    """The dtypes and static sizes of a graph's inputs and outputs (symbolic sizes as None)."""
    def types(values):
        return tuple((v.dtype, tuple(d if isinstance(d, int) else None for d in v.type.shape)) for v in values)
    return types(graph.inputs), types(graph.outputs)
