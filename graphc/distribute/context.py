"""Which strategy is in scope, and the replica a function runs on: the part of ``gc.distribute``
that needs no Ray, so that ``gc.Model`` can ask it at construction.

``strategy.scope()`` makes the strategy current; a ``gc.Model`` made then remembers it, and its
``fit`` runs on the strategy. On a worker, ``get_replica_context()`` is the replica running
``strategy.run``'s function (its id and ``all_reduce``); on the driver it is the default context
of one replica, as in TensorFlow.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .. import nest
from ..tracing import current_trace

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
    """The replica a function of ``strategy.run`` runs on. ``all_reduce(op, value)`` combines a
    structure of tensors or arrays across every replica (each replica must call it, in the same
    order); ``value`` comes back as NumPy arrays, identical on every replica."""

    def __init__(self, replica_id: int, num_replicas: int, reducer=None):
        self.replica_id_in_sync_group = replica_id
        self.num_replicas_in_sync = num_replicas
        self._reducer = reducer  # (op, list of arrays) -> list of arrays, across the replicas

    def all_reduce(self, reduce_op_, value):
        op = reduce_op(reduce_op_)
        if current_trace() is not None:
            raise InvalidArgumentError("all_reduce inside a gc.function: the replicas exchange values through Ray, "
                                       "eagerly; call it (and optimizer.apply_gradients in strategy.run) outside gc.function")
        leaves = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in nest.flatten(value)]
        if self._reducer is None:  # one replica: the sum and the mean of one value are the value
            return nest.pack_as(value, leaves)
        return nest.pack_as(value, self._reducer(op, leaves))


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
