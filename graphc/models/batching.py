"""The data of ``Model.fit``, ``evaluate`` and ``predict`` as batches: arrays or tensors cut into batches
(shuffled each epoch when asked), or the batches of a ``gc.data.Dataset``."""
from __future__ import annotations

import math
import sys

import numpy as np

from graphc.ir.arguments import as_int
from graphc.ir.boundary import supported_array
from graphc.ir.errors import InvalidArgumentError

from .. import nest
from .. import random as gc_random
from ..data import Dataset, iter_arrays
from ..tensor import TensorLike


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(data, (list, tuple)) and not hasattr(type(data), "_fields"):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return tuple(data)
        raise InvalidArgumentError(f"a batch is x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}")
    return data, None, None


def positive_or_none(value, what: str) -> int | None:
    """None, or ``value`` checked to be an int >= 1 (``what`` names it in errors)."""
    return None if value is None else as_int(value, what, low=1)


def fit_batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, validation_split, validation_data,
                validation_batch_size) -> tuple[Batches, Batches | None]:
    """The training batches of ``Model.fit`` and its validation batches (None without validation):
    ``validation_split`` holds out the last fraction of the arrays; ``validation_data`` is ``(x, y)``,
    ``(x, y, sample_weight)`` or a dataset."""
    if validation_split and validation_data is None:
        (x, y, sample_weight), validation_data = _split(x, y, sample_weight, validation_split)
    train = Batches(x, y, sample_weight, batch_size, shuffle, positive_or_none(steps_per_epoch, "steps_per_epoch"))
    if validation_data is None:
        return train, None
    vx, vy, vw = (validation_data, None, None) if isinstance(validation_data, Dataset) \
        else unpack_x_y_sample_weight(tuple(validation_data))
    validation_batch_size = positive_or_none(validation_batch_size, "validation_batch_size")
    return train, Batches(vx, vy, vw, validation_batch_size or batch_size, False)


def _split(x, y, sample_weight, fraction: float):
    """The first ``1 - fraction`` of the examples and the rest, as Keras's ``validation_split``."""
    if isinstance(x, Dataset):
        raise InvalidArgumentError("validation_split works with arrays only; pass validation_data for a dataset")
    if not 0 < fraction < 1:
        raise InvalidArgumentError(f"validation_split must be in (0, 1), got {fraction}")
    x, y, sample_weight = _as_arrays(x), _as_arrays(y), _as_arrays(sample_weight)
    cut = int(_same_examples(x, y, sample_weight) * (1 - fraction))
    head = lambda d: None if d is None else nest.map_structure(lambda a: a[:cut], d)  # noqa: E731
    tail = lambda d: None if d is None else nest.map_structure(lambda a: a[cut:], d)  # noqa: E731
    return (head(x), head(y), head(sample_weight)), (tail(x), tail(y), tail(sample_weight))


class Batches:
    """The batches of one pass over arrays (shuffled each epoch when asked) or over a dataset."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle, steps=None):
        self.limit = steps
        if isinstance(x, Dataset):
            if y is not None:
                raise InvalidArgumentError("with a dataset as x, y must be None: the dataset yields (x, y) batches")
            self.dataset, self.iterator = x, None
            n = x.cardinality()
            self.steps = steps or (n if n >= 0 else None)
            return
        if x is None:
            raise InvalidArgumentError("no data: pass x (and y), or a gc.data.Dataset")
        self.dataset = None
        self.x, self.y, self.weights = _as_arrays(x), _as_arrays(y), _as_arrays(sample_weight)
        self.size = _same_examples(self.x, self.y, self.weights)
        self.batch_size = positive_or_none(batch_size, "batch_size") or 32
        self.rng = np.random.default_rng(gc_random.python_seed()) if shuffle else None
        self.steps = min(math.ceil(self.size / self.batch_size), steps or sys.maxsize)

    def skip_epochs(self, count: int) -> None:
        """Draws the shuffled orders of ``count`` epochs without making their batches (``fit`` resuming
        after them gets the orders it would have had). A dataset shuffles on its own."""
        for _ in range(count if self.dataset is None and self.rng is not None else 0):
            self.rng.permutation(self.size)

    def epoch(self):
        if self.dataset is not None:
            yield from self._dataset_epoch()
            return
        order = self.rng.permutation(self.size) if self.rng is not None else np.arange(self.size)
        for step in range(self.steps):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            take = lambda d: None if d is None else nest.map_structure(lambda a: a[index], d)  # noqa: E731
            parts = [take(self.x), take(self.y), take(self.weights)]
            while parts and parts[-1] is None:
                parts.pop()
            yield tuple(parts)

    def _dataset_epoch(self):
        """A pass over the dataset; with ``steps``, that many batches from one iterator kept across
        epochs (started again when it ends)."""
        if self.limit is None:
            yield from (self._batch(e) for e in iter_arrays(self.dataset))
            return
        for _ in range(self.limit):
            element = next(self.iterator, None) if self.iterator is not None else None
            if element is None:
                self.iterator = iter_arrays(self.dataset)
                element = next(self.iterator, None)
                if element is None:
                    return
            yield self._batch(element)

    @staticmethod
    def _batch(element):
        element = _as_arrays(element)
        return tuple(element) if isinstance(element, (list, tuple)) else (element,)


def _as_arrays(data):
    """Leaves as arrays; float64 arrays become float32 (as Keras does with NumPy inputs), other dtypes
    graphc lacks widen (``graphc.ir.boundary``)."""

    def convert(leaf):
        array = supported_array(np.asarray(leaf.numpy() if isinstance(leaf, TensorLike) else leaf))
        return array.astype(np.float32) if array.dtype == np.float64 else array

    return None if data is None else nest.map_structure(convert, data)


def _num_examples(x, what: str = "x") -> int:
    leaves = nest.flatten(x)
    if any(a.ndim == 0 for a in leaves):
        raise InvalidArgumentError(f"{what} needs a first axis of examples, got a scalar")
    sizes = {len(a) for a in leaves}
    if len(sizes) != 1:
        raise InvalidArgumentError(f"the parts of {what} disagree on the number of examples: {sorted(sizes)}")
    return sizes.pop()


def _same_examples(x, y, sample_weight) -> int:
    """The number of examples, which x, y and sample_weight must agree on."""
    size = _num_examples(x)
    for name, data in (("y", y), ("sample_weight", sample_weight)):
        count = size if data is None else _num_examples(data, name)
        if count != size:
            raise InvalidArgumentError(f"x has {size} examples but {name} has {count}")
    return size

