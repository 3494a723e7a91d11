"""Python objects as native code reads them: the few fields of CPython's tuples and NumPy's arrays
that ``graphc_call`` reads (``codegen`` emits the reads), so that a call's arguments reach the
kernels without any per-argument work in Python.

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
