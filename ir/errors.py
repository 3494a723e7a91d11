"""The graphc exception hierarchy. Each error also subclasses the matching built-in (ValueError,
TypeError) so code written against NumPy or TensorFlow catches it."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""

    def __init__(self, message: str, *, op: str | None = None, location: str | None = None):
        self.message = message
        self.op = op
        self.location = location
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.op}: {self.message}" if self.op else self.message
        return f"{text}\n  at {self.location}" if self.location else text

    def with_context(self, *, op: str | None = None, location: str | None = None) -> "GraphcError":
        """Fills in the op and the user's source line where they are still missing."""
        self.op = self.op or op
        self.location = self.location or location
        self.args = (self._render(),)
        return self

    def at(self, node) -> "GraphcError":
        """Names ``node``'s op and the user's source line it came from, where they are still missing."""
        return self.with_context(op=node.op, location=node.loc.long if node.loc else None)


class InvalidArgumentError(GraphcError, ValueError):
    """An argument has a wrong value: shape, axis, size, index."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has a wrong Python type: a float, bool or string where an int (axis, size, count) belongs."""


class ShapeError(InvalidArgumentError):
    """Shapes are incompatible (broadcasting, matmul, reshape, concat...)."""


class DTypeError(GraphcError, TypeError):
    """A dtype is unsupported or not allowed for an op."""


class OperatorNotAllowedInGraphError(GraphcError, TypeError):
    """A symbolic tensor was used where Python needs a concrete value (bool(), int(), if, while)."""


class InPlaceOperatorError(GraphcError, RuntimeError):
    """``variable += value`` and the like: a variable changes through ``assign_add`` and friends only (a
    RuntimeError, as TensorFlow raises)."""


class IRError(GraphcError, ValueError):
    """A graph is malformed: found by the verifier or the text parser."""


class CheckpointError(GraphcError, ValueError):
    """A checkpoint file is missing, corrupt, or does not match the objects restored into."""


class InternalCompilerError(GraphcError, RuntimeError):
    """A bug in graphc: compiling an op failed unexpectedly. Names the op and the user's line."""


class CheckError(GraphcError, AssertionError):
    """Check mode: the native backend and the NumPy interpreter disagree."""


class NumericsError(InvalidArgumentError):
    """Check numerics: an op produced NaN or Inf."""
