"""Lowering of the ops that are not fused: data movement, indexing, creation and arg-reductions.

Views (reshape and friends) and variable reads need no code: their results share a buffer (see
``emission``). Everything here runs on thread 0; these ops move data once and are rarely the hot spot.
"""
from __future__ import annotations

from llvmlite import ir

from graphc.ir.graph import Node, Value
from graphc.ir.types import bool_, int64

from . import ops_nn, scalar, scans  # noqa: F401  (ops_nn and scans register their lowerings)
from .lowering import BACKEND, node_code
from .emitter import Emitter
from .error_codes import ERROR_INDEX_OUT_OF_RANGE
from .scalar import I64

ZERO, ONE = ir.Constant(I64, 0), ir.Constant(I64, 1)


def contiguous_strides(em: Emitter, shape) -> list[ir.Value]:
    """Element strides of a C-contiguous array of ``shape``."""
    strides, acc = [], ONE
    for d in reversed(shape):
        strides.append(acc)
        acc = em.builder.mul(acc, em.dim(d))
    return strides[::-1]


def strided_copy(em: Emitter, dtype, shape, dst, dst_base, dst_strides, src, src_base, src_strides, add=False,
                 shared=False):
    """``dst[dst_base + i·dst_strides] (+)= src[src_base + i·src_strides]`` for every index i of ``shape``;
    ``shared``: each thread the indices of a range of the first axis (the code of ops that split, see
    ``lowering.Lowering``)."""
    b = em.builder

    def level(axis, d_off, s_off):
        if axis == len(shape):
            d_ptr, s_ptr = em.element(dst, d_off), em.element(src, s_off)
            if add:
                em.add_into(d_ptr, scalar.load(b, s_ptr, dtype), dtype)
            else:
                b.store(b.load(s_ptr), d_ptr)
            return
        indices = em.chunk(em.dim(shape[axis])) if shared and axis == 0 else (ZERO, em.dim(shape[axis]))
        with em.loop(*indices, f"c{axis}") as i:
            level(axis + 1, b.add(d_off, b.mul(i, dst_strides[axis])), b.add(s_off, b.mul(i, src_strides[axis])))

    if shared and not shape:  # one element: thread 0's
        with em.only_first_thread():
            level(0, dst_base, src_base)
        return
    level(0, dst_base, src_base)


def _copy_all(em: Emitter, dtype, shape, dst, src, shared=False):
    strides = contiguous_strides(em, shape)
    strided_copy(em, dtype, shape, dst, ZERO, strides, src, ZERO, strides, shared=shared)


@node_code("transpose", splits=True)
def _lower_transpose(em: Emitter, node: Node):
    x, out = node.inputs[0], node.outputs[0]
    in_strides = contiguous_strides(em, x.type.shape)
    src_strides = [in_strides[p] for p in node.attrs["perm"]]
    strided_copy(em, x.dtype, out.type.shape, em.pointer(out), ZERO, contiguous_strides(em, out.type.shape),
                 em.pointer(x), ZERO, src_strides, shared=True)


def _slice_start(em: Emitter, item: slice, dim) -> ir.Value:
    """Python's ``slice.indices`` start for a dimension known at run time."""
    b = em.builder
    size = em.dim(dim)
    step = 1 if item.step is None else item.step
    if item.start is None:
        return ZERO if step > 0 else b.sub(size, ONE)
    start = ir.Constant(I64, item.start)
    if item.start < 0:
        start = b.add(start, size)
    low, high = (ZERO, size) if step > 0 else (ir.Constant(I64, -1), b.sub(size, ONE))
    start = b.select(b.icmp_signed("<", start, low), low, start)
    return b.select(b.icmp_signed(">", start, high), high, start)


def _index_mapping(em: Emitter, index: tuple, in_shape) -> tuple[ir.Value, list[ir.Value]]:
    """For basic indexing: the base offset into the input and the input stride of each result axis."""
    b = em.builder
    in_strides = contiguous_strides(em, in_shape)
    base, strides, axis = ZERO, [], 0
    for item in index:
        if item is None:
            strides.append(ZERO)
            continue
        if isinstance(item, slice):
            base = b.add(base, b.mul(_slice_start(em, item, in_shape[axis]), in_strides[axis]))
            strides.append(b.mul(ir.Constant(I64, 1 if item.step is None else item.step), in_strides[axis]))
        else:
            position = ir.Constant(I64, item)
            if item < 0:
                position = b.add(position, em.dim(in_shape[axis]))
            base = b.add(base, b.mul(position, in_strides[axis]))
        axis += 1
    strides.extend(in_strides[axis:])
    return base, strides


@node_code("getitem", splits=True)
def _lower_getitem(em: Emitter, node: Node):
    x, out = node.inputs[0], node.outputs[0]
    base, strides = _index_mapping(em, node.attrs["index"], x.type.shape)
    strided_copy(em, x.dtype, out.type.shape, em.pointer(out), ZERO, contiguous_strides(em, out.type.shape),
                 em.pointer(x), base, strides, shared=True)


@node_code("scatter_slice", splits=True)
def _lower_scatter_slice(em: Emitter, node: Node):
    """The base copied, then (after every thread's part of it) the update over the slice."""
    base_value, update, out = *node.inputs, node.outputs[0]
    _copy_all(em, out.dtype, out.type.shape, em.pointer(out), em.pointer(base_value), shared=True)
    em.barrier()
    offset, strides = _index_mapping(em, node.attrs["index"], out.type.shape)
    strided_copy(em, out.dtype, update.type.shape, em.pointer(out), offset, strides,
                 em.pointer(update), ZERO, contiguous_strides(em, update.type.shape), shared=True)


def _copy_pieces(em: Emitter, whole: Value, pieces: list[Value], axis: int, into_whole: bool) -> None:
    """Copies ``pieces`` into consecutive ranges of ``whole`` along ``axis`` (or, not ``into_whole``,
    those ranges out into the pieces)."""
    b = em.builder
    whole_strides = contiguous_strides(em, whole.type.shape)
    position = ZERO
    for piece in pieces:
        at_whole = (em.pointer(whole), b.mul(position, whole_strides[axis]), whole_strides)
        at_piece = (em.pointer(piece), ZERO, contiguous_strides(em, piece.type.shape))
        dst, src = (at_whole, at_piece) if into_whole else (at_piece, at_whole)
        strided_copy(em, piece.dtype, piece.type.shape, *dst, *src)
        position = b.add(position, em.dim(piece.type.shape[axis]))


@node_code("custom_gradient")
def _lower_custom_gradient(em: Emitter, node: Node):
    """Its results are its first inputs (left in the graph only when simplification is off)."""
    for out, x in zip(node.outputs, node.inputs):
        _copy_all(em, out.dtype, out.type.shape, em.pointer(out), em.pointer(x))


@node_code("concat")
def _lower_concat(em: Emitter, node: Node):
    _copy_pieces(em, node.outputs[0], node.inputs, node.attrs["axis"], into_whole=True)


@node_code("split")
def _lower_split(em: Emitter, node: Node):
    _copy_pieces(em, node.inputs[0], node.outputs, node.attrs["axis"], into_whole=False)


def _gather_loops(em: Emitter, params_shape, indices, axis, body):
    """Loops over (before-axis, index, after-axis); ``body(pre, j, position, post)`` per element, with
    the index checked and wrapped like NumPy's (negative counts from the end)."""
    b = em.builder
    pre = em.product(params_shape[:axis])
    post = em.product(params_shape[axis + 1:])
    count = em.product(indices.type.shape)
    dim = em.dim(params_shape[axis])
    idx_ptr = em.pointer(indices)
    with em.loop(ZERO, pre, "g_pre") as p:
        with em.loop(ZERO, count, "g_idx") as j:
            raw = scalar.convert(b, scalar.load(b, em.element(idx_ptr, j), indices.dtype), indices.dtype, int64)
            position = b.select(b.icmp_signed("<", raw, ZERO), b.add(raw, dim), raw)
            bad = b.or_(b.icmp_signed("<", position, ZERO), b.icmp_signed(">=", position, dim))
            em.flag_error(bad, ERROR_INDEX_OUT_OF_RANGE)
            position = b.select(bad, ZERO, position)
            with em.loop(ZERO, post, "g_post") as q:
                body(p, j, position, q, pre, count, dim, post)


@node_code("gather", fallible=True)  # an index out of range
def _lower_gather(em: Emitter, node: Node):
    params, indices = node.inputs
    out, axis = node.outputs[0], node.attrs["axis"]
    b = em.builder
    src, dst = em.pointer(params), em.pointer(out)

    def body(p, j, position, q, pre, count, dim, post):
        s = b.add(b.mul(b.add(b.mul(p, dim), position), post), q)
        d = b.add(b.mul(b.add(b.mul(p, count), j), post), q)
        b.store(b.load(em.element(src, s)), em.element(dst, d))

    _gather_loops(em, params.type.shape, indices, axis, body)


@node_code("scatter_add", fallible=True)
def _lower_scatter_add(em: Emitter, node: Node):
    base_value, indices, updates = node.inputs
    out, axis = node.outputs[0], node.attrs["axis"]
    b = em.builder
    _copy_all(em, out.dtype, out.type.shape, em.pointer(out), em.pointer(base_value))
    src, dst = em.pointer(updates), em.pointer(out)

    def body(p, j, position, q, pre, count, dim, post):
        s = b.add(b.mul(b.add(b.mul(p, count), j), post), q)
        d_ptr = em.element(dst, b.add(b.mul(b.add(b.mul(p, dim), position), post), q))
        em.add_into(d_ptr, scalar.load(b, em.element(src, s), out.dtype), out.dtype)

    _gather_loops(em, out.type.shape, indices, axis, body)


# -- remap: each output index along each axis reads an input index given by the axis' rule ------
def _source_index(em: Emitter, rule: tuple, o: ir.Value, n: ir.Value) -> tuple[ir.Value, ir.Value | None]:
    """The input index output index ``o`` reads along an axis of input size ``n`` (see
    ``graphc.ir.ops.layout``), and an i1 saying whether it reads one (None: always)."""
    b = em.builder
    kind = rule[0]
    if kind == "keep":
        return o, None
    if kind == "tile":
        return b.srem(o, n), None  # the loop runs only when n > 0
    if kind == "repeat":
        return b.sdiv(o, ir.Constant(I64, rule[1])), None  # the loop runs only when the count > 0
    if kind == "roll":
        shift = b.srem(ir.Constant(I64, rule[1]), n)
        shift = b.select(b.icmp_signed("<", shift, ZERO), b.add(shift, n), shift)
        i = b.sub(o, shift)
        return b.select(b.icmp_signed("<", i, ZERO), b.add(i, n), i), None
    _, before, after, mode = rule
    i = b.sub(o, ir.Constant(I64, before))
    below, above = b.icmp_signed("<", i, ZERO), b.icmp_signed(">=", i, n)
    if mode == "constant":
        inside = b.not_(b.or_(below, above))
        return b.select(inside, i, ZERO), inside
    edge = ir.Constant(I64, 0 if mode == "reflect" else 1)
    i = b.select(below, b.sub(b.neg(i), edge), i)  # -i (reflect), -i - 1 (symmetric)
    top = b.sub(b.add(b.add(n, n), edge), ir.Constant(I64, 2))  # 2n - 2 (reflect), 2n - 1 (symmetric)
    return b.select(above, b.sub(top, i), i), None


def _remap_loops(em: Emitter, remapped_shape, in_shape, rules, body) -> None:
    """Loops over every element of the remapped shape: ``body(remapped offset, input offset, inside)``
    with ``inside`` an i1 saying whether the element reads the input (constant padding does not)."""
    b = em.builder
    out_strides, in_strides = contiguous_strides(em, remapped_shape), contiguous_strides(em, in_shape)

    def level(axis, out_offset, in_offset, inside):
        if axis == len(remapped_shape):
            body(out_offset, in_offset, inside)
            return
        with em.loop(ZERO, em.dim(remapped_shape[axis]), f"r{axis}") as o:
            i, ok = _source_index(em, rules[axis], o, em.dim(in_shape[axis]))
            inside = inside if ok is None else b.and_(inside, ok)
            level(axis + 1, b.add(out_offset, b.mul(o, out_strides[axis])), b.add(in_offset, b.mul(i, in_strides[axis])),
                  inside)

    level(0, ZERO, ZERO, ir.Constant(scalar.I1, 1))


@node_code("remap")
def _lower_remap(em: Emitter, node: Node):
    x, out = node.inputs[0], node.outputs[0]
    b = em.builder
    src, dst = em.pointer(x), em.pointer(out)
    fill = scalar.constant(out.dtype, node.attrs["value"])

    def body(out_offset, in_offset, inside):
        target = em.element(dst, out_offset)
        with b.if_else(inside) as (read, padding):
            with read:
                b.store(b.load(em.element(src, in_offset)), target)
            with padding:
                scalar.store(b, fill, target, out.dtype)

    _remap_loops(em, out.type.shape, x.type.shape, node.attrs["rules"], body)


@node_code("remap_adjoint")
def _lower_remap_adjoint(em: Emitter, node: Node):
    """Adds each element of the cotangent into the input element it was read from."""
    g, out = node.inputs[0], node.outputs[0]

    def loops(body):
        def swapped(read, into, inside):
            body(into, read, inside)

        _remap_loops(em, g.type.shape, out.type.shape, node.attrs["rules"], swapped)

    em.scatter_add(out, g, loops)


@node_code("fill")
def _lower_fill(em: Emitter, node: Node):
    em.fill(node.outputs[0], node.attrs["value"])


@node_code("range")
def _lower_range(em: Emitter, node: Node):
    """NumPy's arange: ``first + i * (second - first)`` in the result dtype."""
    out, attrs = node.outputs[0], node.attrs
    b = em.builder
    dtype = out.dtype
    first = scalar.constant(dtype, attrs["start"])
    second = scalar.constant(dtype, attrs["start"] + attrs["delta"])
    ptr = em.pointer(out)
    if dtype.is_floating:
        step = b.fsub(second, first)
        with em.loop(ZERO, em.dim(out.type.shape[0]), "range") as i:
            scalar.store(b, b.fadd(first, b.fmul(b.sitofp(i, first.type), step)), em.element(ptr, i), dtype)
    else:
        step = b.sub(second, first)
        with em.loop(ZERO, em.dim(out.type.shape[0]), "range") as i:
            b.store(b.add(first, b.mul(b.trunc(i, first.type) if first.type.width < 64 else i, step)), em.element(ptr, i))


@node_code("eye")
def _lower_eye(em: Emitter, node: Node):
    out = node.outputs[0]
    b = em.builder
    rows, cols = out.type.shape
    ptr = em.pointer(out)
    one, zero = scalar.constant(out.dtype, 1), scalar.constant(out.dtype, 0)
    with em.loop(ZERO, em.dim(rows), "eye_i") as i:
        with em.loop(ZERO, em.dim(cols), "eye_j") as j:
            value = b.select(b.icmp_signed("==", i, j), one, zero)
            scalar.store(b, value, em.element(ptr, b.add(b.mul(i, em.dim(cols)), j)), out.dtype)


@node_code("dim_size")
def _lower_dim_size(em: Emitter, node: Node):
    x, out = node.inputs[0], node.outputs[0]
    b = em.builder
    count = em.product([x.type.shape[a] for a in node.attrs["axes"]])
    value = scalar.convert(b, count, int64, out.dtype)
    scalar.store(b, value, em.pointer(out), out.dtype)


@node_code("argmax")
@node_code("argmin")
def _lower_arg(em: Emitter, node: Node):
    """argmax/argmin: the first index of the extremum; NaN wins (the first NaN), as in NumPy."""
    x, out, axis = node.inputs[0], node.outputs[0], node.attrs["axis"]
    b = em.builder
    shape = x.type.shape
    pre, n, post = em.product(shape[:axis]), em.dim(shape[axis]), em.product(shape[axis + 1:])
    src, dst = em.pointer(x), em.pointer(out)
    better = ">" if node.op == "argmax" else "<"
    with b.goto_block(em.prologue):
        best_value = b.alloca(scalar.register_type(x.dtype))
        best_index = b.alloca(I64)
    with em.loop(ZERO, pre, "a_pre") as p:
        with em.loop(ZERO, post, "a_post") as q:
            b.store(scalar.load(b, em.element(src, b.add(b.mul(p, b.mul(n, post)), q)), x.dtype), best_value)
            b.store(ZERO, best_index)
            with em.loop(ONE, n, "a_i") as i:
                value = scalar.load(b, em.element(src, b.add(b.mul(b.add(b.mul(p, n), i), post), q)), x.dtype)
                current = b.load(best_value)
                if x.dtype.is_floating:
                    is_nan = b.fcmp_unordered("uno", value, value)
                    current_nan = b.fcmp_unordered("uno", current, current)
                    take = b.and_(b.or_(b.fcmp_ordered(better, value, current), is_nan), b.not_(current_nan))
                else:
                    take = scalar.lower_scalar(b, "greater" if better == ">" else "less", [value, current],
                                               [x.dtype] * 2, bool_, {}, None)
                b.store(b.select(take, value, current), best_value)
                b.store(b.select(take, i, b.load(best_index)), best_index)
            index = b.load(best_index)
            result = scalar.convert(b, index, int64, out.dtype)
            b.store(result, em.element(dst, b.add(b.mul(p, post), q)))



def has_code(node: Node) -> bool:
    """Whether a top-level node needs code: views share their input's buffer (the input is
    C-contiguous); constants and variables' values live in buffers the runtime provides."""
    return not (node.opdef.view or node.variable is not None or node.op == "constant")


def lower_op(em: Emitter, node: Node) -> None:
    code = node.opdef.implementations[BACKEND]
    if code.splits:
        code.emit(em, node)
        return
    with em.only_first_thread():
        code.emit(em, node)
