"""``gc.TensorShape``: the static shape of a tensor, variable or spec, as ``tf.TensorShape``.

It is a tuple of sizes, None where a size is known only when the graph runs, so every use of a shape
as a tuple (comparing, indexing, unpacking, ``np.zeros(t.shape)``) keeps working, and it adds
TensorFlow's methods: ``as_list()``, ``rank``, ``num_elements()``, ``is_fully_defined()``...
"""
from __future__ import annotations

import math

from graphc.ir.arguments import as_shape


class TensorShape(tuple):
    """A shape: sizes (ints >= 0) and None for sizes known only at run time."""

    __slots__ = ()

    def __new__(cls, dims=()):
        return tuple.__new__(cls, as_shape(list(dims), "dims", unknown=True))

    @property
    def rank(self) -> int:
        """The number of axes."""
        return len(self)

    ndims = rank

    @property
    def dims(self) -> list:
        return list(self)

    def as_list(self) -> list:
        """The sizes as a list (None for an unknown size)."""
        return list(self)

    def num_elements(self) -> int | None:
        """The number of elements, or None when a size is unknown."""
        return None if None in self else math.prod(self)

    def is_fully_defined(self) -> bool:
        return None not in self

    def is_compatible_with(self, other) -> bool:
        """Whether the two shapes may describe the same tensor (unknown sizes match any size)."""
        other = as_tensor_shape(other)
        return len(self) == len(other) and all(a is None or b is None or a == b for a, b in zip(self, other))

    def concatenate(self, other) -> TensorShape:
        return TensorShape(tuple(self) + tuple(as_tensor_shape(other)))

    def __getitem__(self, key):
        """A size (int or None) for an int, a ``TensorShape`` for a slice."""
        item = tuple.__getitem__(self, key)
        return tuple.__new__(TensorShape, item) if isinstance(key, slice) else item

    def __eq__(self, other) -> bool:
        """Equal to a tuple or a list of the same sizes (as ``tf.TensorShape([2, 3]) == [2, 3]``)."""
        return tuple.__eq__(self, tuple(other) if isinstance(other, list) else other)

    def __ne__(self, other) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"

    def __str__(self) -> str:
        return tuple.__repr__(self)


def as_tensor_shape(dims) -> TensorShape:
    """``dims`` (a TensorShape, or a list or tuple of sizes and None) as a ``TensorShape``."""
    return dims if isinstance(dims, TensorShape) else TensorShape(dims)


def static_shape(shape: tuple) -> TensorShape:
    """The shape of an IR type (ints and symbolic names, already checked) with None for the names."""
    return tuple.__new__(TensorShape, [d if isinstance(d, int) else None for d in shape])
