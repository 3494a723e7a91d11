"""``gc.optimizers``: SGD, Adam, AdamW, Adamax, RMSprop, Adagrad, Adadelta, Nadam, Ftrl and Lion with
Keras's update rules and defaults.

``optimizer.apply_gradients(zip(grads, variables))`` updates the variables; inside ``@gc.function``
the updates are graph nodes. Slot variables (momenta, ...) are created the first time a variable is
updated, also while a function is being traced. The learning rate is a float (kept in a variable:
``optimizer.learning_rate = 0.01`` or ``.assign`` changes it without retracing), a ``gc.Variable``,
a schedule from ``gc.optimizers.schedules`` (computed in the graph from ``optimizer.iterations``) or
a callable returning the rate.
"""
from __future__ import annotations

import warnings

import numpy as np

from graphc.ir import ops
from graphc.ir.dispatch import name_scope
from graphc.ir.arguments import arguments_of, as_fraction, as_int
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import float32

from . import schedules
from .module import snake_case
from .saving.registry import deserialize_object, serialize_object
from .tape import GradientTape
from .tensor import TensorLike
from .tracing import init_scope
from .variables import Variable

__all__ = [
    "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam", "Optimizer", "RMSprop", "SGD",
    "deserialize", "get", "serialize",
]


class Optimizer:
    """Base class. Subclasses name their ``slot_names`` and define ``update_step(gradient, variable,
    learning_rate)``; ``prepare_step()`` runs once per ``apply_gradients`` before the updates.

    - ``weight_decay``: each step also subtracts ``variable * weight_decay * learning_rate``;
    - ``clipvalue`` / ``clipnorm``: each gradient clipped elementwise / to that norm;
    - ``global_clipnorm``: all gradients scaled together to that joint norm;
    - ``use_ema``: keeps an exponential moving average of each trained variable (slot ``average``:
      ``average = m * average + (1 - m) * variable`` after each step, ``m = ema_momentum`` but 0 on the
      first step); ``ema_overwrite_frequency`` steps copy the averages into the variables every that
      many steps, ``finalize_variable_values`` (called at the end of ``fit``) copies them once."""

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name=None):
        if clipnorm is not None and global_clipnorm is not None:
            raise InvalidArgumentError("give at most one of clipnorm and global_clipnorm")
        if use_ema:
            with arguments_of(type(self).__name__):
                ema_momentum = as_fraction(ema_momentum, "ema_momentum")
                if ema_overwrite_frequency is not None:
                    ema_overwrite_frequency = as_int(ema_overwrite_frequency, "ema_overwrite_frequency", low=1)
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = bool(use_ema), ema_momentum, ema_overwrite_frequency
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay, self.clipnorm, self.clipvalue, self.global_clipnorm = (
            weight_decay, clipnorm, clipvalue, global_clipnorm)
        with init_scope():
            self.iterations = Variable(np.int64(0), trainable=False, name=f"{self.name}/iterations")
        self._learning_rate = self._rate_holder(learning_rate)
        self._slots: dict = {}  # (variable ref, slot name) -> slot variable, in creation order

    # -- the learning rate -----------------------------------------------------------------------------
    def _rate_holder(self, rate):
        if isinstance(rate, (Variable, schedules.LearningRateSchedule)) or callable(rate):
            return rate
        with init_scope():
            return Variable(np.float32(rate), trainable=False, name=f"{self.name}/learning_rate")

    @property
    def learning_rate(self):
        """The rate variable (for a float or variable rate), else the current rate as a tensor."""
        rate = self._learning_rate
        if isinstance(rate, Variable):
            return rate
        if isinstance(rate, schedules.LearningRateSchedule):
            return rate(self.iterations.read_value())
        value = rate()
        return ops.cast(value, float32) if isinstance(value, TensorLike) else ops.constant(value, float32)

    @learning_rate.setter
    def learning_rate(self, value):
        current = self._learning_rate
        if isinstance(current, Variable) and not isinstance(value, (Variable, schedules.LearningRateSchedule)) and not callable(value):
            with init_scope():
                current.assign(np.asarray(value, current.dtype.numpy))
            return
        self._learning_rate = self._rate_holder(value)

    def _current_rate(self):
        rate = self.learning_rate
        return rate.read_value() if isinstance(rate, Variable) else rate

    # -- slots -----------------------------------------------------------------------------------------
    def add_slot(self, variable: Variable, slot_name: str, initial_value=0.0) -> Variable:
        """The slot ``slot_name`` of ``variable``, created (filled with ``initial_value``) if new."""
        key = (variable.ref(), slot_name)
        if key not in self._slots:
            with init_scope():
                self._slots[key] = Variable(
                    np.full(variable.shape, initial_value, variable.dtype.numpy), trainable=False,
                    name=f"{variable.name}/{slot_name}",
                )
        return self._slots[key]

    def get_slot(self, variable: Variable, slot_name: str) -> Variable:
        try:
            return self._slots[(variable.ref(), slot_name)]
        except KeyError:
            raise InvalidArgumentError(f"{self.name} has no slot {slot_name!r} for variable {variable.name!r}") from None

    def get_slot_names(self) -> list[str]:
        """The names of the slots each trained variable gets (``average`` too, with ``use_ema``)."""
        return list(self.slot_names) + (["average"] if self.use_ema else [])

    def create_slots(self, variable: Variable) -> None:
        for slot_name in self.slot_names:
            self.add_slot(variable, slot_name, self.slot_initial_value(slot_name))

    def slot_initial_value(self, slot_name: str) -> float:
        return 0.0

    def build(self, var_list) -> None:
        """Creates the slots of every variable in ``var_list`` now (they are made on first use anyway)."""
        for variable in var_list:
            self.create_slots(variable)

    def slots(self) -> list[tuple[Variable, str, Variable]]:
        """``(variable, slot name, slot variable)`` for every slot made so far."""
        return [(ref.deref(), slot_name, slot) for (ref, slot_name), slot in self._slots.items()]

    @property
    def variables(self) -> list[Variable]:
        """The step counter, the rate variable (if any) and every slot."""
        own = [v for v in self._checkpoint_children().values()]
        return own + [slot for _, _, slot in self.slots()]

    def _checkpoint_children(self) -> dict:
        children = {"iterations": self.iterations}
        if isinstance(self._learning_rate, Variable):
            children["learning_rate"] = self._learning_rate
        return children

    # -- updating --------------------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars, name=None):
        """Applies one step of gradients: ``apply_gradients(zip(grads, variables))``. Pairs whose
        gradient is None are skipped (with a warning). Returns ``iterations``."""
        pairs = list(grads_and_vars)
        missing = [v.name for g, v in pairs if g is None]
        if missing:
            warnings.warn(f"{self.name}: no gradients for variables {missing}; they are not updated", stacklevel=2)
        pairs = [(g, v) for g, v in pairs if g is not None]
        if not pairs:
            return self.iterations
        for _, variable in pairs:
            if not isinstance(variable, Variable):
                raise InvalidArgumentError(f"{self.name}: apply_gradients needs gc.Variables, got {type(variable).__name__}")
            self.create_slots(variable)
        with name_scope(self.name):  # the update's ops group under the optimizer's name, as TF's
            return self._apply(pairs)

    def _apply(self, pairs: list) -> Variable:
        gradients = self._clipped([ops.cast(g, v.dtype) for g, v in pairs])
        rate = self._current_rate()
        self.prepare_step()
        for gradient, (_, variable) in zip(gradients, pairs):
            variable_rate = ops.cast(rate, variable.dtype)
            if self.weight_decay:
                variable.assign_sub(ops.multiply(ops.multiply(variable, float(self.weight_decay)), variable_rate))
            self.update_step(gradient, variable, variable_rate)
        if self.use_ema:
            self._update_averages([variable for _, variable in pairs])
        self.iterations.assign_add(np.int64(1))
        return self.iterations

    def _update_averages(self, variables: list[Variable]) -> None:
        first = ops.equal(self.iterations.read_value(), np.int64(0))
        overwrite = None
        if self.ema_overwrite_frequency:
            step = ops.add(self.iterations.read_value(), np.int64(1))
            overwrite = ops.equal(ops.mod(step, np.int64(self.ema_overwrite_frequency)), np.int64(0))
        for variable in variables:
            average = self.add_slot(variable, "average")
            momentum = ops.where(first, ops.zeros((), variable.dtype), ops.constant(self.ema_momentum, variable.dtype))
            average.assign(ops.add(ops.multiply(momentum, average), ops.multiply(ops.subtract(1.0, momentum), variable)))
            if overwrite is not None:
                variable.assign(ops.where(overwrite, average, variable))

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``: sets each variable of ``var_list`` to its moving average (``fit`` calls
        this when it ends, as Keras); otherwise does nothing."""
        if not self.use_ema:
            return
        for variable in var_list:
            try:
                variable.assign(self._slots[(variable.ref(), "average")])
            except KeyError:
                continue  # never trained: no average yet

    def _clipped(self, gradients: list) -> list:
        if self.clipvalue is not None:
            gradients = [ops.clip_by_value(g, -self.clipvalue, self.clipvalue) for g in gradients]
        if self.clipnorm is not None:
            gradients = [_scale_to_norm(g, ops.norm(g), self.clipnorm) for g in gradients]
        if self.global_clipnorm is not None:
            total = ops.sqrt(_sum([ops.cast(ops.reduce_sum(ops.square(g)), float32) for g in gradients]))
            gradients = [_scale_to_norm(g, ops.cast(total, g.dtype), self.global_clipnorm) for g in gradients]
        return gradients

    def prepare_step(self) -> None:
        """Runs once per step before the variable updates (Nadam keeps a product here)."""

    def update_step(self, gradient, variable: Variable, learning_rate) -> None:
        raise TypeError(f"{type(self).__name__} must define update_step")

    def local_step(self, dtype, offset: int = 1):
        """``iterations + offset`` in ``dtype`` (the step being applied is ``iterations + 1``)."""
        return ops.cast(ops.add(self.iterations.read_value(), np.int64(offset)), dtype)

    def minimize(self, loss, var_list, tape: GradientTape | None = None):
        """One step on ``loss``: a callable computing it (differentiated here), or a loss tensor with
        the ``tape`` that recorded it. ``var_list`` may be a callable too. Returns ``iterations``."""
        if callable(loss):
            with GradientTape() as tape:
                variables = var_list() if callable(var_list) else list(var_list)
                tape.watch(variables)
                value = loss()
        else:
            if tape is None:
                raise InvalidArgumentError(f"{self.name}.minimize: a loss tensor needs the tape that computed it (tape=...)")
            variables, value = (var_list() if callable(var_list) else list(var_list)), loss
        grads = tape.gradient(value, variables)
        return self.apply_gradients(zip(grads, variables))

    # -- configuration -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        rate = self._learning_rate
        if isinstance(rate, Variable):
            rate = float(rate.numpy())
        elif isinstance(rate, schedules.LearningRateSchedule):
            rate = schedules.serialize(rate)
        else:
            raise InvalidArgumentError(f"{self.name}.get_config: a callable learning rate has no config")
        return {
            "name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<gc.optimizers.{type(self).__name__} {self.name!r}>"


def _sum(terms: list):
    total = terms[0]
    for t in terms[1:]:
        total = ops.add(total, t)
    return total


def _scale_to_norm(gradient, norm, max_norm: float):
    """``gradient * max_norm / max(norm, max_norm)``: unchanged unless its norm exceeds ``max_norm``."""
    return ops.multiply(gradient, ops.divide(float(max_norm), ops.maximum(norm, float(max_norm))))


class SGD(Optimizer):
    """Gradient descent; with ``momentum``: ``m = momentum * m - lr * g`` and ``w += m`` (Nesterov:
    ``w += momentum * m - lr * g``)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if momentum else ()

    def update_step(self, gradient, variable, learning_rate):
        step = ops.multiply(gradient, learning_rate)
        if not self.momentum:
            variable.assign_sub(step)
            return
        m = self.get_slot(variable, "momentum")
        m.assign(ops.subtract(ops.multiply(m, self.momentum), step))
        variable.assign_add(ops.subtract(ops.multiply(m, self.momentum), step) if self.nesterov else m.read_value())

    def get_config(self):
        return super().get_config() | {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam: ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)`` (``amsgrad``: the
    running maximum of v instead of v)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if amsgrad else ("m", "v")

    def update_step(self, gradient, variable, learning_rate):
        t = self.local_step(variable.dtype)
        alpha = ops.divide(ops.multiply(learning_rate, ops.sqrt(ops.subtract(1.0, ops.power(self.beta_2, t)))),
                           ops.subtract(1.0, ops.power(self.beta_1, t)))
        m, v = _moments(self, gradient, variable)
        if self.amsgrad:
            vhat = self.get_slot(variable, "vhat")
            vhat.assign(ops.maximum(vhat, v))
            v = vhat.read_value()
        variable.assign_sub(ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                                       "amsgrad": self.amsgrad}


def _moments(optimizer, gradient, variable):
    """Updates and returns the first and second moment estimates (Adam and Nadam)."""
    m, v = optimizer.get_slot(variable, "m"), optimizer.get_slot(variable, "v")
    m.assign_add(ops.multiply(ops.subtract(gradient, m), 1.0 - optimizer.beta_1))
    v.assign_add(ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - optimizer.beta_2))
    return m.read_value(), v.read_value()


class RMSprop(Optimizer):
    """``rms = rho rms + (1 - rho) g^2``; ``w -= lr g / sqrt(rms + epsilon)`` (``centered``: minus
    the squared mean gradient; ``momentum``: accumulated)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)
        self.slot_names = ("rms",) + (("momentum",) if momentum else ()) + (("mg",) if centered else ())

    def update_step(self, gradient, variable, learning_rate):
        rms = self.get_slot(variable, "rms")
        rms.assign(ops.add(ops.multiply(rms, self.rho), ops.multiply(ops.square(gradient), 1.0 - self.rho)))
        denominator = rms.read_value()
        if self.centered:
            mg = self.get_slot(variable, "mg")
            mg.assign(ops.add(ops.multiply(mg, self.rho), ops.multiply(gradient, 1.0 - self.rho)))
            denominator = ops.subtract(denominator, ops.square(mg))
        increment = ops.divide(ops.multiply(learning_rate, gradient), ops.sqrt(ops.add(denominator, self.epsilon)))
        if self.momentum:
            velocity = self.get_slot(variable, "momentum")
            velocity.assign(ops.add(ops.multiply(velocity, self.momentum), increment))
            increment = velocity.read_value()
        variable.assign_sub(increment)

    def get_config(self):
        return super().get_config() | {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                                       "centered": self.centered}


class Adagrad(Optimizer):
    """``accumulator += g^2``; ``w -= lr g / sqrt(accumulator + epsilon)``."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def slot_initial_value(self, slot_name):
        return self.initial_accumulator_value

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self.get_slot(variable, "accumulator")
        accumulator.assign_add(ops.square(gradient))
        variable.assign_sub(ops.divide(ops.multiply(learning_rate, gradient),
                                       ops.sqrt(ops.add(accumulator, self.epsilon))))

    def get_config(self):
        return super().get_config() | {"initial_accumulator_value": self.initial_accumulator_value,
                                       "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum, Keras 3's rule: with ``u_t = beta_1 (1 - 0.5 * 0.96^t)`` and
    ``P_t = u_1 ... u_t`` (kept in a variable),
    ``m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t)``,
    ``v_hat = v / (1 - beta_2^t)``, ``w -= lr m_hat / (sqrt(v_hat) + epsilon)``."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        with init_scope():
            self.u_product = Variable(np.float32(1.0), trainable=False, name=f"{self.name}/u_product")

    def _momentum_cache(self, dtype, offset):
        return ops.multiply(self.beta_1, ops.subtract(1.0, ops.multiply(0.5, ops.power(0.96, self.local_step(dtype, offset)))))

    def prepare_step(self):
        self.u_product.assign(ops.multiply(self.u_product, self._momentum_cache(float32, 1)))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        u_t, u_next = self._momentum_cache(dtype, 1), self._momentum_cache(dtype, 2)
        product = ops.cast(self.u_product, dtype)
        m, v = _moments(self, gradient, variable)
        m_hat = ops.add(ops.divide(ops.multiply(u_next, m), ops.subtract(1.0, ops.multiply(product, u_next))),
                        ops.divide(ops.multiply(ops.subtract(1.0, u_t), gradient), ops.subtract(1.0, product)))
        v_hat = ops.divide(v, ops.subtract(1.0, ops.power(self.beta_2, self.local_step(dtype))))
        variable.assign_sub(ops.divide(ops.multiply(m_hat, learning_rate), ops.add(ops.sqrt(v_hat), self.epsilon)))

    def _checkpoint_children(self):
        return super()._checkpoint_children() | {"u_product": self.u_product}

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (``w -= lr * weight_decay * w`` each step, before Adam's
    update), Keras's default ``weight_decay=0.004``."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adam with the infinity norm: ``m = beta_1 m + (1 - beta_1) g``, ``u = max(beta_2 u, |g|)``,
    ``w -= lr / (1 - beta_1^t) * m / (u + epsilon)``."""

    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        m, u = self.get_slot(variable, "m"), self.get_slot(variable, "u")
        m.assign_add(ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        u.assign(ops.maximum(ops.multiply(u, self.beta_2), ops.abs(gradient)))
        correction = ops.subtract(1.0, ops.power(self.beta_1, self.local_step(variable.dtype)))
        variable.assign_sub(ops.divide(ops.multiply(ops.divide(learning_rate, correction), m),
                                       ops.add(u, self.epsilon)))

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """``a = rho a + (1 - rho) g^2``, ``delta = -sqrt(d + epsilon) / sqrt(a + epsilon) g``,
    ``d = rho d + (1 - rho) delta^2``, ``w += lr delta``."""

    slot_names = ("accumulated_grad", "accumulated_delta")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        grads, deltas = self.get_slot(variable, "accumulated_grad"), self.get_slot(variable, "accumulated_delta")
        grads.assign(ops.add(ops.multiply(grads, self.rho), ops.multiply(ops.square(gradient), 1.0 - self.rho)))
        delta = ops.negative(ops.multiply(ops.divide(ops.sqrt(ops.add(deltas, self.epsilon)),
                                                     ops.sqrt(ops.add(grads, self.epsilon))), gradient))
        deltas.assign(ops.add(ops.multiply(deltas, self.rho), ops.multiply(ops.square(delta), 1.0 - self.rho)))
        variable.assign_add(ops.multiply(delta, learning_rate))

    def get_config(self):
        return super().get_config() | {"rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """The sign of an interpolated momentum: ``w -= lr sign(beta_1 m + (1 - beta_1) g)``, then
    ``m = beta_2 m + (1 - beta_2) g``."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 < beta_1 <= 1:
            raise InvalidArgumentError(f"beta_1 must be in (0, 1], got {beta_1}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def update_step(self, gradient, variable, learning_rate):
        m = self.get_slot(variable, "momentum")
        direction = ops.sign(ops.add(ops.multiply(m, self.beta_1), ops.multiply(gradient, 1.0 - self.beta_1)))
        variable.assign_sub(ops.multiply(direction, learning_rate))
        m.assign(ops.add(ops.multiply(m, self.beta_2), ops.multiply(gradient, 1.0 - self.beta_2)))

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Follow the regularized leader, Keras's rule (per-coordinate rates ``accumulator^-power / lr``,
    L1 and L2 regularization, L2 shrinkage, ``beta``)."""

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if learning_rate_power > 0:
            raise InvalidArgumentError(f"learning_rate_power must be <= 0, got {learning_rate_power}")
        for what, value in (("initial_accumulator_value", initial_accumulator_value), ("beta", beta),
                            ("l1_regularization_strength", l1_regularization_strength),
                            ("l2_regularization_strength", l2_regularization_strength),
                            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0:
                raise InvalidArgumentError(f"{what} must be >= 0, got {value}")
        self.learning_rate_power, self.initial_accumulator_value = float(learning_rate_power), float(initial_accumulator_value)
        self.l1, self.l2 = float(l1_regularization_strength), float(l2_regularization_strength)
        self.l2_shrinkage, self.beta = float(l2_shrinkage_regularization_strength), float(beta)

    def slot_initial_value(self, slot_name):
        return self.initial_accumulator_value if slot_name == "accumulator" else 0.0

    def update_step(self, gradient, variable, learning_rate):
        accumulator, linear = self.get_slot(variable, "accumulator"), self.get_slot(variable, "linear")
        power = -self.learning_rate_power
        l2 = ops.add(self.l2, ops.divide(self.beta, ops.multiply(learning_rate, 2.0)))
        shrunk = ops.add(gradient, ops.multiply(variable, 2.0 * self.l2_shrinkage))
        new_accumulator = ops.add(accumulator, ops.square(gradient))
        sigma = ops.divide(ops.subtract(ops.power(new_accumulator, power), ops.power(accumulator, power)), learning_rate)
        linear.assign(ops.subtract(ops.add(linear, shrunk), ops.multiply(sigma, variable)))
        quadratic = ops.add(ops.divide(ops.power(new_accumulator, power), learning_rate), ops.multiply(l2, 2.0))
        clipped = ops.clip_by_value(linear, -self.l1, self.l1)
        variable.assign(ops.divide(ops.subtract(clipped, linear), quadratic))
        accumulator.assign(new_accumulator)

    def get_config(self):
        return super().get_config() | {
            "learning_rate_power": self.learning_rate_power, "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1, "l2_regularization_strength": self.l2,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage, "beta": self.beta,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "adamax": Adamax, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "nadam": Nadam, "ftrl": Ftrl, "lion": Lion}


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``, any case), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as an optimizer; names: {', '.join(_BY_NAME)}")


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``, which ``deserialize`` (or ``get``) turns back into an optimizer."""
    return serialize_object(optimizer, "optimizer")


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """A new optimizer from ``serialize``'s dict (class names in any case, as Keras)."""
    if isinstance(config, dict) and str(config.get("class_name", "")).lower() in _BY_NAME:
        config = config | {"class_name": _BY_NAME[config["class_name"].lower()].__name__}
    return deserialize_object(config, "optimizer", {c.__name__: c for c in _BY_NAME.values()}, custom_objects)
