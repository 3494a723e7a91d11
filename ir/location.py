"""Source locations: the user's file and line that created a node, skipping graphc's own frames."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

_internal_dirs: list[str] = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
_skipped_files = (os.sep + "contextlib.py", os.sep + "functools.py")
_internal_files: dict[str, bool] = {}  # filename -> is_internal, cleared when a directory is registered


def register_internal_dir(path: str) -> None:
    """Marks a package directory as graphc's own, so its frames never count as user code."""
    path = os.path.dirname(os.path.abspath(path)) + os.sep
    if path not in _internal_dirs:
        _internal_dirs.append(path)
        _internal_files.clear()


@dataclass(frozen=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"

    @property
    def long(self) -> str:
        return f"{self.file}:{self.line}"


def is_internal(filename: str) -> bool:
    """Whether ``filename`` is graphc's own code (or Python's frozen modules), which error locations skip."""
    internal = _internal_files.get(filename)
    if internal is None:
        internal = _is_internal_path(filename)
        if os.path.isabs(filename):  # a relative name depends on the working directory
            _internal_files[filename] = internal
    return internal


def _is_internal_path(filename: str) -> bool:
    if filename.startswith("<"):
        return filename.startswith("<frozen ")
    filename = os.path.abspath(filename)
    return filename.startswith(tuple(_internal_dirs)) or filename.endswith(_skipped_files)


def user_location(skip: int = 1) -> Location | None:
    """The innermost frame of the call stack that is not graphc's own code."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not is_internal(filename):
            return Location(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def user_line(skip: int = 1) -> str | None:
    """The user's source line as errors name it (``file:line``), or None (see ``user_location``)."""
    location = user_location(skip + 1)
    return location.long if location else None
