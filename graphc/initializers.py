"""``gc.initializers``: how layers fill new weights, with Keras's names and defaults.

An initializer is called as ``init(shape, dtype)`` and returns an eager tensor. Random ones draw
from the global generator (``gc.random.set_seed`` makes them reproducible), or, given ``seed``, give
the same values on every call.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import as_dtype, float32

from . import random as gc_random
from .module import Configurable, serialize_configurable
from .saving.registry import get_registered_object
from .tracing import init_scope

__all__ = [
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer", "LecunNormal",
    "LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "Zeros", "get", "serialize",
]


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype)`` and ``get_config``."""

    def __call__(self, shape, dtype=None):
        with init_scope():
            return self.sample(tuple(int(d) for d in shape), as_dtype(dtype or float32))

    def sample(self, shape: tuple, dtype):
        raise TypeError(f"{type(self).__name__} must define sample(shape, dtype)")


class Zeros(Initializer):
    """Zeros."""
    def sample(self, shape, dtype):
        return ops.zeros(shape, dtype)


class Ones(Initializer):
    """Ones."""
    def sample(self, shape, dtype):
        return ops.ones(shape, dtype)


class Constant(Initializer):
    """Every element ``value`` (a number, or an array broadcast to the shape)."""
    def __init__(self, value=0.0):
        self.value = value

    def sample(self, shape, dtype):
        return ops.constant(np.broadcast_to(np.asarray(self.value, dtype.numpy), shape), dtype)

    def get_config(self):
        return {"value": np.asarray(self.value).tolist()}


class _Random(Initializer):
    """Draws from the global generator, or from ``seed`` alone (then every call gives the same values)."""

    def __init__(self, seed=None):
        self.seed = seed

    def _uniform(self, shape, minval, maxval, dtype):
        if self.seed is None:
            return gc_random.uniform(shape, minval, maxval, dtype)
        return gc_random.stateless_uniform(shape, [self.seed, 0], minval, maxval, dtype)

    def _normal(self, shape, mean, stddev, dtype):
        if self.seed is None:
            return gc_random.normal(shape, mean, stddev, dtype)
        return gc_random.stateless_normal(shape, [self.seed, 0], mean, stddev, dtype)

    def _truncated_normal(self, shape, mean, stddev, dtype):
        """Normal numbers more than two standard deviations from the mean drawn again."""
        z = self._normal(shape, 0.0, 1.0, dtype).numpy().copy()
        for attempt in range(1, 100):
            outside = np.abs(z) > 2.0
            if not outside.any():
                break
            if self.seed is None:
                fresh = gc_random.normal(z.shape, dtype=dtype).numpy()
            else:
                fresh = gc_random.stateless_normal(z.shape, [self.seed, attempt], dtype=dtype).numpy()
            z[outside] = fresh[outside]
        return ops.constant(z * stddev + mean, dtype)

    def get_config(self):
        return {"seed": self.seed}


class RandomUniform(_Random):
    """Uniform numbers in ``[minval, maxval)``."""
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def sample(self, shape, dtype):
        return self._uniform(shape, self.minval, self.maxval, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Random):
    """Normal numbers of ``mean`` and ``stddev``."""
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def sample(self, shape, dtype):
        return self._normal(shape, self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal numbers, those beyond two standard deviations drawn again."""

    def sample(self, shape, dtype):
        return self._truncated_normal(shape, self.mean, self.stddev, dtype)


class Orthogonal(_Random):
    """A random orthogonal matrix (rows or columns orthonormal, whichever are fewer) times ``gain``;
    a kernel of more than two axes is seen as [product of the leading axes, last axis]. Keras's
    default for recurrent kernels."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def sample(self, shape, dtype):
        if len(shape) < 2:
            raise InvalidArgumentError(f"the Orthogonal initializer needs a shape of at least 2 axes, got {shape}")
        rows, columns = int(np.prod(shape[:-1])), shape[-1]
        a = self._normal((max(rows, columns), min(rows, columns)), 0.0, 1.0, dtype).numpy().astype(np.float64)
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # the sign convention that makes q uniformly distributed
        if rows < columns:
            q = q.T
        return ops.constant((self.gain * q).reshape(shape), dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def compute_fans(shape: tuple) -> tuple[float, float]:
    """Keras's fan-in and fan-out: dense kernels [in, out], conv kernels [..., in, out]."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = float(np.prod(shape[:-2])) if len(shape) > 2 else 1.0
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(_Random):
    """Random numbers of variance ``scale / n``, ``n`` the fan-in, fan-out or their average."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise InvalidArgumentError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
            raise InvalidArgumentError(f"unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def sample(self, shape, dtype):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._uniform(shape, -limit, limit, dtype)
        if self.distribution == "truncated_normal":
            # the standard deviation of a unit normal truncated to [-2, 2] is 0.8796...
            return self._truncated_normal(shape, 0.0, math.sqrt(variance) / 0.87962566103423978, dtype)
        return self._normal(shape, 0.0, math.sqrt(variance), dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling(name, scale, mode, distribution):
    class Named(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    Named.__name__ = Named.__qualname__ = name
    Named.__doc__ = f"``VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})``."
    return Named


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "uniform": RandomUniform, "normal": RandomNormal,  # Keras's aliases (Embedding's default is "uniform")
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier):
    """An initializer from a name (``"glorot_uniform"``), a class name, a config dict
    (``{"class_name": ..., "config": ...}``), an instance or any callable ``(shape, dtype)``."""
    if identifier is None or isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise InvalidArgumentError(f"unknown initializer {identifier!r}; known: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = get_registered_object(identifier["class_name"], builtins=_BY_CLASS) or _BY_NAME.get(identifier["class_name"])
        if not (isinstance(cls, type) and issubclass(cls, Initializer)):
            raise InvalidArgumentError(f"unknown initializer class {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as an initializer")


def serialize(initializer) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None for None), which ``get`` reads back."""
    return serialize_configurable(initializer, Initializer, "gc.initializers")
