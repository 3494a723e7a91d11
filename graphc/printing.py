"""``gc.print``: TensorFlow's ``tf.print``, printing tensors' values eagerly or, in a compiled function, on
every call (a stateful host call, in program order with the other effects: ``graphc.script_ops``).

The text is TensorFlow's: a tensor prints as ``[1 2 3]``, ``[[1 2]\\n [3 4]]``, ``summarize`` elements
at each end of every dimension with ``...`` between (all with ``summarize=-1``), floats in the fewest
of 6 (float32) or 15 (float64) significant digits that read back to the same number, else 9 or 17,
bools as 1 and 0; strings and other Python values as ``str`` gives them, tensors nested in lists,
tuples and dicts in place (dicts by sorted keys).
"""
from __future__ import annotations

import logging
import sys
import threading

import numpy as np

from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError

from .script_ops import call_host
from .tensor import Tensor

_WRITE = threading.Lock()  # one printed line at a time, whichever thread prints


def print(*inputs, output_stream=sys.stderr, sep=" ", end="\n", summarize=3, name=None):  # noqa: A001
    """Prints ``inputs`` joined by ``sep`` and followed by ``end`` to ``output_stream``: ``sys.stderr``
    (default), ``sys.stdout``, ``"file://path"`` (appended to), a ``logging.Logger`` or a logging
    function such as ``logging.info`` (given the text without ``end``), or any object with ``write``.
    ``summarize``: elements printed at each end of every dimension (None: 3, -1: all), as TensorFlow's."""
    for what, value in (("sep", sep), ("end", end)):
        if not isinstance(value, str):
            raise ArgumentTypeError(f"print: {what} must be a string, got {type(value).__name__}")
    if summarize is None:
        summarize = 3
    if isinstance(summarize, bool) or not isinstance(summarize, (int, np.integer)) or summarize < -1:
        raise InvalidArgumentError(f"print: summarize must be an int >= -1 or None, got {summarize!r}")
    write = _sink(output_stream)
    tensors: list = []
    pieces = [_template(x, tensors, top=True) for x in inputs]

    def print_values(*arrays):
        values = [format_tensor(a, int(summarize)) for a in arrays]
        text = sep.join(_filled(piece, values) for piece in pieces)
        write(text, end)

    print_values.__name__ = "print"
    call_host("print", print_values, tensors, [], True, name)


def format_tensor(array: np.ndarray, summarize: int = 3) -> str:
    """An array as ``tf.print`` prints a tensor (see the module docstring)."""
    array = np.asarray(array)
    parts: list[str] = []
    _dimension(array, array.size if summarize < 0 else min(summarize, array.size), 0, parts)
    return "".join(parts)


def _dimension(array: np.ndarray, at_ends: int, depth: int, parts: list[str]) -> None:
    """TensorFlow's ``PrintOneDimV2``: the sub-arrays at the first and last ``at_ends`` indices of
    ``array``'s first axis (``depth`` axes of the whole tensor above it), ``...`` between when some
    are left out."""
    if array.ndim == 0:
        parts.append(_element(array[()]))
        return
    count = array.shape[0]
    spacing = " " if array.ndim == 1 else "\n" * (array.ndim - 1) + " " * (depth + 1)
    parts.append("[")
    for i in range(min(at_ends, count)):
        parts.append(spacing if i else "")
        _dimension(array[i], at_ends, depth + 1, parts)
    if count > 2 * at_ends:
        parts.append(spacing + "...")
    for i in range(max(at_ends, count - at_ends), count):
        parts.append(spacing)
        _dimension(array[i], at_ends, depth + 1, parts)
    parts.append("]")


def _element(x) -> str:
    """One element as TensorFlow prints it: floats in the fewest of 6 (15 for float64) significant
    digits that read back to the same number, else 9 (17); bools as 1 and 0."""
    if isinstance(x, np.floating):
        wide = x.dtype == np.float64
        text = "%.*g" % (15 if wide else 6, x)
        if not np.isnan(x) and type(x)(float(text)) != x:
            text = "%.*g" % (17 if wide else 9, x)
        return text
    return str(int(x))


def _template(x, tensors: list, top: bool = False) -> list:
    """The pieces ``x`` prints as: strings, and the index in ``tensors`` of each tensor it holds (added
    there). Strings at the top print as they are, other values as ``str``, inside structures as ``repr``."""
    if isinstance(x, Tensor) or hasattr(x, "_as_tensor"):
        tensors.append(x)
        return [len(tensors) - 1]
    if isinstance(x, (list, tuple)):
        items = [_template(v, tensors) for v in x]
        close = ",)" if isinstance(x, tuple) and len(x) == 1 else ")" if isinstance(x, tuple) else "]"
        return ["(" if isinstance(x, tuple) else "[", *_joined(items), close]
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:  # keys of several types: in insertion order
            keys = list(x)
        return ["{", *_joined([[repr(k) + ": ", *_template(x[k], tensors)] for k in keys]), "}"]
    return [str(x) if top else repr(x)]


def _joined(items: list[list]) -> list:
    joined = []
    for k, item in enumerate(items):
        joined += ([", "] if k else []) + item
    return joined


def _filled(pieces: list, values: list[str]) -> str:
    return "".join(values[p] if isinstance(p, int) else p for p in pieces)


_DEFAULT_STDERR = sys.stderr  # the object print's default output_stream is bound to


def _sink(stream):
    """``write(text, end)`` for an ``output_stream``. The standard streams are looked up when printing
    (so redirecting ``sys.stdout`` redirects the prints of functions compiled before)."""
    if stream is sys.stdout or stream is sys.__stdout__:
        return _locked(lambda text: sys.stdout.write(text), lambda: sys.stdout.flush())
    if stream is sys.stderr or stream is sys.__stderr__ or stream is _DEFAULT_STDERR:
        return _locked(lambda text: sys.stderr.write(text), lambda: sys.stderr.flush())
    if isinstance(stream, str):
        if not stream.startswith("file://") or len(stream) == len("file://"):
            raise InvalidArgumentError(
                f"print: output_stream must be sys.stdout, sys.stderr or 'file://PATH', got {stream!r}")
        path = stream[len("file://"):]

        def append(text):
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)

        return _locked(append, lambda: None)
    if isinstance(stream, logging.Logger):
        return _logged(stream.info)
    if hasattr(stream, "write"):
        return _locked(stream.write, getattr(stream, "flush", lambda: None))
    if callable(stream):  # logging.info, absl.logging.info...
        return _logged(stream)
    raise ArgumentTypeError(
        "print: output_stream must be sys.stdout, sys.stderr, 'file://PATH', a logging.Logger, a logging "
        f"function or an object with write(), got {type(stream).__name__}"
    )


def _locked(write, flush):
    def sink(text: str, end: str) -> None:
        with _WRITE:
            write(text + end)
            flush()

    return sink


def _logged(log):
    def sink(text: str, end: str) -> None:
        log((text + end).removesuffix("\n"))

    return sink
