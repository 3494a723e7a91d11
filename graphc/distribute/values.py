"""Values with one part per replica: ``PerReplica``, the global batches split for the replicas
(the strategy's automatic sharding) and ``strategy.reduce``'s arithmetic."""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .. import nest
from ..data import Dataset, iter_arrays


class PerReplica:
    """One value per replica (``tf.distribute``'s ``PerReplica``): ``values[i]`` is replica ``i``'s."""

    def __init__(self, values):
        self.values = tuple(values)

    def __repr__(self) -> str:
        return f"PerReplica({', '.join(map(repr, self.values))})"


def split_batch(batch, num_replicas: int) -> tuple[list, list[int]]:
    """A global batch (a structure of arrays, examples on the first axis) cut into ``num_replicas``
    consecutive parts, the first ones one example larger when it does not divide; a replica with
    no examples gets None. Returns the parts and their sizes."""
    leaves = [np.asarray(leaf.numpy() if hasattr(leaf, "numpy") else leaf) for leaf in nest.flatten(batch)]
    if not leaves or any(leaf.ndim == 0 for leaf in leaves):
        raise InvalidArgumentError("a batch to split among the replicas needs arrays with a first axis of examples")
    size = len(leaves[0])
    if any(len(leaf) != size for leaf in leaves):
        raise InvalidArgumentError(f"the parts of a batch disagree on the number of examples: "
                                   f"{sorted({len(leaf) for leaf in leaves})}")
    sizes = [size // num_replicas + (r < size % num_replicas) for r in range(num_replicas)]
    bounds = np.cumsum([0] + sizes)
    parts = [nest.pack_as(batch, [leaf[bounds[r]:bounds[r + 1]] for leaf in leaves]) if sizes[r] else None
             for r in range(num_replicas)]
    return parts, sizes


class DistributedDataset:
    """``strategy.experimental_distribute_dataset(dataset)``: each element of the batched dataset (a
    global batch) as a ``PerReplica`` of its parts."""

    def __init__(self, dataset: Dataset, num_replicas: int):
        if not isinstance(dataset, Dataset):
            raise InvalidArgumentError(f"experimental_distribute_dataset needs a gc.data.Dataset, got {type(dataset).__name__}")
        self.dataset, self.num_replicas = dataset, num_replicas

    def __iter__(self):
        for element in iter_arrays(self.dataset):
            yield PerReplica(split_batch(element, self.num_replicas)[0])


def reduce_values(op: str, values: list, axis):
    """``strategy.reduce``: the replicas' values (structures of arrays) summed or averaged; with
    ``axis``, also along that axis of each value (the mean then weighs every element equally)."""
    flat = [[np.asarray(leaf) for leaf in nest.flatten(v)] for v in values]
    out = []
    for leaves in zip(*flat):
        if axis is None:
            total = sum(leaf.astype(np.result_type(leaf, np.float64) if op == "MEAN" else leaf.dtype) for leaf in leaves)
            out.append((total / len(leaves)).astype(leaves[0].dtype) if op == "MEAN" else total)
            continue
        if any(axis >= leaf.ndim or axis < -leaf.ndim for leaf in leaves):
            raise InvalidArgumentError(f"reduce: axis {axis} is out of range for values of shape {leaves[0].shape}")
        total = sum(leaf.sum(axis=axis) for leaf in leaves)
        if op == "MEAN":
            count = sum(leaf.shape[axis] for leaf in leaves)
            total = (total / count).astype(leaves[0].dtype) if count else np.full_like(total, np.nan)
        out.append(total)
    return nest.pack_as(values[0], out)
