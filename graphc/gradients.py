"""The functional differentiation API: ``grad``, ``value_and_grad``, ``jvp``, ``hessian``.

Each is built on ``GradientTape`` (reverse mode) or ``ir.autodiff.forward`` (forward mode) and
works eagerly and inside ``@gc.function`` alike.
"""
from __future__ import annotations

import functools

import numpy as np

from graphc.ir import autodiff, ops
from graphc.ir.arguments import arguments_of, as_int, as_list
from graphc.ir.errors import InvalidArgumentError

from . import nest
from .tape import GradientTape
from .tensor import Tensor
from .variables import Variable


def _as_tensor(x):
    if isinstance(x, (Tensor, Variable)):
        return x
    return ops.constant(x) if not isinstance(x, np.ndarray) else ops.constant(x, x.dtype)


def _argnums(argnums, name: str) -> tuple[tuple[int, ...], bool]:
    """(the positions ``argnums`` names, whether it is a single int) or an error naming ``name``."""
    with arguments_of(name):
        if isinstance(argnums, (list, tuple)):
            return tuple(as_int(n, f"argnums[{i}]", low=None) for i, n in enumerate(as_list(argnums, "argnums"))), False
        return (as_int(argnums, "argnums", low=None),), True


def _prepare(args, argnums, nums):
    for n in nums:
        if not -len(args) <= n < len(args):
            raise InvalidArgumentError(f"argnums {argnums} is out of range for {len(args)} positional arguments")
    args = list(args)
    for n in nums:
        args[n] = nest.map_structure(_as_tensor, args[n])
    return args


def _scalar_output(y, name: str):
    if not isinstance(y, Tensor) or y.shape != ():
        shape = getattr(y, "shape", None)
        raise InvalidArgumentError(f"{name}: the function must return a scalar tensor, got shape {shape}")
    return y


def value_and_grad(f, argnums=0, has_aux: bool = False):
    """``f`` -> a function returning ``(f(*args), df/dargs[argnums])`` (``((value, aux), grads)``
    with ``has_aux``). ``f`` must return a float scalar."""

    nums, single = _argnums(argnums, "gc.value_and_grad")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        args = _prepare(args, argnums, nums)
        with GradientTape() as tape:
            for n in nums:
                tape.watch(args[n])
            out = f(*args, **kwargs)
        value, aux = out if has_aux else (out, None)
        _scalar_output(value, "grad")
        sources = args[nums[0]] if single else tuple(args[n] for n in nums)
        grads = tape.gradient(value, sources, unconnected_gradients="zero")
        return ((value, aux) if has_aux else value), grads

    return wrapped


def grad(f, argnums=0, has_aux: bool = False):
    """``f`` -> a function computing d``f``/d``args[argnums]`` (``f`` returns a float scalar)."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        (value_or_pair, grads) = vg(*args, **kwargs)
        return (grads, value_or_pair[1]) if has_aux else grads

    return wrapped


def jvp(f, primals, tangents):
    """Forward mode: ``(f(*primals), J_f(primals) @ tangents)``, one JVP rule per op."""
    primals = [nest.map_structure(_as_tensor, p) for p in primals]
    tangents = [nest.map_structure(_as_tensor, t) for t in tangents]
    flat_primals, flat_tangents = nest.flatten(primals), nest.flatten(tangents)
    if len(flat_primals) != len(flat_tangents):
        raise InvalidArgumentError(f"jvp: {len(flat_primals)} primals but {len(flat_tangents)} tangents")
    for p, t in zip(flat_primals, flat_tangents):
        if tuple(p.shape) != tuple(t.shape) or p.dtype != t.dtype:
            raise InvalidArgumentError(f"jvp: tangent {t!r} does not match primal {p!r} in shape and dtype")
    with GradientTape(persistent=True) as tape:
        tape.watch(flat_primals)
        out = f(*primals)
    tangent_of = autodiff.forward(tape.recorded_ops, flat_primals, flat_tangents)
    out_tangents = [
        tangent_of.get(id(y)) if tangent_of.get(id(y)) is not None else ops.zeros_like(y)
        for y in nest.flatten(out)
    ]
    return out, nest.pack_as(out, out_tangents)


def hessian(f, argnums: int = 0):
    """``f`` (returning a float scalar) -> a function computing its matrix of second derivatives with
    respect to ``args[argnums]``, of shape ``x.shape + x.shape``."""

    (n,), _ = _argnums(argnums, "gc.hessian")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        args = _prepare(args, argnums, (n,))
        x = args[n]
        with GradientTape() as outer:
            outer.watch(x)
            with GradientTape() as inner:
                inner.watch(x)
                y = _scalar_output(f(*args, **kwargs), "hessian")
            g = inner.gradient(y, x, unconnected_gradients="zero")
        return outer.jacobian(g, x, unconnected_gradients="zero")

    return wrapped
