"""``gc.regularizers``: penalties on weights or activations, added to a layer's ``losses``."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError

from .module import Configurable, serialize_configurable
from .saving.registry import get_registered_object

__all__ = [
    "L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize",
]


class Regularizer(Configurable):
    """``regularizer(x)`` is a scalar penalty."""

    def __call__(self, x):
        return ops.zeros((), x.dtype)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = ops.zeros((), x.dtype)
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(self.l1, ops.reduce_sum(ops.abs(x))))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(self.l2, ops.reduce_sum(ops.square(x))))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``."""
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``."""
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01) -> L1:
    """Keras's function form of ``L1``."""
    return L1(l1)


def l2(l2=0.01) -> L2:
    """Keras's function form of ``L2``."""
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01) -> L1L2:
    """Keras's function form of ``L1L2`` (both penalties default to 0.01 here, as in Keras)."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2}
_BY_CLASS = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A regularizer from a name (``"l2"``), a config dict, an instance or a callable."""
    if identifier is None or callable(identifier) and not isinstance(identifier, type):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    cls = get_registered_object(identifier.get("class_name"), builtins=_BY_CLASS) if isinstance(identifier, dict) else None
    if isinstance(cls, type) and issubclass(cls, Regularizer):
        return cls.from_config(identifier.get("config", {}))
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as a regularizer; names: {', '.join(_BY_NAME)}")


def serialize(regularizer) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None for None), which ``get`` reads back."""
    return serialize_configurable(regularizer, Regularizer, "gc.regularizers")
