"""``gc.GradientTape``: records the ops run on watched tensors and differentiates them.

It works the same eagerly and inside ``@gc.function``: there the recorded ops are graph nodes, and
``tape.gradient`` appends the backward pass to the same graph.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from graphc.ir import autodiff, dispatch, ops
from graphc.ir.errors import InvalidArgumentError

from . import nest
from .tensor import Tensor
from .variables import Variable


@dataclass
class Record:
    """One recorded op application (the interface ``ir.autodiff`` walks)."""

    op: str
    inputs: tuple
    outputs: list
    attrs: dict
    loc: object = None
    scope: str | None = None  # the forward op's name scope (its gradient goes there)


@dataclass
class _WatchState:
    tensor_ids: set = field(default_factory=set)
    variables: list = field(default_factory=list)  # watched variables, in first-watched order
    reads: dict = field(default_factory=dict)  # id(variable) -> tensors read from it on the tape
    kept: list = field(default_factory=list)  # watched tensors, kept alive while their ids are in use


class GradientTape:
    """Records operations for automatic differentiation, as ``tf.GradientTape``.

    Trainable variables read inside the block are watched automatically (unless
    ``watch_accessed_variables=False``); other tensors need ``tape.watch``. A non-persistent tape
    computes one set of gradients. Nested tapes give higher derivatives."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._records: list[Record] = []
        self._watch = _WatchState()
        self._used = False
        self._recording = False
        self._handler = None

    # -- the context ------------------------------------------------------------------------------
    def __enter__(self):
        self._push()
        return self

    def __exit__(self, *exc):
        self._pop()

    def _push(self):
        if self._recording:
            raise RuntimeError("this GradientTape is already recording")
        dispatch.add_observer(self)
        self._recording = True
        self._handler = dispatch.current_handler()

    def _pop(self):
        dispatch.remove_observer(self)
        self._recording = False

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops run inside the block are not recorded by this tape."""
        if not self._recording:
            raise RuntimeError("stop_recording() needs a tape that is recording (inside its 'with' block)")
        self._pop()
        try:
            yield
        finally:
            self._push()

    def reset(self):
        """Forgets every recorded op and watched tensor, as if the tape had just been entered."""
        self._records.clear()
        self._watch = _WatchState()
        self._used = False

    # -- watching and recording -------------------------------------------------------------------------
    def watch(self, tensor):
        """Records ops on ``tensor`` (a tensor, variable, or nested structure of them) from now on."""
        for leaf in nest.flatten(tensor):
            if isinstance(leaf, Variable):
                self._watch_variable(leaf)
            elif isinstance(leaf, Tensor):
                if not leaf.dtype.is_floating:
                    continue  # like TensorFlow: integer tensors are not differentiable
                self._watch.tensor_ids.add(id(leaf))
                self._keep_alive(leaf)
            else:
                raise InvalidArgumentError(f"GradientTape.watch: expected tensors or variables, got {type(leaf).__name__}")

    def _keep_alive(self, tensor):
        # Ids identify watched tensors, so the tape holds every watched tensor until it is reset.
        self._watch.kept.append(tensor)

    def _watch_variable(self, var: Variable):
        if all(v is not var for v in self._watch.variables):
            self._watch.variables.append(var)
            self._watch.reads.setdefault(id(var), [])

    @property
    def recorded_ops(self) -> list[Record]:
        """The op applications recorded so far, in order."""
        return list(self._records)

    def watched_variables(self) -> list[Variable]:
        return list(self._watch.variables)

    def record(self, opdef, inputs, outputs, attrs):
        """Called by dispatch for every op bound while the tape records.

        Only ops of the context the tape was entered in count: a tape entered eagerly sees a call of a
        compiled function as one ``call`` op, not the ops traced inside it."""
        if dispatch.current_handler() is not self._handler:
            return
        if opdef.name == "read_variable":
            var = attrs["var"]
            watched = any(v is var for v in self._watch.variables)
            if not watched and self._watch_accessed and var.trainable and var.dtype.is_floating:
                self._watch_variable(var)
                watched = True
            if watched:
                self._watch.reads[id(var)].append(outputs[0])
                self._watch.tensor_ids.add(id(outputs[0]))
                self._keep_alive(outputs[0])
            return
        if not any(id(x) in self._watch.tensor_ids for x in inputs):
            return
        node = outputs[0]._value.node if outputs and isinstance(outputs[0], Tensor) and outputs[0].is_symbolic else None
        self._records.append(Record(opdef.name, tuple(inputs), list(outputs), dict(attrs), node and node.loc,
                                    node and node.scope))
        self._watch.tensor_ids.update(id(y) for y in outputs)

    # -- differentiation ------------------------------------------------------------------------------
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of ``target``)/d``sources``, with the nesting of ``sources``.

        ``output_gradients`` weights the targets (a vector-Jacobian product). A source the target does
        not depend on gives None, or zeros with ``unconnected_gradients="zero"``."""
        if self._used and not self._persistent:
            raise RuntimeError(
                "a non-persistent GradientTape can compute one set of gradients only: "
                "use GradientTape(persistent=True) to call gradient() again"
            )
        self._used = True
        targets = [_as_target(t) for t in nest.flatten(target)]
        source_leaves = nest.flatten(sources)
        cotangents = None
        if output_gradients is not None:
            cotangents = [None if g is None else _operand(g) for g in nest.flatten(output_gradients)]
            if len(cotangents) != len(targets):
                raise InvalidArgumentError(
                    f"output_gradients has {len(cotangents)} entries for {len(targets)} targets"
                )
        grads = self._differentiate(targets, source_leaves, cotangents, unconnected_gradients)
        return nest.pack_as(sources, grads)

    def _differentiate(self, targets, source_leaves, cotangents, unconnected):
        flat_sources, groups = [], []
        for s in source_leaves:
            if isinstance(s, Variable):
                reads = self._watch.reads.get(id(s), [])
                groups.append((s, len(flat_sources), len(reads)))
                flat_sources.extend(reads)
            elif isinstance(s, Tensor):
                groups.append((s, len(flat_sources), 1))
                flat_sources.append(s)
            else:
                raise InvalidArgumentError(f"gradient: sources must be tensors or variables, got {type(s).__name__}")
        was_recording = self._recording
        if was_recording:
            self._pop()  # the backward pass is recorded by outer tapes, not by this one
        try:
            flat = autodiff.backward(self._records, targets, flat_sources, cotangents, "none")
            results = []
            for source, start, count in groups:
                parts = [g for g in flat[start:start + count] if g is not None]
                grad = None
                for p in parts:
                    grad = p if grad is None else ops.add(grad, p)
                if grad is None and unconnected == "zero":
                    grad = ops.zeros_like(source)
                elif grad is None and unconnected != "none":
                    raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected!r}")
                results.append(grad)
        finally:
            if was_recording:
                self._push()
        return results

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """d``target``[i...]/d``sources``: shape ``target.shape + source.shape`` for each source."""
        target = _as_target(target)
        shape = _static_shape(target)
        size = int(np.prod(shape, dtype=np.int64))
        source_leaves = nest.flatten(sources)
        rows = [[] for _ in source_leaves]
        persistent, self._persistent = self._persistent, True
        try:
            for i in range(size):
                seed = ops.reshape(ops.one_hot(i, size, dtype=target.dtype), shape)
                for row, g in zip(rows, self._differentiate([target], source_leaves, [seed], "none")):
                    row.append(g)
        finally:
            self._persistent = persistent
            self._used = True
        results = []
        for row, source in zip(rows, source_leaves):
            full_shape = tuple(shape) + tuple(_static_shape(source))
            if size and row[0] is not None:
                results.append(ops.reshape(ops.stack(row, 0), full_shape))
            elif unconnected_gradients == "zero" or size == 0:
                results.append(ops.zeros(full_shape, source.dtype))
            else:
                results.append(None)
        return nest.pack_as(sources, results)


def _static_shape(x):
    shape = x.type.shape
    if not all(isinstance(d, int) for d in shape):
        raise InvalidArgumentError(f"jacobian needs sources of known shape, got {x.type}")
    return shape


def _operand(x):
    return x.read_value() if isinstance(x, Variable) else x


def _as_target(t):
    t = _operand(t)
    if not isinstance(t, Tensor):
        raise InvalidArgumentError(f"gradient: the target must be a tensor, got {type(t).__name__}")
    if not t.dtype.is_floating:
        raise InvalidArgumentError(
            f"gradient: the target must have a floating dtype (float32 or float64), got {t.dtype.name}"
        )
    return t
