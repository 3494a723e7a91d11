"""Tensor types of the IR: dtypes, static shapes with symbolic dimensions, promotion and broadcasting.

A dimension is an ``int`` (known size) or a ``str`` naming a symbolic size (``"d0"``) that is only
known when the graph runs. Equal names denote equal sizes.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from .errors import DTypeError, ShapeError

Dim = Union[int, str]


@dataclass(frozen=True)
class DType:
    """One of graphc's element types: float16, float32, float64, int8, int16, int32, int64, uint8,
    uint16, bool.

    float16 is a storage type: ops compute on float16 operands in float32 and round each result to
    float16 once (as NumPy's float16 loops do). Integer arithmetic wraps around, as in TensorFlow."""

    name: str
    short: str  # as printed in the text IR: f32, i64, u8, ...
    rank: int | None  # position in the promotion lattice bool < i32 < i64 < f32 < f64; None: outside it

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.name)

    @property
    def is_floating(self) -> bool:
        return self.short[0] == "f"

    @property
    def is_integer(self) -> bool:
        return self.short[0] in "iu"

    @property
    def is_unsigned(self) -> bool:
        return self.short[0] == "u"

    @property
    def is_bool(self) -> bool:
        return self.name == "bool"

    @property
    def lowest(self):
        """The least value of the type (-inf for floats)."""
        return -math.inf if self.is_floating else int(np.iinfo(self.numpy).min)

    @property
    def highest(self):
        """The greatest value of the type (inf for floats)."""
        return math.inf if self.is_floating else int(np.iinfo(self.numpy).max)

    def __repr__(self) -> str:
        return f"gc.{self.name}"


bool_ = DType("bool", "bool", 0)
int32 = DType("int32", "i32", 1)
int64 = DType("int64", "i64", 2)
float32 = DType("float32", "f32", 3)
float64 = DType("float64", "f64", 4)
# outside the lattice: an operand of one of these meets only its own dtype (and Python scalars), as in TF
float16 = DType("float16", "f16", None)
int8 = DType("int8", "i8", None)
int16 = DType("int16", "i16", None)
uint8 = DType("uint8", "u8", None)
uint16 = DType("uint16", "u16", None)

ALL_DTYPES = (float32, float64, int32, int64, bool_, float16, int8, int16, uint8, uint16)
_BY_NAME = {d.name: d for d in ALL_DTYPES} | {d.short: d for d in ALL_DTYPES}


def as_dtype(value) -> DType:
    """Converts a DType, a name ('float32', 'f32'), a NumPy dtype or a Python type to a DType."""
    if isinstance(value, DType):
        return value
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    try:
        name = np.dtype(value).name
    except TypeError:
        name = None
    if name in _BY_NAME:
        return _BY_NAME[name]
    supported = ", ".join(d.name for d in ALL_DTYPES)
    raise DTypeError(f"unsupported dtype {value!r}: graphc supports {supported}")


class WeakType:
    """The type of a Python scalar: it takes the dtype of the tensor it meets (JAX's weak typing)."""

    def __init__(self, kind: str):
        self.kind = kind  # "bool", "int" or "float"

    @property
    def default(self) -> DType:
        return {"bool": bool_, "int": int32, "float": float32}[self.kind]


WEAK_BOOL, WEAK_INT, WEAK_FLOAT = WeakType("bool"), WeakType("int"), WeakType("float")


def weak_type_of(value) -> WeakType | None:
    if isinstance(value, (bool, np.bool_)) and not isinstance(value, np.generic):
        return WEAK_BOOL
    if isinstance(value, int) and not isinstance(value, bool):
        return WEAK_INT
    if isinstance(value, float):
        return WEAK_FLOAT
    return None


def result_dtype(*types: DType | WeakType) -> DType:
    """Promotion: the highest strong dtype in bool < i32 < i64 < f32 < f64, raised to a float type when
    a weak Python float meets integers; weak scalars alone take their default dtype.

    float16, int8, int16, uint8 and uint16 are outside the lattice: as in TensorFlow, they meet only
    their own dtype (another strong dtype is a DTypeError; ``gc.cast`` one operand first)."""
    strong = [t for t in types if isinstance(t, DType)]
    weak = [t for t in types if isinstance(t, WeakType)]
    outside = [t for t in strong if t.rank is None]
    if outside and len(set(strong)) > 1:
        names = " and ".join(dict.fromkeys(t.name for t in strong))
        raise DTypeError(f"operands must have the same dtype, got {names}: {outside[0].name} is never "
                         f"promoted implicitly (cast one operand with gc.cast)")
    if outside:
        result = outside[0]
    elif strong:
        result = max(strong, key=lambda d: d.rank)
    else:
        result = max((w.default for w in weak), key=lambda d: d.rank)
    if any(w.kind == "float" for w in weak) and not result.is_floating:
        result = float32
    if any(w.kind == "int" for w in weak) and result.is_bool:
        result = int32
    return result


_symbol_counter = itertools.count()


def fresh_dim() -> str:
    """A new symbolic dimension, distinct from every other."""
    return f"d{next(_symbol_counter)}"


def format_dim(d: Dim) -> str:
    return str(d)


# the most bytes one tensor may hold: the virtual address space of x86-64 and AArch64 (48 bits);
# no machine can hold more, and below it sizes and byte offsets never overflow int64
MAX_TENSOR_BYTES = 2**48


@dataclass(frozen=True)
class TensorType:
    """A static shape (ints and symbolic names) and a dtype.

    Raises ShapeError when the known dimensions alone hold more than ``MAX_TENSOR_BYTES``."""

    shape: tuple[Dim, ...]
    dtype: DType

    def __post_init__(self):
        check_size(self.shape, self.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def size(self) -> int | None:
        """The element count when every dimension is known, else None."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.is_static else None

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(format_dim(d) for d in self.shape)}]"


def check_size(shape: tuple, dtype: DType) -> None:
    """Raises ShapeError when the known dimensions of ``shape`` hold more than ``MAX_TENSOR_BYTES``
    of ``dtype`` (a size 0 among them makes the tensor empty, whatever the others)."""
    count = 1
    for d in shape:
        if isinstance(d, int):
            count *= d
    nbytes = count * dtype.numpy.itemsize
    if nbytes > MAX_TENSOR_BYTES:
        dims = ",".join(format_dim(d) for d in shape)
        raise ShapeError(
            f"a tensor of shape [{dims}] and dtype {dtype.name} would hold {count} elements ({nbytes} bytes): "
            f"more than one tensor may hold ({MAX_TENSOR_BYTES} bytes, the address space of a 64-bit machine)"
        )


def broadcast_shapes(*shapes: tuple[Dim, ...], what: str = "operands") -> tuple[Dim, ...]:
    """NumPy broadcasting over static and symbolic dimensions.

    Two different symbols broadcast to a fresh symbol; a symbol against a known size n != 1 gives n
    (the kernel checks the size when the graph runs)."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    result = []
    for axis, dims in enumerate(zip(*padded)):
        out: Dim = 1
        for d in dims:
            if d == 1 or d == out:
                continue
            if out == 1:
                out = d
            elif isinstance(out, int) and isinstance(d, int):
                listed = " and ".join("[" + ",".join(map(str, s)) + "]" for s in shapes)
                raise ShapeError(
                    f"incompatible shapes for broadcasting {what}: {listed} "
                    f"(axis {axis - ndim}: {out} vs {d})"
                )
            elif isinstance(out, str) and isinstance(d, int):
                out = d
            elif isinstance(out, str) and isinstance(d, str):
                out = fresh_dim()
        result.append(out)
    return tuple(result)


class Typed:
    """The ``dtype`` and ``ndim`` of an object with a ``type`` (a ``TensorType``): graph values,
    tensors, variables."""

    __slots__ = ()

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim
