"""The ``.graphc`` file: a zip archive of named members, written atomically and read defensively.

Writing builds the archive in memory and hands it to ``graphc.checkpoint_files.replace_file``: a
partial file in the same directory, synced, renamed over the old file (so at every instant the old or
the new file is complete), under the directory's lock; partial files left by killed writers go then.

Reading trusts nothing in the file. The path must be a regular file (no symbolic link, FIFO or
device). The archive must hold exactly the members asked for, by plain names (an absolute name, a
``..`` or a backslash is reported as path traversal), each once, unencrypted, stored or deflated, and
each member's declared size must be within its limit before a byte is inflated (a member whose limit
is None must be stored uncompressed: its size is then bounded by the file's). JSON members may nest
at most ``MAX_JSON_DEPTH`` deep."""
from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib

from graphc.ir.errors import CheckpointError, InvalidArgumentError

from ..checkpoint_files import locked_directory, parse_json, path_text, read_regular_file, remove_orphans, replace_file

MAX_JSON_DEPTH = 100
_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # members carry no date: the same model gives the same bytes


def write_archive(filepath, members: dict[str, tuple[bytes, bool]], overwrite: bool = True) -> str:
    """Writes ``members`` (name -> (content, compress)) as the zip archive ``filepath``, atomically;
    returns the path."""
    path = path_text(filepath, "filepath")
    if os.path.isdir(path):
        raise InvalidArgumentError(f"filepath: {path!r} is a directory; expected a file such as 'model.graphc'")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (content, compress) in members.items():
            info = zipfile.ZipInfo(name, _TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            archive.writestr(info, content)
    directory, base = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with locked_directory(directory) as directory_fd:
        if not overwrite and os.path.lexists(path):
            raise InvalidArgumentError(f"filepath: {path!r} exists and overwrite=False")
        replace_file(directory_fd, directory, base, base, buffer.getvalue())
        remove_orphans(directory, base)  # partial files of writers killed earlier
    return path


def _member_problem(name: str) -> str | None:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in re.split(r"[/\\]", name) or "\\" in name:
        return "path traversal (an absolute name, '..' or a backslash)"
    return None


def read_archive(filepath, limits: dict[str, int | None], what: str = "model file") -> dict[str, bytes]:
    """The members of the archive ``filepath``, which must be exactly the names of ``limits`` (name ->
    the most bytes it may declare, None: stored, so bounded by the file); see the module docstring."""
    path = path_text(filepath, "filepath")
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise CheckpointError(f"{what} {path} is a symbolic link (to {os.path.realpath(path)}); give the file itself")
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path} does not exist") from None
    content = read_regular_file(path, what)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        state = "is truncated or corrupt" if content.startswith(b"PK") else "is not a zip archive"
        raise CheckpointError(f"{what} {path} {state} ({error}); a .graphc file is a zip archive written by "
                              "model.save") from None
    infos = archive.infolist()
    names = [info.filename for info in infos]
    for name in names:
        problem = _member_problem(name)
        if problem:
            raise CheckpointError(f"{what} {path}: member {name!r:.200} is {problem}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    unknown = sorted(set(names) - set(limits))
    missing = sorted(set(limits) - set(names))
    for problem, listed in (("appear more than once", duplicates), ("are not members of a graphc model file", unknown),
                            ("are missing", missing)):
        if listed:
            raise CheckpointError(f"{what} {path}: members {', '.join(repr(n)[:200] for n in listed[:10])} {problem}")
    return {info.filename: _read_member(archive, info, limits[info.filename], f"{what} {path}") for info in infos}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int | None, where: str) -> bytes:
    name = info.filename
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{where}: member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CheckpointError(f"{where}: member {name!r} uses compression method {info.compress_type}; graphc reads "
                              "stored and deflated members")
    if limit is None and (info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size):
        raise CheckpointError(f"{where}: member {name!r} must be stored uncompressed (declared {info.file_size} bytes, "
                              f"{info.compress_size} in the archive)")
    if limit is not None and info.file_size > limit:
        raise CheckpointError(f"{where}: member {name!r} declares {info.file_size} bytes, more than the {limit} a "
                              "graphc model file may hold there")
    try:
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{where}: member {name!r} is corrupt or truncated ({error})") from None
    if len(data) != info.file_size:
        raise CheckpointError(f"{where}: member {name!r} holds {len(data)} bytes, its header says {info.file_size}")
    return data


def json_member(data: bytes, where: str):
    """The JSON value of a member, refused when nested deeper than ``MAX_JSON_DEPTH``."""
    depth, deepest = 0, 0
    for bracket in re.sub(rb'[^\[\]{}]', b"", re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_JSON_DEPTH:
        raise CheckpointError(f"{where} nests {deepest} levels deep; graphc reads at most {MAX_JSON_DEPTH}")
    return parse_json(data, where)
