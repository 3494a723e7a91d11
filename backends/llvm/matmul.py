"""Matrix multiplication: float32/float64 through the chosen BLAS (``blas``) but for shallow and
narrow products (``blas.is_shallow``, ``blas.is_narrow``), which run as loops of graphc's own, as
integers do.

``C[..., M, N] = A[..., M, K] @ B[..., K, N]`` with broadcast batch axes. The BLAS routines are
called through symbols bound at load time to the addresses of SciPy's sgemm and dgemm
(``blas.blas_symbols``), so compiled code stays valid across processes.
"""
from __future__ import annotations

from llvmlite import ir

from graphc.ir.types import DType

from . import scalar, target
from .blas import GEMM_SYMBOLS, calls_gemm, is_shallow
from .emitter import Emitter
from .scalar import I32, I64, I8

DEPTH_CHUNK = 1024  # see depth_chunk
NARROW_BLOCK = 8  # rows of C a narrow product computes at once: see _narrow_loops
PREFETCH = 16  # how many of A's rows ahead a narrow product with A transposed prefetches


def _batch_offset(em: Emitter, batch_index, out_batch: tuple, operand_batch: tuple, matrix_size) -> ir.Value:
    """The element offset of the matrix of an operand used at output batch position ``batch_index``."""
    b = em.builder
    lead = len(out_batch) - len(operand_batch)
    offset = ir.Constant(I64, 0)
    remaining = batch_index
    stride = matrix_size
    # walk the output batch axes from the innermost, splitting the linear index
    for axis in range(len(out_batch) - 1, -1, -1):
        size = em.dim(out_batch[axis])
        index = b.srem(remaining, size)
        remaining = b.sdiv(remaining, size)
        k = axis - lead
        if k >= 0 and operand_batch[k] != 1:
            offset = b.add(offset, b.mul(index, stride))
            stride = b.mul(stride, em.dim(operand_batch[k]))
    return offset


def emit_matmul(em: Emitter, inputs, output) -> None:
    """Emits ``output = inputs[0] @ inputs[1]`` (operands: slot, dtype, shape)."""
    a, b_op = inputs
    dtype: DType = output.dtype
    (m, k), n = a.shape[-2:], b_op.shape[-1]
    out_batch = output.shape[:-2]
    b = em.builder
    M, K, N = em.dim(m), em.dim(k), em.dim(n)
    batches = em.product(out_batch)
    A, B, C = (em.slot_pointer(op.slot, op.dtype) for op in (a, b_op, output))

    def matrices(batch):
        a_off = _batch_offset(em, batch, out_batch, a.shape[:-2], b.mul(M, K))
        b_off = _batch_offset(em, batch, out_batch, b_op.shape[:-2], b.mul(K, N))
        return em.element(A, a_off), em.element(B, b_off), em.element(C, b.mul(batch, b.mul(M, N)))

    if calls_gemm(dtype.name, k, n):  # on one thread: BLAS runs its own
        with em.only_first_thread(), em.loop(ir.Constant(I64, 0), batches, "batch") as batch:
            _call_gemm(em, dtype, M, N, K, *matrices(batch), a.transposed, b_op.transposed, depth_chunk(m, n, k))
        return
    with em.loop(ir.Constant(I64, 0), batches, "batch") as batch:  # graphc's own loops: each thread some rows
        pa, pb, pc = matrices(batch)
        if dtype.name in GEMM_SYMBOLS and is_shallow(k, n):
            _shallow_loops(em, dtype, *em.chunk(M), M, n, k, pa, pb, pc, a.transposed, b_op.transposed)
        elif dtype.name in GEMM_SYMBOLS:
            _narrow_loops(em, dtype, m, M, n, K, pa, pb, pc, a.transposed, b_op.transposed)
        else:
            _loops(em, dtype, *em.chunk(M), N, K, pa, pb, pc)


def depth_chunk(m, n, k) -> int | None:
    """The slice of the inner dimension each gemm call of a long, thin product takes (the filter
    gradient of a convolution: ``[kh*kw*C, N*OH*OW] @ [N*OH*OW, F]``), or None for one call.

    OpenBLAS runs such products far below its speed on square ones (W6's first filter gradient,
    9x43264 @ 43264x32: 0.9 ms whole, 0.4 ms in slices of 1,024 accumulated with beta = 1), while
    slicing the deep products of the second convolution (288x7744 @ 7744x64) made them slower: so
    only products at least 64 times deeper than wide, with static sizes, are sliced. (Measured with
    SciPy's OpenBLAS; not with MKL, ``GRAPHC_BLAS=mkl``.)"""
    if not all(isinstance(d, int) for d in (m, n, k)) or k < 4 * DEPTH_CHUNK or k < 64 * max(m, n):
        return None
    return DEPTH_CHUNK


def _shallow_loops(em: Emitter, dtype: DType, first, last, M, n: int, k: int, pa, pb, pc, trans_a: bool,
                   trans_b: bool) -> None:
    """Rows ``[first, last)`` of C = A @ B, A of ``M`` rows, a shallow product (``blas.is_shallow``):
    per row of C, each element's products summed in order of k, each after the first by a fused
    multiply-add (``llvm.fma``, as BLAS does); the loop over the row vectorises, the sum over k is
    unrolled. (With LLVM free to contract a product
    and a sum, it fused different pairs in vectorised and scalar code: a row's result depended on
    how many rows the product had, and op determinism's sums on how the batch was split.)"""
    b = em.builder
    K, N = ir.Constant(I64, k), ir.Constant(I64, n)
    with em.loop(first, last, "si") as i:
        a_row = [scalar.load(b, em.element(pa, b.add(b.mul(ir.Constant(I64, kk), M), i) if trans_a
                                           else b.add(b.mul(i, K), ir.Constant(I64, kk))), dtype) for kk in range(k)]
        c_row = b.mul(i, N)
        with em.loop(ir.Constant(I64, 0), N, "sj") as j:
            acc = None
            for kk in range(k):
                offset = b.add(b.mul(j, K), ir.Constant(I64, kk)) if trans_b else b.add(ir.Constant(I64, kk * n), j)
                x = scalar.load(b, em.element(pb, offset), dtype)
                acc = b.fmul(a_row[kk], x) if acc is None else scalar.call_intrinsic(b, "llvm.fma", a_row[kk], x, acc)
            scalar.store(b, acc, em.element(pc, b.add(c_row, j)), dtype)


def _narrow_loops(em: Emitter, dtype: DType, m, M, n: int, K, pa, pb, pc, trans_a: bool, trans_b: bool) -> None:
    """This thread's rows of C = A @ B, B of ``n`` columns, a narrow product (``blas.is_narrow``).
    Each element is its products summed in order of k by fused multiply-adds from zero (BLAS's
    order for one element, and NumPy's), whichever way its row is computed, so a row's result
    depends on neither its block nor the threads' split. Rows go in blocks whose sums are
    independent (the adds' latency hidden): with A stored transposed, first a vector of rows of C per
    column (A's rows then read as whole vectors, a few rows ahead prefetched: the blocks step
    through A with a stride of its row); then a vector of C's ``n`` columns per row, NARROW_BLOCK
    rows at once; the rows left over one at a time. Threads split the rows in multiples of
    NARROW_BLOCK, or of the first kind of block when the static ``m`` rows are whole such blocks (no
    code for other blocks then: each kind of block costs LLVM time on the first call)."""
    b = em.builder
    ty = scalar.register_type(dtype)
    align = dtype.numpy.itemsize

    def vector_type(lanes: int) -> ir.VectorType:
        return ir.VectorType(ty, lanes)

    def splat(value, lanes: int):
        undefined = ir.Constant(vector_type(lanes), ir.Undefined)
        mask = ir.Constant(ir.VectorType(I32, lanes), [ir.Constant(I32, 0)] * lanes)
        return b.shuffle_vector(b.insert_element(undefined, value, ir.Constant(I32, 0)), undefined, mask)

    def index(i) -> ir.Value:
        return i if isinstance(i, ir.Value) else ir.Constant(I64, i)

    def a_of(i0, count: int):
        """``at(r, kk)``: the address of A[i0 + r, kk], r < count (the rows' addresses computed once)."""
        if trans_a:
            return lambda r, kk: em.element(pa, b.add(b.mul(kk, M), b.add(i0, index(r))))
        starts = [em.element(pa, b.mul(b.add(i0, index(r)), K)) for r in range(count)]
        return lambda r, kk: em.element(starts[r], kk)

    def b_at(kk, j):
        return em.element(pb, b.add(b.mul(index(j), K), kk) if trans_b else b.add(b.mul(kk, ir.Constant(I64, n)), index(j)))

    def summed(lanes: int, count: int, step):
        """``count`` vectors of ``lanes`` sums, zero, then ``step(kk, sums)`` for each k in order."""
        sums = []
        for _ in range(count):
            with b.goto_block(em.prologue):
                sums.append(b.alloca(vector_type(lanes)))
            b.store(ir.Constant(vector_type(lanes), [ir.Constant(ty, 0.0)] * lanes), sums[-1])
        with em.loop(ir.Constant(I64, 0), K, "nk") as kk:
            for total, value in zip(sums, step(kk, [b.load(t) for t in sums])):
                b.store(value, total)
        return [b.load(t) for t in sums]

    def row_of_b(kk):
        if not trans_b:
            return b.load(b.bitcast(b_at(kk, 0), vector_type(n).as_pointer()), align=align)
        row = ir.Constant(vector_type(n), ir.Undefined)
        for j in range(n):
            row = b.insert_element(row, b.load(b_at(kk, j)), ir.Constant(I32, j))
        return row

    def rows(i0, count: int) -> None:  # a vector of n columns per row
        a_at = a_of(i0, count)

        def step(kk, sums):
            row = row_of_b(kk)
            return [scalar.call_intrinsic(b, "llvm.fma", splat(b.load(a_at(r, kk)), n), row, total)
                    for r, total in enumerate(sums)]

        for r, total in enumerate(summed(n, count, step)):
            out = em.element(pc, b.mul(b.add(i0, index(r)), ir.Constant(I64, n)))
            b.store(total, b.bitcast(out, vector_type(n).as_pointer()), align=align)

    lanes = (64 if target.has_avx512() else 32) // align  # rows of C per vector

    def rows_as_lanes(i0) -> None:  # a vector of rows per column (A stored transposed)
        prefetch = em.module.globals.get("llvm.prefetch.p0") or ir.Function(
            em.module, ir.FunctionType(ir.VoidType(), [I8.as_pointer(), I32, I32, I32]), "llvm.prefetch.p0")

        def step(kk, sums):
            column = em.element(pa, b.add(b.mul(kk, M), i0))  # A[i0, kk], A stored transposed
            ahead = b.gep(column, [b.mul(ir.Constant(I64, PREFETCH), M)])  # (may pass A's end)
            b.call(prefetch, [b.bitcast(ahead, I8.as_pointer()), *(ir.Constant(I32, v) for v in (0, 3, 1))])
            rows_of_a = b.load(b.bitcast(column, vector_type(lanes).as_pointer()), align=align)
            return [scalar.call_intrinsic(b, "llvm.fma", rows_of_a, splat(b.load(b_at(kk, j)), lanes), total)
                    for j, total in enumerate(sums)]

        # vector j holds column j of the block's rows: through the stack to C's rows
        with b.goto_block(em.prologue):
            stack = b.alloca(ir.ArrayType(vector_type(lanes), n))
        for j, total in enumerate(summed(lanes, n, step)):
            b.store(total, b.gep(stack, [ir.Constant(I64, 0), ir.Constant(I64, j)]), align=align)
        sums = b.bitcast(stack, ty.as_pointer())
        with em.loop(ir.Constant(I64, 0), ir.Constant(I64, lanes), "nt") as r:
            row = b.mul(b.add(i0, r), ir.Constant(I64, n))
            for j in range(n):
                b.store(b.load(b.gep(sums, [b.add(ir.Constant(I64, j * lanes), r)])), em.element(pc, b.add(row, index(j))))

    def in_blocks(start, size: int, emit):
        """``emit(i0)`` for each whole block of ``size`` rows from ``start`` to ``last``; where they end."""
        blocks = b.sdiv(b.sub(last, start), ir.Constant(I64, size))
        with em.loop(ir.Constant(I64, 0), blocks, "nb") as k:
            emit(b.add(start, b.mul(k, ir.Constant(I64, size))))
        return b.add(start, b.mul(blocks, ir.Constant(I64, size)))

    blocks = [(lanes, rows_as_lanes)] if trans_a else []
    blocks.append((NARROW_BLOCK, lambda i0: rows(i0, NARROW_BLOCK)))
    whole = isinstance(m, int) and m % blocks[0][0] == 0  # then the first kind of block is all (less code)
    first, last = em.chunk(M, align=blocks[0][0] if whole else NARROW_BLOCK)
    start = first
    for size, emit in blocks[:1] if whole else blocks:
        start = in_blocks(start, size, emit)
    if not whole:
        with em.loop(start, last, "nr") as i:
            rows(i, 1)


def _call_gemm(em: Emitter, dtype: DType, M, N, K, pa, pb, pc, trans_a=False, trans_b=False, chunk=None) -> None:
    """Row-major C = A @ B as column-major C^T = B^T @ A^T: gemm('N', 'N', N, M, K, 1, B, N, A, K, 0, C, N).

    An operand stored transposed (row-major B^T, or A^T) is read with BLAS's 'T' instead of copied.
    With a ``chunk``, one call per ``chunk`` slice of K, each after the first adding into C (beta = 1)."""
    b = em.builder
    ty = scalar.register_type(dtype)
    ptr = ty.as_pointer()
    i32p, i8p = I32.as_pointer(), I8.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p, i32p, i32p, i32p, ptr, ptr, i32p, ptr, i32p, ptr, ptr, i32p])
    name = GEMM_SYMBOLS[dtype.name]
    gemm = em.module.globals.get(name) or ir.Function(em.module, fnty, name)

    def local(t, value):
        with b.goto_block(em.prologue):
            slot = b.alloca(t)
        b.store(value, slot)
        return slot

    def flag(transposed):
        return local(I8, ir.Constant(I8, ord("T" if transposed else "N")))

    def leading(dim):  # BLAS wants leading dimensions >= 1, also for empty matrices
        return local(I32, b.trunc(b.select(b.icmp_signed(">", dim, ir.Constant(I64, 0)), dim, ir.Constant(I64, 1)), I32))

    m32, n32, k32 = (local(I32, b.trunc(v, I32)) for v in (M, N, K))
    one, zero = local(ty, ir.Constant(ty, 1.0)), local(ty, ir.Constant(ty, 0.0))
    ld_b = leading(K if trans_b else N)
    ld_a = leading(M if trans_a else K)
    nonempty = b.and_(b.icmp_signed(">", M, ir.Constant(I64, 0)), b.icmp_signed(">", N, ir.Constant(I64, 0)))
    ld_c = leading(N)
    with b.if_then(nonempty):  # an empty inner dimension still defines C: zeros (beta = 0)
        if chunk is None:
            b.call(gemm, [flag(trans_b), flag(trans_a), n32, m32, k32, one, pb, ld_b, pa, ld_a, zero, pc, ld_c])
        else:
            C = ir.Constant(I64, chunk)
            count = b.sdiv(b.add(K, ir.Constant(I64, chunk - 1)), C)
            kc32 = local(I32, ir.Constant(I32, chunk))
            fb, fa = flag(trans_b), flag(trans_a)
            with em.loop(ir.Constant(I64, 0), count, "kchunk") as c:
                k0 = b.mul(c, C)
                rest = b.sub(K, k0)
                b.store(b.trunc(b.select(b.icmp_signed("<", rest, C), rest, C), I32), kc32)
                a_off = b.mul(k0, M) if trans_a else k0
                b_off = k0 if trans_b else b.mul(k0, N)
                beta = b.select(b.icmp_signed("==", c, ir.Constant(I64, 0)), zero, one)
                b.call(gemm, [fb, fa, n32, m32, kc32, one, em.element(pb, b_off), ld_b, em.element(pa, a_off), ld_a,
                              beta, pc, ld_c])


def _loops(em: Emitter, dtype: DType, first, last, N, K, pa, pb, pc) -> None:
    """Rows ``[first, last)`` of an integer matmul (wrapping): for i, k: C[i, :] += A[i, k] * B[k, :]
    (the inner loop vectorises). float16: each C[i, j] sums its products in a float32 register, rounded to float16 once."""
    b = em.builder
    zero = scalar.constant(dtype, 0)
    with em.loop(first, last, "mi") as i:
        row = b.mul(i, N)
        if dtype.is_floating:
            with em.loop(ir.Constant(I64, 0), N, "mj") as j:
                with b.goto_block(em.prologue):
                    acc = b.alloca(scalar.register_type(dtype))
                b.store(zero, acc)
                with em.loop(ir.Constant(I64, 0), K, "mk") as kk:
                    a = scalar.load(b, em.element(pa, b.add(b.mul(i, K), kk)), dtype)
                    x = scalar.load(b, em.element(pb, b.add(b.mul(kk, N), j)), dtype)
                    b.store(b.fadd(b.load(acc), b.fmul(a, x)), acc)
                scalar.store(b, b.load(acc), em.element(pc, b.add(row, j)), dtype)
            return
        with em.loop(ir.Constant(I64, 0), N, "mj0") as j:
            b.store(zero, em.element(pc, b.add(row, j)))
        with em.loop(ir.Constant(I64, 0), K, "mk") as kk:
            a = b.load(em.element(pa, b.add(b.mul(i, K), kk)))
            brow = b.mul(kk, N)
            with em.loop(ir.Constant(I64, 0), N, "mj") as j:
                c_ptr = em.element(pc, b.add(row, j))
                b.store(b.add(b.load(c_ptr), b.mul(a, b.load(em.element(pb, b.add(brow, j))))), c_ptr)
