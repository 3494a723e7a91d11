"""``gc.optimizers.schedules``: learning rates as functions of the optimizer's step, computed in the
graph from ``optimizer.iterations`` (so a compiled train step never retraces for them)."""
from __future__ import annotations

import math

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import float32

from .saving.registry import deserialize_object, serialize_object


class LearningRateSchedule:
    """``schedule(step)`` is the learning rate (a float32 tensor) at ``step`` (an int tensor)."""

    def __call__(self, step):
        raise TypeError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored if
    ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise InvalidArgumentError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), int(decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), bool(staircase)

    def __call__(self, step):
        p = ops.divide(ops.cast(step, float32), float(self.decay_steps))
        if self.staircase:
            p = ops.floordiv(p, 1.0)
        return ops.multiply(self.initial_learning_rate, ops.power(self.decay_rate, p))


class InverseTimeDecay(ExponentialDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored if ``staircase``)."""

    def __call__(self, step):
        p = ops.divide(ops.cast(step, float32), float(self.decay_steps))
        if self.staircase:
            p = ops.floordiv(p, 1.0)
        return ops.divide(self.initial_learning_rate, ops.add(1.0, ops.multiply(self.decay_rate, p)))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to ``boundaries[1]``,
    ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise InvalidArgumentError(f"need one value more than boundaries, got {len(boundaries)} and {len(values)}")
        self.boundaries, self.values = [int(b) for b in boundaries], [float(v) for v in values]

    def __call__(self, step):
        rate = ops.constant(self.values[-1], float32)
        for boundary, value in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            rate = ops.where(ops.less_equal(step, boundary), value, rate)
        return rate


class CosineDecay(LearningRateSchedule):
    """Half a cosine from ``initial_learning_rate`` down to ``alpha * initial_learning_rate`` over
    ``decay_steps``, then constant."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        if decay_steps <= 0:
            raise InvalidArgumentError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), int(decay_steps), float(alpha)

    def __call__(self, step):
        progress = ops.divide(ops.minimum(ops.cast(step, float32), float(self.decay_steps)), float(self.decay_steps))
        cosine = ops.multiply(0.5, ops.add(1.0, ops.cos(ops.multiply(math.pi, progress))))
        return ops.multiply(self.initial_learning_rate, ops.add(ops.multiply(1.0 - self.alpha, cosine), self.alpha))


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name", "config"}`` of a schedule (a registered custom one by its registered name)."""
    return serialize_object(schedule, "learning-rate schedule")


def deserialize(config: dict, custom_objects=None) -> LearningRateSchedule:
    """The schedule ``serialize`` described."""
    return deserialize_object(config, "learning-rate schedule", _CLASSES, custom_objects)
