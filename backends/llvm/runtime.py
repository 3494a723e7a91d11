"""Running compiled programs: buffers, run-time sizes, threads, and errors flagged by native code."""
from __future__ import annotations

import ctypes
import functools
import importlib
import os
import threading

import numpy as np
from graphc.ir import environment
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.graph import Graph, Node
from graphc.ir.shapes import concrete_types
from graphc.ir.state import SharedVariable, VariableAccess
from graphc.ir.types import TensorType

from . import blas
from .error_codes import ERROR_HOST_CALL, ERROR_INDEX_OUT_OF_RANGE, ERROR_NEGATIVE_INTEGER_POWER
from .lowering import may_fail
from .program import ALIGNMENT, CALL, ENTRY, SYNC_ERROR, SYNC_ERROR_NODE, SYNC_HOST, SYNC_OPENMP, Program, variable_slots
from .pyobjects import SYNC_INPUT_DTYPES, SYNC_SLOTS, layout_verified, sync_words

ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
# graphs with fewer elements than this run on the calling thread only
PARALLEL_THRESHOLD = 1 << 16
_ERRORS = {
    ERROR_INDEX_OUT_OF_RANGE: "index out of range",
    ERROR_NEGATIVE_INTEGER_POWER: "integers to negative integer powers are not allowed",
}


def num_threads() -> int:
    """Worker threads for large graphs: ``GRAPHC_NUM_THREADS`` (at most a few per core), else the machine's cores."""
    return environment.value("GRAPHC_NUM_THREADS")


_THREADS = num_threads()
_NO_DIMS = np.zeros(1, np.int64)
_pool = None  # a ThreadPoolExecutor, made on first use
_pool_lock = threading.Lock()
_submit_lock = threading.Lock()
_forked = False  # see _after_fork_in_child


def _after_fork_in_child() -> None:
    """A forked child makes its own worker pool (the parent's workers do not exist in it: its first
    parallel call waited forever for them) and runs no kernels on the BLAS's OpenMP team (``teams``):
    GNU's OpenMP keeps no state across fork either, and the child's first parallel region waited
    forever for the parent's threads (``MKL_THREADING_LAYER=GNU``). The child runs such graphs on its
    calling thread."""
    global _forked, _pool, _pool_lock, _submit_lock
    _forked = True
    _pool, _pool_lock, _submit_lock = None, threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _worker_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # (1.3 ms of a first call that runs on one thread)

            _pool = ThreadPoolExecutor(max_workers=max(1, _THREADS - 1), thread_name_prefix="graphc")
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
    """Inputs reach native code C-contiguous, aligned to their element size and in the machine's byte
    order: otherwise copied."""
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not array.flags.c_contiguous or _address(array) % array.dtype.itemsize:
        copy = aligned_empty(array.shape, array.dtype)
        copy[...] = array
        return copy
    return array


def _native_function(code, name: str, prototype):
    """The loaded function ``name`` as a ctypes function; raises rather than ever calling address 0."""
    address = code.address(name)
    if not address:
        raise RuntimeError(f"the loaded object code has no function {name!r}")
    return prototype(address)


def _check_inputs(arrays: list[np.ndarray], expected: list[TensorType]) -> None:
    """Rejects arrays native code would misread: a missing one, or another dtype, rank or static size."""
    if len(arrays) != len(expected):
        raise InvalidArgumentError(f"expected {len(expected)} input arrays, got {len(arrays)}")
    for i, (array, t) in enumerate(zip(arrays, expected)):
        sizes_fit = array.ndim == len(t.shape) and all(isinstance(d, str) or d == n for d, n in zip(t.shape, array.shape))
        if array.dtype != t.dtype.numpy or not sizes_fit:
            raise InvalidArgumentError(f"input {i}: expected {t}, got {array.dtype}{list(array.shape)}")


class _ShapeResolver:
    """Run-time sizes of the symbolic dimensions and the work of a call, from the input shapes
    (cached per input shapes)."""

    def __init__(self, graph: Graph, symbols: list[str]):
        self.graph, self.symbols = graph, symbols
        self.cache: dict[tuple, tuple[np.ndarray, int] | None] = {}

    def resolve(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, int] | None:
        """The sizes of the symbolic dimensions and the elements the call's kernels touch
        (``elements_touched``), or None when these shapes need a broadcast the compiled code does not
        do (see ``_broadcasts_at_run_time``)."""
        key = tuple((a.shape, a.dtype) for a in arrays)
        if key not in self.cache:
            self.cache[key] = self._resolve(arrays)
        return self.cache[key]

    def _resolve(self, arrays) -> tuple[np.ndarray, int] | None:
        _check_inputs(arrays, [v.type for v in self.graph.inputs])
        bound: dict[str, int] = {}
        types = concrete_types(self.graph, [TensorType(a.shape, v.dtype) for a, v in zip(arrays, self.graph.inputs)])
        for value, concrete in types.items():
            for d, size in zip(value.type.shape, concrete.shape):
                if isinstance(d, str):
                    if bound.setdefault(d, size) != size:
                        raise ShapeError(f"dimension {d} is {bound[d]} in one place and {size} in another")
        if _broadcasts_at_run_time(self.graph, types):
            return None
        return np.array([bound.get(s, 0) for s in self.symbols] or [0], np.int64), elements_touched(self.graph, types)


def elements_touched(graph: Graph, types: dict | None = None) -> int:
    """How much work a call is: the elements each node reads or writes, counted at its largest
    operand (a reduction of a large input to a small result counts its input). ``types`` gives the
    run-time types of values whose sizes are symbolic; without them an unknown size counts 1."""
    def size(value) -> int:
        shape = types[value].shape if types and value in types else value.type.shape
        return int(np.prod([d for d in shape if isinstance(d, int)], dtype=np.int64))

    return sum(max([size(v) for v in (*n.inputs, *n.outputs)], default=0) for n in graph.nodes)


def _broadcasts_at_run_time(graph: Graph, types: dict) -> bool:
    """Whether a dimension known only at run time is 1 where it meets a larger one: code generated
    from the static types indexes such an operand as if it had the full size, so these calls run on
    the interpreter instead."""
    for node in graph.nodes:
        if "body" in node.attrs and _broadcasts_at_run_time(node.attrs["body"], types):
            return True
        if not node.outputs or node.opdef.fusion_kind not in ("elementwise", "matmul"):  # ops that broadcast
            continue
        if node.outputs[0] not in types or not all(v in types for v in node.inputs):
            continue  # inside a region (cond, while_loop): its sizes are known only as it runs
        out = types[node.outputs[0]].shape
        skip = 2 if node.op == "matmul" else 0  # matmul broadcasts its batch axes only
        for v in node.inputs:
            static, concrete = v.type.shape, types[v].shape
            for k in range(skip + 1, min(len(static), len(out)) + 1):
                if isinstance(static[-k], str) and concrete[-k] == 1 and out[-k] != 1:
                    return True
    return False


class Executable:
    """A compiled graph: ``run(arrays) -> arrays`` with one native call per thread."""

    name = "llvm"

    def __init__(self, graph: Graph, program: Program, code, ir_text: str | None = None):
        self.graph, self.program = graph, program
        self._ir_text = ir_text
        self._code = code  # keeps the machine code loaded
        self._entry = _native_function(code, ENTRY, ENTRY_TYPE)
        self._shapes = _ShapeResolver(graph, program.symbols)
        self._static = not program.symbols
        self._interpreter = None  # for calls whose run-time sizes need a broadcast the code does not do
        self._local = threading.local()
        self._host = _dispatcher(program) if any(s.kind == "host" for s in program.slots) else None
        # BLAS runs its own threads: graphc's workers waiting out a gemm at a barrier only competed with
        # them (measured: 256x784x512 took 4x longer), so graphs that call BLAS run their kernels on
        # BLAS's own OpenMP threads where it has them (``teams``: the entry hands work to them when a
        # kernel at its top level calls BLAS), else on one thread
        self._openmp = blas.openmp_functions() if any(blas.is_gemm_kernel(n) for n in graph.nodes) else 0
        # graphs that call back into Python run on the calling thread only: graphc's workers would spin at
        # the barrier while the function runs, and one that calls a compiled function would find no
        # free worker (see host_calls)
        self._may_split = _THREADS > 1 and (bool(self._openmp) or not _calls_blas(graph)) and self._host is None
        # with symbolic sizes the call's own sizes decide (``_run``)
        self._parallel = self._may_split and self._static and elements_touched(graph) >= PARALLEL_THRESHOLD
        self._variable_slots = variable_slots(program)
        reads = [graph.variables[s.key] for s in program.slots if s.kind == "variable"]
        writes = [graph.variables[s.key] for s in program.slots if s.kind == "assigned"]
        self._variables = VariableAccess(reads, writes) if reads else None
        # objects other than SharedVariable (hand-built graphs) may hold arrays native code cannot read as they are
        self._plain_variables = not all(isinstance(v, SharedVariable) for v in reads)
        self._new_value_slots = [program.slots[i] for i in self._variable_slots[len(reads):]]
        self._inputs = [(i, s.key) for i, s in enumerate(program.slots) if s.kind == "input"]
        self._outputs = [(i, s.key) for i, s in enumerate(program.slots) if s.kind == "output"]
        # static graphs on one thread run through graphc_call, which reads the arguments itself (pyobjects)
        self._takes_arguments = self._static and not self._parallel and layout_verified()
        # ``run_if_exact(arguments) -> arrays or None``: ``_run_if_exact`` for callers that check nothing
        # (gc.function's fast path), None for graphs with host calls (``run`` guards their nesting)
        self.run_if_exact = self._run_if_exact if self._takes_arguments and self._host is None else None
        if self._takes_arguments:
            # small work holds the GIL: releasing and taking it back would cost more than the call
            prototype = ctypes.PYFUNCTYPE if _holds_gil(graph, self._host) else ctypes.CFUNCTYPE
            call_type = prototype(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
            self._call_native = _native_function(code, CALL, call_type)
            self._output_types = [(tuple(program.slots[i].shape), program.slots[i].dtype.numpy) for i in program.output_slots]
            self._single_output = self._output_types[0] if len(self._output_types) == 1 else None
            self._input_types = [(tuple(v.type.shape), v.dtype.numpy) for v in graph.inputs]
            self._new_value_types = self._new_value_types_for(_NO_DIMS)

    def symbol_address(self, name: str) -> int:
        """The address of the global symbol ``name`` in the loaded code, 0 if it has none (for tools
        that instrument the generated code, such as ``bench/kernel_profile.py``)."""
        return self._code.address(name)

    def llvm_ir(self, optimized: bool = False) -> str:
        """The LLVM IR of the program (regenerated when the code came from the cache)."""
        from . import target  # (LLVM is not loaded to run cached code)
        from .codegen import generate  # (nor the code generator)

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

    def _scratch(self, dims: np.ndarray):
        """This thread's (slot table, sync words) with its arena and other reusable buffers (per run-time
        sizes): concurrent calls from several threads never share scratch memory."""
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        key = dims.tobytes()
        state = cache.get(key)
        if state is None:
            table = np.zeros(len(self.program.slots), np.uintp)
            arena = aligned_empty((self.program.arena_bytes,), np.uint8)
            scratch = [(i, self._concrete_shape(s.shape, dims), s.dtype.numpy) for i, s in enumerate(self.program.slots)
                       if s.kind == "scratch"]
            shared = aligned_empty((max((int(np.prod(shape)) * dtype.itemsize for _, shape, dtype in scratch), default=0),),
                                   np.uint8)
            keep = [arena, shared]
            for i, _, _ in scratch:
                table[i] = _address(shared)
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
            sync = np.zeros(SYNC_INPUT_DTYPES + len(self.graph.inputs), np.int64)
            sync[SYNC_HOST] = self._host.address if self._host else 0
            sync[SYNC_OPENMP] = self._openmp
            sync[SYNC_SLOTS:] = sync_words(_address(table), [v.dtype.numpy for v in self.graph.inputs])
            state = cache[key] = (table, _address(table), sync, _address(sync), keep)
        return state

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self._host is not None:
            return self._run_with_host_calls(inputs)
        return self._run(inputs)

    def _run_with_host_calls(self, inputs) -> list[np.ndarray]:
        """A call whose host functions may call this executable again on the same thread: the inner
        call gets scratch memory of its own (the outer one's buffers are in use)."""
        local = self._local
        if not getattr(local, "running", False):
            local.running = True
            try:
                return self._run(inputs)
            finally:
                local.running = False
        saved = getattr(local, "cache", None), getattr(local, "static_scratch", None)
        local.cache, local.static_scratch = {}, None
        try:
            return self._run(inputs)
        finally:
            local.cache, local.static_scratch = saved

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self._takes_arguments:
            return self._run_on_this_thread(inputs)
        arrays = [_prepare_input(np.asarray(a)) for a in inputs]
        if self._static:
            dims, parallel = _NO_DIMS, self._parallel
        else:
            resolved = self._shapes.resolve(arrays)
            if resolved is None:
                return self._interpreted(arrays)
            dims, parallel = resolved[0], self._may_split and resolved[1] >= PARALLEL_THRESHOLD
        table, table_address, sync, sync_address, _ = self._scratch(dims)
        outputs = {}
        for i, key in self._inputs:
            table[i] = _address(arrays[key])
        for i, key in self._outputs:
            out = outputs[key] = np.empty(self._concrete_shape(self.program.slots[i].shape, dims), self.program.slots[i].dtype.numpy)
            table[i] = _address(out)
        sync[:SYNC_HOST] = 0
        if self._variables:
            self._call_with_variables(sync, self._new_value_types_for(dims),
                                      functools.partial(self._call_bound, table, table_address, _address(dims), sync_address,
                                                        parallel))
        else:
            self._call(table_address, _address(dims), sync_address, parallel)
            self._raise_flagged(sync)
        return [outputs[i] for i in range(len(self.graph.outputs))]

    def _interpreted(self, arrays) -> list[np.ndarray]:
        from graphc.backends.numpy import Interpreter

        if self._interpreter is None:
            self._interpreter = Interpreter(self.graph)
        return self._interpreter.run(arrays)

    def _run_on_this_thread(self, inputs) -> list[np.ndarray]:
        """Static graphs on one thread: the inputs made what ``graphc_call`` takes, then run by it."""
        arrays = []
        for a, (shape, dtype) in zip(inputs, self._input_types):
            if type(a) is not np.ndarray or not (a.flags.c_contiguous and a.flags.aligned):
                a = _prepare_input(np.asarray(a))
            if a.dtype is not dtype and a.dtype != dtype and a.dtype.newbyteorder("=") == dtype:
                a = _prepare_input(a)  # another byte order: converted
            # (NumPy's dtypes of the built-in types are one object each: ``is`` settles most calls)
            if (a.dtype is not dtype and a.dtype != dtype) or a.shape != shape:
                raise InvalidArgumentError(f"expected an array of {dtype}{list(shape)}, got {a.dtype}{list(a.shape)}")
            arrays.append(a if a.dtype is dtype else a.view(dtype))  # graphc_call compares dtype objects
        results = self._run_if_exact(tuple(arrays))
        if results is None:
            raise RuntimeError(f"{self.graph.name}: graphc_call rejected arrays prepared for it")
        return list(results)

    def _run_if_exact(self, arguments: tuple) -> list[np.ndarray] | None:
        """Runs the graph on ``arguments`` as they are, NumPy arrays (or holders of one, see
        ``pyobjects.set_array_holder``), when each is exactly of its input's type, C-contiguous and
        aligned (``graphc_call`` checks); returns None, having run nothing, when one is not."""
        state = getattr(self._local, "static_scratch", None)  # the one entry of a static graph, kept at hand
        if state is None:
            state = self._local.static_scratch = self._scratch(_NO_DIMS)
        _, _, sync, sync_address, _ = state
        if self._single_output:  # (a comprehension costs 0.15 us more: a tenth of a small call)
            outputs = (np.empty(*self._single_output),)
        else:
            outputs = tuple([np.empty(shape, dtype) for shape, dtype in self._output_types])
        if self._variables:
            status = self._call_with_variables(sync, self._new_value_types,
                                               functools.partial(self._call_arrays, sync_address, arguments, outputs))
        else:  # (objects by address: ctypes converts an int faster than a py_object; the caller holds them)
            status = self._call_native(sync_address, id(arguments), id(outputs))
            if status < 0:
                self._raise_flagged(sync)
        return None if status else outputs

    def _new_value_types_for(self, dims) -> list[tuple]:
        return [(self._concrete_shape(s.shape, dims), s.dtype.numpy) for s in self._new_value_slots]

    def _call_with_variables(self, sync, new_value_types, call):
        """``call([*snapshots, *new_values])`` (see ``graphc.ir.state``): the snapshots of the
        variables it reads, referenced here until it returns, and an array per variable it assigns,
        all published together when it flags no error. Returns what ``call`` returns: a positive
        status (``graphc_call``'s: an input that does not fit, nothing ran) publishes nothing."""
        access = self._variables
        snapshots = access.acquire()
        try:
            if self._plain_variables:
                snapshots = [_prepare_input(np.asarray(a)) for a in snapshots]
            new_values = access.new_arrays(new_value_types)
            status = call([*snapshots, *new_values])
            if sync[SYNC_ERROR]:
                self._raise_flagged(sync)
            if not status:
                access.commit(new_values, owned=True)
            return status
        finally:
            access.release()

    def _call_arrays(self, sync_address: int, arguments: tuple, outputs: tuple, variable_arrays: list) -> int:
        """``graphc_call`` of a graph with variables."""
        arrays = (*outputs, *variable_arrays)
        return self._call_native(sync_address, id(arguments), id(arrays))

    def _call_bound(self, table, table_address, dims_address, sync_address, parallel, variable_arrays) -> None:
        """``_call`` with the variables' arrays bound to their slots."""
        for i, array in zip(self._variable_slots, variable_arrays):
            table[i] = _address(array)
        self._call(table_address, dims_address, sync_address, parallel)

    def _raise_flagged(self, sync) -> None:
        if sync[SYNC_ERROR] == ERROR_HOST_CALL:
            self._host.raise_error()
        if sync[SYNC_ERROR]:
            node = _failing_op(self.program.nodes[int(sync[SYNC_ERROR_NODE])])
            raise InvalidArgumentError(
                _ERRORS.get(int(sync[SYNC_ERROR]), "native code reported an error"),
            ).at(node)

    def _call(self, table_address, dims_address, sync_address, parallel: bool) -> None:
        args = (table_address, dims_address, sync_address)
        if not parallel or self._openmp:  # (with OpenMP's threads, the entry hands the work to them)
            self._entry(0, _THREADS if parallel and not _forked else 1, *args)
            return
        pool = _worker_pool()
        with _submit_lock:  # a call's tasks queue together: workers never all wait on queued siblings
            futures = [pool.submit(self._entry, tid, _THREADS, *args) for tid in range(1, _THREADS)]
        self._entry(0, _THREADS, *args)
        for f in futures:
            f.result()


def _dispatcher(program: Program):
    """The ``host_calls.Dispatcher`` of a program with host calls (their code comes with the code
    generator, which a program without any runs without)."""
    from .host_calls import Dispatcher

    return Dispatcher(program.slots, program.symbols)


def _failing_op(node: Node) -> Node:
    """The node an error flagged by ``node``'s code names: in a fused kernel, the op that can fail."""
    if node.op != "fused":
        return node
    importlib.import_module(".codegen", __package__)  # registers each op's code, which ``may_fail`` reads
    return next(n for n in node.attrs["body"].nodes if may_fail(n))


def _holds_gil(graph: Graph, host) -> bool:
    """Whether a call keeps the GIL while native code runs: for graphs that touch few elements, have
    no loops or branches (which may run long) and no host calls (the program runs with the GIL
    released, ``host_calls``)."""
    if host is not None or any(n.opdef.regions for n in graph.nodes):
        return False
    elements = sum(
        int(np.prod([d for d in v.type.shape if isinstance(d, int)], dtype=np.int64))
        for n in graph.nodes for v in (*n.inputs, *n.outputs)
    )
    return elements < PARALLEL_THRESHOLD


def _calls_blas(graph: Graph) -> bool:
    """Whether the graph's code calls BLAS: a float product not shallow enough for graphc's own loops
    (``blas.calls_gemm``), at the top or in a region."""
    return any(blas.is_gemm(node) or any(map(_calls_blas, node.subgraphs.values())) for node in graph.nodes)
