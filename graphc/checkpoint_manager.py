"""``gc.train.CheckpointManager``: numbered checkpoints in a directory, the oldest deleted beyond
``max_to_keep``, as ``tf.train.CheckpointManager``.

What the manager keeps is in the directory's state file (``graphc.checkpoint_files``): the latest
checkpoint, the managed ones oldest first with the time each was written, and the time of the last
one preserved by ``keep_checkpoint_every_n_hours``; so a new manager on the same directory (after a
restart) takes over where the old one stopped. A save writes the checkpoint, records it, deletes the
checkpoints beyond ``max_to_keep`` and records the state again (a crash while deleting leaves the new
checkpoint recorded)."""
from __future__ import annotations

import os
import time

import numpy as np

from graphc.ir.arguments import arguments_of, as_int
from graphc.ir.errors import InvalidArgumentError

from .checkpoint_files import checked_prefix, checkpoint_state, path_text, remove_checkpoint, write_state
from .checkpoints import Checkpoint
from .tracing import init_scope
from .variables import Variable


def _value(counter) -> int:
    if isinstance(counter, Variable):
        with init_scope():
            return int(counter.numpy())
    return int(counter)


class CheckpointManager:
    """Saves ``checkpoint`` (a ``gc.train.Checkpoint``) as ``<directory>/<checkpoint_name>-<n>``.

    - ``max_to_keep``: how many recent checkpoints to keep (None: all); older ones are deleted, except
      one every ``keep_checkpoint_every_n_hours`` hours, which is kept (and no longer managed);
    - ``step_counter`` and ``checkpoint_interval``: ``save()`` does nothing until the counter has
      advanced by the interval since the last checkpoint;
    - ``init_fn``: what ``restore_or_initialize`` calls when there is no checkpoint yet."""

    def __init__(self, checkpoint, directory, max_to_keep, keep_checkpoint_every_n_hours=None, checkpoint_name="ckpt",
                 step_counter=None, checkpoint_interval=None, init_fn=None):
        with arguments_of("CheckpointManager"):
            if not isinstance(checkpoint, Checkpoint):
                raise InvalidArgumentError(f"checkpoint: expected a gc.train.Checkpoint, got {type(checkpoint).__name__}")
            if max_to_keep is not None:
                max_to_keep = as_int(max_to_keep, "max_to_keep", low=1)
            if keep_checkpoint_every_n_hours is not None and not keep_checkpoint_every_n_hours > 0:
                raise InvalidArgumentError(f"keep_checkpoint_every_n_hours must be > 0, got {keep_checkpoint_every_n_hours!r}")
            if checkpoint_interval is not None:
                checkpoint_interval = as_int(checkpoint_interval, "checkpoint_interval", low=1)
                if step_counter is None:
                    raise InvalidArgumentError("step_counter should be passed if checkpoint_interval is not None")
        self._checkpoint = checkpoint
        self._directory = path_text(directory, "directory")
        self._prefix = checked_prefix(os.path.join(self._directory, path_text(checkpoint_name, "checkpoint_name")),
                                      "checkpoint_name")
        self._max_to_keep, self._keep_hours = max_to_keep, keep_checkpoint_every_n_hours
        self._step_counter, self._checkpoint_interval, self._init_fn = step_counter, checkpoint_interval, init_fn
        self._last_checkpoint_step = None
        self._recover(time.time())

    def _recover(self, now: float) -> None:
        """Takes over the state file's checkpoints: those written after the last preserved one."""
        state = checkpoint_state(self._directory)
        self._maybe_delete: dict[str, float] = {}  # managed checkpoint -> when it was written, oldest first
        if state is None:
            self._latest, self._last_preserved = None, now - 1.0  # a manager made again at once keeps nothing old
            return
        latest = state.get("latest")
        self._latest = os.path.join(self._directory, latest) if isinstance(latest, str) else None
        self._last_preserved = min(state.get("last_preserved_timestamp") or now, now)  # the clock may go back
        names = state.get("all", [])
        for name, stamp in zip(names, state.get("timestamps") or [self._last_preserved] * len(names)):
            if min(stamp, now) > self._last_preserved:
                self._maybe_delete[os.path.join(self._directory, name)] = min(stamp, now)

    # -- what it holds -------------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    @property
    def directory(self) -> str:
        return self._directory

    @property
    def checkpoint_interval(self):
        return self._checkpoint_interval

    @property
    def latest_checkpoint(self) -> str | None:
        """The prefix of the newest checkpoint (None before the first)."""
        return self._latest

    @property
    def checkpoints(self) -> list[str]:
        """The managed checkpoints, oldest first."""
        return list(self._maybe_delete)

    # -- saving ---------------------------------------------------------------------------------------
    def save(self, checkpoint_number=None, check_interval=True) -> str | None:
        """Writes a checkpoint numbered ``checkpoint_number`` (an int or an int variable such as a step
        counter; default: the checkpoint's save counter after counting this save), records it as the
        latest and deletes the ones beyond ``max_to_keep``. Returns its prefix, or None when
        ``checkpoint_interval`` steps have not passed since the last one."""
        step = _value(self._step_counter) if self._step_counter is not None else None
        if (check_interval and self._checkpoint_interval is not None and self._last_checkpoint_step is not None
                and step < self._last_checkpoint_step + self._checkpoint_interval):
            return None
        counter = self._checkpoint.save_counter
        with init_scope():
            counter.assign(np.int64(_value(counter) + 1))
        number = _value(counter) if checkpoint_number is None else _value(checkpoint_number)
        path = self._checkpoint.write(f"{self._prefix}-{number}")
        self._maybe_delete.pop(path, None)  # written again: now the newest
        self._maybe_delete[path] = time.time()
        self._latest = path
        self._record()
        self._sweep()
        self._record()
        self._last_checkpoint_step = step
        return path

    def _sweep(self) -> None:
        while self._max_to_keep is not None and len(self._maybe_delete) > self._max_to_keep:
            path = next(iter(self._maybe_delete))
            stamp = self._maybe_delete.pop(path)
            if self._keep_hours and stamp - self._keep_hours * 3600.0 >= self._last_preserved:
                self._last_preserved = stamp  # kept for good, and no longer managed
                continue
            remove_checkpoint(path)

    def _record(self) -> None:
        write_state(self._directory, os.path.basename(self._latest), [os.path.basename(p) for p in self._maybe_delete],
                    list(self._maybe_delete.values()), self._last_preserved)

    # -- restoring ------------------------------------------------------------------------------------
    def restore_or_initialize(self) -> str | None:
        """Restores the latest checkpoint and returns its prefix; without one, calls ``init_fn`` (if
        given) and returns None."""
        if self._latest is not None:
            self._checkpoint.restore(self._latest)
            if self._step_counter is not None:
                self._last_checkpoint_step = _value(self._step_counter)
            return self._latest
        if self._init_fn is not None:
            self._init_fn()
        return None

    def sync(self) -> None:
        """Waits for pending writes: there are none (saves are synchronous)."""
