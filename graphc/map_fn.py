"""``gc.map_fn`` and ``gc.vectorized_map``: a function applied to every slice of its inputs along
their first axis, the results stacked, as TensorFlow's. ``vectorized_map`` rewrites the function for
the whole batch (``graphc.vectorize``) and falls back to ``map_fn``'s loop.

Eagerly the slices run in a Python loop. Traced, a first axis of known size is unrolled (one copy of
the function's ops per slice, which the fuser and LLVM then treat as one graph); a size known only
at run time becomes a ``while_loop`` that writes each result into its row of a buffer (each write
copies the buffer, so that form costs time quadratic in the number of slices).
"""
from __future__ import annotations

import warnings

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError, ShapeError

from . import nest
from .control_flow import while_loop
from .tensor import as_tensor
from .tracing import current_trace
from .vectorize import vectorize


def map_fn(fn, elems, fn_output_signature=None, name=None):
    """``fn`` applied to each slice ``elems[i]`` (a nested structure: each leaf sliced along its
    first axis, all of one length), the results stacked along a new first axis. With
    ``fn_output_signature`` (a ``gc.TensorSpec`` or structure of them) the results are checked
    against it and an empty input gives empty results of that type."""
    leaves = _leaves(elems, "map_fn")
    known = {x.shape[0] for x in leaves if x.shape[0] is not None}

    def apply(index):
        return fn(nest.pack_as(elems, [x[index] for x in leaves]))

    length = known.pop() if known else None
    if current_trace() is None or length is not None:
        if length == 0:
            return _empty(fn_output_signature)
        results = [apply(i) for i in range(length)]
        stacked = [ops.stack(list(column), 0) for column in zip(*[_flat_results(r) for r in results])]
        _check(stacked, fn_output_signature, slices=True)
        return nest.pack_as(results[0], stacked)
    return _while_map(apply, leaves[0], fn_output_signature)


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """``map_fn(fn, elems)`` computed on the whole batch at once: ``fn`` is traced on one slice and its
    ops rewritten for the batch (see ``graphc.vectorize``), eagerly and in compiled functions. When
    ``fn`` uses an op that cannot be batched (control flow, random numbers, variable writes,
    convolutions...), the loop of ``map_fn`` runs instead (with a warning when ``warn``), or, with
    ``fallback_to_while_loop=False``, an InvalidArgumentError says why."""
    leaves = _leaves(elems, "vectorized_map")
    results, reason = vectorize(fn, elems, leaves)
    if reason is None:
        return results
    if not fallback_to_while_loop:
        raise InvalidArgumentError(f"vectorized_map cannot batch fn: {reason} (fallback_to_while_loop=False)")
    if warn:
        warnings.warn(f"vectorized_map runs a loop: {reason}", stacklevel=2)
    return map_fn(fn, elems)


def _leaves(elems, what: str) -> list:
    """The tensors of ``elems``, checked: at least one, each with a first axis, all of one length."""
    leaves = [as_tensor(e) for e in nest.flatten(elems)]
    if not leaves:
        raise InvalidArgumentError(f"{what} needs at least one tensor in elems")
    sizes = [x.shape[0] if x.ndim else "a scalar" for x in leaves]
    if any(isinstance(s, str) for s in sizes):
        raise ShapeError(f"{what} slices elems along their first axis, so each must have one; got a scalar")
    if len({s for s in sizes if s is not None}) > 1:
        raise ShapeError(f"{what}: the elems have first axes of different lengths {sizes}")
    return leaves


def _while_map(apply, first_leaf, signature):
    """The loop for a first axis known only at run time: results written row by row into buffers."""
    probe_result = apply(0)  # traced for its types only: its values are never used
    probe = _flat_results(probe_result)
    if signature is not None:
        _check(probe, signature, slices=False)
    for y in probe:
        if any(d is None for d in y.shape):
            raise ShapeError(f"map_fn over a length known only at run time needs results of known shape, got "
                             f"{y.shape} (give fn_output_signature or a known length)")
    count = ops.dim_size(first_leaf, (0,), "int32")
    rows = ops.reduce_sum(ops.zeros_like(first_leaf), list(range(1, first_leaf.ndim)))  # [n] zeros
    buffers = [ops.add(ops.reshape(ops.cast(rows, y.dtype), [-1] + [1] * y.ndim), ops.zeros(y.shape, y.dtype))
               for y in probe]

    def body(i, *buffers):
        results = _flat_results(apply(i))
        at = ops.reshape(i, [1, 1])
        return [ops.add(i, 1), *[ops.tensor_scatter_nd_update(b, at, ops.expand_dims(y, 0))
                                 for b, y in zip(buffers, results)]]

    _, *filled = while_loop(lambda i, *buffers: ops.less(i, count), body, [ops.constant(0), *buffers])
    return nest.pack_as(probe_result, filled)


def _flat_results(result) -> list:
    return [as_tensor(y) for y in nest.flatten(result)]


def _check(results, signature, slices: bool) -> None:
    if signature is None:
        return
    specs = nest.flatten(signature)
    if len(specs) != len(results):
        raise InvalidArgumentError(f"map_fn: fn returned {len(results)} tensors, fn_output_signature has {len(specs)}")
    for y, spec in zip(results, specs):
        shape = tuple(y.shape[1:] if slices else y.shape)
        if y.dtype != spec.dtype or not _fits(shape, tuple(spec.shape)):
            raise InvalidArgumentError(f"map_fn: fn returned {y.dtype.name}{list(shape)} where fn_output_signature "
                                       f"says {spec.dtype.name}{list(spec.shape)}")


def _fits(shape, spec_shape) -> bool:
    return len(shape) == len(spec_shape) and all(s is None or d == s for d, s in zip(shape, spec_shape))


def _empty(signature):
    if signature is None:
        raise InvalidArgumentError("map_fn over zero slices needs fn_output_signature to know its results' type")
    return nest.map_structure(lambda spec: ops.zeros((0, *spec.shape), spec.dtype), signature)
