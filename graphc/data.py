"""``gc.data.Dataset``: input pipelines as ``tf.data``, run in Python over NumPy arrays.

An element is a tensor or a nested tuple/dict of them. Iterating a dataset yields eager
``gc.Tensor`` elements; ``as_numpy_iterator()`` yields arrays. Transformations are lazy and each
returns a new dataset:

    ds = gc.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=0).batch(32)
    for xb, yb in ds: ...

Sources: ``from_tensor_slices`` (arrays, tensors, lists; tuples and dicts are structure),
``from_tensors``, ``from_generator`` (a Python generator function), ``range``, ``zip``.
"""
from __future__ import annotations

import itertools
import sys
from typing import Callable, Iterator

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import arguments_of, as_int
from graphc.ir.boundary import converted, supported_array
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import as_dtype, int64

from . import nest
from . import random as gc_random
from .tensor import Tensor, TensorLike
from .tracing import TensorSpec

__all__ = [
    "Dataset",
]

INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
AUTOTUNE = -1


def _structure_map(fn, element):
    """``fn`` over the leaves of an element; tuples and dicts are structure, everything else a leaf."""
    if isinstance(element, dict):
        return {k: _structure_map(fn, v) for k, v in element.items()}
    if isinstance(element, tuple):
        items = [_structure_map(fn, v) for v in element]
        return type(element)(*items) if hasattr(type(element), "_fields") else tuple(items)
    return fn(element)


def _leaves(element) -> list:
    out = []
    _structure_map(out.append, element)
    return out


def _to_array(x, dtype=None) -> np.ndarray:
    """A leaf as an array; Python floats and lists of them become float32 (as ``gc.constant``), arrays
    of dtypes graphc lacks widen (``graphc.ir.boundary``: uint32 becomes int64; uint8 stays uint8)."""
    if isinstance(x, TensorLike):
        array = x._as_tensor().numpy()
    elif isinstance(x, np.ndarray):
        array = supported_array(x)
    else:
        array = ops.constant(x).numpy()
    return array if dtype is None else array.astype(dtype.numpy)


def _to_tensor(array: np.ndarray) -> Tensor:
    return Tensor(array)


class Dataset:
    """A lazily evaluated, re-iterable sequence of elements."""

    def __init__(self, make_iterator: Callable[[], Iterator], cardinality: int):
        self._make_iterator = make_iterator
        self._cardinality = cardinality

    # -- sources ------------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors) -> "Dataset":
        """The slices of ``tensors`` along their first axis (all leaves must agree on its size), taken
        from a copy: writing into the arrays later does not change the dataset."""
        arrays = _structure_map(lambda x: np.array(_to_array(x)), tensors)
        sizes = {a.shape[0] if a.ndim else None for a in _leaves(arrays)}
        if None in sizes:
            raise InvalidArgumentError("from_tensor_slices: every component needs a first axis to slice along")
        if len(sizes) != 1:
            raise InvalidArgumentError(f"from_tensor_slices: components differ in their first dimension: {sorted(sizes)}")
        (size,) = sizes
        return Dataset(lambda: (_structure_map(lambda a: a[i], arrays) for i in range(size)), size)

    @staticmethod
    def from_tensors(tensors) -> "Dataset":
        """A dataset of one element, ``tensors``."""
        arrays = _structure_map(_to_array, tensors)
        return Dataset(lambda: iter([arrays]), 1)

    @staticmethod
    def from_generator(generator: Callable, output_signature=None) -> "Dataset":
        """The elements a generator function yields, each time the dataset is iterated. With
        ``output_signature`` (``gc.TensorSpec`` structure), elements are converted and checked."""
        if not callable(generator):
            raise InvalidArgumentError("from_generator needs a callable returning an iterator (the generator function)")

        def convert(element):
            if output_signature is None:
                return _structure_map(_to_array, element)
            return _conformed(element, output_signature)

        return Dataset(lambda: (convert(e) for e in generator()), UNKNOWN_CARDINALITY)

    @staticmethod
    def range(*args, dtype=None) -> "Dataset":
        """``range(stop)``, ``range(start, stop[, step])`` as scalars of ``dtype`` (default int64)."""
        names = ("stop",) if len(args) == 1 else ("start", "stop", "step")
        with arguments_of("Dataset.range"):
            if not 1 <= len(args) <= 3:
                raise InvalidArgumentError(f"takes 1 to 3 arguments (start, stop, step), got {len(args)}")
            args = [as_int(a, name) for a, name in zip(args, names)]
            if len(args) == 3 and args[2] == 0:
                raise InvalidArgumentError("step must not be zero")
        values = range(*args)
        numpy_dtype = as_dtype(dtype or int64).numpy
        return Dataset(lambda: (np.asarray(v, numpy_dtype) for v in values), len(values))

    @staticmethod
    def zip(datasets) -> "Dataset":
        """Elements of several datasets side by side (a tuple or dict of them), up to the shortest."""
        if isinstance(datasets, dict):
            keys, parts = list(datasets), list(datasets.values())
            pack = lambda items: dict(zip(keys, items))  # noqa: E731
        else:
            parts, pack = list(datasets), tuple
        finite = [d._cardinality for d in parts if d._cardinality >= 0]
        cardinality = min(finite) if finite else min((d._cardinality for d in parts), default=0)
        return Dataset(lambda: (pack(items) for items in zip(*(iter_arrays(d) for d in parts))), cardinality)

    # -- transformations ---------------------------------------------------------------------------------
    def map(self, map_func: Callable, num_parallel_calls=None, deterministic=None) -> "Dataset":
        """``map_func`` on each element (a tuple element is passed as separate arguments), run eagerly
        on gc tensors; it returns the new element."""

        def apply(element):
            tensors = _structure_map(_to_tensor, element)
            result = map_func(*tensors) if isinstance(tensors, tuple) else map_func(tensors)
            return _structure_map(_to_array, result)

        return Dataset(lambda: (apply(e) for e in iter_arrays(self)), self._cardinality)

    def filter(self, predicate: Callable) -> "Dataset":
        """The elements for which ``predicate`` (called as in ``map``) is true."""

        def keep(element):
            tensors = _structure_map(_to_tensor, element)
            return bool(predicate(*tensors) if isinstance(tensors, tuple) else predicate(tensors))

        return Dataset(lambda: (e for e in iter_arrays(self) if keep(e)), UNKNOWN_CARDINALITY)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> "Dataset":
        """Consecutive elements stacked along a new first axis; the last batch may be smaller unless
        ``drop_remainder``."""
        with arguments_of("Dataset.batch"):
            batch_size = as_int(batch_size, "batch_size", low=1)

        def batches():
            it = iter_arrays(self)
            while True:
                group = list(itertools.islice(it, batch_size))
                if not group or (drop_remainder and len(group) < batch_size):
                    return
                yield _stacked(group)

        n = self._cardinality
        if n >= 0:
            n = n // batch_size if drop_remainder else -(-n // batch_size)
        return Dataset(batches, n)

    def unbatch(self) -> "Dataset":
        """The slices of each element along its first axis, one by one."""

        def slices():
            for element in iter_arrays(self):
                yield from iter_arrays(Dataset.from_tensor_slices(element))

        return Dataset(slices, UNKNOWN_CARDINALITY)

    def shuffle(self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True) -> "Dataset":
        """Elements in random order, drawn from a buffer of ``buffer_size`` (as ``tf.data``: a buffer
        as large as the dataset gives a uniform shuffle). Reproducible with ``seed`` (or after
        ``gc.random.set_seed``); each iteration shuffles anew unless ``reshuffle_each_iteration`` is
        False."""
        with arguments_of("Dataset.shuffle"):
            buffer_size = as_int(buffer_size, "buffer_size", low=1)
        base = gc_random.python_seed(seed)
        if base is None:
            base = int(np.random.SeedSequence().entropy % (1 << 63))
        epochs = itertools.count()

        def shuffled():
            epoch = next(epochs) if reshuffle_each_iteration else 0
            rng = np.random.default_rng([base, epoch])
            buffer = []
            for element in iter_arrays(self):
                buffer.append(element)
                if len(buffer) >= buffer_size:
                    yield _pop_random(buffer, rng)
            while buffer:
                yield _pop_random(buffer, rng)

        return Dataset(shuffled, self._cardinality)

    def repeat(self, count: int | None = None) -> "Dataset":
        """The dataset ``count`` times (None or negative: forever). A pass that yields nothing ends it,
        so repeating an empty dataset gives an empty one (as ``tf.data``)."""
        with arguments_of("Dataset.repeat"):
            count = -1 if count is None else as_int(count, "count")
        forever = count < 0

        def repeated():
            for _ in (itertools.count() if forever else range(count)):
                empty = True
                for element in iter_arrays(self):
                    empty = False
                    yield element
                if empty:
                    return

        n = self._cardinality
        if forever:
            n = INFINITE_CARDINALITY if n != 0 else 0
        elif count == 0:
            n = 0
        elif n >= 0:
            n *= count
        return Dataset(repeated, n)

    def take(self, count: int) -> "Dataset":
        """The first ``count`` elements (-1: all)."""
        with arguments_of("Dataset.take"):
            count = as_int(count, "count", low=-1)
        if count == -1:
            return self
        n = self._cardinality
        n = count if n in (INFINITE_CARDINALITY,) else (min(n, count) if n >= 0 else UNKNOWN_CARDINALITY)
        return Dataset(lambda: itertools.islice(iter_arrays(self), count), n)

    def skip(self, count: int) -> "Dataset":
        """All but the first ``count`` elements (-1: skips them all, as ``tf.data``)."""
        with arguments_of("Dataset.skip"):
            count = as_int(count, "count", low=-1)
        if count == -1:
            count = sys.maxsize
        n = self._cardinality
        if n >= 0:
            n = max(n - count, 0)
        return Dataset(lambda: itertools.islice(iter_arrays(self), count, None), n)

    def shard(self, num_shards: int, index: int) -> "Dataset":
        """Every ``num_shards``-th element, starting at ``index`` (``tf.data``'s ``shard``: worker
        ``index`` of ``num_shards`` reads its part of the data)."""
        with arguments_of("Dataset.shard"):
            num_shards = as_int(num_shards, "num_shards", low=1)
            index = as_int(index, "index", low=0)
            if index >= num_shards:
                raise InvalidArgumentError(f"index must be in [0, num_shards={num_shards}), got {index}")
        n = self._cardinality
        n = max(n - index + num_shards - 1, 0) // num_shards if n >= 0 else n
        return Dataset(lambda: itertools.islice(iter_arrays(self), index, None, num_shards), n)

    def enumerate(self, start: int = 0) -> "Dataset":
        """``(index, element)`` pairs, the index an int64 scalar."""
        with arguments_of("Dataset.enumerate"):
            start = as_int(start, "start")
        return Dataset(
            lambda: ((np.asarray(i, np.int64), e) for i, e in enumerate(iter_arrays(self), start)), self._cardinality,
        )

    def cache(self) -> "Dataset":
        """Keeps the elements of the first complete iteration; later iterations replay them."""
        store: list = []
        complete = [False]

        def cached():
            if complete[0]:
                yield from store
                return
            store.clear()
            for element in iter_arrays(self):
                store.append(element)
                yield element
            complete[0] = True

        return Dataset(cached, self._cardinality)

    def prefetch(self, buffer_size=AUTOTUNE) -> "Dataset":
        """The same dataset (elements are produced on demand; accepted for tf.data compatibility)."""
        with arguments_of("Dataset.prefetch"):
            as_int(buffer_size, "buffer_size", low=AUTOTUNE)
        return self

    # -- reading -------------------------------------------------------------------------------------------
    def __iter__(self):
        return (_structure_map(_to_tensor, e) for e in iter_arrays(self))

    def as_numpy_iterator(self):
        return iter_arrays(self)

    def cardinality(self) -> int:
        """The number of elements; ``INFINITE_CARDINALITY`` (-1) or ``UNKNOWN_CARDINALITY`` (-2)."""
        return self._cardinality

    def __len__(self) -> int:
        if self._cardinality < 0:
            kind = "infinite" if self._cardinality == INFINITE_CARDINALITY else "unknown"
            raise TypeError(f"the length of this dataset is {kind}")
        return self._cardinality

    @property
    def element_spec(self):
        """The ``gc.TensorSpec`` structure of an element (from the first one)."""
        first = next(iter_arrays(self), None)
        if first is None:
            raise InvalidArgumentError("element_spec: the dataset is empty")
        return _structure_map(lambda a: TensorSpec(a.shape, a.dtype), first)

    def __repr__(self) -> str:
        return f"<gc.data.Dataset cardinality={self._cardinality}>"


def iter_arrays(dataset: Dataset) -> Iterator:
    """The elements of ``dataset`` as NumPy structures."""
    return iter(dataset._make_iterator())


def _stacked(group: list):
    first = group[0]
    flat = [_leaves(e) for e in group]
    stacked = [np.stack(parts) for parts in zip(*flat)]
    it = iter(stacked)
    return _structure_map(lambda _: next(it), first)


def _pop_random(buffer: list, rng):
    i = int(rng.integers(len(buffer)))
    buffer[i], buffer[-1] = buffer[-1], buffer[i]
    return buffer.pop()


def _conformed(element, signature):
    """``element`` converted to the dtypes of ``signature`` and checked against its shapes."""
    leaves = nest.flatten_up_to(signature, element)
    specs = nest.flatten(signature)
    arrays = []
    for (path, leaf), spec in zip(leaves, specs):
        with arguments_of("from_generator"):
            array = converted(_to_array(leaf), spec.dtype)  # no silent wrap-around (ir.boundary)
        if len(array.shape) != len(spec.shape) or any(s is not None and s != d for s, d in zip(spec.shape, array.shape)):
            raise InvalidArgumentError(f"from_generator: element {path or ''} has shape {array.shape}, expected {spec}")
        arrays.append(array)
    return nest.pack_as(signature, arrays)
