"""Variables shared by threads: immutable snapshots, locked assignment, commits at one instant.

A graph's ``variables`` map names to objects with ``name``, ``type`` and ``value``. A
``SharedVariable`` (``gc.Variable`` is one) holds its value as a *snapshot*: an array that is never
changed once published. Reading takes a reference to the current snapshot; assigning builds the new
array completely, then swaps the reference. So every reader (eager code, the interpreter, native code
that keeps the reference for its whole call) sees one whole value, old or new, and no assignment
frees an array that someone still reads.

Backends run each call through a ``VariableAccess``: it locks the variables the call assigns (in
one global order, so calls never deadlock), takes the snapshots of its variables at one instant,
and publishes all its assignments at one instant when the call succeeds. Calls assigning the same
variable run one at a time, so a read-modify-write such as ``assign_add`` never loses an update;
readers never wait.

Other objects (hand-built graphs in tests, a parsed text IR) are read and assigned through their
``value`` attribute, without locks.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from .errors import InvalidArgumentError

# held while several snapshots are taken, or any published, so a call sees all its variables at one instant
_PUBLISH = threading.Lock()


class SharedVariable:
    """A variable whose value is an immutable snapshot (see the module docstring). Subclasses set
    ``name`` and ``type``."""

    def __init__(self, array: np.ndarray):
        self._snapshot = _frozen(array)
        self._spare: np.ndarray | None = None  # an earlier snapshot, reused when nobody holds it any more
        self.write_lock = threading.RLock()  # held by whoever assigns: eager code or a whole call

    @property
    def value(self) -> np.ndarray:
        """The current value: a read-only array that no assignment changes."""
        return self._snapshot

    @value.setter
    def value(self, array: np.ndarray) -> None:
        """Publishes a copy of ``array`` (after any call assigning this variable has finished)."""
        self._check_fits(array)
        frozen = _frozen(array)
        with self.write_lock, _PUBLISH:
            self._snapshot = frozen

    def _check_fits(self, array: np.ndarray) -> None:
        if array.shape != self._snapshot.shape or array.dtype != self._snapshot.dtype:
            raise InvalidArgumentError(
                f"cannot store a {array.dtype}{list(array.shape)} array in variable {self.name!r} of type {self.type}"
            )


class VariableAccess:
    """How a call of one graph reads and assigns its variables; reusable, and safe to share between
    threads (each call's state is what ``acquire`` returns)::

        snapshots = access.acquire()   # locks ``writes``; the values of ``reads`` at one instant
        try:
            ...                        # run; build each new value in an array of its own
            access.commit(new_values)  # publishes them all at one instant
        finally:
            access.release()
    """

    def __init__(self, reads: list, writes: list):
        self.reads, self.writes = list(reads), list(writes)
        ordered = sorted({id(v): v for v in writes if isinstance(v, SharedVariable)}.values(), key=id)
        self._locks = [v.write_lock for v in ordered]

    def acquire(self) -> list[np.ndarray]:
        for lock in self._locks:
            lock.acquire()
        if len(self.reads) < 2:
            return [v.value for v in self.reads]
        with _PUBLISH:
            return [v.value for v in self.reads]

    def new_arrays(self, types: list[tuple]) -> list[np.ndarray]:
        """An array of each ``(shape, dtype)`` to build the new values of ``writes`` in (between
        ``acquire`` and ``release``): a variable's previous snapshot when nobody holds it any more
        (reusing memory saves page faults on large variables), else a new array."""
        return [
            _reusable_spare(v, shape, dtype) if isinstance(v, SharedVariable) else np.empty(shape, dtype)
            for v, (shape, dtype) in zip(self.writes, types)
        ]

    def release(self) -> None:
        for lock in reversed(self._locks):
            lock.release()

    def commit(self, arrays: list[np.ndarray], owned: bool = False) -> None:
        """Publishes ``arrays`` as the new values of ``writes``. ``owned``: the caller made them, of
        the variables' types, and keeps no reference, so they are frozen in place instead of copied."""
        staged = []
        for var, array in zip(self.writes, arrays):
            if isinstance(var, SharedVariable):
                if not owned:
                    var._check_fits(array)
                array = _frozen(array, copy=not owned)
            staged.append(array)
        with _PUBLISH:
            for var, array in zip(self.writes, staged):
                if isinstance(var, SharedVariable):
                    if owned:  # calls that build new values in arrays of their own reuse the old one
                        var._spare = var._snapshot
                    var._snapshot = array
                else:
                    var.value = array


def _reusable_spare(var: SharedVariable, shape: tuple, dtype) -> np.ndarray:
    spare = var._spare
    # references: the variable's, this function's and getrefcount's argument; any other is a reader's
    if spare is None or spare.base is not None or spare.shape != shape or spare.dtype != dtype or sys.getrefcount(spare) > 3:
        return np.empty(shape, dtype)
    var._spare = None
    spare.flags.writeable = True
    return spare


def _frozen(array: np.ndarray, copy: bool = True) -> np.ndarray:
    """``array`` (a copy unless ``copy`` is False) made read-only: nothing can change it in place."""
    if copy:  # C-contiguous in the machine's byte order: what native code reads without a copy
        array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)
    array.flags.writeable = False
    return array
