"""The op registry: every op is defined once, as an ``OpDef``.

An ``OpDef`` holds the op's shape/dtype rule, its VJP and JVP rules and, filled in by each backend,
its kernels. ``grep -n '"add"'`` over ``ir/ops`` and ``backends`` finds all there is about ``add``.

Rule signatures:
- ``infer(input_types, **attrs) -> list[TensorType]``
- ``vjp(cotangents, inputs, outputs, **attrs) -> list`` (one cotangent or None per input); the rule
  is written with the op functions of ``graphc.ir.ops``, so it runs eagerly and emits graph nodes alike.
- ``jvp(tangents, inputs, outputs, **attrs) -> list`` (one tangent or None per output); tangents of
  non-differentiable inputs are None. ``linear=True`` ops derive it: the op applied to the tangents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import IRError


@dataclass
class OpDef:
    name: str
    infer: Callable
    vjp: Callable | None = None
    jvp: Callable | None = None
    linear: bool = False  # the op is linear in all its inputs (jvp = op(tangents))
    effect: str | None = None  # "read" or "write" for variable ops
    elementwise: bool = False  # output[i] depends only on inputs[i] (after broadcasting)
    multi_output: bool = False  # bind returns a tuple (split)
    kernels: dict[str, Callable] = field(default_factory=dict)
    doc: str = ""

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None


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


def kernel(op_name: str, backend: str):
    """Decorator registering a backend's kernel for an op: ``@kernel("add", "numpy")``."""

    def register_kernel(fn):
        get_op(op_name).kernels[backend] = fn
        return fn

    return register_kernel
