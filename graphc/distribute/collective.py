"""The all-reduce of the replicas, through Ray: a small asynchronous actor gathers every replica's
contribution for a key, combines them in rank order and hands the same result to every replica.

Why not Ray's collective library (``ray.util.collective``): on CPU it needs the Gloo backend
(pygloo or torch.distributed), which ``ray.util.collective.gloo_available()`` reports missing on a
plain ``pip install ray``; the actor needs nothing but Ray. Combining in rank order, once, in the
actor makes the result the same bytes on every replica, which keeps the replicas bit-identical.
The actor is a star (every contribution crosses it once each way): fine for a few workers and
models of megabytes; a ring would scale better past that. Measured on the 2-core machine (2 workers,
load average 6): 2.9 ms per all-reduce of 0.08 MB, 11 ms of 0.8 MB, 28 ms of 8 MB. ``fit`` sends
float32 values as float32 (the actor weighs and adds them in float64, rounding each addition to float32).
"""
from __future__ import annotations

import asyncio

import numpy as np


def combine(op: str, parts: list[list[np.ndarray]], weights: list[list[float]] | None = None) -> list[np.ndarray]:
    """The replicas' leaves summed (or averaged), leaf ``j`` of rank ``r`` first multiplied by
    ``weights[r][j]`` when given. The ranks are added as a balanced binary tree in rank order, each
    addition rounded to the leaves' dtype (computed in float64 for floats): the order in which one
    process adds the halves of a sum with op determinism on (``ir/ops/summation.py``), so replicas
    holding the parts of a batch sum it to the same bits. The result has the leaves' dtype (an
    integer mean rounds toward zero)."""
    combined = []
    for j, leaves in enumerate(zip(*parts)):
        dtype = np.result_type(leaves[0])
        floating = np.issubdtype(dtype, np.floating)
        wide = np.float64 if floating else dtype

        def rounded(value):
            return value.astype(dtype).astype(wide) if floating else value

        terms = [np.asarray(leaf, dtype=wide) for leaf in leaves]
        if weights is not None:
            terms = [rounded(term * weights[r][j]) for r, term in enumerate(terms)]
        while len(terms) > 1:  # one level of the tree; an odd last term goes up as it is
            pairs = [rounded(a + b) for a, b in zip(terms[::2], terms[1::2])]
            terms = pairs + terms[2 * len(pairs):]
        total = terms[0]
        if op == "MEAN":
            total = total / len(leaves)
        combined.append(np.asarray(total).astype(dtype))
    return combined


class AllReduceGroup:
    """The rendezvous of ``size`` replicas (a Ray async actor): ``all_reduce(key, rank, op, leaves,
    weights)`` returns ``(None, result)`` when every rank has given its leaves (and their weights)
    for ``key``, or ``(message, None)`` to every rank when the ranks disagree on the op or on the
    leaves' number, shapes or dtypes. A rank with nothing to add (no examples in an evaluation step)
    gives None leaves."""

    def __init__(self, size: int):
        self.size = size
        self.pending: dict = {}
        self.finished: dict = {}  # scope -> the ranks whose call in that scope has ended

    async def all_reduce(self, key, rank: int, op: str, leaves: list | None, weights: list | None = None):
        entry = self.pending.setdefault(key, {"parts": {}, "ops": {}, "weights": {}, "done": asyncio.Event(),
                                              "result": None, "served": 0})
        entry["parts"][rank], entry["ops"][rank], entry["weights"][rank] = leaves, op, weights
        self._give_up_if_abandoned(key, entry)
        if len(entry["parts"]) == self.size:  # the ranks that gave None take part without leaves
            ranks = [r for r in range(self.size) if entry["parts"][r] is not None]
            problem = disagreement(entry["ops"], {r: entry["parts"][r] for r in ranks})
            if problem is not None:
                entry["result"] = (problem, None)
            else:
                weighted = bool(ranks) and entry["weights"][ranks[0]] is not None
                entry["result"] = (None, combine(op, [entry["parts"][r] for r in ranks],
                                                 [entry["weights"][r] for r in ranks] if weighted else None))
            entry["done"].set()
        await entry["done"].wait()
        entry["served"] += 1
        if entry["served"] == len(entry["parts"]) and self.pending.get(key) is entry:
            del self.pending[key]
        return entry["result"]

    async def finish(self, scope, rank: int) -> None:
        """Rank ``rank``'s call in ``scope`` has ended: it joins no more exchanges there, so those
        other ranks wait for in vain fail (an exchange key is ``("exchange", scope, number)``)."""
        ranks = self.finished.setdefault(scope, set())
        ranks.add(rank)
        for key, entry in list(self.pending.items()):
            self._give_up_if_abandoned(key, entry)
        if len(ranks) == self.size:
            del self.finished[scope]

    def _give_up_if_abandoned(self, key, entry) -> None:
        scope = key[1] if isinstance(key, tuple) and len(key) == 3 and key[0] == "exchange" else None
        gone = sorted(self.finished.get(scope, set()) - set(entry["parts"]))
        if gone and not entry["done"].is_set():
            entry["result"] = (f"all_reduce: replica {gone[0]} finished its call without taking part in exchange "
                               f"{key[2]} of the call, which replicas {sorted(entry['parts'])} joined: every replica "
                               "must all-reduce the same values in the same order", None)
            del self.pending[key]  # a rank arriving later finds the scope abandoned again
            entry["done"].set()


def disagreement(ops: dict, parts: dict) -> str | None:
    """Why the ranks' contributions cannot be combined (each rank's op and leaves' types listed), or
    None when they agree: every leaf combines with the same leaf of every rank, so a shape that
    would broadcast is a disagreement too."""
    def described(rank):
        leaves = parts.get(rank)
        types = "nothing" if leaves is None else "[" + ", ".join(
            f"{np.result_type(leaf).name}{list(np.shape(leaf))}" for leaf in leaves) + "]"
        return f"replica {rank}: {ops[rank]} of {types}"

    signatures = {tuple((np.result_type(leaf), np.shape(leaf)) for leaf in leaves) for leaves in parts.values()}
    if len(set(ops.values())) == 1 and len(signatures) <= 1:
        return None
    return ("all_reduce: the replicas disagree (" + "; ".join(described(r) for r in sorted(ops)) + "): every replica "
            "must all-reduce values of the same shapes and dtypes with the same op, in the same order")


def start_group(ray, size: int):
    """A new group actor (it takes no CPU: it only waits and adds)."""
    return ray.remote(AllReduceGroup).options(num_cpus=0).remote(size)
