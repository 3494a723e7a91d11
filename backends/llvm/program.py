"""What running a compiled graph needs besides its machine code: the entry points' names, the sync
words, the buffer layout (``Program``: a ``Slot`` per buffer) and the layout's stored form.

The code generator (``codegen``) lays out and emits a graph; this module imports neither it nor
llvmlite, so that a process whose code is all cached runs it without loading them. The layout is
cached beside the object code under the same key (``cache.LAYOUT``: the key covers the fused graph
and the code generator's source, so an entry holds the layout the code was generated with). Its
stored form is JSON naming every slot by what the graph says of it — an input or output by index, a
variable by name, a constant by the path of its node, a symbolic size by its number (``symbols_of``:
names differ between processes) — and ``read_layout`` checks each slot against
the graph (kind, dtype, shape, arena range, one slot per input, output and variable) before any
code uses it.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from graphc.ir.errors import GraphcError
from graphc.ir.graph import Graph, Node
from graphc.ir.types import as_dtype

ENTRY = "graphc_entry"
# graphc_call(sync, inputs, arrays): the one-thread entry taking Python objects directly
CALL = "graphc_call"
# sync words (see ``emitter`` and ``pyobjects`` for those after SYNC_HOST)
SYNC_COUNT, SYNC_GENERATION, SYNC_ERROR, SYNC_ERROR_NODE = 0, 1, 2, 3
SYNC_HOST = 5  # the address of the executable's host call dispatcher (``host_calls.py``); word 4: ``graphc_call``'s dims
SYNC_OPENMP = 6  # the address of the OpenMP functions of ``teams``, or 0
ALIGNMENT = 64  # of every buffer and arena range


class Slot(NamedTuple):
    """One pointer of the ``slots`` table: where the runtime finds or allocates the buffer.

    kind: 'input' (key: input index), 'output' (key: output index), 'variable' (key: name; its
    current value, read only), 'assigned' (key: name; the buffer its new value is built in),
    'constant' (key: the array), 'arena' (key: the offset in the arena), 'buffer' (an intermediate
    of unknown size the runtime allocates per run-time sizes and reuses), 'scratch' (a value used
    inside one kernel only: every scratch slot points to one buffer, as large as the largest), 'host' (key: a ``HostCall``;
    no buffer: the number host call code passes to the dispatcher, see ``host_calls``). (A NamedTuple:
    a dataclass took 0.3 ms of a first call.)"""

    kind: str
    key: object
    dtype: object
    shape: tuple


class Program:
    """A compiled graph's code (LLVM IR; empty when the code came from the cache; ``parts``, the
    texts LLVM compiles, see ``partition``) and buffer layout: its slots, symbolic sizes, nodes (by
    index, for error messages), the slots of its results and the size of its arena. (A plain class:
    a dataclass took 0.5 ms of a warm first call's imports.)"""

    def __init__(self, name: str, ir: str, slots: list[Slot], symbols: list[str], nodes: list[Node],
                 output_slots: list[int] | None = None, arena_bytes: int = 0):
        self.name, self.ir, self.slots, self.symbols, self.nodes = name, ir, slots, symbols, nodes
        self.parts = [ir] if ir else []
        self.output_slots = output_slots if output_slots is not None else []
        self.arena_bytes = arena_bytes


def variable_slots(program: Program) -> list[int]:
    """The slots of the variables' current values, then those of their new values."""
    return [i for kind in ("variable", "assigned") for i, s in enumerate(program.slots) if s.kind == kind]


def symbols_of(graph: Graph) -> list[str]:
    """The symbolic dimensions of ``graph`` (its regions and kernel bodies included) and of its
    variables, in the order the code numbers them."""
    names: list[str] = []

    def add(shape):
        for d in shape:
            if isinstance(d, str) and d not in names:
                names.append(d)

    def visit(g: Graph):
        for v in g.values():
            add(v.type.shape)
        for n in g.nodes:
            if "body" in n.attrs:
                visit(n.attrs["body"])

    visit(graph)
    for var in graph.variables.values():
        add(var.type.shape)
    return names


# -- the stored layout -------------------------------------------------------------------------------
LAYOUT_VERSION = 1  # (the stored form; the cache entry's magic line names it too)


def _constant_paths(graph: Graph, prefix: tuple = ()) -> dict[int, tuple]:
    """id(array) -> the path of the constant node holding it: node indices, and the name of the
    subgraph between two of them."""
    paths = {}
    for j, node in enumerate(graph.nodes):
        if node.op == "constant":
            paths.setdefault(id(node.attrs["value"]), (*prefix, j))
        for name, sub in node.subgraphs.items():
            paths.update((k, p) for k, p in _constant_paths(sub, (*prefix, j, name)).items() if k not in paths)
    return paths


def stored_layout(program: Program, graph: Graph) -> bytes | None:
    """``program``'s layout in its stored form, or None for one the form cannot hold (host calls)."""
    paths = _constant_paths(graph)
    number = {name: i for i, name in enumerate(program.symbols)}
    slots = []
    for slot in program.slots:
        if slot.kind == "host" or (slot.kind == "constant" and id(slot.key) not in paths):
            return None
        key = list(paths[id(slot.key)]) if slot.kind == "constant" else slot.key
        slots.append([slot.kind, key, slot.dtype.name, [[number[d]] if isinstance(d, str) else d for d in slot.shape]])
    return json.dumps({"version": LAYOUT_VERSION, "arena_bytes": program.arena_bytes,
                       "output_slots": program.output_slots, "slots": slots}).encode()


def read_layout(data: bytes, graph: Graph) -> Program:
    """The program (without IR) ``data`` holds for ``graph``; raises ValueError saying what does not fit."""
    try:
        stored = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"its layout is not JSON: {error}") from None
    if not isinstance(stored, dict) or set(stored) != {"version", "arena_bytes", "output_slots", "slots"}:
        raise ValueError("its layout does not have the fields of one")
    if stored["version"] != LAYOUT_VERSION:
        raise ValueError(f"its layout is of version {stored['version']!r}, not {LAYOUT_VERSION}")
    arena_bytes, output_slots, stored_slots = stored["arena_bytes"], stored["output_slots"], stored["slots"]
    if not _count(arena_bytes) or not isinstance(stored_slots, list) or not isinstance(output_slots, list):
        raise ValueError("its layout does not have the fields of one")
    symbols = symbols_of(graph)
    slots = [_read_slot(k, item, graph, symbols, arena_bytes) for k, item in enumerate(stored_slots)]
    for kind, expected in (("input", list(range(len(graph.inputs)))), ("output", list(range(len(graph.outputs)))),
                           ("variable", sorted(graph.variables))):
        if sorted(s.key for s in slots if s.kind == kind) != expected:
            raise ValueError(f"its layout does not hold one {kind} slot per {kind} of the graph")
    if len(output_slots) != len(graph.outputs) or not all(
        _count(i) and i < len(slots) and slots[i].kind == "output" and slots[i].key == k for k, i in enumerate(output_slots)
    ):
        raise ValueError("its layout's output slots are not the graph's outputs")
    return Program(graph.name, "", slots, symbols, list(graph.nodes), output_slots, arena_bytes)


def _count(x) -> bool:
    return type(x) is int and x >= 0


def _symbol(d, symbols: list[str]) -> bool:
    """Whether ``d`` is a stored symbolic size: [its number]."""
    return isinstance(d, list) and len(d) == 1 and _count(d[0]) and d[0] < len(symbols)


def _read_slot(k: int, item, graph: Graph, symbols: list[str], arena_bytes: int) -> Slot:
    """Slot ``k`` of a stored layout, checked against what the graph says of it."""
    if not (isinstance(item, list) and len(item) == 4 and isinstance(item[2], str) and isinstance(item[3], list)
            and all(_count(d) or _symbol(d, symbols) for d in item[3])):
        raise ValueError(f"slot {k} of its layout is not a slot")
    kind, key, dtype_name, shape = item
    shape = [d if _count(d) else symbols[d[0]] for d in shape]
    try:
        dtype = as_dtype(dtype_name)
    except GraphcError:
        dtype = None
    if dtype is None or dtype.name != dtype_name:
        raise ValueError(f"slot {k} of its layout has no dtype but {dtype_name!r}")
    slot = Slot(kind, key, dtype, tuple(shape))
    expected = _expected_type(slot, graph, arena_bytes)
    if expected is None or expected != (dtype, slot.shape):
        raise ValueError(f"slot {k} of its layout ({kind} {key!r}: {dtype_name}{shape}) does not fit the graph")
    return slot._replace(key=_node_at(graph, key).attrs["value"]) if kind == "constant" else slot


def _expected_type(slot: Slot, graph: Graph, arena_bytes: int) -> tuple | None:
    """(dtype, shape) the graph gives a slot of this kind and key, or None when it has no such slot."""
    kind, key = slot.kind, slot.key
    if kind in ("input", "output"):
        values = graph.inputs if kind == "input" else graph.outputs
        return (values[key].dtype, values[key].type.shape) if _count(key) and key < len(values) else None
    if kind in ("variable", "assigned"):
        var = graph.variables.get(key) if isinstance(key, str) else None
        return (var.type.dtype, var.type.shape) if var is not None else None
    if kind == "constant":
        node = _node_at(graph, key)
        return (node.outputs[0].dtype, node.outputs[0].type.shape) if node is not None and node.op == "constant" else None
    if kind == "arena":
        static = all(isinstance(d, int) for d in slot.shape)
        fits = static and _count(key) and key % ALIGNMENT == 0 and key + _nbytes(slot) <= arena_bytes
        return (slot.dtype, slot.shape) if fits else None
    if kind in ("buffer", "scratch"):
        return (slot.dtype, slot.shape) if key is None else None
    return None


def _nbytes(slot: Slot) -> int:
    n = slot.dtype.numpy.itemsize
    for d in slot.shape:
        n *= d
    return n


def _node_at(graph: Graph, path) -> Node | None:
    """The node at ``path`` (see ``_constant_paths``), or None when there is none."""
    if not isinstance(path, list) or len(path) % 2 != 1:
        return None
    for step in range(0, len(path), 2):
        j = path[step]
        if not _count(j) or j >= len(graph.nodes):
            return None
        node = graph.nodes[j]
        if step + 1 == len(path):
            return node
        graph = node.subgraphs.get(path[step + 1]) if isinstance(path[step + 1], str) else None
        if graph is None:
            return None
    return None
