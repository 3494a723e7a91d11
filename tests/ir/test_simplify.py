"""The rewriter behind ``simplify`` (``ir.passes.patterns``): rule hits in the pass statistics, the
bounds that stop a rewriting that would never end, and the type every replacement must have.

Each rule of ``simplify.RULES`` has its cases (pattern source -> expected text IR) in test_passes.py.
"""
from __future__ import annotations

from collections import Counter
from functools import partial

import numpy as np
import pytest

from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir.errors import IRError
from graphc.ir.passes import Pass, compile_stages, format_stats, run_passes, simplify
from graphc.ir.passes.patterns import MAX_REWRITES_PER_NODE, MAX_ROUNDS, Rule, Rules, new, op, rewrite_graph, var
from graphc.ir.text import parse_graph
from graphc.ir.types import float64

x, y = var("x"), var("y")

SIMPLIFIABLE = """graph g(%0:f32[2,3] x, %1:f32[2,3] y)
  %2:f32[] = constant {value=dense<f32[]: [1.0]>}
  %3:f32[2,3] = multiply %0, %2
  %4:f32[2,3] = negative %1
  %5:f32[2,3] = add %3, %4
  return %5"""


def simplify_with_stats(source: str, rules: Rules | None = None):
    """The simplified graph and the statistics of the pass."""
    stats = []
    run = simplify if rules is None else partial(simplify, rules=rules)
    result = run_passes(parse_graph(source), [Pass("simplify", run)], "optimize", stats)
    return result, stats[0]


def run(graph, *arrays):
    return Interpreter(graph).run([np.asarray(a, np.float32) for a in arrays])


def test_rule_hits_are_in_the_pass_statistics():
    result, stat = simplify_with_stats(SIMPLIFIABLE)
    assert stat.counts == {"multiply_one": 1, "add_negation": 1}
    assert str(stat).endswith("  multiply_one=1 add_negation=1")
    assert format_stats([stat]).splitlines()[1] == str(stat)
    assert [n.op for n in result.nodes if n.outputs[0] in result.outputs] == ["subtract"]


def test_only_passes_that_count_show_counts_in_the_pipeline_statistics():
    _, stats = compile_stages(parse_graph(SIMPLIFIABLE), run_op)
    counted = {(s.name, tuple(s.counts.items())) for s in stats if s.counts}
    assert counted == {("simplify", (("multiply_one", 1), ("add_negation", 1)))}
    table = format_stats(stats).splitlines()
    assert table[0].endswith("  counts") and len(table) == len(stats) + 1
    assert sum("multiply_one=1 add_negation=1" in line for line in table) == 1


NEGATE = """graph g(%0:f32[3] x)
  %1:f32[3] = negative %0
  return %1"""


def test_the_bound_stops_a_rule_that_rewrites_its_own_replacement():
    renegate = Rules([Rule("renegate", op("negative", x), lambda x: new("negative", x))])  # -x -> -x, forever
    result, stat = simplify_with_stats(NEGATE, renegate)
    assert stat.counts == {"renegate": MAX_REWRITES_PER_NODE}
    assert str(result) == NEGATE


def test_the_bound_stops_rounds_that_never_settle():
    commute = Rules([Rule("commute", op("add", x, y), lambda x, y: new("add", y, x))])  # x + y -> y + x, forever
    graph = parse_graph("""graph g(%0:f32[3] x, %1:f32[3] y)
  %2:f32[3] = add %0, %1
  return %2""")
    hits = Counter()
    result = rewrite_graph(graph, commute, hits, max_rewrites=1)  # one rewrite a node a round: every round changes
    assert hits == {"commute": MAX_ROUNDS}
    a, b = np.array([1.0, -0.0, np.inf]), np.array([2.0, 0.0, -np.inf])
    np.testing.assert_array_equal(run(result, a, b)[0], run(graph, a, b)[0])


def test_a_replacement_not_of_the_node_type_is_not_applied():
    rules = Rules([
        Rule("exp_to_double", op("exp", x), lambda x: new("cast", x, dtype=float64)),  # another dtype
        Rule("exp_broadcast", op("exp", x), lambda x: new("broadcast_to", x, shape=(4, 3))),  # the shape rule refuses
        Rule("sum_to_input", op("reduce_sum", x), lambda x: x),  # another shape
        Rule("exp_to_identity", op("exp", x), lambda x: new("identity", x)),  # the first of the node's type
    ])
    result, stat = simplify_with_stats("""graph g(%0:f32[2,3] x)
  %1:f32[2,3] = exp %0
  %2:f32[3] = reduce_sum %1 {axes=(0,), keepdims=False}
  return %2""", rules)
    assert stat.counts == {"exp_to_identity": 1}
    assert [n.op for n in result.nodes] == ["identity", "reduce_sum"]


def test_a_rule_binds_what_its_replacement_takes_and_rule_names_are_unique():
    with pytest.raises(IRError, match="rule 'bare': the pattern must be an op pattern, got Var"):
        Rule("bare", x, lambda x: x)
    with pytest.raises(IRError, match=r"rule 'unbound': the replacement takes \['y'\], which its pattern does not bind"):
        Rule("unbound", op("exp", x), lambda y: y)
    with pytest.raises(IRError, match=r"rule names must be unique; repeated: \['twice'\]"):
        Rules([Rule("twice", op("exp", x), lambda x: x), Rule("twice", op("log", x), lambda x: x)])
    with pytest.raises(IRError, match="a commutative pattern takes two inputs"):
        op("negative", x, commutative=True)
