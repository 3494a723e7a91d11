"""Summary writers and the summary state, as ``tf.summary``: the default writer (``as_default``), the
default step (``experimental.set_step``), the recording condition (``record_if``) and ``write``, the
one place every summary reaches an event file.

The state is per thread, as TensorFlow's. A writer is TensorBoard's own ``EventFileWriter``: events
queue up (``max_queue``) and reach the disk every ``flush_millis`` milliseconds, on ``flush()``, on
``close()`` and when an ``as_default()`` block ends. Inside a traced ``gc.function`` a summary becomes
a stateful ``gc.numpy_function`` call that writes it on every call (``record_in_graph``).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np

from graphc.ir.dispatch import current_scope
from graphc.ir.errors import ArgumentTypeError, GraphcError, InvalidArgumentError
from graphc.ir.types import bool_

from ..script_ops import numpy_function
from ..tensor import TensorLike
from ..tracing import current_trace
from .tensorboard_package import tensorboard_api


class SummaryWriterClosedError(GraphcError, RuntimeError):
    """A closed summary writer was made the default (a RuntimeError, as TensorFlow raises)."""


class _State(threading.local):
    def __init__(self):
        self.writer: SummaryWriter | None = None
        self.step = None
        self.recording = True  # a bool, or a callable returning one (record_if)


_state = _State()


class SummaryWriter:
    """Writes summaries to an event file; make it the default with ``as_default()`` or
    ``set_as_default()``. Use ``create_file_writer`` to make one."""

    def __init__(self, logdir: str, max_queue: int, flush_millis: int, filename_suffix: str, name: str | None):
        self.logdir = logdir
        self.name = name
        api = tensorboard_api()
        try:
            self._events = api.EventFileWriter(logdir, max_queue, flush_millis / 1000.0, filename_suffix)
        except OSError as error:
            raise InvalidArgumentError(f"create_file_writer: cannot write an event file in logdir {logdir!r}: {error}")
        self.closed = False

    def as_default(self, step=None):
        """A context manager making this the default writer (and ``step``, when not None, the default
        step) inside the block; the writer is flushed when the block ends."""
        if self.closed:
            raise SummaryWriterClosedError(f"SummaryWriter for {self.logdir!r} is already closed")
        return _DefaultWriter(self, step)

    def set_as_default(self, step=None) -> None:
        """Makes this the default writer (and ``step``, when not None, the default step) from now on."""
        self.as_default(step).__enter__()

    def write_event(self, **fields) -> None:
        """Appends one ``Event`` with these fields (and the wall time) to the file."""
        if self.closed:
            raise SummaryWriterClosedError(f"cannot write a summary: the SummaryWriter for {self.logdir!r} is closed")
        self._events.add_event(tensorboard_api().event_pb2.Event(wall_time=time.time(), **fields))

    def flush(self) -> None:
        """Writes every queued event to disk (nothing once closed)."""
        if not self.closed:
            self._events.flush()

    def close(self) -> None:
        """Flushes and closes the event file; the writer cannot be used afterwards."""
        if not self.closed:
            self._events.close()
            self.closed = True

    def __repr__(self) -> str:
        return f"<gc.summary.SummaryWriter {self.logdir!r}{' (closed)' if self.closed else ''}>"


class _NoopWriter:
    """A writer that writes nothing (``create_noop_writer``)."""

    closed = False

    def as_default(self, step=None):
        return _DefaultWriter(self, step)

    def set_as_default(self, step=None) -> None:
        self.as_default(step).__enter__()

    def write_event(self, **fields) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _DefaultWriter:
    """``as_default``'s context manager (a class, so that ``set_as_default`` can enter it for good)."""

    def __init__(self, writer, step):
        self.writer, self.step = writer, step

    def __enter__(self):
        self.old_writer, self.old_step = _state.writer, _state.step
        _state.writer = self.writer
        if self.step is not None:
            _state.step = self.step
        return self.writer

    def __exit__(self, *exc) -> bool:
        _state.writer.flush()
        _state.writer = self.old_writer
        if self.step is not None:
            _state.step = self.old_step
        return False


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None, name=None) -> SummaryWriter:
    """A ``SummaryWriter`` writing a new event file in ``logdir`` (created if missing): at most
    ``max_queue`` events (default 10) wait in memory, flushed at least every ``flush_millis``
    milliseconds (default 120000); the file name ends in ``filename_suffix`` (default ``.v2``)."""
    if logdir is None:
        raise InvalidArgumentError("create_file_writer: argument logdir cannot be None")
    if not isinstance(logdir, (str, os.PathLike)):
        raise ArgumentTypeError(f"create_file_writer: logdir must be a path, got {type(logdir).__name__}")
    logdir = os.fspath(logdir)
    max_queue = 10 if max_queue is None else _positive_int(max_queue, "max_queue")
    flush_millis = 120_000 if flush_millis is None else _positive_int(flush_millis, "flush_millis")
    if filename_suffix is None:
        filename_suffix = ".v2"
    if not isinstance(filename_suffix, str) or "/" in filename_suffix or os.sep in filename_suffix:
        raise InvalidArgumentError(f"create_file_writer: filename_suffix must be a string without '/', got {filename_suffix!r}")
    _make_logdir(logdir)
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix, name)


def _make_logdir(logdir: str) -> None:
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise InvalidArgumentError(f"create_file_writer: logdir {logdir!r} is a file, not a directory")
    try:
        os.makedirs(logdir, exist_ok=True)
    except OSError as error:
        raise InvalidArgumentError(f"create_file_writer: cannot create logdir {logdir!r}: {error}") from None
    if not os.access(logdir, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"create_file_writer: logdir {logdir!r} is not writable")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"create_file_writer: {what} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise InvalidArgumentError(f"create_file_writer: {what} must be positive, got {value}")
    return int(value)


def create_noop_writer():
    """A writer that writes nothing: summaries written with it as the default are dropped."""
    return _NoopWriter()


# -- the default step and the recording condition ----------------------------------------------------
def set_step(step) -> None:
    """Sets the default step of summaries written without ``step=`` (an int, or a ``gc.Variable`` read
    when each summary is written); None unsets it."""
    _state.step = step


def get_step():
    """The default step (``set_step``, ``as_default(step=...)``), or None."""
    return _state.step


@contextlib.contextmanager
def record_if(condition):
    """Summaries written inside the block are recorded only when ``condition`` holds: a bool, or a
    callable returning one, asked at every summary."""
    if not (callable(condition) or isinstance(condition, (bool, np.bool_)) or isinstance(condition, TensorLike)):
        raise ArgumentTypeError(f"record_if: condition must be a bool or a callable, got {type(condition).__name__}")
    saved = _state.recording
    _state.recording = condition
    try:
        yield
    finally:
        _state.recording = saved


def should_record_summaries() -> bool:
    """Whether a summary written now would be recorded: there is a default writer and the
    ``record_if`` condition holds."""
    if _state.writer is None:
        return False
    condition = _state.recording
    if callable(condition):
        condition = condition()
    return bool(np.asarray(condition))


def flush(writer=None, name=None) -> None:
    """Flushes ``writer``, by default the default writer (nothing if there is none); ``name`` is
    TensorFlow's op name, which graphc does not need."""
    writer = writer if writer is not None else _state.writer
    if writer is not None:
        writer.flush()


def default_writer():
    """The default writer, or None."""
    return _state.writer


def summary_tag(name) -> str:
    """``name`` under the current ``gc.name_scope``s (``outer/inner/name``), as TensorFlow's tags."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"summary name must be a string, got {type(name).__name__}")
    scope = current_scope()
    return f"{scope}/{name}" if scope else name


NO_STEP = (
    "No step set. Please specify one either through the `step` argument or through "
    "gc.summary.experimental.set_step()"
)


def step_value(step) -> int:
    """The int64 step of a summary: ``step``, else the default step; an error when neither is set."""
    if step is None:
        step = _state.step
    if step is None:
        raise InvalidArgumentError(NO_STEP)
    value = np.asarray(step.numpy() if isinstance(step, TensorLike) else step)
    _check_step(value.shape, value.dtype.kind, value)
    return int(value)


def _check_step(shape, kind: str, value) -> None:
    if tuple(shape) != ():
        raise InvalidArgumentError(f"summary step must be a scalar, got shape {tuple(shape)}")
    if kind not in "iub":
        raise ArgumentTypeError(f"summary step must be an integer, got {value}")


def write_summary(tag: str, step, data, make_value):
    """Writes one summary of ``data`` to the default writer when summaries are recorded:
    ``make_value(tag, data)`` returns its ``Summary.Value`` (called only then, so nothing is encoded
    for nothing). Returns whether it was written (inside a traced function: see ``record_in_graph``)."""
    if current_trace() is not None:
        return record_in_graph(tag, step, data, make_value)
    if not should_record_summaries():
        return False
    _write_value(_state.writer, step_value(step), make_value(tag, data))
    return True


def _write_value(writer, step: int, value) -> None:
    writer.write_event(step=step, summary=tensorboard_api().summary_pb2.Summary(value=[value]))


def record_in_graph(tag: str, step, data, make_value):
    """A summary inside a traced ``gc.function``: one stateful ``gc.numpy_function`` call that writes
    it on every call of the compiled function, in order with the function's other effects. As in
    TensorFlow, the default writer, step and recording condition are those in force when the function
    is traced (no default writer: nothing is recorded, and the result is False); a tensor or
    ``gc.Variable`` step, data or condition is read when the call runs. Returns a bool tensor."""
    writer = _state.writer
    condition = _state.recording
    if callable(condition):
        condition = condition()
    if writer is None or (not isinstance(condition, TensorLike) and not bool(np.asarray(condition))):
        return False
    step = _state.step if step is None else step
    if step is None:
        raise InvalidArgumentError(NO_STEP)
    if isinstance(step, TensorLike):
        _check_step(step.shape, step.dtype.numpy.kind, f"a {step.dtype.name} tensor")
    else:
        step = step_value(step)
    known = {"step": step, "data": data, "condition": condition}
    read = [key for key, value in known.items() if isinstance(value, TensorLike)]  # inputs of the call

    def write_now(*arrays):
        values = {**known, **dict(zip(read, arrays))}
        if not bool(np.asarray(values["condition"])):
            return np.bool_(False)
        _write_value(writer, step_value(values["step"]), make_value(tag, values["data"]))
        return np.bool_(True)

    return numpy_function(write_now, [known[key] for key in read], bool_, stateful=True)


def write(tag, tensor, step=None, metadata=None, name=None) -> bool:
    """Writes ``tensor`` (array-like, or a callable returning it, called only when recorded) under
    ``tag`` (as is: no name scope is added) with ``metadata`` (a ``SummaryMetadata`` proto or its serialized bytes) to the default
    writer; returns whether it was written."""
    if not isinstance(tag, str):
        raise ArgumentTypeError(f"write: tag must be a string, got {type(tag).__name__}")
    api = tensorboard_api()
    if isinstance(metadata, bytes):
        metadata = api.summary_pb2.SummaryMetadata.FromString(metadata)
    elif metadata is None:
        metadata = api.summary_pb2.SummaryMetadata()
    elif not isinstance(metadata, api.summary_pb2.SummaryMetadata):
        raise ArgumentTypeError(f"write: metadata must be a SummaryMetadata proto or bytes, got {type(metadata).__name__}")

    def make_value(full_tag, data):
        data = data() if callable(data) else data
        proto = api.tensor_util.make_tensor_proto(np.asarray(data.numpy() if isinstance(data, TensorLike) else data))
        return api.summary_pb2.Summary.Value(tag=full_tag, metadata=metadata, tensor=proto)

    return write_summary(tag, step, tensor, make_value)
