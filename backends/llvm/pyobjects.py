"""Python objects as native code reads them: the few fields of CPython's tuples and NumPy's arrays
that ``graphc_call`` (``codegen``) reads, so that a call's arguments reach the kernels without any
per-argument work in Python.

``graphc_call`` takes the inputs as the Python tuple of the call's arguments. It checks each one is
exactly what the program was compiled for — a base ``np.ndarray`` (or an object of the *holder*
class, whose slot holds one: ``gc.Tensor``) of the input's dtype (the very dtype object), rank and
sizes, C-contiguous and aligned — and stores its data pointer in the slot table; an argument that
is not (or another number of arguments) makes it return a positive status, having run nothing. The
type objects and dtype objects compared with live in the sync words (their addresses differ between
processes; the object code is cached across processes). The runtime passes the tuples by address
(``id``: ctypes converts an int faster than a ``py_object``), holding them meanwhile.
``layout_verified`` checks these offsets on the running Python and NumPy before any code relies on
them.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np
from llvmlite import ir

from .scalar import I8, I32, I64

OBJECT_TYPE = 8  # PyObject.ob_type
TUPLE_SIZE, TUPLE_ITEMS = 16, 24  # PyTupleObject.ob_size, .ob_item
ARRAY_DATA, ARRAY_NDIM, ARRAY_DIMS, ARRAY_DESCR, ARRAY_FLAGS = 16, 24, 32, 56, 64  # PyArrayObject_fields
ARRAY_FITS = 0x0001 | 0x0100  # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
# sync words after the runtime's own (emitter.SYNC_*): the slot table's address, the type objects,
# then each input's dtype
SYNC_SLOTS, SYNC_TUPLE_TYPE, SYNC_ARRAY_TYPE, SYNC_HOLDER_TYPE, SYNC_HOLDER_OFFSET, SYNC_INPUT_DTYPES = range(8, 14)


def _read(obj, offset: int, ctype=ctypes.c_void_p):
    return ctype.from_address(id(obj) + offset).value


@functools.cache
def layout_verified() -> bool:
    """Whether tuples and arrays have the fields above where this Python and NumPy put them."""
    array = np.zeros((2, 3), np.float32)
    strided = array[:, :2]
    arguments = (array, strided)
    dims = ctypes.cast(_read(array, ARRAY_DIMS), ctypes.POINTER(ctypes.c_ssize_t))
    return (
        _read(array, OBJECT_TYPE) == id(np.ndarray) and _read(arguments, OBJECT_TYPE) == id(tuple)
        and _read(arguments, TUPLE_SIZE, ctypes.c_ssize_t) == 2 and _read(arguments, TUPLE_ITEMS + 8) == id(strided)
        and _read(array, ARRAY_DATA) == array.ctypes.data and _read(array, ARRAY_NDIM, ctypes.c_int) == 2
        and (dims[0], dims[1]) == (2, 3) and _read(array, ARRAY_DESCR) == id(array.dtype)
        and _read(array, ARRAY_FLAGS, ctypes.c_int) & ARRAY_FITS == ARRAY_FITS
        and not _read(strided, ARRAY_FLAGS, ctypes.c_int) & 0x0001
    )


_holder: tuple[type, int] | None = None  # (class, offset of the slot holding its array)


def set_array_holder(cls: type, attribute: str) -> None:
    """Lets ``graphc_call`` take objects of ``cls`` for arrays: it reads the array in their slot
    ``attribute`` (a ``__slots__`` entry, found by probing an instance). Executables built from now on
    take them."""
    global _holder
    if _holder is not None and _holder[0] is cls:
        return
    probe, target = cls.__new__(cls), np.zeros(1)
    setattr(probe, attribute, target)
    offsets = [k for k in range(OBJECT_TYPE + 8, cls.__basicsize__, 8) if _read(probe, k) == id(target)]
    if len(offsets) == 1:
        _holder = (cls, offsets[0])


def sync_words(slots_address: int, input_dtypes: list[np.dtype]) -> list[int]:
    """The values of the sync words from ``SYNC_SLOTS`` on, for a program of these inputs."""
    holder_type, holder_offset = (id(_holder[0]), _holder[1]) if _holder else (0, 0)
    return [slots_address, id(tuple), id(np.ndarray), holder_type, holder_offset, *(id(np.dtype(d)) for d in input_dtypes)]


def read_field(b: ir.IRBuilder, obj, offset: int, type_=I8.as_pointer()):
    """Emits the load of the field at ``offset`` of the object at ``obj`` (an i8*)."""
    return b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, offset)]), type_.as_pointer()))


def emit_argument_reads(b: ir.IRBuilder, arguments, sync, slots, inputs: list[tuple[int, tuple]]):
    """Emits, at ``b``, the checks of the tuple ``arguments`` against ``inputs`` ((slot, static shape)
    per input) and the stores of their data pointers into ``slots``; a failed check returns a
    positive status from the function (1: not a tuple of ``len(inputs)``; 2 + k: argument k). Leaves
    ``b`` where every check passed."""
    def word(obj, offset: int, type_=I64):
        return read_field(b, obj, offset, type_)

    def sync_word(index: int):
        return b.load(b.gep(sync, [ir.Constant(I64, index)]))

    def require(condition, status: int):
        with b.if_then(b.not_(condition), likely=False):
            b.ret(ir.Constant(I64, status))

    require(b.icmp_unsigned("==", word(arguments, OBJECT_TYPE), sync_word(SYNC_TUPLE_TYPE)), 1)
    require(b.icmp_signed("==", word(arguments, TUPLE_SIZE), ir.Constant(I64, len(inputs))), 1)
    for k, (slot, shape) in enumerate(inputs):
        item = word(arguments, TUPLE_ITEMS + 8 * k, I8.as_pointer())
        from_holder = b.icmp_unsigned("==", word(item, OBJECT_TYPE), sync_word(SYNC_HOLDER_TYPE))
        start = b.block
        with b.if_then(from_holder):
            held = b.load(b.bitcast(b.gep(item, [sync_word(SYNC_HOLDER_OFFSET)]), I8.as_pointer().as_pointer()))
            in_holder = b.block
        array = b.phi(I8.as_pointer())
        array.add_incoming(item, start)
        array.add_incoming(held, in_holder)
        require(b.icmp_unsigned("!=", array, ir.Constant(I8.as_pointer(), None)), k + 2)
        require(b.icmp_unsigned("==", word(array, OBJECT_TYPE), sync_word(SYNC_ARRAY_TYPE)), k + 2)
        fits = b.and_(
            b.icmp_unsigned("==", word(array, ARRAY_DESCR), sync_word(SYNC_INPUT_DTYPES + k)),
            b.icmp_signed("==", word(array, ARRAY_NDIM, I32), ir.Constant(I32, len(shape))),
        )
        flags = b.and_(word(array, ARRAY_FLAGS, I32), ir.Constant(I32, ARRAY_FITS))
        fits = b.and_(fits, b.icmp_signed("==", flags, ir.Constant(I32, ARRAY_FITS)))
        require(fits, k + 2)
        if shape:
            dims = word(array, ARRAY_DIMS, I64.as_pointer())
            same = [b.icmp_signed("==", b.load(b.gep(dims, [ir.Constant(I64, d)])), ir.Constant(I64, n))
                    for d, n in enumerate(shape) if isinstance(n, int)]  # (symbolic: runs through the table)
            require(functools.reduce(b.and_, same, ir.Constant(ir.IntType(1), 1)), k + 2)
        b.store(word(array, ARRAY_DATA, I8.as_pointer()), b.gep(slots, [ir.Constant(I64, slot)]))
