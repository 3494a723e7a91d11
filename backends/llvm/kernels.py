"""Lowering of fused kernels to loop nests.

A kernel's iteration space S splits into kept axes (the outer loops, shared among threads) and
reduced axes R (the inner loops). Per point of the outer loops the kernel runs one or more *passes*
over the inner loops: a pass computes the reductions whose inputs are ready, and the full-shaped
results that need them (softmax: pass 0 the maximum, pass 1 the sum of exponentials, pass 2 the
quotients). Elementwise values needed again in a later pass are recomputed, not stored. Per-row
values (reduction results and what is computed from them) live in registers between passes.

Adjacent axes that every operand reads the same way (all contiguous, or all broadcast) are merged,
so the innermost loop is as long as possible and contiguous; LLVM's loop vectoriser does the rest.
Float sums and products are vectorised by allowing their reassociation. A float sum runs over blocks
of ``SUM_BLOCK`` elements of the innermost loop: each block is summed in the vectoriser's interleaved
partial sums (a few dozen elements each) and the block sums join a compensated total, so a sum of n
elements is about as accurate as NumPy's pairwise summation at any n, rather than losing n·eps/lanes.
Results are deterministic for a given build.

A kernel whose innermost axis is kept while it reduces others (a bias gradient, the sum over
[N, H, W] of [N, H, W, C]; pooling's windows) runs in *columns*: its innermost kept axis becomes the
innermost loop, inside the reduced loops, in tiles of ``COLUMN_TILE`` columns whose accumulators and
row values live in stack arrays. The inner loop is then contiguous and vectorised across columns,
where reducing each column on its own strides through memory once per column. Each column's float
sum runs in the same blocks of ``PARTIAL_SUM_LENGTH`` with the same compensation as a strided sum.
Measured (W6's bias gradient, f32[64,26,26,32] summed to [32], one thread): 9.3 -> 0.2 ms.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import NamedTuple

from graphc.ir.graph import Graph, Node, Value
from graphc.ir.passes.fusion import Space, kernel_space
from graphc.ir.registry import get_op
from graphc.ir.types import DType, bool_
from llvmlite import ir

from . import scalar
from .accumulators import Accumulator, CompensatedSum
from .emitter import Emitter
from .matmul import emit_matmul
from .scalar import I64, lower_scalar

# Elements one partial sum adds before its block's sum joins the compensated total, as in NumPy's
# pairwise summation (8 partial sums over blocks of 128): the error bound stays about 16 + 5 + 2
# roundings at any length, where NumPy's grows as 16 + log2(n / 128).
PARTIAL_SUM_LENGTH = 16
# A contiguous loop is summed in the vectoriser's 32 lanes (4 interleaved vectors of 8 float32 on AVX2
# and AVX-512 hosts); a strided loop is not vectorised and has one partial sum. Measured: blocks of
# 512 add no time beyond noise to sums in cache or in memory.
VECTOR_LANES = 32
SUM_BLOCK = PARTIAL_SUM_LENGTH * VECTOR_LANES
# Columns of a tile in column mode (see the module docstring): stack arrays of this many elements,
# one per accumulator and row value, stay in L1.
COLUMN_TILE = 256
# Columns a thread takes at least in column mode: threads sharing 128 bytes of each row (the pair of
# lines the CPU fetches together) both read every row. Measured (W6's first bias gradient, 32 float32
# columns of [43264, 32]): 2.06 Mcycles on one thread, 2.31-2.48 split into two halves.
COLUMN_SHARE = 32


@dataclass
class Operand:
    """A buffer the kernel reads or writes: its slot, dtype and shape."""

    slot: int
    dtype: DType
    shape: tuple
    transposed: bool = False  # the buffer holds the operand with its last two axes swapped (matmul only)


def _access(op: Operand, where: str) -> tuple:
    """The key of ``op``'s reads or writes in space ``where`` ("S" or "O")."""
    return op.slot, op.shape, where


def _aligned_strides(shape: tuple, space_shape: tuple, axes: list[int]) -> dict[int, object]:
    """For each axis of ``space_shape`` in ``axes``: the element stride of a C-contiguous buffer of
    ``shape`` broadcast (right-aligned) to ``space_shape``, or 0 where it is broadcast."""
    lead = len(space_shape) - len(shape)
    strides = {}
    for axis in axes:
        k = axis - lead
        if k < 0 or (shape[k] == 1 and space_shape[axis] != 1):
            strides[axis] = 0
        else:
            strides[axis] = tuple(shape[k + 1:])  # the product of the trailing dims
    return strides


class _LoopGroups:
    """The axes of one loop level merged into runs that every access reads alike."""

    def __init__(self, axes: list[int], space_shape: tuple, accesses: list[dict]):
        self.groups: list[list[int]] = []
        for axis in axes:
            if space_shape[axis] == 1:
                continue
            if self.groups and self.groups[-1][-1] == axis - 1 and all(
                (a[axis] == 0) == (a[axis - 1] == 0) for a in accesses
            ):
                self.groups[-1].append(axis)
            else:
                self.groups.append([axis])


class FusedKernel:
    """Emits one ``fused`` node (``elementwise`` or ``reduction`` kind, or a matmul's epilogue)."""

    def __init__(self, em: Emitter, body: Graph, sources: dict[Value, Operand], sinks: dict[Value, Operand],
                 nodes: list[Node], space: Space):
        self.em, self.b = em, em.builder
        self.body, self.nodes, self.space = body, nodes, space
        self.sources, self.sinks = sources, sinks
        self.S = space.shape
        self.outer_axes = [i for i in range(len(self.S)) if i not in space.axes]
        self.inner_axes = sorted(space.axes)
        keep, drop = space.row_shapes() if space.axes else (self.S, self.S)
        self.O = drop
        self.cls = {v: self._class(n, v) for n in nodes for v in n.outputs}
        # every (operand, space) access: "S" reads broadcast to S, "O" reads broadcast to the kept axes.
        # Keyed by the operand's shape too: views of one buffer (x[:, None] and x[None]) share a slot.
        self.accesses: dict[tuple, dict] = {}
        for v, op in {**sources, **sinks}.items():
            for where in self._access_spaces(v):
                self.accesses[_access(op, where)] = self._strides(op.shape, where)

    # -- classification ---------------------------------------------------------------------------
    def _class(self, node: Node, value: Value) -> str:
        if node.opdef.reduction:  # per row, even where a row has the shape of S (reduced axes of size 1)
            return "row" if node.attrs["keepdims"] else "row_dropped"
        return self.space.value_class(value.type.shape) or "full"

    def _access_spaces(self, value: Value) -> set[str]:
        """How a buffer is indexed: in S ('S') or in the kept axes only ('O', dropped-row values)."""
        spaces = set()
        readers = [n for n in self.nodes if value in n.inputs]
        for n in readers:
            spaces.add("O" if self.cls[n.outputs[0]] == "row_dropped" and not n.opdef.reduction else "S")
        if value in self.sinks or not readers:
            spaces.add("O" if self.cls.get(value) == "row_dropped" else "S")
        return spaces

    def _strides(self, shape: tuple, where: str) -> dict[int, object]:
        if where == "S":
            return _aligned_strides(shape, self.S, list(range(len(self.S))))
        # map the kept axes of S to positions in O
        o_strides = _aligned_strides(shape, self.O, list(range(len(self.O))))
        return {axis: o_strides[i] for i, axis in enumerate(self.outer_axes)} | {a: 0 for a in self.inner_axes}

    # -- offsets ----------------------------------------------------------------------------------
    def _stride_value(self, stride) -> ir.Value:
        return ir.Constant(I64, 0) if stride == 0 else self.em.product(stride)

    def _offsets(self, indices: dict[int, ir.Value], base: dict | None = None) -> dict[tuple, ir.Value]:
        """Offsets of every access at the loop indices ``indices`` (axis -> index), added to ``base``."""
        b = self.b
        result = {}
        for key, strides in self.accesses.items():
            total = base[key] if base else ir.Constant(I64, 0)
            for axis, index in indices.items():
                if strides[axis] != 0:
                    total = b.add(total, b.mul(index, self._stride_value(strides[axis])))
            result[key] = total
        return result

    # -- the loop nest ----------------------------------------------------------------------------
    def emit(self) -> None:
        outer = _LoopGroups(self.outer_axes, self.S, list(self.accesses.values())).groups
        # column mode: the last outer group holds the innermost axis and the kernel reduces
        self.columns = bool(self.inner_axes and outer and outer[-1][-1] == len(self.S) - 1)
        self._emit_outer(outer, 0, {}, parallel=True)

    def _group_size(self, group: list[int]) -> ir.Value:
        return self.em.product([self.S[a] for a in group])

    def _group_indices(self, group: list[int], linear: ir.Value) -> dict[int, ir.Value]:
        """Splits a merged loop index back into the axes of its group (for offsets)."""
        # offsets only need index * stride of the group's innermost axis: reading the group as one
        # axis of the innermost stride is exact because its axes are contiguous for every access
        return {group[-1]: linear}

    def _emit_outer(self, groups, level: int, indices: dict, parallel: bool) -> None:
        em = self.em
        if level == len(groups):
            self._emit_point(indices)
            return
        group = groups[level]
        size = self._group_size(group)
        if parallel:
            innermost = level == len(groups) - 1
            start, end = em.chunk(size, align=64 if innermost and not self.inner_axes else
                                  COLUMN_SHARE if innermost and self.columns else 1)
        else:
            start, end = ir.Constant(I64, 0), size
        if self.columns and level == len(groups) - 1:
            self._emit_columns(group[-1], start, end, self._offsets(indices))
            return
        with em.loop(start, end, f"o{level}") as i:
            self._emit_outer(groups, level + 1, indices | self._group_indices(group, i), parallel=False)

    def _emit_point(self, outer_indices: dict) -> None:
        """Everything done once per point of the outer loops."""
        if not self.outer_axes or not _LoopGroups(self.outer_axes, self.S, list(self.accesses.values())).groups:
            # no outer loop to share: one thread does the whole kernel
            with self.em.only_first_thread():
                self._emit_passes(self._offsets(outer_indices))
            return
        self._emit_passes(self._offsets(outer_indices))

    def _emit_passes(self, outer_offsets: dict) -> None:
        passes, reduction_pass, ready = self._schedule()
        spills = self._spills()
        values: dict[Value, ir.Value] = {}
        self._compute_rows(values, ready, -1, outer_offsets)
        for q in range(passes):
            reductions = [n for n in self.nodes if n.opdef.reduction and reduction_pass[n] == q]
            full_outputs = [v for v in self.sinks if self.cls[v] == "full" and self._pass_of(v) == q]
            spilled = {v: o for v, o in spills.items() if self._pass_of(v) == q}
            reloaded = {v: o for v, o in spills.items() if self._pass_of(o) == q}
            if self.inner_axes:
                inner = _LoopGroups(self.inner_axes, self.S, list(self.accesses.values())).groups
                accumulators = {n: self._accumulator(n, inner) for n in reductions}
                for acc in accumulators.values():
                    acc.reset()
                sums = [acc for acc in accumulators.values() if isinstance(acc, CompensatedSum)]
                self._emit_nest(inner, outer_offsets, lambda at: self._emit_pass_point(
                    at, values, reductions, full_outputs, accumulators, spilled, reloaded), sums)
                for n, acc in accumulators.items():
                    values[n.outputs[0]] = acc.result()
            else:  # no reduced axis: one pass; a reduction over no axes is the identity
                local = dict(values)
                self._compute_full(local, reductions, full_outputs, outer_offsets)
                for n in reductions:
                    value = self._operand(n, 0, local, outer_offsets)
                    if n.op == "reduce_sum" and n.outputs[0].dtype.is_floating:
                        value = self.b.fadd(value, ir.Constant(value.type, 0.0))  # -0.0 + 0.0 is +0.0, as NumPy
                    values[n.outputs[0]] = value
            self._compute_rows(values, ready, q, outer_offsets)

    def _spills(self) -> dict[Value, Value]:
        """Full values to keep in an output's buffer between passes instead of recomputing them.

        When a full output written in pass q is computed from exactly one full value of an earlier pass
        (softmax: the exponentials, computed for the sum), that value is stored in the output's own
        buffer in its pass and read back in pass q: each element is read before it is overwritten."""
        spills = {}
        for o in self.sinks:
            if self.cls.get(o) != "full" or self._pass_of(o) == 0:
                continue
            earlier, stack, seen = set(), [o], set()
            while stack:
                v = stack.pop()
                if v in seen or self.cls.get(v) != "full":
                    continue
                seen.add(v)
                if self._pass_of(v) < self._pass_of(o):
                    earlier.add(v)
                else:
                    stack.extend(v.node.inputs)
            if len(earlier) == 1:
                (v,) = earlier
                if v.dtype == o.dtype and v.type.shape == o.type.shape and v not in spills:
                    spills[v] = o
        return spills

    def _emit_pass_point(self, offsets, values, reductions, full_outputs, accumulators, spilled, reloaded) -> None:
        """One point of a pass: its full values, outputs, spills and reductions' running values."""
        local = dict(values)
        for v, o in reloaded.items():
            local[v] = self._read_sink(o, offsets)
        self._compute_full(local, reductions, full_outputs + list(spilled), offsets, write=full_outputs)
        for v, o in spilled.items():
            self._write(o, local[v], offsets)
        for n in reductions:
            acc = accumulators[n].running
            self.b.store(self._combine(n, self.b.load(acc), self._operand(n, 0, local, offsets)), acc)

    def _emit_nest(self, groups: list[list[int]], offsets: dict, innermost, sums: list) -> None:
        """Loops over the reduced ``groups`` (outermost first) around ``innermost(offsets)``; the
        innermost loop runs in blocks of the compensated ``sums`` (one block when it fits one)."""
        def nest(level: int, offsets: dict) -> None:
            if level == len(groups):
                innermost(offsets)
                return
            group = groups[level]
            size = self._group_size(group)

            def loop(start, stop):
                with self.em.loop(start, stop, f"r{level}") as i:
                    nest(level + 1, self._offsets(self._group_indices(group, i), offsets))

            zero = ir.Constant(I64, 0)
            if level < len(groups) - 1 or not sums:
                loop(zero, size)
            elif self._fits_one_block(group):
                self._emit_block(sums, lambda: loop(zero, size))
            else:
                self._blocks(zero, size, self._block_length(group), "block",
                             lambda start, stop: self._emit_block(sums, lambda: loop(start, stop)))

        nest(0, offsets)

    def _blocks(self, start: ir.Value, end: ir.Value, length: int, name: str, body) -> None:
        """``body(first, last)`` for each block ``[first, last)`` of ``length`` (the last one shorter)
        covering ``[start, end)``."""
        b, block = self.b, ir.Constant(I64, length)
        count = b.sdiv(b.add(b.sub(end, start), ir.Constant(I64, length - 1)), block)
        with self.em.loop(ir.Constant(I64, 0), count, name) as k:
            first = b.add(start, b.mul(k, block))
            last = b.add(first, block)
            body(first, b.select(b.icmp_signed("<", last, end), last, end))

    @staticmethod
    def _emit_block(sums: list[CompensatedSum], body) -> None:
        for acc in sums:
            acc.start_block()
        body()
        for acc in sums:
            acc.end_block()

    # -- column mode --------------------------------------------------------------------------------
    def _emit_columns(self, axis: int, start: ir.Value, end: ir.Value, offsets: dict) -> None:
        """Columns ``[start, end)`` of the innermost kept ``axis`` at one point of the other outer
        loops, a tile of at most ``COLUMN_TILE`` at a time."""
        self._blocks(start, end, COLUMN_TILE, "tile",
                     lambda first, last: self._emit_tile(_Tile(axis, first, self.b.sub(last, first)), offsets))

    def _emit_tile(self, tile: _Tile, offsets: dict) -> None:
        """The passes of one tile: per pass, the reduced loops outside a loop over the tile's columns,
        then a loop over the columns computing the row values the pass made ready."""
        passes, reduction_pass, ready = self._schedule()
        rows = [v for n in self.nodes for v in n.outputs if self.cls[v] != "full"]
        arrays = {v: self._stack_array(v.dtype) for v in rows}
        done: list[Value] = []

        def after(q: int, accumulators: dict) -> None:
            with self._column_loop(tile, offsets) as (j, at):
                values = {v: self.b.load(self.em.element(arrays[v], j)) for v in done}
                values |= {n.outputs[0]: acc.at(j).result() for n, acc in accumulators.items()}
                self._compute_rows(values, ready, q, at)
                for v in rows:
                    if v in values and v not in done:
                        self.b.store(values[v], self.em.element(arrays[v], j))
            done.extend(v for v in rows if ready.get(v) == q)

        after(-1, {})
        inner = _LoopGroups(self.inner_axes, self.S, list(self.accesses.values())).groups
        for q in range(passes):
            reductions = [n for n in self.nodes if n.opdef.reduction and reduction_pass[n] == q]
            full_outputs = [v for v in self.sinks if self.cls[v] == "full" and self._pass_of(v) == q]
            accumulators = {n: self._accumulator(n, inner, COLUMN_TILE) for n in reductions}
            with self._column_loop(tile, offsets) as (j, _):
                for acc in accumulators.values():
                    acc.at(j).reset()
            rows_done = {v: arrays[v] for v in done}
            sums = [_TileSum(acc, self, tile, offsets) for acc in accumulators.values() if isinstance(acc, CompensatedSum)]
            self._emit_nest(inner, offsets, lambda at: self._emit_tile_pass_point(
                at, tile, reductions, full_outputs, accumulators, rows_done), sums)
            after(q, accumulators)

    def _emit_tile_pass_point(self, offsets, tile, reductions, full_outputs, accumulators, rows) -> None:
        """One point of the reduced loops of a pass in column mode: the tile's columns at it."""
        with self._column_loop(tile, offsets) as (j, at):
            values = {v: self.b.load(self.em.element(array, j)) for v, array in rows.items()}
            self._compute_full(values, reductions, full_outputs, at)
            for n in reductions:
                running = accumulators[n].at(j).running
                self.b.store(self._combine(n, self.b.load(running), self._operand(n, 0, values, at)), running)

    @contextlib.contextmanager
    def _column_loop(self, tile: _Tile, offsets: dict):
        """``for j in range(tile.length)``: yields j and the offsets at column ``tile.first + j``."""
        with self.em.loop(ir.Constant(I64, 0), tile.length, "col") as j:
            yield j, self._offsets({tile.axis: self.b.add(tile.first, j)}, offsets)

    def _stack_array(self, dtype: DType) -> ir.Value:
        with self.b.goto_block(self.em.prologue):
            return self.b.alloca(scalar.register_type(dtype), size=ir.Constant(I64, COLUMN_TILE))

    # -- scheduling -------------------------------------------------------------------------------
    def _schedule(self):
        """(number of passes, the pass of each reduction, the pass after which each row value is ready)."""
        self._full_pass: dict[Value, int] = {}
        reduction_pass: dict[Node, int] = {}
        ready: dict[Value, int] = {}
        for n in self.nodes:
            out = n.outputs[0]
            internal = [v for v in n.inputs if v in self.cls]
            if n.opdef.reduction:
                x = n.inputs[0]  # full, or (reduced axes of size 1) a row value of an earlier pass
                p = self._full_pass[x] if x in self._full_pass else ready[x] + 1 if x in ready else 0
                reduction_pass[n] = p
                ready[out] = p
            elif self.cls[out] == "full":
                p = max([self._full_pass[v] for v in internal if self.cls[v] == "full"]
                        + [ready[v] + 1 for v in internal if self.cls[v] != "full"] + [0])
                self._full_pass[out] = p
            else:
                ready[out] = max([ready[v] for v in internal] + [-1])
        last = max(list(reduction_pass.values()) + [self._full_pass[v] for v in self.sinks if self.cls[v] == "full"] + [0])
        return last + 1, reduction_pass, ready

    def _pass_of(self, value: Value) -> int:
        return self._full_pass[value]

    # -- values -----------------------------------------------------------------------------------
    def _read(self, value: Value, offsets: dict, where: str) -> ir.Value:
        op = self.sources[value]
        ptr = self.em.slot_pointer(op.slot, op.dtype)
        return scalar.load(self.b, self.em.element(ptr, offsets[_access(op, where)]), op.dtype)

    def _read_sink(self, value: Value, offsets: dict) -> ir.Value:
        op = self.sinks[value]
        ptr = self.em.slot_pointer(op.slot, op.dtype)
        return scalar.load(self.b, self.em.element(ptr, offsets[_access(op, "S")]), op.dtype)

    def _write(self, value: Value, result: ir.Value, offsets: dict) -> None:
        op = self.sinks[value]
        where = "O" if self.cls[value] == "row_dropped" else "S"
        ptr = self.em.slot_pointer(op.slot, op.dtype)
        scalar.store(self.b, result, self.em.element(ptr, offsets[_access(op, where)]), op.dtype)

    def _operand(self, node: Node, index: int, values: dict, offsets: dict):
        v = node.inputs[index]
        if v in values:
            return values[v]
        if v.node is not None and v.node.op == "constant":
            return scalar.constant(v.dtype, v.node.attrs["value"].reshape(-1)[0])
        if index in node.opdef.shape_only_inputs:
            return None
        where = "O" if self.cls.get(node.outputs[0]) == "row_dropped" and not node.opdef.reduction else "S"
        result = self._read(v, offsets, where)
        values[v] = result
        return result

    def _apply(self, node: Node, values: dict, offsets: dict) -> None:
        if node.op == "constant":
            return
        args = [self._operand(node, i, values, offsets) for i in range(len(node.inputs))]
        out = node.outputs[0]
        values[out] = lower_scalar(self.b, node.op, args, [v.dtype for v in node.inputs], out.dtype, node.attrs,
                                   self.em.flag_error)

    def _compute_full(self, values, reductions, full_outputs, offsets, write=None):
        """Computes, at one point of S, the full values the given reductions and outputs need; writes
        the outputs in ``write`` (default: all of ``full_outputs``)."""
        needed = set()
        stack = [n.inputs[0] for n in reductions] + list(full_outputs)
        while stack:
            v = stack.pop()
            if v in needed or v not in self.cls or self.cls[v] != "full" or v in values:
                continue
            needed.add(v)
            stack.extend(v.node.inputs)
        for n in self.nodes:
            if n.outputs[0] in needed:
                self._apply(n, values, offsets)
        for v in full_outputs if write is None else write:
            self._write(v, values[v], offsets)

    def _compute_rows(self, values, ready, after_pass, offsets):
        for n in self.nodes:
            out = n.outputs[0]
            if n.opdef.reduction or self.cls[out] == "full" or ready.get(out) != after_pass or out in values:
                continue
            self._apply(n, values, offsets)
            if out in self.sinks:
                self._write(out, values[out], offsets)
        for n in self.nodes:
            out = n.outputs[0]
            if n.opdef.reduction and ready[out] == after_pass and out in self.sinks:
                self._write(out, values[out], offsets)

    # -- reductions -------------------------------------------------------------------------------
    def _accumulator(self, node: Node, inner_groups: list[list[int]], columns: int | None = None) -> Accumulator:
        """The accumulator of reduction ``node``: one running value, or an array of ``columns``."""
        dtype = node.outputs[0].dtype
        combine = node.opdef.reduction
        if combine == "add" and dtype.is_floating and not self._one_block(inner_groups):
            return CompensatedSum(self.em, dtype, columns)
        return Accumulator(self.em, dtype, get_op(combine).identity_for(dtype), columns)

    def _one_block(self, inner_groups: list[list[int]]) -> bool:
        """Whether the reduced loops are at most one loop of at most one block."""
        return not inner_groups or len(inner_groups) == 1 and self._fits_one_block(inner_groups[0])

    def _fits_one_block(self, group: list[int]) -> bool:
        sizes = [self.S[a] for a in group]
        return all(isinstance(d, int) for d in sizes) and math.prod(sizes) <= self._block_length(group)

    def _block_length(self, group: list[int]) -> int:
        """Elements of the innermost reduced loop (``group``) per block of a float sum."""
        axis = group[-1]
        contiguous = all(a[axis] == 0 or all(d == 1 for d in a[axis]) for a in self.accesses.values())
        return SUM_BLOCK if contiguous else PARTIAL_SUM_LENGTH

    def _combine(self, node: Node, acc: ir.Value, x: ir.Value) -> ir.Value:
        """``acc`` and ``x`` combined by the reduction's binary op; float sums and products may be
        reassociated (vectorised), float extrema propagate NaN as NumPy's max and min do."""
        b, floating, combine = self.b, node.outputs[0].dtype.is_floating, node.opdef.reduction
        if combine == "add":
            return b.fadd(acc, x, flags=("reassoc", "contract")) if floating else b.add(acc, x)
        if combine == "multiply":
            return b.fmul(acc, x, flags=("reassoc", "contract")) if floating else b.mul(acc, x)
        if floating:
            return scalar.call_intrinsic(b, f"llvm.{combine}", acc, x)
        pred = ">" if combine == "maximum" else "<"
        return b.select(scalar.lower_scalar(b, "greater" if pred == ">" else "less", [x, acc], [node.outputs[0].dtype] * 2,
                                            bool_, {}, None), x, acc)


class _Tile(NamedTuple):
    """Columns ``[first, first + length)`` of the innermost kept ``axis`` (column mode)."""

    axis: int
    first: ir.Value
    length: ir.Value


class _TileSum:
    """The blocks of a column-mode float sum: each block starts and ends in every column of the tile."""

    def __init__(self, acc: CompensatedSum, kernel: FusedKernel, tile: _Tile, offsets: dict):
        self.acc, self.kernel, self.tile, self.offsets = acc, kernel, tile, offsets

    def start_block(self) -> None:
        with self.kernel._column_loop(self.tile, self.offsets) as (j, _):
            self.acc.at(j).start_block()

    def end_block(self) -> None:
        with self.kernel._column_loop(self.tile, self.offsets) as (j, _):
            self.acc.at(j).end_block()


def emit_fused(em: Emitter, node: Node, operands_in: list[Operand], operands_out: list[Operand],
               scratch_slot: int | None = None, part: str = "") -> None:
    """Emits a ``fused`` node whose inputs and results live in the given operands: the whole kernel,
    or of a product with an epilogue (``has_epilogue``) only its ``part``, ``"product"`` or
    ``"epilogue"`` (for kernels whose product BLAS runs: see ``teams``)."""
    body: Graph = node.attrs["body"]
    sources = dict(zip(body.inputs, operands_in))
    sinks = dict(zip(body.outputs, operands_out))
    nodes = [n for n in body.nodes if n.op != "constant"]
    kind, space = kernel_space(nodes)
    if kind == "matmul":
        mm, rest = _product_and_epilogue(body)
        result = mm.outputs[0]
        target = sinks.get(result) or Operand(scratch_slot, result.dtype, result.type.shape)
        if part != "epilogue":
            emit_matmul(em, [sources[v] for v in mm.inputs], target)
        if not rest or part == "product":
            return
        if not part:
            em.barrier()
        sources[result] = target
        sinks.pop(result, None)
        nodes = rest
    FusedKernel(em, body, sources, sinks, nodes, space).emit()


def has_epilogue(node: Node) -> bool:
    """Whether ``node`` is a fused product with more ops after it (its epilogue)."""
    return node.op == "fused" and node.attrs["kind"] == "matmul" and bool(_product_and_epilogue(node.attrs["body"])[1])


def _product_and_epilogue(body: Graph) -> tuple[Node, list[Node]]:
    """The product of a matmul kernel's body and the nodes after it (its constants aside)."""
    nodes = [n for n in body.nodes if n.op != "constant"]
    product = next(n for n in nodes if n.op == "matmul")
    return product, [n for n in nodes if n is not product]
