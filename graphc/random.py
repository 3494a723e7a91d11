"""``gc.random``: random numbers that are fresh on every call of a compiled function and reproducible
from a seed, as ``tf.random``.

Every number comes from the stateless op ``random_uniform(key, shape)`` (Philox, see
``graphc/ir/ops/random.py``). A ``Generator`` keeps its key ``(seed, counter)`` in an int64
variable and increments the counter on each draw: inside ``@gc.function`` the read and the increment
are graph nodes, so each call of the compiled function draws new numbers, and two runs from the same
seed draw the same ones. ``gc.random.set_seed(s)`` reseeds the global generator, which initializers,
``Dropout`` and ``gc.random.normal``/``uniform`` use by default.
"""
from __future__ import annotations

import secrets

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.ops import random as random_ops
from graphc.ir.types import as_dtype, float32, float64, int64

from .module import Module
from .tracing import init_scope
from .variables import Variable

__all__ = [
    "Generator", "get_global_generator", "normal", "set_global_generator", "set_seed", "stateless_normal",
    "stateless_uniform", "uniform",
]

_MASK63 = (1 << 63) - 1


def _seed_int(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(f"a seed must be an int, got {seed!r}")
    return int(seed) & _MASK63


class Generator(Module):
    """A stateful random number generator, as ``tf.random.Generator``.

    ``Generator.from_seed(s)`` is reproducible; ``Generator.from_non_deterministic_state()`` is not.
    Its state, ``gen.state``, is an int64[2] variable ``(seed, counter)`` saved with checkpoints."""

    _holds_weights = False

    def __init__(self, seed: int | None = None, name: str | None = None):
        super().__init__(name or "generator")
        seed = secrets.randbits(63) if seed is None else _seed_int(seed)
        self.state = Variable(np.array([seed, 0], np.int64), trainable=False, name=f"{self.name}/state")

    @classmethod
    def from_seed(cls, seed: int, name: str | None = None) -> "Generator":
        return cls(_seed_int(seed), name)

    @classmethod
    def from_non_deterministic_state(cls, name: str | None = None) -> "Generator":
        return cls(None, name)

    def reset_from_seed(self, seed: int) -> None:
        """Restarts the sequence of ``Generator.from_seed(seed)``."""
        with init_scope():
            self.state.assign(np.array([_seed_int(seed), 0], np.int64))

    def next_key(self):
        """The key of the next draw (int64[2]); advances the counter (a graph node when traced)."""
        key = self.state.read_value()
        self.state.assign(ops.add(key, np.array([0, 1], np.int64)))
        return key

    def uniform(self, shape, minval=0, maxval=None, dtype=float32):
        """Uniform numbers in ``[minval, maxval)`` (``maxval`` defaults to 1 for floats; integer
        dtypes need it)."""
        return _scaled_uniform(random_ops.random_uniform, self.next_key(), shape, minval, maxval, dtype)

    def uniform_like(self, x, minval=0, maxval=None, dtype=None):
        """Uniform numbers with the shape of ``x``, which may be known only when the graph runs."""
        dtype = as_dtype(dtype) if dtype is not None else x.dtype
        return _scaled_uniform(
            lambda key, like, d: random_ops.random_uniform_like(key, like, d), self.next_key(), x, minval, maxval, dtype,
        )

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=float32):
        """Normal numbers with ``mean`` and ``stddev``."""
        return _scaled_normal(self.next_key(), shape, mean, stddev, dtype)

    def make_seeds(self, count: int = 1):
        """``count`` new seeds as an int64[2, count] tensor, for stateless ops or new generators."""
        bits = self.uniform([2, count], dtype=float64)
        return ops.cast(ops.multiply(bits, float(2 ** 53)), int64)

    def split(self, count: int = 1) -> list["Generator"]:
        """``count`` new independent generators seeded from this one."""
        with init_scope():
            seeds = self.make_seeds(count).numpy()
        return [Generator(int(seeds[0, i]), f"{self.name}_{i}") for i in range(count)]


def _scaled_uniform(draw, key, shape, minval, maxval, dtype):
    dtype = as_dtype(dtype)
    if dtype.is_integer:
        if maxval is None:
            raise InvalidArgumentError(f"uniform of dtype {dtype.name} needs maxval")
        steps = ops.floordiv(ops.multiply(draw(key, shape, float64), float(maxval - minval)), 1.0)
        return ops.cast(ops.add(steps, float(minval)), dtype)
    unit = draw(key, shape, dtype)
    maxval = 1.0 if maxval is None else maxval
    if _is_number(minval, 0) and _is_number(maxval, 1):
        return unit
    minval, maxval = _in_dtype(minval, dtype), _in_dtype(maxval, dtype)
    return ops.add(ops.multiply(unit, ops.subtract(maxval, minval)), minval)


def _scaled_normal(key, shape, mean, stddev, dtype):
    z = random_ops.random_normal(key, shape, as_dtype(dtype))
    if _is_number(mean, 0) and _is_number(stddev, 1):
        return z
    return ops.add(ops.multiply(z, _in_dtype(stddev, as_dtype(dtype))), _in_dtype(mean, as_dtype(dtype)))


def _in_dtype(value, dtype):
    """A bound or moment given as a number (a NumPy float32 too) in the draw's dtype, as TensorFlow
    converts it; tensors stay as they are."""
    return ops.constant(value, dtype) if isinstance(value, (int, float, np.generic)) else value


def _is_number(x, value) -> bool:
    return isinstance(x, (int, float)) and x == value


# -- the global generator and seeds --------------------------------------------------------------
_global = {"generator": None, "seed": None, "op_generators": {}}


def get_global_generator() -> Generator:
    """The generator used when no other is given (seeded by ``set_seed``, else at random)."""
    if _global["generator"] is None:
        _global["generator"] = Generator(_global["seed"], "global_generator")
    return _global["generator"]


def set_global_generator(generator: Generator) -> None:
    """Makes ``generator`` the one ``gc.random`` functions draw from when given no seed."""
    if not isinstance(generator, Generator):
        raise InvalidArgumentError(f"expected a gc.random.Generator, got {type(generator).__name__}")
    _global["generator"] = generator


def set_seed(seed: int) -> None:
    """Makes everything random from here on reproducible: reseeds the global generator (initializers,
    dropout, ``gc.random.normal``...) and the generators of op-level seeds."""
    _global["seed"] = _seed_int(seed)
    _global["op_generators"].clear()
    if _global["generator"] is None:
        get_global_generator()
    else:
        _global["generator"].reset_from_seed(_global["seed"])


def generator_for(seed) -> Generator:
    """The global generator, or for an op-level ``seed`` a generator of its own (as TensorFlow: the
    same sequence after each ``set_seed``)."""
    if seed is None:
        return get_global_generator()
    key = _seed_int(seed)
    generators = _global["op_generators"]
    if key not in generators:
        mixed = ((_global["seed"] or 0) * 0x9E3779B97F4A7C15 + key) & _MASK63
        generators[key] = Generator(mixed, f"seed_{key}")
    return generators[key]


def python_seed(seed=None) -> int | None:
    """A seed for Python-side randomness (dataset shuffling): ``seed`` itself, one derived from the
    global seed when ``set_seed`` was called, else None (entropy)."""
    if seed is not None:
        return _seed_int(seed)
    if _global["seed"] is None:
        return None
    with init_scope():
        return int(get_global_generator().make_seeds(1).numpy()[0, 0])


def uniform(shape, minval=0, maxval=None, dtype=float32, seed=None):
    """Uniform numbers in ``[minval, maxval)`` from the global generator (or the one of ``seed``)."""
    return generator_for(seed).uniform(shape, minval, maxval, dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None):
    """Normal numbers from the global generator (or the one of ``seed``)."""
    return generator_for(seed).normal(shape, mean, stddev, dtype)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=float32):
    """Uniform numbers that depend only on ``seed`` (two ints, or an int tensor of shape [2])."""
    return _scaled_uniform(random_ops.random_uniform, _key(seed), shape, minval, maxval, dtype)


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=float32):
    """Normal numbers that depend only on ``seed`` (two ints, or an int tensor of shape [2])."""
    return _scaled_normal(_key(seed), shape, mean, stddev, dtype)


def _key(seed):
    if isinstance(seed, (list, tuple)):
        return np.array([int(s) for s in seed], np.int64)
    return seed
