"""``gc.train``: checkpoints of models, optimizers and variables, as ``tf.train.Checkpoint``.

A checkpoint with prefix ``P`` is two files, with no pickle anywhere:

- ``P.safetensors``: every variable's value (the safetensors format), keyed by its *path* in the
  object tree: attribute names from the checkpoint's root (``model/layers/0/kernel``), so a fresh
  model of the same structure restores it whatever its layers are called. An optimizer's slots are
  keyed by the path of their variable (``optimizer/slots/model/layers/0/kernel/m``).
- ``P.index.json``: the format version, every key's shape and dtype, the class of each object in
  the tree, and the data file's size and SHA-256 (so truncation and corruption are detected).

Files are written to temporary files and renamed into place. Restoring checks every key, shape and
dtype before changing anything: on a mismatch it lists every difference and leaves the objects
untouched. Optimizer slots that do not exist yet are created when restored; slots of variables
outside the checkpoint's tree are not saved.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile

import numpy as np
from safetensors import SafetensorError
from safetensors import numpy as safetensors_numpy

from graphc.ir.errors import CheckpointError, InvalidArgumentError
from graphc.ir.types import as_dtype

from .module import module_children, walk
from .optimizers import Optimizer
from .tracing import init_scope
from .variables import Variable

FORMAT = "graphc-checkpoint"
VERSION = 1
DATA_SUFFIX = ".safetensors"
INDEX_SUFFIX = ".index.json"
STATE_FILE = "checkpoint"  # in a save() directory: the latest and all checkpoints, as JSON


# -- the object tree ------------------------------------------------------------------------------------
def _children(obj) -> dict | None:
    children = getattr(obj, "_checkpoint_children", None)
    return children() if children is not None else module_children(obj)


def _is_checkpointable(obj) -> bool:
    return isinstance(obj, Variable) or _children(obj) is not None


class _Tree:
    """The checkpoint's view of the objects under ``root``: variables by key, optimizers by path."""

    def __init__(self, root):
        self.variables: dict[str, Variable] = {}
        self.classes: dict[str, str] = {}
        self.optimizers: dict[str, object] = {}
        path_of: dict[int, str] = {}
        for path, obj in walk(root, _children):
            if isinstance(obj, Variable):
                self.variables[path] = obj
                path_of[id(obj)] = path
            else:
                self.classes[path or "."] = type(obj).__name__
                if isinstance(obj, Optimizer):
                    self.optimizers[path] = obj
        for opt_path, optimizer in self.optimizers.items():
            for variable, slot_name, slot in optimizer.slots():
                if id(variable) in path_of:
                    self.variables[slot_key(opt_path, path_of[id(variable)], slot_name)] = slot

    def slot_for(self, key: str):
        """``(optimizer, variable, slot name)`` when ``key`` names a slot one of the optimizers could
        make for one of the variables; else None."""
        for opt_path, optimizer in self.optimizers.items():
            prefix = f"{opt_path}/slots/" if opt_path else "slots/"
            if not key.startswith(prefix) or "/" not in key[len(prefix):]:
                continue
            var_path, slot_name = key[len(prefix):].rsplit("/", 1)
            variable = self.variables.get(var_path)
            if variable is not None and slot_name in optimizer.slot_names:
                return optimizer, variable, slot_name
        return None


def slot_key(optimizer_path: str, variable_path: str, slot_name: str) -> str:
    return f"{optimizer_path}/slots/{variable_path}/{slot_name}" if optimizer_path else f"slots/{variable_path}/{slot_name}"


# -- files ------------------------------------------------------------------------------------------------
def _prefix(path) -> str:
    path = os.fspath(path)
    for suffix in (DATA_SUFFIX, INDEX_SUFFIX):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _atomic_write(files: list[tuple[str, bytes]]) -> None:
    """Writes each file to a temporary file beside it, then renames them into place in order."""
    temps = []
    try:
        for path, data in files:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
            temps.append(temp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for (path, _), temp in zip(files, temps):
            os.replace(temp, path)
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def write_checkpoint(root, file_prefix, overwrite: bool = True) -> str:
    """Writes the variables under ``root`` to ``file_prefix`` (+ ``.safetensors``, ``.index.json``)."""
    prefix = _prefix(file_prefix)
    if not overwrite and (os.path.exists(prefix + INDEX_SUFFIX) or os.path.exists(prefix + DATA_SUFFIX)):
        raise InvalidArgumentError(f"checkpoint {prefix!r} exists and overwrite=False")
    tree = _Tree(root)
    with init_scope():
        arrays = {key: np.array(var.numpy(), order="C") for key, var in tree.variables.items()}
    data = safetensors_numpy.save(arrays, metadata={"format": FORMAT})
    index = {
        "format": FORMAT,
        "version": VERSION,
        "data_file": os.path.basename(prefix) + DATA_SUFFIX,
        "data_size": len(data),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "variables": {key: {"shape": list(a.shape), "dtype": a.dtype.name} for key, a in arrays.items()},
        "objects": tree.classes,
    }
    _atomic_write([(prefix + DATA_SUFFIX, data), (prefix + INDEX_SUFFIX, json.dumps(index, indent=1).encode())])
    return prefix


def _resolve(path) -> str:
    """A checkpoint prefix from a prefix, one of its files, or a directory written by ``save``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"no checkpoint in directory {path!r}")
        return latest
    return _prefix(path)


def read_index(prefix: str) -> dict:
    """The parsed and checked index of the checkpoint ``prefix``."""
    path = prefix + INDEX_SUFFIX
    try:
        with open(path, "rb") as f:
            index = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {prefix!r}: {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint index {path} is corrupt or truncated (not valid JSON: {error})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a graphc checkpoint index")
    if index.get("version") != VERSION:
        raise CheckpointError(f"{path} has format version {index.get('version')}; this graphc reads version {VERSION}")
    if not isinstance(index.get("variables"), dict):
        raise CheckpointError(f"checkpoint index {path} is corrupt: it lists no variables")
    return index


def read_arrays(prefix: str, index: dict) -> dict[str, np.ndarray]:
    """The checkpoint's values, after checking the data file against the index."""
    path = prefix + DATA_SUFFIX
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint data file {path} is missing (its index exists)") from None
    if len(data) != index.get("data_size"):
        raise CheckpointError(
            f"checkpoint data file {path} is {len(data)} bytes, its index says {index.get('data_size')}: "
            "it was truncated or overwritten"
        )
    if hashlib.sha256(data).hexdigest() != index.get("data_sha256"):
        raise CheckpointError(f"checkpoint data file {path} is corrupt: its SHA-256 differs from the index's")
    try:
        arrays = safetensors_numpy.load(data)
    except SafetensorError as error:
        raise CheckpointError(f"checkpoint data file {path} is not a valid safetensors file: {error}") from None
    listed = index["variables"]
    if set(arrays) != set(listed) or any(
        list(arrays[k].shape) != listed[k]["shape"] or arrays[k].dtype.name != listed[k]["dtype"] for k in listed
    ):
        raise CheckpointError(f"checkpoint {prefix!r} is inconsistent: the data file and the index list different tensors")
    return arrays


def _describe(shape, dtype) -> str:
    return f"{as_dtype(dtype).short}[{','.join(map(str, shape))}]"


class LoadStatus:
    """What a restore did: ``restored`` keys, and ``unused`` keys of the file (only with ``partial``)."""

    def __init__(self, restored: list[str], unused: list[str]):
        self.restored, self.unused = restored, unused

    def assert_consumed(self) -> "LoadStatus":
        """Raises unless every value in the checkpoint was restored."""
        if self.unused:
            raise CheckpointError(f"checkpoint values not restored into any object: {', '.join(self.unused)}")
        return self

    def assert_existing_objects_matched(self) -> "LoadStatus":
        """Every object variable was restored (always true: restoring checks it)."""
        return self

    def expect_partial(self) -> "LoadStatus":
        return self


def read_checkpoint(root, save_path, partial: bool = False) -> LoadStatus:
    """Restores the variables under ``root`` from a checkpoint; see the module docstring."""
    prefix = _resolve(save_path)
    index = read_index(prefix)
    arrays = read_arrays(prefix, index)
    tree = _Tree(root)
    new_slots = {key: tree.slot_for(key) for key in arrays if key not in tree.variables}
    new_slots = {key: slot for key, slot in new_slots.items() if slot is not None}
    expected = {key: (tuple(v.shape), v.dtype.name) for key, v in tree.variables.items()}
    expected |= {key: (tuple(var.shape), var.dtype.name) for key, (_, var, _) in new_slots.items()}
    missing = [k for k in expected if k not in arrays]
    unused = [k for k in arrays if k not in expected]
    differ = [
        f"{k}: checkpoint {_describe(arrays[k].shape, arrays[k].dtype.name)}, object {_describe(*expected[k])}"
        for k in expected if k in arrays and (tuple(arrays[k].shape), arrays[k].dtype.name) != expected[k]
    ]
    problems = []
    if missing:
        problems.append(f"in the objects, not in the checkpoint ({len(missing)}): " + ", ".join(
            f"{k} {_describe(*expected[k])}" for k in missing))
    if unused and not partial:
        problems.append(f"in the checkpoint, not in the objects ({len(unused)}): " + ", ".join(
            f"{k} {_describe(arrays[k].shape, arrays[k].dtype.name)}" for k in unused))
    if differ:
        problems.append(f"shape or dtype differs ({len(differ)}): " + "; ".join(differ))
    if problems and not tree.variables:
        problems.append("the objects have no variables yet: build the model (call it once, or start it with gc.Input)")
    if problems:
        raise CheckpointError(f"cannot restore checkpoint {prefix!r}; nothing was changed:\n  " + "\n  ".join(problems))
    with init_scope():
        for key, (optimizer, variable, slot_name) in new_slots.items():
            tree.variables[key] = optimizer.add_slot(variable, slot_name)
        for key in expected:
            tree.variables[key].assign(arrays[key])
    return LoadStatus(list(expected), unused)


# -- the user API ---------------------------------------------------------------------------------------
class Checkpoint:
    """Saves and restores the variables of the objects given by keyword, as ``tf.train.Checkpoint``:

        ckpt = gc.train.Checkpoint(model=model, optimizer=optimizer)
        path = ckpt.save("ckpts/run")      # ckpts/run-1, ckpts/run-2, ...
        ckpt.restore(gc.train.latest_checkpoint("ckpts"))

    Objects are modules (layers, models), optimizers, generators, variables, or lists and dicts of them."""

    _RESERVED = frozenset({"save", "write", "read", "restore", "save_counter"})

    def __init__(self, root=None, **objects):
        if root is not None:
            objects = {"root": root, **objects}
        for name, obj in objects.items():
            if name in self._RESERVED or name.startswith("_"):
                raise InvalidArgumentError(f"Checkpoint: {name!r} cannot name an object (it is reserved)")
            if not _is_checkpointable(obj) and not isinstance(obj, (list, tuple, dict)):
                raise InvalidArgumentError(
                    f"Checkpoint: {name}={type(obj).__name__} is not checkpointable (give modules, optimizers or variables)"
                )
        self._objects = objects
        with init_scope():
            self.save_counter = Variable(np.int64(0), trainable=False, name="save_counter")
        self.__dict__.update(objects)

    def _checkpoint_children(self) -> dict:
        return {**self._objects, "save_counter": self.save_counter}

    def write(self, file_prefix) -> str:
        """Writes the checkpoint to ``file_prefix`` exactly; returns the prefix."""
        return write_checkpoint(self, file_prefix)

    def save(self, file_prefix) -> str:
        """Writes ``<file_prefix>-<n>`` (n counts saves) and records it as the latest in its directory."""
        with init_scope():
            self.save_counter.assign_add(np.int64(1))
            number = int(self.save_counter.numpy())
        path = write_checkpoint(self, f"{_prefix(file_prefix)}-{number}")
        _record_latest(path)
        return path

    def read(self, save_path, partial: bool = False) -> LoadStatus:
        """Restores every object from ``save_path`` (a prefix, or a directory: its latest checkpoint).
        Every name, shape and dtype must match; ``partial=True`` ignores checkpoint values no object
        takes. On any mismatch nothing changes and the error lists every difference."""
        return read_checkpoint(self, save_path, partial)

    def restore(self, save_path, partial: bool = False) -> LoadStatus:
        """As ``read``; ``save_path=None`` (no checkpoint yet) restores nothing."""
        if save_path is None:
            return LoadStatus([], [])
        return self.read(save_path, partial)


def _record_latest(prefix: str) -> None:
    directory = os.path.dirname(os.path.abspath(prefix))
    state_path = os.path.join(directory, STATE_FILE)
    name = os.path.basename(prefix)
    try:
        with open(state_path) as f:
            names = json.load(f).get("all", [])
    except (OSError, ValueError, AttributeError):
        names = []
    names = [n for n in names if n != name] + [name]
    _atomic_write([(state_path, json.dumps({"latest": name, "all": names}, indent=1).encode())])


def latest_checkpoint(checkpoint_dir) -> str | None:
    """The prefix of the newest checkpoint ``Checkpoint.save`` wrote in ``checkpoint_dir``, or None."""
    state_path = os.path.join(os.fspath(checkpoint_dir), STATE_FILE)
    try:
        with open(state_path) as f:
            latest = json.load(f).get("latest")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(latest, str):
        return None
    prefix = os.path.join(os.fspath(checkpoint_dir), latest)
    return prefix if os.path.exists(prefix + INDEX_SUFFIX) else None


def list_variables(ckpt_path) -> list[tuple[str, list[int]]]:
    """``(key, shape)`` of every value in a checkpoint, sorted by key (read from the index only)."""
    index = read_index(_resolve(ckpt_path))
    return sorted((key, list(spec["shape"])) for key, spec in index["variables"].items())


def load_variable(ckpt_path, name: str) -> np.ndarray:
    """One value of a checkpoint, as an array."""
    prefix = _resolve(ckpt_path)
    arrays = read_arrays(prefix, read_index(prefix))
    if name not in arrays:
        close = [k for k in arrays if re.sub(r"\d+", "", k) == re.sub(r"\d+", "", name)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise CheckpointError(f"checkpoint {prefix!r} has no value {name!r}{hint}")
    return arrays[name]
