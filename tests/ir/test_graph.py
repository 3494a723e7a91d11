"""Graph helpers: the dependency order passes use, checked against networkx's."""
from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from graphc.ir.errors import IRError
from graphc.ir.graph import in_dependency_order


@st.composite
def dags(draw):
    """A random DAG on 0..n-1 (edges go from a smaller to a larger number), its items shuffled,
    with distinct keys."""
    n = draw(st.integers(0, 30))
    edges = draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0))), max_size=80))
    edges = {(a, b) for a, b in edges if a < b < n}
    items = draw(st.permutations(list(range(n))))
    keys = dict(zip(range(n), draw(st.permutations(list(range(n))))))
    return items, edges, keys


@settings(max_examples=300, deadline=None)
@given(dags())
def test_the_dependency_order_is_networkxs_lexicographic_topological_order(dag):
    items, edges, keys = dag
    successors: dict[int, set[int]] = {}
    for a, b in edges:
        successors.setdefault(a, set()).add(b)
    reference = nx.DiGraph()
    reference.add_nodes_from(items)
    reference.add_edges_from(edges)
    assert in_dependency_order(items, successors, keys.__getitem__) == list(
        nx.lexicographical_topological_sort(reference, key=keys.__getitem__)
    )


def test_a_cycle_has_no_dependency_order():
    with pytest.raises(IRError, match="2 items are on a cycle"):
        in_dependency_order(["a", "b", "c"], {"a": {"b"}, "b": {"a"}}, ord)
