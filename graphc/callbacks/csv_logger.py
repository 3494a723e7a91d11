"""``CSVLogger``: one CSV row per epoch of ``fit``, as Keras writes it."""
from __future__ import annotations

import csv
import os

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .base import Callback


def _cell(value):
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, np.ravel(value)))}]"


class CSVLogger(Callback):
    """Writes ``epoch`` and every log value (sorted by name, ``val_`` columns included even before the
    first validation, ``NA`` where a value is missing) to ``filename`` after each epoch, flushed row by
    row. ``append=True`` continues an existing file (the header is written only if it is empty)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise InvalidArgumentError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys, self.writer, self.csv_file = None, None, None

    def on_train_begin(self, logs=None):
        write_header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.keys, self.writer, self._write_header = None, None, write_header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]  # validation_freq > 1 adds them later
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(_cell(logs.get(key, "NA")) for key in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file, self.writer = None, None
