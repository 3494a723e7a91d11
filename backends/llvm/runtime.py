"""Running compiled programs: buffers, run-time sizes, threads, and errors flagged by native code."""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType

from .codegen import Program
from .emitter import ERROR_INDEX_OUT_OF_RANGE, ERROR_NEGATIVE_INTEGER_POWER, SYNC_ERROR, SYNC_ERROR_NODE

ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
ALIGNMENT = 64
# graphs with fewer elements than this run on the calling thread only
PARALLEL_THRESHOLD = 1 << 16
_ERRORS = {
    ERROR_INDEX_OUT_OF_RANGE: "index out of range",
    ERROR_NEGATIVE_INTEGER_POWER: "integers to negative integer powers are not allowed",
}


def num_threads() -> int:
    return int(os.environ.get("GRAPHC_NUM_THREADS", 0)) or os.cpu_count() or 1


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _worker_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, num_threads() - 1), thread_name_prefix="graphc")
        return _pool


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = (-_address(raw)) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _prepare_input(array: np.ndarray) -> np.ndarray:
    """Inputs reach native code C-contiguous and aligned to their element size: otherwise copied."""
    if not array.flags.c_contiguous or _address(array) % array.dtype.itemsize:
        copy = aligned_empty(array.shape, array.dtype)
        copy[...] = array
        return copy
    return array


class _ShapeResolver:
    """Run-time sizes of the symbolic dimensions, from the input shapes (cached per input shapes)."""

    def __init__(self, graph: Graph, symbols: list[str]):
        self.graph, self.symbols = graph, symbols
        self.cache: dict[tuple, np.ndarray] = {}

    def dims(self, arrays: list[np.ndarray]) -> np.ndarray:
        key = tuple(a.shape for a in arrays)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self._resolve(arrays)
        return found

    def _resolve(self, arrays) -> np.ndarray:
        from graphc.ir.shapes import concrete_types

        bound: dict[str, int] = {}
        types = concrete_types(self.graph, [TensorType(a.shape, v.dtype) for a, v in zip(arrays, self.graph.inputs)])
        for value, concrete in types.items():
            for d, size in zip(value.type.shape, concrete.shape):
                if isinstance(d, str):
                    if bound.setdefault(d, size) != size:
                        raise ShapeError(f"dimension {d} is {bound[d]} in one place and {size} in another")
        return np.array([bound.get(s, 0) for s in self.symbols] or [0], np.int64)


class Executable:
    """A compiled graph: ``run(arrays) -> arrays`` with one native call per thread."""

    name = "llvm"

    def __init__(self, graph: Graph, program: Program, entry_address: int, code, ir_text: str | None = None):
        self.graph, self.program = graph, program
        self._ir_text = ir_text
        self._code = code  # keeps the machine code loaded
        self._entry = ENTRY_TYPE(entry_address)
        self._shapes = _ShapeResolver(graph, program.symbols)
        self._static_dims = None if program.symbols else np.zeros(1, np.int64)
        self._local = threading.local()
        self._work = sum(
            int(np.prod([d for d in v.type.shape if isinstance(d, int)], dtype=np.int64)) for n in graph.nodes for v in n.outputs
        )

    def llvm_ir(self, optimized: bool = False) -> str:
        """The LLVM IR of the program (regenerated when the code came from the cache)."""
        from . import target
        from .codegen import generate

        if self._ir_text is None:
            self._ir_text = generate(self.graph).ir
        return str(target.optimize(self._ir_text)) if optimized else self._ir_text

    def asm(self) -> str:
        """The host assembly of the program."""
        from . import target

        return target.emit_assembly(target.optimize(self.llvm_ir()))

    def _concrete_shape(self, shape, dims) -> tuple:
        index = {name: i for i, name in enumerate(self.program.symbols)}
        return tuple(d if isinstance(d, int) else int(dims[index[d]]) for d in shape)

    def _scratch(self, dims: np.ndarray) -> np.ndarray:
        """This thread's slot table with its arena and other reusable buffers (per run-time sizes):
        concurrent calls from several threads never share scratch memory."""
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        key = dims.tobytes()
        table = cache.get(key)
        if table is None:
            table = np.zeros(len(self.program.slots), np.uintp)
            arena = aligned_empty((self.program.arena_bytes,), np.uint8)
            keep = [arena]
            for i, slot in enumerate(self.program.slots):
                if slot.kind == "arena":
                    table[i] = _address(arena) + slot.key
                elif slot.kind == "buffer":
                    array = aligned_empty(self._concrete_shape(slot.shape, dims), slot.dtype.numpy)
                    keep.append(array)
                    table[i] = _address(array)
                elif slot.kind == "constant":
                    array = np.ascontiguousarray(slot.key) if slot.key.ndim else slot.key.reshape(())
                    keep.append(array)
                    table[i] = _address(array)
            cache[key] = table = (table, keep)
        return table[0]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        arrays = [_prepare_input(np.asarray(a)) for a in inputs]
        dims = self._static_dims if self._static_dims is not None else self._shapes.dims(arrays)
        table = self._scratch(dims)
        outputs = {}
        variables = self.graph.variables
        for i, slot in enumerate(self.program.slots):
            kind = slot.kind
            if kind == "input":
                table[i] = _address(arrays[slot.key])
            elif kind == "output":
                out = outputs[slot.key] = np.empty(self._concrete_shape(slot.shape, dims), slot.dtype.numpy)
                table[i] = _address(out)
            elif kind == "variable":
                table[i] = _address(_writable_storage(variables[slot.key]))
        sync = np.zeros(4, np.int64)
        self._call(table, dims, sync)
        if sync[SYNC_ERROR]:
            node = self.program.nodes[int(sync[SYNC_ERROR_NODE])]
            raise InvalidArgumentError(
                _ERRORS.get(int(sync[SYNC_ERROR]), "native code reported an error"),
                op=node.op, location=node.loc.long if node.loc else None,
            )
        return [outputs[i] for i in range(len(self.graph.outputs))]

    def _call(self, table, dims, sync) -> None:
        args = (_address(table), _address(dims), _address(sync))
        threads = num_threads()
        if threads == 1 or self._work < PARALLEL_THRESHOLD:
            self._entry(0, 1, *args)
            return
        pool = _worker_pool()
        futures = [pool.submit(self._entry, tid, threads, *args) for tid in range(1, threads)]
        self._entry(0, threads, *args)
        for f in futures:
            f.result()


def _writable_storage(var) -> np.ndarray:
    """The variable's storage, which native code updates in place (C-contiguous and aligned)."""
    array = var.exclusive_storage() if hasattr(var, "exclusive_storage") else var.value
    if not array.flags.c_contiguous or _address(array) % array.dtype.itemsize:
        var.value = np.ascontiguousarray(array)
        array = var.exclusive_storage() if hasattr(var, "exclusive_storage") else var.value
    return array
