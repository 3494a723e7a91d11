"""The running values of a fused kernel's reductions (see ``kernels.py``): one per reduction, or in
column mode an array of them, one per column of a tile."""
from __future__ import annotations

import copy

from graphc.ir.types import DType
from llvmlite import ir

from . import scalar
from .emitter import Emitter
from .scalar import I64


class Accumulator:
    """A reduction's running value over one pass: ``running`` (a stack slot) holds it; with
    ``columns``, an array of them, one per column of a tile (``at(j)`` is column j's)."""

    SLOTS = ("running",)

    def __init__(self, em: Emitter, dtype: DType, identity, columns: int | None = None):
        self.em, self.b, self.dtype, self.identity = em, em.builder, dtype, identity
        self.columns = columns
        self.running = self._slot()

    def _slot(self) -> ir.Value:
        size = None if self.columns is None else ir.Constant(I64, self.columns)
        with self.b.goto_block(self.em.prologue):
            return self.b.alloca(scalar.register_type(self.dtype), size=size)

    def at(self, j: ir.Value) -> Accumulator:
        """Column ``j``'s accumulator, of an array of them."""
        view = copy.copy(self)
        for name in self.SLOTS:
            setattr(view, name, self.b.gep(getattr(self, name), [j], inbounds=True))
        return view

    def reset(self) -> None:
        self.b.store(scalar.constant(self.dtype, self.identity), self.running)

    def result(self) -> ir.Value:
        return self.b.load(self.running)


class CompensatedSum(Accumulator):
    """A float sum: ``running`` holds the sum of the current block; ``end_block`` adds it to a total
    with compensation: the rounding error of each addition (exact, as in Neumaier's variant of Kahan
    summation) is carried into the next one, as in Kahan's, so the carry stays as small as one
    rounding error. Its operations keep their order (no fast-math flags)."""

    SLOTS = ("running", "total", "compensation")

    def __init__(self, em: Emitter, dtype: DType, columns: int | None = None):
        super().__init__(em, dtype, 0, columns)
        self.total, self.compensation = self._slot(), self._slot()

    def reset(self) -> None:
        for slot in (self.running, self.total, self.compensation):
            self.b.store(scalar.constant(self.dtype, 0), slot)

    def start_block(self) -> None:
        self.b.store(scalar.constant(self.dtype, 0), self.running)

    def end_block(self) -> None:
        b = self.b
        total, x = b.load(self.total), b.fadd(b.load(self.running), b.load(self.compensation))
        new_total = b.fadd(total, x)
        larger, smaller = self._by_magnitude(total, x)
        lost = b.fadd(b.fsub(larger, new_total), smaller)  # what rounding dropped from new_total
        # an infinite or NaN total stays so; its "lost" part (NaN) must not reach the next block
        finite = b.fcmp_ordered("<", self._abs(new_total), ir.Constant(new_total.type, float("inf")))
        b.store(b.select(finite, lost, ir.Constant(lost.type, 0.0)), self.compensation)
        b.store(new_total, self.total)

    def _abs(self, x: ir.Value) -> ir.Value:
        return scalar.call_intrinsic(self.b, "llvm.fabs", x)

    def _by_magnitude(self, p: ir.Value, q: ir.Value) -> tuple[ir.Value, ir.Value]:
        p_larger = self.b.fcmp_ordered(">=", self._abs(p), self._abs(q))
        return self.b.select(p_larger, p, q), self.b.select(p_larger, q, p)

    def result(self) -> ir.Value:
        return self.b.fadd(self.b.load(self.total), self.b.load(self.compensation))
