"""Host calls in native code: the generated code calls back into Python (``gc.numpy_function``,
``gc.py_function``, ``gc.print``; the ops of ``graphc.ir.ops.host``).

A host call node's code (thread 0, the thread that called the program), in the top-level graph or a
region, loads the address of its executable's *dispatcher* from the sync words (``SYNC_HOST``) and
calls it with the number of the node's 'host' slot (``emission.lay_out_graph``), the slot table and
the run-time sizes: ``int64 dispatch(int64 call, i8** slots, int64* dims)``. The dispatcher is a ctypes
callback, so it takes the GIL itself (the program runs with the GIL released); it copies the inputs
out of their buffers, runs the node's ``HostFunction`` and writes the checked results into the
results' buffers. An exception is kept for the runtime and the call returns 1: the code flags
``ERROR_HOST_CALL``, the program stops after the node, and the runtime raises the exception (no
variable assignment of the call is published). The object code holds no Python object: one cached
object file serves every graph of its structure, each executable binding its own functions.

A program with host calls runs on the calling thread only (``runtime.Executable``): graphc's worker
threads would wait at a barrier for as long as the Python function runs, and a function calling a
compiled function would find them all busy. A function that calls the executable running it, on the
same thread, gets scratch memory of its own (``Executable.run``).
"""
from __future__ import annotations

import ctypes
import math
import threading
from typing import NamedTuple

import numpy as np
from llvmlite import ir

from graphc.ir.errors import GraphcError
from graphc.ir.graph import Node

from .emitter import Emitter
from .error_codes import ERROR_HOST_CALL
from .lowering import node_code
from .program import SYNC_HOST
from .scalar import I8, I64

DISPATCH_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
_DISPATCH_IR = ir.FunctionType(I64, [I64, I8.as_pointer().as_pointer(), I64.as_pointer()])


def _lower_host_call(em: Emitter, node: Node) -> None:
    b = em.builder
    address = b.load(b.gep(em.sync, [ir.Constant(I64, SYNC_HOST)]))
    call = ir.Constant(I64, em.slot_of[node])  # the node's 'host' slot (emission.lay_out_graph)
    status = b.call(b.inttoptr(address, _DISPATCH_IR.as_pointer()), [call, em.slots, em.dims])
    em.flag_error(b.icmp_signed("!=", status, ir.Constant(I64, 0)), ERROR_HOST_CALL)


# (the code hands the whole slot table to the host)
node_code("host_call", fallible=True, whole_table=True)(_lower_host_call)
node_code("pure_host_call", fallible=True, whole_table=True)(_lower_host_call)


class HostCall(NamedTuple):
    """A host call node (of the top-level graph or a region) and the slots of its inputs and results."""

    node: Node
    inputs: list[int]
    outputs: list[int]


def _array_at(address: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The buffer at ``address`` as an array (no copy)."""
    nbytes = math.prod(shape) * dtype.itemsize
    if not nbytes:
        return np.empty(shape, dtype)
    return np.frombuffer((ctypes.c_char * nbytes).from_address(address), dtype).reshape(shape)


class _Buffer(NamedTuple):
    slot: int
    shape: tuple  # sizes, and for each size known only at run time the index of its symbol in ``dims``
    symbolic: tuple  # which sizes are symbols' indices (empty when none is)
    dtype: np.dtype

    def array(self, table, sizes) -> np.ndarray:
        shape = tuple(sizes[d] if s else d for d, s in zip(self.shape, self.symbolic)) if self.symbolic else self.shape
        return _array_at(table[self.slot], shape, self.dtype)


class Dispatcher:
    """The host calls of one executable: ``address`` is the dispatcher native code calls (see the module
    docstring); ``raise_error`` raises, on the calling thread, what the last failing call kept."""

    def __init__(self, slots: list, symbols: list[str]):
        index = {name: i for i, name in enumerate(symbols)}

        def buffers(values, value_slots):
            return [_Buffer(slot, tuple(index.get(d, d) for d in v.type.shape),
                            () if v.type.is_static else tuple(isinstance(d, str) for d in v.type.shape),
                            v.dtype.numpy)
                    for v, slot in zip(values, value_slots)]

        self._calls = {i: (s.key.node, s.key.node.attrs["function"], buffers(s.key.node.inputs, s.key.inputs),
                           buffers(s.key.node.outputs, s.key.outputs)) for i, s in enumerate(slots) if s.kind == "host"}
        self._n_slots, self._n_symbols = len(slots), max(1, len(symbols))
        self._failures = threading.local()
        self._callback = DISPATCH_TYPE(self._dispatch)  # referenced here for as long as the code may call it
        self.address = ctypes.cast(self._callback, ctypes.c_void_p).value

    def _dispatch(self, j: int, slots: int, dims: int) -> int:
        try:
            _, function, inputs, outputs = self._calls[j]
            table = (ctypes.c_void_p * self._n_slots).from_address(slots)
            sizes = (ctypes.c_int64 * self._n_symbols).from_address(dims)
            # copies: the function may keep its arguments, and the buffers are reused by the next call
            results = function.run(*[b.array(table, sizes).copy() for b in inputs])
            for b, result in zip(outputs, results):
                b.array(table, sizes)[...] = result
            return 0
        except BaseException as error:  # nothing may unwind through native code
            self._failures.error = (error, self._calls[j][0] if j in self._calls else None)
            return 1

    def raise_error(self) -> None:
        error, node = self._failures.error
        self._failures.error = None
        if isinstance(error, GraphcError) and node is not None:
            raise error.at(node)
        raise error
