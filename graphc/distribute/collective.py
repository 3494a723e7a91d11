"""The all-reduce of the replicas, through Ray: a small asynchronous actor gathers every replica's
contribution for a key, combines them in rank order and hands the same result to every replica.

Why not Ray's collective library (``ray.util.collective``): on CPU it needs the Gloo backend
(pygloo or torch.distributed), which ``ray.util.collective.gloo_available()`` reports missing on a
plain ``pip install ray``; the actor needs nothing but Ray. Combining in rank order, once, in the
actor makes the result the same bytes on every replica, which keeps the replicas bit-identical.
The actor is a star (every contribution crosses it once each way): fine for a few workers and
models of megabytes; a ring would scale better past that.
"""
from __future__ import annotations

import asyncio

import numpy as np


def combine(op: str, parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The replicas' leaves summed (or averaged) in rank order; floats accumulate in float64; the
    result has the leaves' dtype (an integer mean rounds toward zero)."""
    combined = []
    for leaves in zip(*parts):
        dtype = np.result_type(leaves[0])
        wide = np.float64 if np.issubdtype(dtype, np.floating) else dtype
        total = np.array(leaves[0], dtype=wide)
        for leaf in leaves[1:]:
            total = total + np.asarray(leaf, dtype=wide)
        if op == "MEAN":
            total = total / len(leaves)
        combined.append(total.astype(dtype))
    return combined


class AllReduceGroup:
    """The rendezvous of ``size`` replicas (a Ray async actor): ``all_reduce(key, rank, op, leaves)``
    returns when every rank has given its leaves for ``key``."""

    def __init__(self, size: int):
        self.size = size
        self.pending: dict = {}

    async def all_reduce(self, key, rank: int, op: str, leaves: list):
        entry = self.pending.setdefault(key, {"parts": {}, "done": asyncio.Event(), "result": None, "served": 0})
        entry["parts"][rank] = leaves
        if len(entry["parts"]) == self.size:
            entry["result"] = combine(op, [entry["parts"][r] for r in range(self.size)])
            entry["done"].set()
        await entry["done"].wait()
        entry["served"] += 1
        if entry["served"] == self.size:
            del self.pending[key]
        return entry["result"]


def start_group(ray, size: int):
    """A new group actor (it takes no CPU: it only waits and adds)."""
    return ray.remote(AllReduceGroup).options(num_cpus=0).remote(size)
