"""Callbacks that steer training: ``LambdaCallback``, ``EarlyStopping``, ``LearningRateScheduler``,
``ReduceLROnPlateau``, ``TerminateOnNaN``."""
from __future__ import annotations

import warnings

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from ..variables import Variable
from .base import HOOKS, Callback


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``; also
    ``on_batch_begin``/``on_batch_end`` (training batches)."""

    def __init__(self, **hooks):
        super().__init__()
        aliases = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
        for name, fn in hooks.items():
            name = aliases.get(name, name)
            if name not in HOOKS:
                raise InvalidArgumentError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


def _improvement(mode: str, monitor: str):
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise InvalidArgumentError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return (lambda new, best, delta: new < best - delta) if mode == "min" else (lambda new, best, delta: new > best + delta)


class EarlyStopping(Callback):
    """Stops ``fit`` when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    ``restore_best_weights`` puts back the weights of the best epoch."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch
        self.better = _improvement(mode, monitor)
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait, self.best, self.best_weights, self.best_epoch, self.stopped_epoch = 0, self.baseline, None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.best is None or self.better(value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping (best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1})")


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at each epoch start to ``schedule(epoch, current_rate)``
    (an assignment: the compiled train step does not retrace)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        rate = float(self.schedule(epoch, float(np.asarray(optimizer.learning_rate))))
        optimizer.learning_rate = rate
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))


class ReduceLROnPlateau(Callback):
    """Multiplies the optimizer's learning rate by ``factor`` (down to ``min_lr``) when ``monitor`` has
    not improved by ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs before
    counting again. The rate must be a number or variable (a schedule is rejected when training
    starts); the change is an assignment, so the compiled train step does not retrace."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 <= factor < 1.0:
            raise InvalidArgumentError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, float(min_lr)
        self.better = _improvement(mode, monitor)

    def on_train_begin(self, logs=None):
        rate = self.model.optimizer.learning_rate
        if not isinstance(rate, Variable):
            raise InvalidArgumentError(
                "ReduceLROnPlateau needs an optimizer whose learning rate is a number or gc.Variable, "
                "not a schedule or function (they set the rate themselves)"
            )
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: metric {self.monitor!r} is not in the logs "
                          f"(available: {', '.join(logs)})", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.best is None or self.better(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and logs["learning_rate"] > np.float32(self.min_lr):
                rate = max(logs["learning_rate"] * self.factor, self.min_lr)
                optimizer.learning_rate = rate
                logs["learning_rate"] = float(np.float32(rate))
                self.cooldown_counter, self.wait = self.cooldown, 0
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {rate}.")


class TerminateOnNaN(Callback):
    """Stops ``fit`` after the first batch whose loss is NaN or infinite (``raise_error=True``: raises
    ``RuntimeError`` there instead, skipping the other callbacks' ``on_train_end``)."""

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss at batch {batch}: loss = {loss}; training stopped")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
