"""graphc's exceptions (each also a ValueError or TypeError, as the built-in equivalent would be)."""
from graphc.ir.errors import (  # noqa: F401
    ArgumentTypeError, CheckError, CheckpointError, DTypeError, NumericsError, GraphcError, InPlaceOperatorError,
    InternalCompilerError,
    InvalidArgumentError, IRError, OperatorNotAllowedInGraphError, ShapeError,
)
from .optional import MissingDependencyError  # noqa: F401

__all__ = [
    "ArgumentTypeError", "CheckError", "CheckpointError", "DTypeError", "GraphcError", "IRError",
    "InPlaceOperatorError", "InternalCompilerError", "InvalidArgumentError", "MissingDependencyError",
    "NumericsError", "OperatorNotAllowedInGraphError", "ShapeError",
]
