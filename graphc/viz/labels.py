"""What the boxes, clusters and tooltips of a picture say: Graphviz HTML-like label pieces and the
plain-text summaries of nodes and kernels."""
from __future__ import annotations

import html
from collections import Counter
from typing import Iterable

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.text import format_attr

MAX_ATTR_CHARS = 28
MAX_CONSTANT_VALUES = 8


def lines(*parts: str) -> str:
    return "<br/>".join(parts)


def bold(text: str) -> str:
    return f"<b>{html.escape(text)}</b>"


def small(text: str) -> str:
    return f'<font point-size="9" color="#334155">{html.escape(text)}</font>'


def plural(n: int, noun: str) -> str:
    """``1 op``, ``3 ops``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def op_count(body: Graph) -> int:
    """The ops of a kernel body that a picture counts (constants are not)."""
    return sum(1 for n in body.nodes if n.op != "constant")


def tally(ops: Iterable[tuple[str, int]]) -> str:
    """``matmul, add×2`` from (op, how many) pairs."""
    return ", ".join(f"{op}×{k}" if k > 1 else op for op, k in ops)


def attr_lines(node: Node) -> list[str]:
    """The node's attributes in one small line, each shortened to ``MAX_ATTR_CHARS``; none for a
    kernel's or a region's own bookkeeping."""
    shown = []
    for key, value in node.attrs.items():
        if isinstance(value, Graph) or key in ("value", "kernel", "kind"):
            continue
        if value is False:
            continue
        text = key if value is True else f"{key}={format_attr(key, value)}"
        if text.startswith(f'{key}=opaque"'):  # a Python object (a host call's function): its repr alone
            text = repr(value)
        shown.append(text if len(text) <= MAX_ATTR_CHARS else text[: MAX_ATTR_CHARS - 1] + "…")
    return [small(" ".join(shown))] if shown else []


def constant_values(value: np.ndarray) -> list[str]:
    """A small constant's values; a large one is abbreviated to its type (already shown)."""
    if value.size > MAX_CONSTANT_VALUES:
        return []
    if value.ndim == 0:
        return [small(scalar_text(value))]
    return [small("[" + ", ".join(map(scalar_text, value.reshape(-1))) + "]")]


def scalar_text(value) -> str:
    return str(np.asarray(value)[()])  # NumPy's shortest text for the value's own precision


def node_tooltip(node: Node) -> str:
    """The user's file:line, the name scope, whether the node is a gradient and a kernel's body."""
    parts = [node.loc.long if node.loc else "(no source location)"]
    if node.scope:
        parts.append(f"scope {node.scope}")
    if node.is_gradient:
        parts.append("gradient (backward pass)")
    if node.op == "fused":
        ops = Counter(n.op for n in node.attrs["body"].nodes if n.op != "constant")
        parts.append("body: " + tally(ops.items()))
    return "\n".join(parts)
