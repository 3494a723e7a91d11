"""Memory planning: the intermediates of a (fused) graph placed in one reusable arena.

``plan_memory(graph)`` analyses a graph, without changing it, and decides where each intermediate
result lives while the graph runs:

- A *buffer* is needed for every result of a top-level node except ``constant`` results (static data),
  ``read_variable`` results (they alias the variable's storage) and *views* (ops marked ``view``:
  reshape, expand_dims, ...), which alias their first input's storage and extend its lifetime. Graph inputs
  belong to the caller. Bodies of ``fused`` kernels are the backend's business, not planned here.
- A buffer lives from the index of its defining node to the index of its last use, through views,
  in ``graph.nodes`` order; the graph's return counts as a use at index ``len(graph.nodes)``.
- Buffers the caller receives (a graph output, or viewed by one) are ``output`` buffers, allocated
  apart from the arena; buffers of unknown size (a symbolic dimension) are ``dynamic``; the other
  buffers are ``arena`` buffers, placed by ``assign_offsets``.
- In place: a result of an ``elementwise`` kernel may take the offset of an input buffer of the same
  byte size and element size whose lifetime ends at that kernel (``inplace_of``). An ``elementwise``
  or ``matmul`` kernel whose result only feeds ``assign_variable`` writes straight into the variable
  (kind ``variable``, listed in ``in_place_updates``) when nothing reads the variable's old value
  after the kernel, the variable is assigned only there, and no matmul operand is the variable
  itself (the epilogue may read it: each point is read before it is written).
- ``arena_bytes`` is the planned peak; ``unplanned_bytes`` what the arena buffers would take each in
  an aligned allocation of its own (never less than the peak).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from ..errors import InvalidArgumentError
from ..graph import Graph, Node, Value
from ..types import DType, TensorType

_VARIABLE_WRITER_KINDS = ("elementwise", "matmul")


@dataclass(frozen=True)
class Buffer:
    """One planned value: ``name`` as in the text IR, lifetime ``first..last`` (node indices).

    ``kind`` is 'arena' (``offset`` into the arena), 'output', 'dynamic' (``nbytes`` is None) or
    'variable' (written into the variable's storage). ``inplace_of`` names the value whose arena
    bytes an in-place result reuses (``%3``) or, for kind 'variable', the variable (``@w``)."""

    name: str
    dtype: DType
    shape: tuple
    nbytes: int | None
    first: int
    last: int
    offset: int | None
    kind: str
    inplace_of: str | None = None

    @property
    def type(self) -> TensorType:
        return TensorType(self.shape, self.dtype)

    def to_dict(self) -> dict:
        return {**asdict(self), "dtype": self.dtype.name, "shape": list(self.shape)}


@dataclass(frozen=True)
class MemoryPlan:
    """Where every intermediate of a graph lives; ``arena_bytes`` is the planned peak and
    ``unplanned_bytes`` what the arena buffers take each in an aligned allocation of its own."""

    buffers: list[Buffer]
    arena_bytes: int
    unplanned_bytes: int
    in_place_updates: dict[str, int]  # variable name -> index of the kernel writing into it
    alignment: int

    def buffer(self, name: str) -> Buffer:
        """The buffer of the value named ``name`` (``%7``)."""
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "alignment": self.alignment,
            "arena_bytes": self.arena_bytes,
            "unplanned_bytes": self.unplanned_bytes,
            "in_place_updates": dict(self.in_place_updates),
            "buffers": [b.to_dict() for b in self.buffers],
        }

    def __str__(self) -> str:
        rows = [("value", "type", "bytes", "live", "offset")]
        rows += [
            (b.name, str(b.type), _bytes_text(b.nbytes), f"{b.first}..{b.last}", _placement(b)) for b in self.buffers
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        # names and types left-aligned, numbers right-aligned
        lines = [
            "  ".join(_aligned(cell, w, left=i < 2) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows
        ]
        saved = 1 - self.arena_bytes / self.unplanned_bytes if self.unplanned_bytes else 0.0
        lines.append(f"peak {self.arena_bytes} bytes (unplanned {self.unplanned_bytes} bytes, {saved:.0%} saved)")
        return "\n".join(lines)


def _aligned(cell: str, width: int, left: bool) -> str:
    return cell.ljust(width) if left else cell.rjust(width)


def _bytes_text(nbytes: int | None) -> str:
    return "?" if nbytes is None else str(nbytes)


def _placement(b: Buffer) -> str:
    if b.kind == "arena":
        return str(b.offset) + (f" (in place of {b.inplace_of})" if b.inplace_of else "")
    return f"in place into {b.inplace_of}" if b.kind == "variable" else b.kind


# -- offsets --------------------------------------------------------------------------------------
def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def assign_offsets(
    sizes: Sequence[int],
    lifetimes: Sequence[tuple[int, int]],
    alignment: int = 64,
    inplace_pairs: Iterable[tuple[int, int]] = (),
) -> list[int]:
    """Arena offsets for buffers of ``sizes`` bytes alive over inclusive ``lifetimes`` (first, last).

    Buffers whose lifetimes overlap get disjoint bytes, except each ``(result, donor)`` pair of
    ``inplace_pairs``: the result reuses the donor's bytes (equal sizes; the donor's lifetime ends
    where the result's begins). Greedy: largest first (then earliest), each at the lowest offset,
    a multiple of ``alignment``, that fits beside the buffers already placed."""
    _check_buffers(sizes, lifetimes, alignment)
    # a chain of in-place buffers is one allocation, live from its first birth to its last use
    allocations = [
        (sizes[chain[0]], lifetimes[chain[0]][0], lifetimes[chain[-1]][1], chain)
        for chain in _inplace_chains(sizes, lifetimes, inplace_pairs)
    ]
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets = [0] * len(sizes)
    for size, first, last, chain in sorted(allocations, key=lambda a: (-a[0], a[1], a[3][0])):
        busy = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)
        offset = _lowest_fit(size, busy, alignment)
        if size:
            placed.append((offset, offset + size, first, last))
        for i in chain:
            offsets[i] = offset
    return offsets


def _check_buffers(sizes, lifetimes, alignment) -> None:
    if not isinstance(alignment, int) or alignment < 1:
        raise InvalidArgumentError(f"alignment must be a positive int, got {alignment!r}")
    if len(sizes) != len(lifetimes):
        raise InvalidArgumentError(f"{len(sizes)} sizes but {len(lifetimes)} lifetimes")
    for i, (size, (first, last)) in enumerate(zip(sizes, lifetimes)):
        if size < 0 or first > last:
            raise InvalidArgumentError(f"buffer {i}: size {size} and lifetime {first}..{last} are not valid")


def _inplace_chains(sizes, lifetimes, pairs) -> list[list[int]]:
    """The buffers as chains sharing bytes, in order of birth: each donor hands its bytes to at most
    one result, which is born no earlier than the donor dies."""
    donor_of: dict[int, int] = {}
    result_of: dict[int, int] = {}
    for result, donor in pairs:
        if not (0 <= result < len(sizes) and 0 <= donor < len(sizes)):
            raise InvalidArgumentError(f"in-place pair ({result}, {donor}): no such buffer")
        if result in donor_of or donor in result_of:
            raise InvalidArgumentError(f"in-place pair ({result}, {donor}): a buffer takes or gives its bytes once")
        if sizes[result] != sizes[donor] or lifetimes[donor][1] > lifetimes[result][0]:
            raise InvalidArgumentError(
                f"in-place pair ({result}, {donor}): the sizes differ or the donor outlives the result's start"
            )
        donor_of[result], result_of[donor] = donor, result
    chains = []
    for start in range(len(sizes)):
        if start in donor_of:
            continue
        chain = [start]
        while chain[-1] in result_of:
            chain.append(result_of[chain[-1]])
        chains.append(chain)
    if sum(map(len, chains)) != len(sizes):
        raise InvalidArgumentError("in-place pairs form a cycle")
    return chains


def _lowest_fit(size: int, busy: list[tuple[int, int]], alignment: int) -> int:
    """The lowest aligned offset where ``size`` bytes miss every (offset, end) range of ``busy``
    (sorted by offset)."""
    offset = 0
    for start, end in busy:
        if end <= offset:
            continue
        if offset + size <= start:
            break
        offset = align_up(end, alignment)
    return offset


# -- analysis of a graph --------------------------------------------------------------------------
def _nbytes(t: TensorType) -> int | None:
    return None if t.size is None else t.size * t.dtype.numpy.itemsize


def _storage_roots(graph: Graph, aliases: frozenset = frozenset()) -> dict[Value, Value]:
    """Each value's storage owner: a view's (or one of ``aliases``) is its first input's, every other
    value owns its own."""
    roots: dict[Value, Value] = {v: v for v in graph.inputs}
    for node in graph.nodes:
        for v in node.outputs:
            roots[v] = roots[node.inputs[0]] if node.opdef.view or v in aliases else v
    return roots


def _last_uses(graph: Graph, roots: dict[Value, Value]) -> dict[Value, int]:
    """For each storage owner, the index of the last node that reads it or one of its views."""
    last: dict[Value, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[roots[v]] = i
    for v in graph.outputs:
        last[roots[v]] = len(graph.nodes)
    return last


def _owns_buffer(v: Value, roots: dict[Value, Value]) -> bool:
    return v.node is not None and roots[v] is v and v.node.op != "constant" and v.node.opdef.effect != "read"


def _reads_variable(v: Value, var: str, roots: dict[Value, Value]) -> bool:
    node = roots[v].node
    return node is not None and node.op == "read_variable" and node.attrs["var"] == var


def _matmul_operands(kernel: Node) -> list[Value]:
    """The inputs of a ``matmul`` kernel that its matmul itself reads (not only its epilogue)."""
    body = kernel.attrs["body"]
    return [kernel.inputs[v.index] for n in body.nodes if n.op == "matmul" for v in n.inputs if v.node is None]


def _variable_updates(graph: Graph, roots: dict[Value, Value], last: dict[Value, int]) -> dict[Value, tuple[str, int]]:
    """Kernel results that can be written straight into the variable they are assigned to: the
    value -> (variable name, kernel index)."""
    position = {n: i for i, n in enumerate(graph.nodes)}
    users = graph.users()
    outputs = set(graph.outputs)
    assigns = [n for n in graph.nodes if n.op == "assign_variable"]
    assign_count = Counter(n.attrs["var"] for n in assigns)
    updates = {}
    for assign in assigns:
        var, (value,) = assign.attrs["var"], assign.inputs
        kernel = value.node
        if (
            assign_count[var] != 1
            or kernel is None
            or kernel.op != "fused"
            or kernel.attrs["kind"] not in _VARIABLE_WRITER_KINDS
            or users[value] != [assign]
            or value in outputs
        ):
            continue
        k = position[kernel]
        old_value_read_later = any(
            n.op == "read_variable" and n.attrs["var"] == var and last.get(n.outputs[0], -1) > k
            for n in graph.nodes[: position[assign]]
        )
        operand_is_variable = kernel.attrs["kind"] == "matmul" and any(
            _reads_variable(v, var, roots) for v in _matmul_operands(kernel)
        )
        if not old_value_read_later and not operand_is_variable:
            updates[value] = (var, k)
    return updates


def _kind(v: Value, returned: set[Value], updates: dict) -> str:
    if v in updates:
        return "variable"
    if v in returned:
        return "output"
    return "dynamic" if _nbytes(v.type) is None else "arena"


def _inplace_donors(graph: Graph, roots, last, kinds: dict[Value, str]) -> dict[Value, Value]:
    """Results of elementwise kernels that reuse an input buffer dying at the kernel: result -> donor."""
    donors: dict[Value, Value] = {}
    taken: set[Value] = set()
    for k, node in enumerate(graph.nodes):
        if node.op != "fused" or node.attrs["kind"] != "elementwise":
            continue
        for out in node.outputs:
            if kinds.get(out) != "arena":
                continue
            for donor in (roots[v] for v in node.inputs):
                if (
                    kinds.get(donor) == "arena"
                    and donor not in taken
                    and last[donor] == k
                    and _nbytes(donor.type) == _nbytes(out.type)
                    and donor.dtype.numpy.itemsize == out.dtype.numpy.itemsize
                ):
                    donors[out] = donor
                    taken.add(donor)
                    break
    return donors


def plan_memory(graph: Graph, alignment: int = 64, aliases: frozenset = frozenset()) -> MemoryPlan:
    """Plans where every intermediate of ``graph`` lives (see the module docstring); the graph is
    not changed. ``aliases`` are results a backend does not materialise: like views, they share their
    first input's storage (a transpose that BLAS reads in place)."""
    names = {v: f"%{i}" for i, v in enumerate(graph.values())}
    position = {n: i for i, n in enumerate(graph.nodes)}
    roots = _storage_roots(graph, frozenset(aliases))
    last = _last_uses(graph, roots)
    updates = _variable_updates(graph, roots, last)
    returned = {roots[v] for v in graph.outputs}
    owners = [v for v in graph.values() if _owns_buffer(v, roots)]
    kinds = {v: _kind(v, returned, updates) for v in owners}
    donors = _inplace_donors(graph, roots, last, kinds)

    lifetime = {v: (position[v.node], last.get(v, position[v.node])) for v in owners}
    arena = [v for v in owners if kinds[v] == "arena"]
    index = {v: i for i, v in enumerate(arena)}
    sizes = [_nbytes(v.type) for v in arena]
    offsets = assign_offsets(
        sizes, [lifetime[v] for v in arena], alignment, [(index[r], index[d]) for r, d in donors.items()]
    )
    offset_of = dict(zip(arena, offsets))

    def shares_with(v: Value) -> str | None:
        if v in updates:
            return "@" + updates[v][0]
        return names[donors[v]] if v in donors else None

    buffers = [
        Buffer(names[v], v.dtype, tuple(v.shape), _nbytes(v.type), *lifetime[v], offset_of.get(v), kinds[v],
               shares_with(v))
        for v in owners
    ]
    return MemoryPlan(
        buffers=buffers,
        arena_bytes=max((o + s for o, s in zip(offsets, sizes)), default=0),
        unplanned_bytes=sum(align_up(s, alignment) for s in sizes),
        in_place_updates={var: k for var, k in updates.values()},
        alignment=alignment,
    )
