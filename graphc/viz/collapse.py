"""The collapse policy of a picture: name scopes asked for (and, without gradients, the whole backward
pass) fold into single boxes, and the edges between folded boxes merge."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from .labels import bold, lines, plural, tally
from .layout import Box, Edge, Layout

_BACKWARD = ("gradients",)  # the group key of the backward pass


def collapse(layout: Layout, *, gradients: bool, collapse_scopes: bool | str | Iterable[str]) -> tuple[dict, list]:
    """The boxes (by id) and edges left once ``layout``'s collapsed scopes are single boxes:
    ``collapse_scopes`` True folds every outermost scope, a name or collection of names (full, or the
    last part) folds just those; ``gradients=False`` folds the backward pass."""
    return _Collapser(layout, gradients, collapse_scopes).apply()


class _Collapser:
    def __init__(self, layout: Layout, gradients: bool, collapse_scopes):
        self.layout = layout
        self.gradients = gradients
        if collapse_scopes is True or collapse_scopes is False:
            self.collapse_all, self.names = bool(collapse_scopes), frozenset()
        elif isinstance(collapse_scopes, str):
            self.collapse_all, self.names = False, frozenset([collapse_scopes.strip("/")])
        else:
            self.collapse_all, self.names = False, frozenset(s.strip("/") for s in collapse_scopes)
        self.groups: dict[tuple, Box] = {}

    def target(self, box: Box) -> tuple | None:
        """The path of the group ``box`` folds into, or None if it stays."""
        if not self.gradients and box.gradient:
            return _BACKWARD
        for i, (kind, name) in enumerate(box.path):
            if kind == "scope" and (self.collapse_all or name in self.names or name.rsplit("/", 1)[-1] in self.names):
                return box.path[: i + 1]
        return None

    def apply(self) -> tuple[dict, list]:
        rep: dict[str, str] = {}
        boxes: dict[str, Box] = {}
        for box in self.layout.boxes.values():
            key = self.target(box)
            if key is None:
                boxes[box.id], rep[box.id] = box, box.id
                continue
            group = self.groups.get(key)
            if group is None:
                path = () if key == _BACKWARD else key[:-1]
                group = self.groups[key] = Box(f"g{len(self.groups)}", "group", path, "", "", True)
                boxes[group.id] = group
            group.members += box.members
            group.gradient &= box.gradient
            rep[box.id] = group.id
        for key, group in self.groups.items():
            scope = None if key == _BACKWARD else key[-1][1]
            ops = Counter(n.op for n in group.members)
            title = scope.rsplit("/", 1)[-1] if scope else "backward pass"
            group.label = lines(bold(title), plural(len(group.members), "op"))
            group.tooltip = (f"name scope {scope}: " if scope else "gradients: ") + tally(ops.most_common())
        return boxes, self.merged_edges(rep, boxes)

    def merged_edges(self, rep: dict, boxes: dict) -> list:
        merged: dict[tuple, Edge] = {}
        for e in self.layout.edges:
            source, target = rep[e.source], rep[e.target]
            if source == target:
                continue
            grouped = boxes[source].kind == "group" or boxes[target].kind == "group"
            key = (source, target, e.value is None)
            if key in merged:
                merged[key].values += e.values
            else:
                merged[key] = Edge(source, target, e.value, e.label_type or grouped, list(e.values))
        return list(merged.values())
