"""The trace cache keys of ``@gc.function``: a call's arguments flattened into leaves, each keyed by
its type (tensors) or its Python value (anything else); how an ``input_signature`` types them; how
keys are relaxed for ``reduce_retracing``, and what changed when a call traces again."""
from __future__ import annotations

import inspect
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.ir import boundary
from graphc.ir.errors import DTypeError, InvalidArgumentError

from . import nest
from .eager import to_array
from .tensor import Tensor, eager_array
from .tracing import TensorSpec, current_trace
from .variables import Variable


@dataclass(frozen=True)
class TensorKey:
    """A tensor argument, keyed by its type."""

    path: str
    spec: TensorSpec

    def accepts(self, other) -> bool:
        return isinstance(other, TensorKey) and other.path == self.path and other.spec.is_subtype_of(self.spec)

    def __str__(self) -> str:
        return f"{self.path}: {self.spec}"


@dataclass(frozen=True)
class ValueKey:
    """Any other argument, keyed by its Python value (variables: by identity). Floats are keyed by
    their bits: NaN finds its trace again (NaN != NaN), and -0.0 gets a trace apart from 0.0 (the
    function may branch on the sign)."""

    path: str
    kind: type
    value: Any = field(compare=False)
    identity: Any = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "identity", _identity(self.value))

    def accepts(self, other) -> bool:
        return self == other

    def __str__(self) -> str:
        if self.kind is Variable:
            return f"{self.path}: variable {self.value.deref().name!r}"
        return f"{self.path}={self.value!r}"


def _identity(value):
    """What a Python argument is keyed by: the value, or the bits of a float or complex number."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, complex):
        return struct.pack("<dd", value.real, value.imag)
    return value


@dataclass
class FlatCall:
    """One call's arguments, flattened into leaves: their cache keys and the values the Python
    function receives (tensor leaves as gc tensors)."""

    signature: inspect.Signature
    templates: dict  # per parameter: the structure its value was flattened by
    keys: tuple
    values: list
    borrowed: list  # per leaf: whether it was a caller's NumPy array (its tensor may share its memory)

    @property
    def structure(self):
        return tuple((name, nest.structure_key(t)) for name, t in self.templates.items())

    def tensor_values(self) -> list[Tensor]:
        return [v for k, v in zip(self.keys, self.values) if isinstance(k, TensorKey)]

    def owned_values(self) -> list:
        """The values, with a copy for each tensor made from a caller's array (for running the Python
        eagerly: what it returns must not change when the caller writes into its arrays)."""
        return [Tensor(np.array(eager_array(v))) if borrowed else v for v, borrowed in zip(self.values, self.borrowed)]

    def rebuild(self, leaves: list) -> tuple[tuple, dict]:
        """Positional and keyword arguments with the leaves replaced by ``leaves``."""
        it = iter(leaves)
        arguments = {name: nest.map_structure(lambda _: next(it), t) for name, t in self.templates.items()}
        bound = inspect.BoundArguments(self.signature, arguments)
        return bound.args, bound.kwargs


def specs_by_parameter(name: str, signature: inspect.Signature, input_signature) -> dict:
    """Which parameters ``input_signature`` types: {parameter name: spec or nested specs}."""
    if input_signature is None:
        return {}
    for spec in nest.flatten(input_signature):
        if not isinstance(spec, TensorSpec):
            raise InvalidArgumentError(f"{name}: input_signature must hold gc.TensorSpec objects, got {spec!r}")
    params = [
        p for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if params and params[0].name == "self":  # a method decorated in its class body
        params = params[1:]
    specs, result = list(input_signature), {}
    for p in params:
        if not specs:
            break
        if p.kind is p.VAR_POSITIONAL:
            result[p.name], specs = tuple(specs), []
        else:
            result[p.name] = specs.pop(0)
    if specs:
        raise InvalidArgumentError(
            f"{name}: input_signature has {len(input_signature)} entries, the function takes only "
            f"{len(result)} positional arguments"
        )
    return result


def leaf_key(path: str, leaf) -> tuple:
    """The cache key and the function's view of one argument leaf without an input_signature."""
    if isinstance(leaf, TensorSpec):
        return TensorKey(path, leaf), None
    if isinstance(leaf, Tensor):
        if leaf.is_symbolic and current_trace() is None:
            to_array(leaf)  # raises: a symbolic tensor leaked out of its function
        return TensorKey(path, TensorSpec.from_value(leaf)), leaf
    if isinstance(leaf, (np.ndarray, np.generic)):
        array = to_array(np.asarray(leaf))  # a NumPy scalar keeps its dtype (np.float64 is a Python float)
        return TensorKey(path, TensorSpec.from_value(array)), Tensor(array)
    if isinstance(leaf, Variable):
        return ValueKey(path, Variable, leaf.ref()), leaf
    try:
        hash(leaf)
    except TypeError:
        raise InvalidArgumentError(
            f"expected a tensor or a hashable Python value, got unhashable {type(leaf).__name__}: Python "
            "arguments are part of the trace key; pass a tensor, or a hashable value such as a tuple"
        ) from None
    return ValueKey(path, type(leaf), leaf), leaf


def leaf_key_for_spec(path: str, leaf, spec: TensorSpec) -> tuple:
    """The cache key (the spec's) and the value, converted to ``spec`` or rejected."""
    if isinstance(leaf, TensorSpec):
        if not leaf.is_compatible_with(spec):
            raise InvalidArgumentError(f"expected {spec}, got gc.TensorSpec {leaf}")
        return TensorKey(path, spec), None
    tensor = _converted_for_spec(leaf, spec)
    got = TensorSpec.from_value(tensor)  # None only for a symbolic size, which may well fit
    if not got.is_compatible_with(spec):
        raise InvalidArgumentError(f"expected shape {spec}, got {got}{_first_difference(spec, got)}")
    return TensorKey(path, spec), tensor


def _converted_for_spec(leaf, spec: TensorSpec) -> Tensor:
    if isinstance(leaf, Variable):
        leaf = leaf.read_value()
    if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
        tensor = leaf if isinstance(leaf, Tensor) else Tensor(to_array(np.asarray(leaf)))
        if tensor.dtype != spec.dtype:
            raise DTypeError(f"expected dtype {spec.dtype.name}, got {tensor.dtype.name}")
        return tensor
    try:
        array = np.asarray(leaf)
    except (TypeError, ValueError):
        array = None
    if array is None or not boundary.same_kind(array.dtype, spec.dtype):
        raise InvalidArgumentError(f"expected a tensor {spec}, got {type(leaf).__name__} {leaf!r}")
    return Tensor(boundary.converted(array, spec.dtype))


def _first_difference(spec: TensorSpec, got: TensorSpec) -> str:
    if len(spec.shape) != len(got.shape):
        return f" (rank {len(got.shape)}, expected rank {len(spec.shape)})"
    axis = next(i for i, (a, b) in enumerate(zip(spec.shape, got.shape)) if a is not None and b is not None and a != b)
    return f" (dimension {axis}: expected {spec.shape[axis]}, got {got.shape[axis]})"


def relaxed_keys(cache: dict, structure, keys) -> tuple:
    """``keys`` with every dimension that differs from an earlier trace's (in ``cache``, keyed by
    ``(structure, keys)``) generalised to None."""
    for s, traced in reversed(cache):  # the latest trace is the most general
        if s == structure and len(traced) == len(keys):
            relaxed = [_relax(a, b) for a, b in zip(traced, keys)]
            if all(r is not None for r in relaxed):
                return tuple(relaxed)
    return keys


def _relax(traced, new):
    """``new``, generalised to cover ``traced`` too, or None when no trace can serve both."""
    if not (isinstance(traced, TensorKey) and isinstance(new, TensorKey)):
        return new if traced == new else None
    a, b = traced.spec, new.spec
    if a.dtype != b.dtype or len(a.shape) != len(b.shape):
        return None
    return TensorKey(new.path, TensorSpec([x if x == y else None for x, y in zip(a.shape, b.shape)], a.dtype))


# the last entry of a trace's structure while op determinism is on: its sums are in another order
_DETERMINISTIC = ("", "op determinism")


def keyed_structure(structure: tuple, deterministic: bool) -> tuple:
    """The arguments' ``structure`` as the trace cache keys it: marked when traced with op determinism."""
    return structure + (_DETERMINISTIC,) if deterministic else structure


def why_retrace(cache: dict, structure, keys) -> str:
    """What differs from the closest earlier trace: every argument that changed, old -> new."""
    same_structure = [traced for s, traced in cache if s == structure and len(traced) == len(keys)]
    unmarked = structure[:-1] if structure[-1:] == (_DETERMINISTIC,) else structure
    switched = any(traced == keys and s in (unmarked, unmarked + (_DETERMINISTIC,)) for s, traced in cache)
    if not same_structure and switched:
        state = "on" if structure != unmarked else "off"
        return f"op determinism was switched {state} (gc.config.enable_op_determinism)"
    if not same_structure:
        previous = list(cache)[-1][1]
        return (
            f"the arguments' nesting changed from ({', '.join(map(str, previous))}) "
            f"to ({', '.join(map(str, keys))})"
        )
    closest = min(reversed(same_structure), key=lambda traced: sum(a != b for a, b in zip(traced, keys)))
    return "; ".join(_change(a, b) for a, b in zip(closest, keys) if a != b)


def _change(old, new) -> str:
    if isinstance(old, TensorKey) and isinstance(new, TensorKey):
        return f"argument {new.path!r} changed from {old.spec} to {new.spec}"
    if isinstance(old, ValueKey) and isinstance(new, ValueKey) and old.kind is new.kind is not Variable:
        return f"Python argument {new.path!r} changed from {old.value!r} to {new.value!r}"
    return f"argument {new.path!r} changed from {old} to {new}"


