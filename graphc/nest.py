"""Nested structures (lists, tuples, namedtuples, dicts) flattened to leaves and rebuilt."""
from __future__ import annotations

from typing import Any, Callable

from graphc.ir.errors import InvalidArgumentError


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten_with_paths(structure, path: str = "") -> list[tuple[str, Any]]:
    """``[(path, leaf), ...]`` in a deterministic order; paths read like ``x[0]['k']``."""
    if isinstance(structure, dict):
        return [item for key in structure for item in flatten_with_paths(structure[key], f"{path}[{key!r}]")]
    if isinstance(structure, (list, tuple)):
        return [item for i, v in enumerate(structure) for item in flatten_with_paths(v, f"{path}[{i}]")]
    return [(path, structure)]


def flatten_up_to(template, structure, path: str = "") -> list[tuple[str, Any]]:
    """Like ``flatten_with_paths(structure)``, but only as deep as ``template`` goes: where the
    template has a leaf, the matching part of ``structure`` (even a list) is one leaf."""
    if isinstance(template, dict):
        fits = isinstance(structure, dict) and set(structure) == set(template)
        parts = [(f"{path}[{k!r}]", template[k], structure[k]) for k in template] if fits else None
    elif isinstance(template, (list, tuple)):
        fits = isinstance(structure, (list, tuple)) and len(structure) == len(template)
        parts = [(f"{path}[{i}]", t, v) for i, (t, v) in enumerate(zip(template, structure))] if fits else None
    else:
        return [(path, structure)]
    if parts is None:
        raise InvalidArgumentError(f"argument {path!r}: expected {_describe(template)}, got {_describe(structure)}")
    return [item for p, t, v in parts for item in flatten_up_to(t, v, p)]


def _describe(x) -> str:
    if isinstance(x, dict):
        return f"a dict with keys {list(x)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)} items"
    return type(x).__name__


def flatten(structure) -> list:
    return [leaf for _, leaf in flatten_with_paths(structure)]


def structure_key(structure):
    """A hashable description of the nesting (not the leaves)."""
    if isinstance(structure, dict):
        return ("dict", tuple((k, structure_key(v)) for k, v in structure.items()))
    if isinstance(structure, (list, tuple)):
        kind = type(structure) if _is_namedtuple(structure) else type(structure).__name__
        return (kind, tuple(structure_key(v) for v in structure))
    return "*"


def map_structure(fn: Callable, structure):
    """The same nesting with ``fn`` applied to every leaf."""
    if isinstance(structure, dict):
        return type(structure)((k, map_structure(fn, v)) for k, v in structure.items())
    if _is_namedtuple(structure):
        return type(structure)(*(map_structure(fn, v) for v in structure))
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, v) for v in structure)
    return fn(structure)


def pack_as(structure, leaves: list):
    """Rebuilds ``structure`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)
    return map_structure(lambda _: next(it), structure)
