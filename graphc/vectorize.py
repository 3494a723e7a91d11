"""The rewrite behind ``gc.vectorized_map``: a function of one slice run on the whole batch at once, as
TensorFlow's pfor or JAX's vmap.

The function is traced once, on one slice of each input, into a region graph; its ops are then
emitted again on the batch, each by its batching rule: an elementwise op with every batched operand
given size-1 axes after the batch axis (up to the op's rank, so broadcasting lines the batch up),
reductions, scans, movements and indexing with their axes moved by one, ``matmul`` with the batch as
a leading broadcast axis, ``gather`` along its axis plus one. An op that reads no batched value is
emitted as it is. Anything else (control flow, random numbers, variable writes, convolution patches,
batched gather indices...) stops the rewrite: ``vectorize`` then returns the reason and the caller
runs a loop instead.
"""
from __future__ import annotations

from graphc.ir import dispatch
from graphc.ir import ops as irops
from graphc.ir.errors import GraphcError
from graphc.ir.graph import Node
from graphc.ir.types import TensorType, int32

from . import nest
from .control_flow import RegionTracer
from .tensor import Tensor


class _NotVectorizable(Exception):
    """An op without a batching rule for its operands (the message says which)."""


def vectorize(fn, elems, leaves: list[Tensor]):
    """``(results, None)``: ``fn`` applied to every slice of ``leaves`` (``elems`` flattened) along
    their first axis, computed batched; or ``(None, reason)`` when ``fn`` cannot be rewritten."""
    tracer = RegionTracer("vectorized_map", dispatch.current_handler(), {})
    slices = [tracer.input(TensorType(tuple(x.shape[1:]), x.dtype), f"slice_{i}") for i, x in enumerate(leaves)]
    try:
        with dispatch.handler(tracer):
            structure = fn(nest.pack_as(elems, slices))
            flat = [tracer.as_value(y) for y in nest.flatten(structure)]
    except GraphcError as error:  # Python control flow on a slice, say: the loop will say it again if real
        return None, f"tracing fn on one slice failed ({error.message})"
    if tracer.written():
        return None, "fn assigns variables"
    env = {s._value: (x, True) for s, x in zip(slices, leaves)}
    env.update({inner: (tracer.operand_of[outer], False) for outer, inner in tracer.captures.items()})
    env.update({inner: (tracer.reads[key], False) for key, inner in tracer.entry.items()})
    batch = _Batch(leaves[0])
    try:
        for node in tracer.graph.nodes:
            operands = [env[v] for v in node.inputs]
            if node.op == "dim_size" and operands[0][1]:  # a size of the slices: the same for every one
                outputs, batched = _emit(node, [operands[0][0]], node.attrs | {"axes": _shifted(node.attrs["axes"])}), False
            elif any(batched for _, batched in operands):
                outputs, batched = _batched_op(node, operands, batch), True
            else:
                outputs, batched = _emit(node, [t for t, _ in operands], node.attrs), False
            env.update((value, (output, batched)) for value, output in zip(node.outputs, outputs))
    except _NotVectorizable as reason:
        return None, str(reason)
    results = [t if batched else batch.repeat(t) for t, batched in (env[v] for v in flat)]
    return nest.pack_as(structure, results), None


_NEVER = {"random_uniform", "random_uniform_like", "call", "cond", "while_loop", "custom_gradient", "fused",
          "assign_variable", "read_variable", "scatter_slice", "scatter_add", "remap", "remap_adjoint",
          "extract_patches", "extract_patches_transpose"}


def _emit(node: Node, inputs: list, attrs: dict) -> list:
    if node.op in _NEVER:
        raise _NotVectorizable(f"fn uses {node.op}, which vectorized_map cannot batch")
    out = dispatch.bind(node.op, *inputs, **attrs)
    return list(out) if node.opdef.multi_output else [out]


class _Batch:
    """The batch axis: its size, and unbatched values repeated along it."""

    def __init__(self, leaf: Tensor):
        self.leaf, self.size = leaf, leaf.shape[0]

    def repeat(self, x) -> Tensor:
        x = irops.expand_dims(x, [0])
        if isinstance(self.size, int) and all(isinstance(d, int) for d in x.shape[1:]):
            return irops.broadcast_to(x, (self.size, *x.shape[1:]))
        rows = irops.reduce_sum(irops.full_like(self.leaf, 1, int32), tuple(range(1, self.leaf.ndim)))
        keep = irops.reshape(irops.greater_equal(rows, 0), [-1] + [1] * (x.ndim - 1))  # [B, 1, ...]: all True
        return irops.where(keep, x, x)


def _lined_up(x: Tensor, rank: int) -> Tensor:
    """A batched ``x`` ([B, *s]) with size-1 axes after the batch axis up to ``rank`` slice axes."""
    missing = rank - (x.ndim - 1)
    return irops.expand_dims(x, list(range(1, 1 + missing))) if missing > 0 else x


def _shifted(axes):
    return tuple(a + 1 for a in axes)


def _batched_op(node: Node, operands: list, batch: _Batch) -> list:
    op, attrs = node.op, dict(node.attrs)
    values = [t for t, _ in operands]
    batched = [b for _, b in operands]
    rank = len(node.outputs[0].type.shape) if node.outputs else 0
    if node.opdef.elementwise or op == "matmul":
        return _emit(node, [_lined_up(t, rank) if b else t for t, b in operands], attrs)
    if node.opdef.reduction:
        return _emit(node, values, attrs | {"axes": _shifted(attrs["axes"])})
    if op in ("argmax", "argmin", "cumsum", "cumprod", "split"):
        return _emit(node, values, attrs | {"axis": attrs["axis"] + 1})
    if op in ("expand_dims", "squeeze"):
        return _emit(node, values, attrs | {"axes": _shifted(attrs["axes"])})
    if op == "transpose":
        return _emit(node, values, attrs | {"perm": (0, *_shifted(attrs["perm"]))})
    if op == "getitem":
        return _emit(node, values, attrs | {"index": (slice(None), *attrs["index"])})
    if op in ("reshape", "broadcast_to"):
        shape = node.outputs[0].type.shape
        if any(d is None for d in shape) or (op == "broadcast_to" and not isinstance(batch.size, int)):
            raise _NotVectorizable(f"fn uses {op} to a shape with sizes known only at run time")
        size = -1 if op == "reshape" else batch.size
        return _emit(node, [_lined_up(values[0], rank)] if op == "broadcast_to" else values,
                     attrs | {"shape": (size, *shape)})
    if op in ("full_like", "reshape_like", "broadcast_like"):
        if not batched[-1]:  # the shape comes from an unbatched value: repeat it along the batch
            values[-1] = batch.repeat(values[-1])
        if op == "broadcast_like" and batched[0]:
            values[0] = _lined_up(values[0], rank)
        elif op == "reshape_like" and not batched[0]:
            raise _NotVectorizable("fn reshapes an unbatched value like a batched one")
        return _emit(node, values, attrs)
    if op == "concat":
        return _emit(node, [t if b else batch.repeat(t) for t, b in operands], attrs | {"axis": attrs["axis"] + 1})
    if op == "gather" and batched == [True, False]:
        return _emit(node, values, attrs | {"axis": attrs["axis"] + 1})
    raise _NotVectorizable(f"fn uses {op} on batched operands, which vectorized_map cannot batch")

