"""``TensorBoard``: writes what ``fit`` does for TensorBoard, in Keras's layout: runs ``<log_dir>/train``
and ``<log_dir>/validation``, scalars ``epoch_<metric>`` per epoch (``epoch_learning_rate`` too),
``batch_<metric>`` every ``update_freq`` batches, ``evaluation_<metric>_vs_iterations``, weight
histograms (and images) every ``histogram_freq`` epochs and the compiled train step's graph."""
from __future__ import annotations

import os
import time

import numpy as np

from graphc.ir.arguments import arguments_of, as_int
from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError

from .. import summary
from .base import Callback


class TensorBoard(Callback):
    """Logs training for TensorBoard (``tensorboard --logdir <log_dir>``).

    - ``histogram_freq``: every that many epochs, a histogram of each layer weight (``<weight
      name>/histogram``) and, with ``write_images``, the weight as an image (``<weight name>/image``);
      0 writes none.
    - ``write_graph``: the compiled train step's graph (after the first batch) for the Graphs tab.
    - ``update_freq``: ``"epoch"`` (scalars per epoch), ``"batch"`` or an int N (also ``batch_<metric>``
      every N batches, at the global batch count).
    - ``write_steps_per_second``: also ``epoch_steps_per_second`` (and ``batch_steps_per_second``).
    - ``profile_batch``: must be 0 (graphc has no profiler to trace batches with).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        with arguments_of("TensorBoard"):
            if not isinstance(log_dir, (str, os.PathLike)):
                raise ArgumentTypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
            self.histogram_freq = as_int(histogram_freq, "histogram_freq", low=0)
            if update_freq not in ("epoch", "batch"):
                update_freq = as_int(update_freq, "update_freq", low=1)
            if profile_batch not in (0, None, (0, 0), [0, 0]):
                raise InvalidArgumentError(
                    f"profile_batch must be 0: graphc has no profiler to trace batches with, got {profile_batch!r}"
                )
            if embeddings_freq:
                raise InvalidArgumentError(
                    f"embeddings_freq must be 0: graphc has no embedding projector, got {embeddings_freq!r}"
                )
        self.log_dir = os.fspath(log_dir)
        self.write_graph, self.write_images = bool(write_graph), bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict = {}
        self._global_train_batch = 0
        self._graph_pending = False
        self._evaluated_at = None  # the optimizer step of the last evaluation logged
        self._epoch_start = self._batch_start = 0.0
        self._epoch_start_iterations = 0

    # -- writers ----------------------------------------------------------------------------------
    def _writer(self, run: str):
        """The writer of ``<log_dir>/<run>`` (``train``, ``validation``), made on first use."""
        if run not in self._writers:
            self._writers[run] = summary.create_file_writer(os.path.join(self.log_dir, run))
        return self._writers[run]

    def set_model(self, model) -> None:
        super().set_model(model)
        self._writers = {}
        self._graph_pending = self.write_graph

    # -- training -----------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._evaluated_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_start_iterations = time.perf_counter(), self._iterations()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        if self._graph_pending:
            self._write_train_graph()
            self._graph_pending = False
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        batch_logs = {f"batch_{k}": v for k, v in (logs or {}).items()}
        if self.write_steps_per_second:
            batch_logs["batch_steps_per_second"] = 1.0 / max(time.perf_counter() - self._batch_start, 1e-9)
        self._scalars("train", "", batch_logs, self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train_logs["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        if self.write_steps_per_second:
            seconds = max(time.perf_counter() - self._epoch_start, 1e-9)
            train_logs["steps_per_second"] = (self._iterations() - self._epoch_start_iterations) / seconds
        self._scalars("train", "epoch_", train_logs, epoch)
        self._scalars("validation", "epoch_", val_logs, epoch)
        if val_logs:
            self._log_evaluation(val_logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def on_test_end(self, logs=None):
        if logs:
            self._log_evaluation(logs)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # -- what is written ----------------------------------------------------------------------------------
    def _scalars(self, run: str, prefix: str, logs: dict, step: int) -> None:
        if logs:
            with self._writer(run).as_default():
                for name, value in logs.items():
                    summary.scalar(prefix + name, value, step=step)

    def _iterations(self) -> int | None:
        """The optimizer's step count (None without an optimizer)."""
        optimizer = getattr(self.model, "optimizer", None)
        return None if optimizer is None else int(np.asarray(optimizer.iterations))

    def _log_evaluation(self, logs: dict) -> None:
        """``evaluation_<metric>_vs_iterations`` at the optimizer's step, once per evaluation."""
        iterations = self._iterations()
        if iterations is None or iterations == self._evaluated_at:
            return
        self._evaluated_at = iterations
        self._scalars("validation", "", {f"evaluation_{k}_vs_iterations": v for k, v in logs.items()}, iterations)

    def _log_weights(self, epoch: int) -> None:
        with self._writer("train").as_default():
            for layer in self.model.layers:
                for weight in layer.weights:
                    name = weight.name.replace(":", "_")
                    summary.histogram(f"{name}/histogram", weight, step=epoch)
                    if self.write_images:
                        image = weight_image(np.asarray(weight.numpy()))
                        if image is not None:
                            summary.image(f"{name}/image", image, step=epoch)

    def _write_train_graph(self) -> None:
        """The compiled train step's graph (none when ``fit`` runs eagerly: nothing was traced)."""
        train_function = getattr(self.model, "train_function", None)
        traced = getattr(train_function, "concrete_functions", None)
        if traced:
            with self._writer("train").as_default():
                summary.graph(traced[0])


def weight_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as Keras draws it: a bias as a 1-pixel-high row, a kernel matrix with its longer side
    across, a convolution kernel as one grey image per output channel; None for other shapes."""
    w = np.squeeze(weight)
    if w.ndim == 1:
        return w.reshape(1, w.shape[0], 1, 1)
    if w.ndim == 2:
        w = w.T if w.shape[0] > w.shape[1] else w
        return w.reshape(1, w.shape[0], w.shape[1], 1)
    if w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))
        return w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    return None
