"""Callbacks that write the model during ``fit``: ``ModelCheckpoint`` (the model or its weights, every
epoch or every n batches, or only when a monitored value improves) and ``BackupAndRestore`` (a backup
that an interrupted ``fit`` resumes from, at the epoch and step where it stopped)."""
from __future__ import annotations

import math
import os
import warnings

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .. import random as gc_random
from ..checkpoint_files import INDEX_SUFFIX, path_text, remove_checkpoint
from ..checkpoints import Checkpoint
from ..saving.model_files import EXTENSION
from ..tracing import init_scope
from ..variables import Variable
from .base import Callback
from .training import resolved_mode


class _Every:
    """Counts training batches across epochs; ``due(batch)`` is true every ``save_freq`` batches
    (``save_freq="epoch"``: never)."""

    def __init__(self, save_freq):
        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1):
            raise InvalidArgumentError(f"save_freq: expected 'epoch' or a number of batches >= 1, got {save_freq!r}")
        self.save_freq, self.seen = save_freq, 0

    def due(self) -> bool:
        if self.save_freq == "epoch":
            return False
        self.seen += 1
        if self.seen < self.save_freq:
            return False
        self.seen = 0
        return True


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``; ``filepath`` ends in ``.graphc``) or its weights
    (``save_weights_only``: ``model.save_weights``) at the end of every epoch, or every ``save_freq``
    batches, as ``keras.callbacks.ModelCheckpoint``. ``filepath`` may hold ``{epoch:02d}`` (counting
    from 1), ``{batch}`` and the logs' values (``{val_loss:.2f}``). ``save_best_only`` saves only when
    ``monitor`` beats the best value so far (``mode``: "min", "max" or "auto"; the first value to beat
    is ``initial_value_threshold`` when given)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = path_text(filepath, "filepath")
        if save_weights_only and self.filepath.endswith(EXTENSION):
            raise InvalidArgumentError(f"filepath: with save_weights_only=True, give a weights prefix, not a {EXTENSION} "
                                       f"file name; got {self.filepath!r}")
        if not save_weights_only and not self.filepath.endswith(EXTENSION):
            raise InvalidArgumentError(f"filepath: a whole model is saved to a file ending in {EXTENSION!r} (or pass "
                                       f"save_weights_only=True); got {self.filepath!r}")
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.better = np.less if resolved_mode(mode, monitor) == "min" else np.greater
        worst = math.inf if self.better is np.less else -math.inf
        self.best = worst if initial_value_threshold is None else float(initial_value_threshold)
        self._every = _Every(save_freq)
        self.save_freq = save_freq
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._every.due():
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _file_path(self, epoch: int, batch, logs: dict) -> str:
        fields = {"epoch": epoch + 1} | ({"batch": batch + 1} if batch is not None else {}) | logs
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise InvalidArgumentError(f"ModelCheckpoint: cannot format the filepath {self.filepath!r} with "
                                       f"{sorted(fields)}: {error!r}") from None

    def _save(self, epoch: int, batch, logs: dict) -> None:
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor} available "
                              f"(the logs have {', '.join(logs) or 'nothing'}); skipping", stacklevel=2)
                return
            if not self.better(current, self.best):
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = float(current)
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class BackupAndRestore(Callback):
    """Backs up the training state in ``backup_dir`` at the end of every epoch (or every ``save_freq``
    batches), and, when ``fit`` starts and finds a backup, restores it and resumes at the epoch and
    step after it, as ``keras.callbacks.BackupAndRestore``: so a ``fit`` killed and run again ends with
    the weights of one never interrupted. The state is the model's variables, the optimizer's (step
    count, slots), the global random generator's and the position; the shuffled order of every epoch
    is drawn again (with ``gc.random.set_seed``, the same one). The epoch in progress reports metrics
    over its resumed steps only. ``delete_checkpoint``: the backup is removed when ``fit`` ends."""

    PREFIX = "backup"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        self.backup_dir = path_text(backup_dir, "backup_dir")
        if not self.backup_dir:
            raise InvalidArgumentError("backup_dir: expected a directory, got an empty path")
        self._every = _Every(save_freq)
        self.save_freq, self.delete_checkpoint = save_freq, bool(delete_checkpoint)
        self._prefix = os.path.join(self.backup_dir, self.PREFIX)
        self._epoch = 0
        self._state = None

    def _checkpoint(self) -> Checkpoint:
        if self._state is None:
            with init_scope():
                self._position = (Variable(np.int64(0), trainable=False, name="epoch"),
                                  Variable(np.int64(0), trainable=False, name="step"))
            self._state = Checkpoint(model=self.model, optimizer=self.model.optimizer,
                                     generator=gc_random.get_global_generator(), epoch=self._position[0],
                                     step=self._position[1])
        return self._state

    def on_train_begin(self, logs=None):
        self._state = None
        self._every.seen = 0
        if not os.path.lexists(self._prefix + INDEX_SUFFIX):
            return
        if not self.model.built:
            raise InvalidArgumentError("BackupAndRestore: the model must be built before fit to restore its backup "
                                       "(call model.build(input_shape), or start it with gc.Input)")
        self._checkpoint().read(self._prefix)
        with init_scope():
            self.model._resume_at = tuple(int(v.numpy()) for v in self._position)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._every.due():
            self._backup(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch + 1, 0)

    def _backup(self, epoch: int, step: int) -> None:
        """Writes the state, to resume at ``step`` of ``epoch`` (replacing the last backup atomically)."""
        checkpoint = self._checkpoint()
        with init_scope():
            self._position[0].assign(np.int64(epoch))
            self._position[1].assign(np.int64(step))
        os.makedirs(self.backup_dir, exist_ok=True)
        checkpoint.write(self._prefix)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            remove_checkpoint(self._prefix)
            if not os.listdir(self.backup_dir):
                os.rmdir(self.backup_dir)
