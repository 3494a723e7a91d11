"""Which strategy is in scope, and the replica a function runs on: the part of ``gc.distribute``
that needs no Ray, so that ``gc.Model`` can ask it at construction.

``strategy.scope()`` makes the strategy current; a ``gc.Model`` made then remembers it, and its
``fit``, ``evaluate`` and ``predict`` run on the strategy. On a worker, ``get_replica_context()`` is
the replica running ``strategy.run``'s function or a ``fit`` step (its id and ``all_reduce``); on
the driver it is the default context of one replica, as in TensorFlow.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .. import nest
from ..custom_gradient import custom_gradient
from ..script_ops import numpy_function
from ..tracing import TensorSpec

_STRATEGY = contextvars.ContextVar("graphc_distribute_strategy", default=None)
_REPLICA = contextvars.ContextVar("graphc_distribute_replica", default=None)


class ReduceOp:
    """How values of the replicas combine: ``SUM`` or ``MEAN`` (``tf.distribute.ReduceOp``)."""

    SUM = "SUM"
    MEAN = "MEAN"


def reduce_op(op) -> str:
    """``op`` (a ReduceOp or its name, any case) checked: "SUM" or "MEAN"."""
    name = op.upper() if isinstance(op, str) else None
    if name not in (ReduceOp.SUM, ReduceOp.MEAN):
        raise InvalidArgumentError(f"reduce_op must be gc.distribute.ReduceOp.SUM or MEAN ('SUM', 'MEAN'), got {op!r}")
    return name


@contextlib.contextmanager
def strategy_scope(strategy):
    """Makes ``strategy`` the current strategy inside the block."""
    token = _STRATEGY.set(strategy)
    try:
        yield strategy
    finally:
        _STRATEGY.reset(token)


def current_strategy():
    """The strategy whose ``scope()`` is open, or None."""
    return _STRATEGY.get()


def get_strategy():
    """The strategy in scope (``tf.distribute.get_strategy``); None outside every scope (graphc has
    no default strategy object: one process is simply no strategy)."""
    return _STRATEGY.get()


def has_strategy() -> bool:
    return _STRATEGY.get() is not None


class ReplicaContext:
    """The replica a function of ``strategy.run`` (or a step of ``fit``) runs on. ``all_reduce(op,
    value)`` combines a structure of tensors across every replica (each replica must call it, in the
    same order), eagerly or inside ``gc.function``; the result is identical on every replica.

    ``gradient_weight`` is this replica's weight in the sum of the replicas' losses: 1 in
    ``strategy.run`` (TensorFlow's convention: each replica's loss is already divided by the global
    batch size and the gradients are summed), the replica's share of the global batch in ``fit``
    (whose replicas average per-replica mean losses)."""

    def __init__(self, replica_id: int, num_replicas: int, reducer=None, gradient_weight: float = 1.0):
        self.replica_id_in_sync_group = replica_id
        self.num_replicas_in_sync = num_replicas
        self.gradient_weight = gradient_weight
        self._reducer = reducer  # (op, list of arrays, list of weights or None) -> list of arrays, across the replicas

    def all_reduce(self, reduce_op_, value):
        """``value``'s tensors summed (``"SUM"``) or averaged (``"MEAN"``) over the replicas. Inside a
        ``gc.function`` the exchange is a host call that runs on every call of the compiled function.
        Gradients flow through it as in TensorFlow: the gradient of a replica's input is the
        all-reduce (the same op) of the results' gradients of every replica."""
        op = reduce_op(reduce_op_)
        if self._reducer is None:  # one replica: the sum and the mean of one value are the value
            return value
        leaves = nest.flatten(value)
        return nest.pack_as(value, _differentiable_all_reduce(op, leaves) if leaves else [])

    def exchange(self, op: str, arrays, weighted: bool) -> list[np.ndarray]:
        """The replicas' ``arrays`` combined by ``op``; ``weighted``: a gradient, so each replica's part
        is weighted by its ``gradient_weight`` and the result divided by this replica's."""
        arrays = [np.asarray(a) for a in arrays]
        if not weighted:
            return self._reducer(op, arrays, None)
        weight = self.gradient_weight
        combined = self._reducer(op, arrays, [weight] * len(arrays))
        if weight == 0:  # a replica without examples: its own gradients are weighted out anyway
            return [np.zeros_like(c) for c in combined]
        return [np.asarray(c / weight, dtype=c.dtype) for c in combined]


def _differentiable_all_reduce(op: str, leaves: list) -> list:
    """``leaves`` all-reduced by one host call, with TensorFlow's gradient (the all-reduce of the
    cotangents); eagerly the host call simply runs."""
    @custom_gradient
    def all_reduce(*values):
        def gradient(*cotangents):
            return _host_exchange(op, cotangents, weighted=True)

        return _host_exchange(op, values, weighted=False), gradient

    results = all_reduce(*leaves)
    return list(results) if isinstance(results, (list, tuple)) else [results]


def _host_exchange(op: str, values, weighted: bool) -> list:
    """One host call exchanging ``values`` with the other replicas. The call looks up the replica
    context when it runs, not when it is traced: a compiled step is reused by later steps, whose
    exchanges have their own keys (and, in ``fit``, their own weights)."""
    specs = []
    for value in values:
        if any(d is None for d in value.shape):
            raise InvalidArgumentError(f"all_reduce: a value of shape {value.shape} has a dimension of unknown size; "
                                       "a compiled exchange needs every size when it is traced")
        specs.append(TensorSpec(value.shape, value.dtype))
    return numpy_function(lambda *arrays: get_replica_context().exchange(op, arrays, weighted), list(values), specs,
                          name="all_reduce")


@contextlib.contextmanager
def replica_scope(context: ReplicaContext):
    token = _REPLICA.set(context)
    try:
        yield context
    finally:
        _REPLICA.reset(token)


def get_replica_context() -> ReplicaContext:
    """The context of the replica running this code (``tf.distribute.get_replica_context``); on the
    driver outside ``strategy.run``, a context of one replica."""
    return _REPLICA.get() or ReplicaContext(0, 1)
