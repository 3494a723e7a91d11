"""Running Graphviz's ``dot`` program on a picture: SVG text, or a file of the format its suffix names.
Without ``dot``, pictures fall back to their ``.dot`` source (or None) and one line says so."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from graphc.ir.errors import InvalidArgumentError

from .graphviz_package import import_graphviz

if TYPE_CHECKING:
    import graphviz

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def render_svg(dot: graphviz.Digraph) -> str | None:
    """The picture as SVG text, or None when Graphviz's ``dot`` program is not installed."""
    graphviz = import_graphviz()
    try:
        return dot.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return None


def output_format(path) -> str | None:
    """The ``dot -T`` format that ``path``'s suffix names (None: the ``.dot`` source itself)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidArgumentError(
            f"gc.viz: cannot write {os.fspath(path)!r}: the file name must end in .svg, .png, .pdf or .dot"
        )
    return FORMATS[suffix]


def write(dot: graphviz.Digraph, path: str | os.PathLike) -> str:
    """Writes the picture to ``path`` (format by suffix); without ``dot``, the ``.dot`` file instead."""
    fmt, path = output_format(path), Path(path)
    graphviz = import_graphviz()
    with reporting_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt is None:
            path.write_text(dot.source)
            return str(path)
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            dot_path = path.with_suffix(".dot")
            dot_path.write_text(dot.source)
            note_missing_dot(f"wrote {dot_path} instead of {path}; render it with: dot -T{fmt} {dot_path} -o {path}")
            return str(dot_path)
        path.write_bytes(data)
        return str(path)


@contextlib.contextmanager
def reporting_write_errors(path: Path):
    """An OSError while writing ``path`` (a file in the way, a read-only directory) as one clear error."""
    try:
        yield
    except OSError as error:
        if isinstance(error, FileExistsError):  # mkdir met a file where a directory belongs
            reason = f"{error.filename} is a file, not a directory"
        else:
            reason = f"{error.strerror}: {error.filename}" if error.strerror and error.filename else str(error)
        raise InvalidArgumentError(f"gc.viz: cannot write {str(path)!r}: {reason}") from None


def note_missing_dot(what: str) -> None:
    """One line on stderr: ``dot`` is missing, and ``what`` graphc did instead."""
    print(f"graphc: Graphviz's dot program is not installed (Debian: apt-get install graphviz); {what}", file=sys.stderr)
