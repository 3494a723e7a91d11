"""The callback protocol (``Callback``, ``CallbackList``) and the callbacks ``fit`` adds itself: ``History``
and the progress bar (``ProgbarLogger``)."""
from __future__ import annotations

import math
import sys
import time

from graphc.ir.errors import InvalidArgumentError

HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


class Callback:
    """Base class: override any of the ``on_...`` hooks; ``self.model`` and ``self.params``
    (``epochs``, ``steps``, ``verbose``) are set before training starts."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params


def _no_op(self, *args, **kwargs):
    return None


for _hook in HOOKS:
    setattr(Callback, _hook, _no_op)


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise InvalidArgumentError(f"callbacks must be gc.callbacks.Callback objects, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str):
        if hook not in HOOKS:
            raise AttributeError(hook)
        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records the logs of each epoch: ``history.history["loss"]`` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs: dict) -> str:
    """`` - loss: 0.1234 - accuracy: 0.9560`` (Keras's number format)."""
    parts = []
    for key, value in logs.items():
        value = float(value)
        parts.append(f" - {key}: {value:.4f}" if abs(value) > 1e-3 or value == 0 else f" - {key}: {value:.4e}")
    return "".join(parts)


def _per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """A Keras-style progress line: ``12/45 [=====>......] - ETA: 1s - loss: 0.4321``; the final line
    ``45/45 [====...] - 1s 12ms/step - loss: ...``. On a terminal it updates in place; otherwise only
    the final line is written. ``verbose=2`` writes the final line without the bar."""

    width = 30

    def __init__(self, target, verbose: int = 1, stream=None, interval: float = 0.05):
        self.target, self.verbose, self.interval = target, verbose, interval
        self.stream = stream or sys.stdout
        self.dynamic = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def update(self, current: int, logs: dict, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and (not self.dynamic or now - self.last_draw < self.interval):
            return
        self.last_draw = now
        elapsed = now - self.start
        line = self._counter(current) + self._bar(current, final)
        if final:
            line += f" - {elapsed:.0f}s {_per_step(elapsed / max(current, 1))}"
        elif self.target:
            line += f" - ETA: {elapsed / max(current, 1) * (self.target - current):.0f}s"
        line += format_logs(logs)
        if self.dynamic:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _counter(self, current: int) -> str:
        if not self.target:
            return f"{current}/Unknown"
        digits = int(math.log10(self.target)) + 1
        return f"{current:{digits}d}/{self.target}"

    def _bar(self, current: int, final: bool) -> str:
        if self.verbose != 1:
            return ""
        if not self.target:
            return ""
        done = int(self.width * min(current, self.target) / self.target)
        if done < self.width and not final:
            body = "=" * done + ">" + "." * (self.width - done - 1)
        else:
            body = "=" * self.width
        return f" [{body}]"


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress line per epoch (added by ``fit`` when ``verbose`` is not 0)."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.bar, self.seen = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        (self.stream or sys.stdout).write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")
        self.bar, self.seen = Progbar(self.params.get("steps"), self.params.get("verbose", 1), self.stream), 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        self.bar.update(self.seen, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.seen, logs or {}, final=True)
