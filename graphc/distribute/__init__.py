"""``gc.distribute``: training and inference beyond one process, on Ray (``pip install
'graphc[distributed]'``; Ray is imported only when a strategy starts its workers).

- ``RayStrategy``: synchronous data-parallel training (``scope``, ``fit``, ``run``, ``reduce``);
- ``predict``: batch inference on Ray workers, results streamed in input order;
- ``get_strategy``, ``has_strategy``, ``get_replica_context``, ``ReduceOp``: as ``tf.distribute``.
"""
import importlib

from .context import ReduceOp, ReplicaContext, get_replica_context, get_strategy, has_strategy

# loaded on first use: the model module imports this package's context when it loads
_LAZY = {
    "RayStrategy": "strategy", "PerReplica": "values", "predict": "inference", "ReplicaDivergence": "training",
    "WorkerLost": "runtime",
}

__all__ = ["RayStrategy", "PerReplica", "ReduceOp", "ReplicaContext", "ReplicaDivergence", "WorkerLost",
           "get_replica_context", "get_strategy", "has_strategy", "predict"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
