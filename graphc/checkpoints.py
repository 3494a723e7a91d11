"""Checkpoints of models, optimizers and variables (``gc.train.Checkpoint``, ``Model.save_weights``).

Every variable's value is keyed by its *path* in the object tree: attribute names from the
checkpoint's root (``model/layers/0/kernel``), so a fresh model of the same structure restores it
whatever its layers are called. An optimizer's slots are keyed by the path of their variable
(``optimizer/slots/model/layers/0/kernel/m``). The files, and how they are written and read safely,
are ``graphc.checkpoint_files``'s.

Restoring checks every key, shape and dtype before changing anything: on a mismatch it lists every
difference and leaves the objects untouched; if an assignment fails midway, the values assigned so
far are put back. Optimizer slots that do not exist yet are created (with the value the optimizer
would give them) when restored; slots of variables outside the checkpoint's tree are not saved.
"""
from __future__ import annotations

import os
import re

import numpy as np

from graphc.ir.errors import CheckpointError, InvalidArgumentError
from graphc.ir.types import as_dtype

from .checkpoint_files import checked_prefix, read_arrays, read_index, resolve_prefix, write_files
from .module import module_children, walk
from .optimizers import Optimizer
from .tracing import init_scope
from .variables import Variable


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
            if variable is not None and slot_name in optimizer.get_slot_names():
                return optimizer, variable, slot_name
        return None


def slot_key(optimizer_path: str, variable_path: str, slot_name: str) -> str:
    return f"{optimizer_path}/slots/{variable_path}/{slot_name}" if optimizer_path else f"slots/{variable_path}/{slot_name}"


# -- writing ----------------------------------------------------------------------------------------------
def values_of(root) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The value of every variable under ``root`` by key, and the class of every object by path."""
    tree = _Tree(root)
    with init_scope():
        arrays = {key: np.array(var.numpy(), order="C") for key, var in tree.variables.items()}
    return arrays, tree.classes


def write_checkpoint(root, file_prefix, overwrite: bool = True, record_latest: bool = False) -> str:
    """Writes the variables under ``root`` to the checkpoint ``file_prefix`` (see
    ``graphc.checkpoint_files``); ``record_latest`` names it the latest in the directory's state file."""
    prefix = checked_prefix(file_prefix, "file_prefix")
    if os.path.isdir(prefix):
        raise InvalidArgumentError(f"file_prefix: {file_prefix!r} is a directory; expected a file prefix "
                                   f"such as {os.path.join(prefix, 'ckpt')!r}")
    arrays, classes = values_of(root)
    write_files(prefix, arrays, classes, overwrite, record_latest)
    return prefix


# -- restoring ----------------------------------------------------------------------------------------------
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


def _describe(shape, dtype) -> str:
    return f"{as_dtype(dtype).short}[{','.join(map(str, shape))}]"


def _assign_all(variables: dict[str, Variable], arrays: dict[str, np.ndarray]) -> None:
    """Assigns ``arrays[key]`` to ``variables[key]`` for every key; on any failure the variables
    assigned so far get their previous values back."""
    previous = {key: variable.numpy() for key, variable in variables.items()}
    assigned = []
    try:
        for key, variable in variables.items():
            variable.assign(arrays[key])
            assigned.append(key)
    except BaseException:
        for key in assigned:
            variables[key].assign(previous[key])
        raise


def read_checkpoint(root, save_path, partial: bool = False) -> LoadStatus:
    """Restores the variables under ``root`` from a checkpoint; see the module docstring."""
    prefix = resolve_prefix(save_path, "save_path")
    return restore_values(root, read_arrays(prefix), f"checkpoint {prefix!r}", partial)


def restore_values(root, arrays: dict[str, np.ndarray], source: str, partial: bool = False) -> LoadStatus:
    """Assigns ``arrays`` (values by key, read from ``source``, which errors name) to the variables under
    ``root``, after checking every key, shape and dtype; see the module docstring."""
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
        raise CheckpointError(f"cannot restore {source}; nothing was changed:\n  " + "\n  ".join(problems))
    with init_scope():
        # a new slot starts as the optimizer would start it on first use, so making it changes nothing
        for key, (optimizer, variable, slot_name) in new_slots.items():
            tree.variables[key] = optimizer.add_slot(variable, slot_name, optimizer.slot_initial_value(slot_name))
        _assign_all({key: tree.variables[key] for key in expected}, arrays)
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
        """Writes ``<file_prefix>-<n>`` (n counts saves) and records it as the latest in its directory.
        If the write fails, the count is unchanged."""
        prefix = checked_prefix(file_prefix, "file_prefix")
        with init_scope():
            number = int(self.save_counter.numpy()) + 1
            self.save_counter.assign(np.int64(number))
        try:
            return write_checkpoint(self, f"{prefix}-{number}", record_latest=True)
        except BaseException:
            with init_scope():
                self.save_counter.assign(np.int64(number - 1))
            raise

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


def list_variables(ckpt_path) -> list[tuple[str, list[int]]]:
    """``(key, shape)`` of every value in a checkpoint, sorted by key (read from the index only)."""
    index = read_index(resolve_prefix(ckpt_path, "ckpt_path"))
    return sorted((key, list(spec["shape"])) for key, spec in index["variables"].items())


def load_variable(ckpt_path, name: str) -> np.ndarray:
    """One value of a checkpoint, as an array."""
    prefix = resolve_prefix(ckpt_path, "ckpt_path")
    arrays = read_arrays(prefix)
    if name not in arrays:
        close = [k for k in arrays if re.sub(r"\d+", "", k) == re.sub(r"\d+", "", str(name))]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise CheckpointError(f"checkpoint {prefix!r} has no value {name!r}{hint}")
    return arrays[name]
