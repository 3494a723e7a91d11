"""The op registry: every op is defined once, as an ``OpDef``, the one place its facts live.

An ``OpDef`` holds the op's shape/dtype rule, its VJP and JVP rules, the properties passes and
backends ask about (is it a view, a reduction, what may fuse with it, which inputs it reads only the
shape of, may it be folded, does it touch a variable), and each backend's implementation of it,
registered through ``implement``. No pass or backend keeps a list of op names: they ask the op.

Rule signatures:
- ``infer(input_types, **attrs) -> list[TensorType]``
- ``vjp(cotangents, inputs, outputs, **attrs) -> list`` (one cotangent or None per input); the rule
  is written with the op functions of ``graphc.ir.ops``, so it runs eagerly and emits graph nodes alike.
- ``jvp(tangents, inputs, outputs, **attrs) -> list`` (one tangent or None per output); tangents of
  non-differentiable inputs are None. ``linear=True`` ops derive it: the op applied to the tangents.
- ``decomposition(*inputs, **attrs)``: the op written with other ops, for a backend that has no
  implementation of its own (the LLVM backend compiles an elementwise op's decomposition when it
  has no element code for it).
- ``deterministic(*inputs, **attrs)``: the op written so that its sums add in a fixed order, bound
  instead of the op while op determinism is on (``dispatch.set_op_determinism``); None where the
  op already adds in that order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import IRError

FUSION_KINDS = ("elementwise", "reduction", "matmul", "opaque")
# The backend whose implementations define what every op means: the NumPy interpreter. Every other
# way of running an op is tested against it.
REFERENCE = "numpy"


@dataclass
class OpDef:
    name: str
    infer: Callable
    vjp: Callable | None = None
    jvp: Callable | None = None
    decomposition: Callable | None = None
    # the op written so that its sums add in a fixed order (``ops/summation.py``), bound instead of the
    # op while op determinism is on; it returns None where the op itself already adds in that order
    deterministic: Callable | None = None
    linear: bool = False  # the op is linear in all its inputs (jvp = op(tangents))
    # "read" or "write": the op reads or writes the variable named by attrs["var"]; "call": it calls the host
    # (Python) on every run, in program order with the other calls and the writes (``ops/host.py``)
    effect: str | None = None
    elementwise: bool = False  # output[i] depends only on inputs[i] (after broadcasting)
    view: bool = False  # the result is input 0 under another shape: it may share input 0's storage
    movement: bool = False  # every element of the result is an element of input 0 (views, broadcasts, transposes)
    reduction: str | None = None  # a reduction: the binary elementwise op that combines two partial results
    identity: object = None  # a binary op's identity element: a number, or "lowest"/"highest" of the dtype
    shape_only_inputs: tuple[int, ...] = ()  # inputs of which the op reads the type only, never the data
    fills: bool = False  # every element of the result is the attribute "value" (fill, full_like)
    fusion_kind: str = ""  # what a fused kernel may hold it as: one of FUSION_KINDS (derived when empty)
    foldable: bool = True  # constant folding may evaluate it at compile time
    regions: tuple[str, ...] = ()  # attributes holding the sub-graphs a control-flow op runs
    multi_output: bool = False  # bind returns a tuple (split)
    forwards: bool = False  # output i is input i, for gradients' sake only: simplification removes the op
    implementations: dict[str, Callable] = field(default_factory=dict)  # backend name -> implementation
    doc: str = ""

    def __post_init__(self):
        self.movement = self.movement or self.view
        self.foldable = self.foldable and self.effect is None
        if not self.fusion_kind:
            self.fusion_kind = "reduction" if self.reduction else "elementwise" if self.elementwise else "opaque"
        if self.fusion_kind not in FUSION_KINDS:
            raise IRError(f"op {self.name!r}: fusion_kind must be one of {FUSION_KINDS}, got {self.fusion_kind!r}")

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def identity_for(self, dtype):
        """The identity element of a binary op (``add``: 0, ``maximum``: the dtype's lowest value)."""
        return getattr(dtype, self.identity) if isinstance(self.identity, str) else self.identity


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in OPS:
        raise IRError(f"op {opdef.name!r} is defined twice")
    OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise IRError(f"unknown op {name!r}") from None


def implement(op_name: str, backend: str):
    """Decorator registering a backend's implementation of an op: ``@implement("add", "numpy")``."""

    def register_implementation(fn):
        get_op(op_name).implementations[backend] = fn
        return fn

    return register_implementation
