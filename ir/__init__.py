"""graphc's intermediate representation: types, graphs, the op registry, text form and verifier."""
from . import ops
from .dispatch import GraphBuilder, bind, name_scope
from .errors import GraphcError
from .graph import Graph, Node, Value
from .location import Location
from .registry import OPS, OpDef, get_op, implement
from .types import ALL_DTYPES, DType, TensorType, as_dtype, bool_, float16, float32, float64, int8, int16, int32, int64, uint8, uint16
