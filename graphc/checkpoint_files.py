"""The files of a checkpoint, and writing and reading them safely. ``graphc.checkpoints`` decides
what goes in (every variable's value, keyed by its path in the object tree).

A checkpoint with prefix ``P`` (say ``ckpts/run-3``) is two files in P's directory, with no pickle:

- ``P.<digest>.safetensors``: every value (the safetensors format) by key. The file is named by its
  content: ``<digest>`` is the first 16 hex digits of its SHA-256.
- ``P.index.json``: the format version, the data file's name, size and SHA-256 (so truncation and
  corruption are detected), every key's shape and dtype, and the class of each object in the tree.
- ``Checkpoint.save`` also keeps a state file ``checkpoint`` in the directory: JSON naming the latest
  and all checkpoints saved there (plain names, never a path outside the directory).

Writing holds an exclusive lock on the directory (one writer at a time) and writes each file to a
``P.<random>.partial`` file that is synced and renamed into place: first the data file (the old
index still names the old data file), then the index. Renaming the index is the one instant the new
checkpoint replaces the old; after it the data file the old index named is removed, as are data and
partial files left by writers killed earlier. So at every instant the old or the new checkpoint is
complete. Readers take no lock: they read the index, then the data file it names, and read the index
again if a writer removed that data file meanwhile. Files are opened without blocking and must be
regular files; every field of an index is checked before it is used. Format version 1 (data file
``P.safetensors``) is still read.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile

import numpy as np
import safetensors
from safetensors import SafetensorError
from safetensors import numpy as safetensors_numpy

from graphc.ir.errors import ArgumentTypeError, CheckpointError, InvalidArgumentError
from graphc.ir.types import ALL_DTYPES

FORMAT = "graphc-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
DATA_SUFFIX = ".safetensors"
INDEX_SUFFIX = ".index.json"
PARTIAL_SUFFIX = ".partial"
STATE_FILE = "checkpoint"  # in a save() directory: the latest and all checkpoints, as JSON
DIGEST_DIGITS = 16
READ_ATTEMPTS = 100  # a reader re-reads an index a writer replaced at most this often

# the safetensors dtypes graphc has, as little-endian NumPy dtypes
SAFETENSORS_DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I8": np.dtype("i1"),
                      "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"), "U8": np.dtype("u1"),
                      "U16": np.dtype("<u2"), "BOOL": np.dtype("bool")}
DTYPE_NAMES = frozenset(d.name for d in ALL_DTYPES)


# -- paths and names --------------------------------------------------------------------------------------
def path_text(path, argument: str) -> str:
    """``path`` as a str, or an ArgumentTypeError (a TypeError) naming ``argument``."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{argument}: expected a path (str or os.PathLike), got {type(path).__name__} {path!r}")
    if "\0" in text:
        raise InvalidArgumentError(f"{argument}: a path cannot contain a NUL character, got {path!r}")
    return text


def checked_prefix(file_prefix, argument: str) -> str:
    """The checkpoint prefix ``file_prefix`` names (a data or index suffix dropped); it must end in a
    file name."""
    prefix = path_text(file_prefix, argument)
    for suffix in (DATA_SUFFIX, INDEX_SUFFIX):
        if prefix.endswith(suffix):
            prefix = prefix[: -len(suffix)]
            break
    if os.path.basename(prefix) in ("", ".", ".."):
        raise InvalidArgumentError(f"{argument}: expected a file prefix such as 'ckpts/run', got {file_prefix!r}")
    return prefix


def _is_plain_name(name) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "\0" not in name
            and not any(sep in name for sep in {"/", os.sep}))


def _member(directory: str, name, suffix: str, source: str, field: str) -> str:
    """The path of the file ``name + suffix`` in ``directory``, named by the ``field`` of ``source``
    (the state file or an index): a plain name, which no symbolic link may take out of ``directory``."""
    if not _is_plain_name(name):
        raise CheckpointError(f"{source} is corrupt: its {field!r} is {name!r}, expected a file name in {directory}")
    path = os.path.join(directory, name + suffix)
    real_directory = os.path.realpath(directory)
    if os.path.commonpath([real_directory, os.path.realpath(path)]) != real_directory:
        raise CheckpointError(f"{source}: its {field!r} {name!r} leads out of {directory}: {path} is a "
                              f"symbolic link to {os.path.realpath(path)}")
    return path


def _directory_of(prefix: str) -> str:
    return os.path.dirname(os.path.abspath(prefix))


# -- reading files ----------------------------------------------------------------------------------------
_FILE_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def read_regular_file(path: str, what: str, size: int | None = None, missing: str | None = None) -> bytes:
    """The content of the regular file ``path`` (``what`` names it in errors), which must be ``size``
    bytes when given. Never blocks on a FIFO nor reads a device: anything else is a CheckpointError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CheckpointError(missing or f"{what} {path} does not exist") from None
    except OSError as error:
        raise CheckpointError(f"{what} {path} cannot be opened: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
            raise CheckpointError(f"{what} {path} is not a regular file: it is {kind}")
        if size is not None and info.st_size != size:
            raise CheckpointError(f"{what} {path} is {info.st_size} bytes, its index says {size}: it was truncated or overwritten")
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as error:
        raise CheckpointError(f"{what} {path} cannot be read: {error.strerror}") from None
    finally:
        with contextlib.suppress(OSError):  # closing a file only read loses nothing
            os.close(fd)


def parse_json(content: bytes, what: str) -> object:
    try:
        return json.loads(content.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{what} is corrupt or truncated (not valid JSON: {error})") from None


_KINDS = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def _field(mapping: dict, key: str, kind: type, where: str):
    """``mapping[key]``, which must be of ``kind`` (bool is no integer here)."""
    if key not in mapping:
        raise CheckpointError(f"{where} is corrupt: it has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckpointError(f"{where} is corrupt: {key!r} should be {_KINDS[kind]}, got {type(value).__name__} {value!r:.80}")
    return value


def _check_spec(key: str, spec, where: str) -> None:
    """Checks one entry of an index's ``variables``: ``{"shape": [n, ...], "dtype": name}``."""
    where = f"{where}, variable {key!r},"
    if not isinstance(spec, dict):
        raise CheckpointError(f"{where} is corrupt: expected an object with 'shape' and 'dtype', got {spec!r:.80}")
    shape = _field(spec, "shape", list, where)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise CheckpointError(f"{where} is corrupt: 'shape' should list sizes (integers >= 0), got {shape!r:.80}")
    dtype = _field(spec, "dtype", str, where)
    if dtype not in DTYPE_NAMES:
        raise CheckpointError(f"{where} is corrupt: 'dtype' is {dtype!r:.40}, expected one of {', '.join(sorted(DTYPE_NAMES))}")


def _parse_index(content: bytes, path: str) -> dict:
    """The index in ``content`` (read from ``path``), every field checked."""
    where = f"checkpoint index {path}"
    index = parse_json(content, where)
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a graphc checkpoint index")
    version = index.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise CheckpointError(f"{path} has format version {version!r:.40}; this graphc reads versions "
                              f"{', '.join(map(str, READABLE_VERSIONS))}")
    _field(index, "data_file", str, where)
    if _field(index, "data_size", int, where) < 0:
        raise CheckpointError(f"{where} is corrupt: 'data_size' is {index['data_size']}")
    _field(index, "data_sha256", str, where)
    for key, spec in _field(index, "variables", dict, where).items():
        _check_spec(key, spec, where)
    return index


def encode_tensors(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` (values by key) as a safetensors file."""
    return safetensors_numpy.save(arrays, metadata={"format": FORMAT})


def decode_tensors(data: bytes, what: str) -> dict[str, np.ndarray]:
    """The tensors of the safetensors file ``data`` (``what`` names it in errors), of graphc's dtypes only. The
    sizes its header declares must fit in ``data``: nothing is allocated beyond it."""
    try:
        tensors = safetensors.deserialize(data)
    except SafetensorError as error:
        raise CheckpointError(f"{what} is not a valid safetensors file: {error}") from None
    arrays = {}
    for key, tensor in tensors:
        dtype = SAFETENSORS_DTYPES.get(tensor["dtype"])
        if dtype is None:
            raise CheckpointError(f"{what}: tensor {key!r} has dtype {tensor['dtype']}; "
                                  f"graphc reads {', '.join(SAFETENSORS_DTYPES)}")
        if dtype == np.bool_ and np.frombuffer(tensor["data"], np.uint8).max(initial=0) > 1:
            raise CheckpointError(f"{what}: bool tensor {key!r} holds bytes other than 0 and 1")
        arrays[key] = np.frombuffer(tensor["data"], dtype).reshape(tensor["shape"])
    return arrays




def _read_data(prefix: str, index: dict) -> dict[str, np.ndarray]:
    """The values of the checkpoint ``prefix``, after checking its data file against ``index``."""
    index_path = prefix + INDEX_SUFFIX
    path = _member(_directory_of(prefix), index["data_file"], "", f"checkpoint index {index_path}", "data_file")
    data = read_regular_file(path, "checkpoint data file", size=index["data_size"],
                      missing=f"checkpoint data file {path}, named by {index_path}, does not exist")
    if hashlib.sha256(data).hexdigest() != index["data_sha256"]:
        raise CheckpointError(f"checkpoint data file {path} is corrupt: its SHA-256 differs from the index's")
    arrays = decode_tensors(data, f"checkpoint data file {path}")
    listed = index["variables"]
    differ = [key for key in listed.keys() | arrays.keys() if key not in arrays or key not in listed
              or (list(arrays[key].shape), arrays[key].dtype.name) != (listed[key]["shape"], listed[key]["dtype"])]
    if differ:
        raise CheckpointError(f"checkpoint {prefix!r} is inconsistent: its data file {path} and its index "
                              f"{index_path} differ in {len(differ)} tensors ({', '.join(sorted(differ)[:5])})")
    return arrays


def _read_index(prefix: str) -> tuple[bytes, dict]:
    path = prefix + INDEX_SUFFIX
    content = read_regular_file(path, "checkpoint index", missing=f"no checkpoint at {prefix!r}: {path} does not exist")
    return content, _parse_index(content, path)


def read_index(prefix: str) -> dict:
    """The index of the checkpoint ``prefix``, every field checked."""
    return _read_index(prefix)[1]


def read_arrays(prefix: str) -> dict[str, np.ndarray]:
    """The values of the checkpoint ``prefix`` by key. A writer may replace the checkpoint (and
    remove the data file the index named) between reading the index and the data: then the new
    index is read again."""
    content, index = _read_index(prefix)
    for _ in range(READ_ATTEMPTS):
        try:
            return _read_data(prefix, index)
        except CheckpointError:
            newer, newer_index = _read_index(prefix)
            if newer == content:
                # the same index: a damaged checkpoint, or the same contents written again meanwhile
                # (their data file removed by another write, then restored): one more read tells
                return _read_data(prefix, index)
            content, index = newer, newer_index
    raise CheckpointError(f"checkpoint {prefix!r} was replaced {READ_ATTEMPTS} times while it was being read")


# -- writing files ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def locked_directory(directory: str):
    """Holds an exclusive lock on ``directory`` (one checkpoint writer at a time, across processes);
    yields the directory's descriptor."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def replace_file(directory_fd: int, directory: str, base: str, name: str, data: bytes) -> None:
    """Writes ``data`` to ``directory/name`` durably: to a partial file, synced, renamed into place."""
    fd, partial = tempfile.mkstemp(prefix=base + ".", suffix=PARTIAL_SUFFIX, dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.fsync(directory_fd)


def _is_orphan(directory: str, base: str, name: str, keep: str | None) -> bool:
    """Whether ``name`` is a partial file of ``base`` or (when ``keep`` is given) a data file of the
    checkpoint ``base`` other than ``keep``, which its index no longer names."""
    if re.fullmatch(re.escape(base) + r"\.[^.]+" + re.escape(PARTIAL_SUFFIX), name):
        return True
    if keep is None or name == keep:
        return False
    if name == base + DATA_SUFFIX:  # format version 1
        return True
    stem = name[: -len(DATA_SUFFIX)]
    # a version-1 data file of a checkpoint whose prefix happens to end in a digest is no orphan
    return (re.fullmatch(re.escape(base) + rf"\.[0-9a-f]{{{DIGEST_DIGITS}}}" + re.escape(DATA_SUFFIX), name) is not None
            and not os.path.exists(os.path.join(directory, stem + INDEX_SUFFIX)))


def remove_orphans(directory: str, base: str, keep: str | None = None) -> None:
    """Removes the orphans of ``base`` (see ``_is_orphan``); one that cannot be removed now is left to
    the next write (the checkpoint just written is complete either way)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if _is_orphan(directory, base, name, keep):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))


def _writelocked_directory(directory_fd: int, prefix: str, arrays: dict, classes: dict) -> None:
    directory, base = os.path.split(os.path.abspath(prefix))
    data = encode_tensors(arrays)
    digest = hashlib.sha256(data).hexdigest()
    data_name = f"{base}.{digest[:DIGEST_DIGITS]}{DATA_SUFFIX}"
    index = {
        "format": FORMAT,
        "version": VERSION,
        "data_file": data_name,
        "data_size": len(data),
        "data_sha256": digest,
        "variables": {key: {"shape": list(a.shape), "dtype": a.dtype.name} for key, a in arrays.items()},
        "objects": classes,
    }
    replace_file(directory_fd, directory, base, data_name, data)
    replace_file(directory_fd, directory, base, base + INDEX_SUFFIX, json.dumps(index, indent=1).encode())
    remove_orphans(directory, base, keep=data_name)


def write_files(prefix: str, arrays: dict[str, np.ndarray], classes: dict[str, str], overwrite: bool = True,
                record_latest: bool = False) -> None:
    """Writes ``arrays`` (values by key) as the checkpoint ``prefix``, with the class of every object by
    path; ``record_latest`` names it the latest in the directory's state file."""
    directory = _directory_of(prefix)
    os.makedirs(directory, exist_ok=True)
    with locked_directory(directory) as directory_fd:
        if not overwrite and os.path.lexists(prefix + INDEX_SUFFIX):
            raise InvalidArgumentError(f"checkpoint {prefix!r} exists and overwrite=False")
        _writelocked_directory(directory_fd, prefix, arrays, classes)
        if record_latest:
            _record_latest(directory_fd, directory, os.path.basename(prefix))


# -- the state file of a save() directory -------------------------------------------------------------------
def _read_state(path: str) -> dict:
    state = parse_json(read_regular_file(path, "checkpoint state file"), f"checkpoint state file {path}")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state file {path} is corrupt: expected a JSON object, got {state!r:.80}")
    return state


def _record_latest(directory_fd: int, directory: str, name: str) -> None:
    """Names ``name`` the latest checkpoint in the state file (one left corrupt is replaced)."""
    path = os.path.join(directory, STATE_FILE)
    try:
        names = _read_state(path).get("all")
    except CheckpointError:
        names = []
    names = [n for n in names if _is_plain_name(n) and n != name] if isinstance(names, list) else []
    replace_file(directory_fd, directory, STATE_FILE, STATE_FILE,
                  json.dumps({"latest": name, "all": names + [name]}, indent=1).encode())
    remove_orphans(directory, STATE_FILE)


def checkpoint_state(checkpoint_dir) -> dict | None:
    """The state file of ``checkpoint_dir`` (None when it has none), checked: ``latest`` (a name),
    ``all`` (names, oldest first), and as ``CheckpointManager`` writes them, ``timestamps`` (one per
    name) and ``last_preserved_timestamp``."""
    directory = path_text(checkpoint_dir, "checkpoint_dir")
    path = os.path.join(directory, STATE_FILE)
    if not os.path.lexists(path):
        return None
    state = _read_state(path)
    names = state.get("all", [])
    if not isinstance(names, list) or not all(_is_plain_name(n) for n in names):
        raise CheckpointError(f"checkpoint state file {path} is corrupt: 'all' should list file names, got {names!r:.80}")
    times = state.get("timestamps")
    numbers = isinstance(times, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times)
    if times is not None and not (numbers and len(times) == len(names)):
        raise CheckpointError(f"checkpoint state file {path} is corrupt: 'timestamps' should hold one number per "
                              f"checkpoint, got {times!r:.80}")
    preserved = state.get("last_preserved_timestamp")
    if preserved is not None and (not isinstance(preserved, (int, float)) or isinstance(preserved, bool)):
        raise CheckpointError(f"checkpoint state file {path} is corrupt: 'last_preserved_timestamp' is {preserved!r:.80}")
    return state


def write_state(checkpoint_dir: str, latest: str, names: list[str], timestamps: list[float],
                last_preserved_timestamp: float) -> None:
    """Writes the state file of ``checkpoint_dir`` (see ``checkpoint_state``) durably."""
    state = {"latest": latest, "all": names, "timestamps": timestamps, "last_preserved_timestamp": last_preserved_timestamp}
    with locked_directory(checkpoint_dir) as directory_fd:
        replace_file(directory_fd, checkpoint_dir, STATE_FILE, STATE_FILE, json.dumps(state, indent=1).encode())
        remove_orphans(checkpoint_dir, STATE_FILE)


def remove_checkpoint(prefix: str) -> None:
    """Deletes the checkpoint ``prefix``: its index first (so it is never half there), then its data."""
    directory, base = os.path.split(os.path.abspath(prefix))
    with locked_directory(directory):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(prefix + INDEX_SUFFIX)
        remove_orphans(directory, base, keep="")


def latest_checkpoint(checkpoint_dir) -> str | None:
    """The prefix of the newest checkpoint ``Checkpoint.save`` wrote in ``checkpoint_dir``; None when
    it has no state file. The state file can only name a checkpoint in that directory."""
    directory = path_text(checkpoint_dir, "checkpoint_dir")
    path = os.path.join(directory, STATE_FILE)
    if not os.path.lexists(path):
        return None
    name = _read_state(path).get("latest")
    index_path = _member(directory, name, INDEX_SUFFIX, f"checkpoint state file {path}", "latest")
    if not os.path.lexists(index_path):
        raise CheckpointError(f"checkpoint state file {path} names checkpoint {name!r}, but {index_path} does not exist")
    return os.path.join(directory, name)


def resolve_prefix(save_path, argument: str) -> str:
    """A checkpoint prefix from a prefix, one of its files, or a directory written by ``save``."""
    if isinstance(save_path, (str, os.PathLike)) and os.path.isdir(save_path):
        latest = latest_checkpoint(save_path)
        if latest is None:
            raise CheckpointError(f"no checkpoint in directory {os.fspath(save_path)!r} (it has no {STATE_FILE} state file)")
        return latest
    return checked_prefix(save_path, argument)

