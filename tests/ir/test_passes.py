"""The graph passes (``ir.passes``), each on hand-written graphs with the expected result as text IR.

- ``PASS_CASES``: dead-code elimination, common-subexpression elimination and constant folding;
- ``RULE_CASES``: every rule of ``simplify.RULES`` with a case it rewrites (and the rules' hits in the
  pass statistics), every op it rewrites with a case it must leave alone (``x - x`` and ``x * 0`` among them);
- every case also checks that the pass left its input untouched, that the result verifies, and that
  the NumPy interpreter gives the same results and variable values before and after, on inputs full
  of NaN, Inf and signed zeros (bit for bit, except the liberties ``simplify`` documents);
- gradient clean-up on real gradient graphs; the pass manager (verifier after each pass, statistics,
  options, fixed point);
- a hypothesis property: random graphs evaluate the same at every stage of ``compile_stages``.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import graphc as gc
from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir import ops
from graphc.ir.dispatch import GraphBuilder, bind, handler
from graphc.ir.errors import GraphcError, IRError
from graphc.ir.graph import Graph
from graphc.ir.passes import (
    DEFAULT_OPTIONS, Pass, compile_stages, eliminate_common_subexpressions, eliminate_dead_code,
    fold_constants, fuse, run_passes, simplify,
)
from graphc.ir.passes.manager import run_to_fixed_point
from graphc.ir.passes.rebuild import rebuild
from graphc.ir.passes.simplify import RULES
from graphc.ir.registry import OPS
from graphc.ir.text import format_graph, parse_graph, parse_type
from graphc.ir.types import TensorType, broadcast_shapes, float32, float64
from graphc.ir.verify import verify

# Special values every float input draws from (besides ordinary numbers).
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e30, -1e-30])


@dataclass(eq=False)
class Var:
    """A variable for hand-built graphs: what ``read_variable`` and the interpreter need."""

    name: str
    type: TensorType
    value: np.ndarray | None = field(default=None, repr=False)


# -- helpers ----------------------------------------------------------------------------------------
def text(graph: Graph) -> str:
    """The text IR without the source-location comments."""
    return "\n".join(re.sub(r"   # .*$", "", line) for line in str(graph).splitlines())


def graph_text(signature: str, body: str) -> str:
    """``graph g(%0:f32[2,3] x, ...)`` from ``"x:f32[2,3], ..."`` followed by the indented ``body``."""
    params = [p.split(":") for p in signature.split(", ")] if signature else []
    header = ", ".join(f"%{i}:{t} {name}" for i, (name, t) in enumerate(params))
    lines = [line.strip() for line in textwrap.dedent(body).strip().splitlines()]
    return "\n".join([f"graph g({header})"] + ["  " + line for line in lines])


def random_array(t: TensorType, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(d if isinstance(d, int) else 2 for d in t.shape)
    if t.dtype.is_floating:
        ordinary = rng.uniform(-4, 4, shape)
        return np.where(rng.random(shape) < 0.5, rng.choice(SPECIAL, shape), ordinary).astype(t.dtype.numpy)
    if t.dtype.is_bool:
        return rng.random(shape) < 0.5
    return rng.integers(-5, 6, shape).astype(t.dtype.numpy)


def evaluate(graph: Graph, inputs: list[np.ndarray], variables: dict[str, Var], initial: dict) -> tuple:
    """(outputs, final variable values), or (error type, None) if the run fails. Every variable of
    ``variables`` starts from ``initial``."""
    for name, var in variables.items():
        var.value = initial[name].copy()
    try:
        outputs = Interpreter(graph).run([a.copy() for a in inputs])
    except GraphcError as error:
        return type(error), None
    return outputs, {name: var.value for name, var in variables.items()}


def assert_same(actual, expected) -> None:
    """Equal dtype, shape and values, zeros of the same sign; NaN equals NaN (of any sign or payload)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    if actual.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected)
        return
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(actual[~nan], expected[~nan])
    np.testing.assert_array_equal(np.signbit(actual[~nan]), np.signbit(expected[~nan]))


def assert_same_runs(before: tuple, after: tuple, pruned: bool = False) -> None:
    """``before`` and ``after`` (from ``evaluate``) agree; with ``pruned``, a run that failed before may
    succeed after (the failing node was dead: removed, as TensorFlow prunes it)."""
    (out_a, vars_a), (out_b, vars_b) = before, after
    if vars_a is None and pruned and vars_b is not None:
        return
    if vars_a is None or vars_b is None:
        assert out_a == out_b  # the same error type
        return
    assert len(out_a) == len(out_b)
    for a, b in zip(out_a, out_b):
        assert_same(b, a)
    assert vars_a.keys() == vars_b.keys()
    for name in vars_a:
        assert_same(vars_b[name], vars_a[name])


def check_pass(pass_fn, before: Graph, draws: int = 3) -> Graph:
    """Runs ``pass_fn`` on ``before`` and checks it is pure, verifies and keeps results; returns the result."""
    verify(before)
    snapshot = format_graph(before, full_constants=True)
    identities = _identities(before)
    after = verify(pass_fn(before))
    assert format_graph(before, full_constants=True) == snapshot, "the pass changed its input graph"
    assert _identities(before) == identities, "the pass changed its input graph"
    variables = dict(before.variables)
    rng = np.random.default_rng(0)
    for _ in range(draws):
        inputs = [random_array(v.type, rng) for v in before.inputs]
        initial = {name: random_array(var.type, rng) for name, var in variables.items()}
        assert_same_runs(
            evaluate(before, inputs, variables, initial), evaluate(after, inputs, variables, initial)
        )
    return after


def _identities(graph: Graph) -> list:
    """Which objects a graph is made of: its nodes with their inputs, attribute values and results."""
    return [id(graph.variables), *map(id, graph.inputs), *map(id, graph.outputs)] + [
        (id(n), [id(v) for v in n.inputs], {k: id(a) for k, a in n.attrs.items()}, [id(v) for v in n.outputs])
        for n in graph.nodes
    ]


def variables() -> dict[str, Var]:
    return {name: Var(name, parse_type(t)) for name, t in (("v", "f32[4]"), ("u", "f32[4]"))}


# -- DCE, CSE, folding on hand-written graphs ---------------------------------------------------
fold = partial(fold_constants, evaluate=run_op)
fold_at_most_4 = partial(fold_constants, evaluate=run_op, max_elements=4)

# (id, pass, signature, graph body, expected body after the pass; None: unchanged)
PASS_CASES = [
    ("dce: unused nodes and reads go, assignments and their inputs stay", eliminate_dead_code, "x:f32[4]", """
        var @v: f32[4]
        var @u: f32[4]
        %1:f32[4] = read_variable {var=@v}
        %2:f32[4] = read_variable {var=@u}
        %3:f32[4] = exp %0
        %4:f32[4] = add %0, %1
        %5:f32[4] = tanh %4
        assign_variable %4 {var=@v}
        return %0
    """, """
        var @v: f32[4]
        %1:f32[4] = read_variable {var=@v}
        %2:f32[4] = add %0, %1
        assign_variable %2 {var=@v}
        return %0
    """),
    ("dce: an unused read before a write of its variable goes", eliminate_dead_code, "x:f32[4]", """
        var @v: f32[4]
        %1:f32[4] = read_variable {var=@v}
        assign_variable %0 {var=@v}
        %2:f32[4] = read_variable {var=@v}
        return %2
    """, """
        var @v: f32[4]
        assign_variable %0 {var=@v}
        %1:f32[4] = read_variable {var=@v}
        return %1
    """),
    ("dce: every assignment stays, even of the same variable", eliminate_dead_code, "x:f32[4]", """
        var @v: f32[4]
        %1:f32[4] = exp %0
        assign_variable %1 {var=@v}
        assign_variable %0 {var=@v}
        return %0
    """, None),
    ("dce: nothing is dead", eliminate_dead_code, "x:f32[4]", """
        %1:f32[4] = exp %0
        %2:f32[4] = add %1, %0
        return %2, %1
    """, None),
    ("cse: equal nodes are merged, the order of operands matters", eliminate_common_subexpressions, "x:f32[4], y:f32[4]", """
        %2:f32[4] = exp %0
        %3:f32[4] = exp %0
        %4:f32[4] = add %2, %1
        %5:f32[4] = add %3, %1
        %6:f32[4] = add %1, %3
        return %4, %5, %6
    """, """
        %2:f32[4] = exp %0
        %3:f32[4] = add %2, %1
        %4:f32[4] = add %1, %2
        return %3, %3, %4
    """),
    ("cse: equal constants merge; other dtypes, signed zeros and values do not", eliminate_common_subexpressions,
     "x:f32[2]", """
        %1:f32[2] = constant {value=dense<f32[2]: [0.0, nan]>}
        %2:f32[2] = constant {value=dense<f32[2]: [0.0, nan]>}
        %3:f32[2] = constant {value=dense<f32[2]: [-0.0, nan]>}
        %4:f64[2] = constant {value=dense<f64[2]: [0.0, nan]>}
        %5:f32[2] = fill {shape=(2,), value=0.0, dtype=f32}
        %6:f32[2] = fill {shape=(2,), value=-0.0, dtype=f32}
        %7:f32[2] = fill {shape=(2,), value=0.0, dtype=f32}
        return %1, %2, %3, %4, %5, %6, %7
    """, """
        %1:f32[2] = constant {value=dense<f32[2]: [0.0, nan]>}
        %2:f32[2] = constant {value=dense<f32[2]: [-0.0, nan]>}
        %3:f64[2] = constant {value=dense<f64[2]: [0.0, nan]>}
        %4:f32[2] = fill {shape=(2,), value=0.0, dtype=f32}
        %5:f32[2] = fill {shape=(2,), value=-0.0, dtype=f32}
        return %1, %1, %2, %3, %4, %5, %4
    """),
    ("cse: different attributes are different nodes", eliminate_common_subexpressions, "x:f32[2,3]", """
        %1:f32[3] = reduce_sum %0 {axes=(0,), keepdims=False}
        %2:f32[2] = reduce_sum %0 {axes=(1,), keepdims=False}
        %3:f32[1,3] = reduce_sum %0 {axes=(0,), keepdims=True}
        %4:f32[3] = reduce_sum %0 {axes=(0,), keepdims=False}
        return %1, %2, %3, %4
    """, """
        %1:f32[3] = reduce_sum %0 {axes=(0,), keepdims=False}
        %2:f32[2] = reduce_sum %0 {axes=(1,), keepdims=False}
        %3:f32[1,3] = reduce_sum %0 {axes=(0,), keepdims=True}
        return %1, %2, %3, %1
    """),
    ("cse: reads merge until an assignment of their variable, writes never", eliminate_common_subexpressions,
     "x:f32[4]", """
        var @v: f32[4]
        var @u: f32[4]
        %1:f32[4] = read_variable {var=@v}
        %2:f32[4] = read_variable {var=@u}
        %3:f32[4] = read_variable {var=@v}
        assign_variable %0 {var=@u}
        assign_variable %0 {var=@u}
        %4:f32[4] = read_variable {var=@v}
        %5:f32[4] = read_variable {var=@u}
        assign_variable %0 {var=@v}
        %6:f32[4] = read_variable {var=@v}
        %7:f32[4] = read_variable {var=@v}
        return %1, %2, %3, %4, %5, %6, %7
    """, """
        var @v: f32[4]
        var @u: f32[4]
        %1:f32[4] = read_variable {var=@v}
        %2:f32[4] = read_variable {var=@u}
        assign_variable %0 {var=@u}
        assign_variable %0 {var=@u}
        %3:f32[4] = read_variable {var=@u}
        assign_variable %0 {var=@v}
        %4:f32[4] = read_variable {var=@v}
        return %1, %2, %1, %1, %3, %4, %4
    """),
    ("fold: nodes of constants become constants, in chains", fold, "x:f32[2]", """
        %1:f32[2] = constant {value=dense<f32[2]: [1.0, 4.0]>}
        %2:f32[2] = sqrt %1
        %3:f32[2] = add %2, %1
        %4:f32[2] = multiply %3, %0
        return %4
    """, """
        %1:f32[2] = constant {value=dense<f32[2]: [1.0, 4.0]>}
        %2:f32[2] = constant {value=dense<f32[2]: [1.0, 2.0]>}
        %3:f32[2] = constant {value=dense<f32[2]: [2.0, 6.0]>}
        %4:f32[2] = multiply %3, %0
        return %4
    """),
    ("fold: results larger than the cap are not materialised", fold_at_most_4, "x:f32[8]", """
        %1:f32[] = constant {value=dense<f32[]: [4.0]>}
        %2:f32[] = sqrt %1
        %3:f32[4] = fill {shape=(4,), value=1.0, dtype=f32}
        %4:f32[8] = fill {shape=(8,), value=1.0, dtype=f32}
        %5:f32[8] = multiply %4, %2
        %6:f32[] = reduce_sum %4 {axes=(0,), keepdims=False}
        return %3, %5, %6
    """, """
        %1:f32[] = constant {value=dense<f32[]: [4.0]>}
        %2:f32[] = constant {value=dense<f32[]: [2.0]>}
        %3:f32[4] = constant {value=dense<f32[4]: [1.0, 1.0, 1.0, 1.0]>}
        %4:f32[8] = fill {shape=(8,), value=1.0, dtype=f32}
        %5:f32[8] = multiply %4, %2
        %6:f32[] = reduce_sum %4 {axes=(0,), keepdims=False}
        return %3, %5, %6
    """),
    ("fold: the default cap keeps 5000-element results out", fold, "", """
        %0:f32[5000] = fill {shape=(5000,), value=1.0, dtype=f32}
        %1:f32[] = reduce_sum %0 {axes=(0,), keepdims=False}
        return %1
    """, None),
    ("fold: variable reads are never folded, nor what reads them", fold, "x:f32[4]", """
        var @v: f32[4]
        %1:f32[] = constant {value=dense<f32[]: [1.0]>}
        %2:f32[4] = read_variable {var=@v}
        %3:f32[4] = add %2, %1
        assign_variable %3 {var=@v}
        return %2
    """, None),
    ("fold: shapes known only at run time are not folded", fold, "x:f32[d0]", """
        %1:f32[d0] = full_like %0 {value=2.0, dtype=f32}
        %2:f32[] = dim_size %0 {axes=(0,), dtype=f32}
        return %1, %2
    """, None),
    ("fold: full_like and dim_size read only static shapes", fold, "x:f32[d0,3]", """
        %1:f32[d0,3] = exp %0
        %2:f32[3] = reduce_sum %1 {axes=(0,), keepdims=False}
        %3:f32[3] = full_like %2 {value=0.5, dtype=f32}
        %4:f32[] = dim_size %1 {axes=(1,), dtype=f32}
        %5:f32[3] = multiply %3, %4
        return %5
    """, """
        %1:f32[d0,3] = exp %0
        %2:f32[3] = reduce_sum %1 {axes=(0,), keepdims=False}
        %3:f32[3] = constant {value=dense<f32[3]: [0.5, 0.5, 0.5]>}
        %4:f32[] = constant {value=dense<f32[]: [3.0]>}
        %5:f32[3] = constant {value=dense<f32[3]: [1.5, 1.5, 1.5]>}
        return %5
    """),
    ("fold: a node that fails to evaluate is left for run time to report", fold, "x:f32[2]", """
        %1:f32[3] = constant {value=dense<f32[3]: [1.0, 2.0, 3.0]>}
        %2:i32[2] = constant {value=dense<i32[2]: [0, 7]>}
        %3:f32[2] = gather %1, %2 {axis=0}
        %4:f32[2] = add %3, %0
        return %4
    """, None),
]


@pytest.mark.parametrize("pass_fn, signature, body, expected", [c[1:] for c in PASS_CASES], ids=[c[0] for c in PASS_CASES])
def test_pass_on_hand_written_graph(pass_fn, signature, body, expected):
    before = parse_graph(graph_text(signature, body), variables())
    after = check_pass(pass_fn, before)
    assert text(after) == graph_text(signature, expected or body)


# -- simplification: every rule, each with a case it rewrites and a case it leaves alone ---------
@dataclass
class Rule:
    op: str  # the op the case is about
    id: str
    signature: str
    body: str
    expected: str | None  # the body after simplify and dead-code elimination; None: unchanged
    hits: str = ""  # the rules that fire, as the pass statistics show them ("multiply_one=2")


X = "x:f32[2,3]"
XY = "x:f32[2,3], y:f32[2,3]"


def _where_of(one: str, zero: str) -> str:
    """The body ``where(c, one, zero)`` of a graph whose input %0 is the condition ``c``: ``one`` and
    ``zero`` are the type and op of the two constant nodes, the result f32 or i32 [2, 3] as they are."""
    return f"""
        %1:{one}
        %2:{zero}
        %3:{one[:3]}[2,3] = where %0, %1, %2
        return %3"""


def _cast_of_c(dtype: str) -> str:
    return f"""
        %1:{dtype}[2,3] = cast %0 {{dtype={dtype}}}
        return %1"""

RULE_CASES = [
    Rule("add", "x + 0.0 stays: x may be -0.0, and -0.0 + 0.0 is +0.0", X, """
        %1:f32[] = constant {value=dense<f32[]: [0.0]>}
        %2:f32[2,3] = add %0, %1
        return %2""", None),
    Rule("add", "0 + x, the zero broadcast, integer x", "x:i32[2,3]", """
        %1:i32[3] = fill {shape=(3,), value=0, dtype=i32}
        %2:i32[2,3] = broadcast_to %1 {shape=(2, 3)}
        %3:i32[2,3] = add %2, %0
        return %3""", "return %0", hits="add_integral_zero=1"),
    Rule("add", "0.0 + a constant that is not -0.0", "x:f32[3]", """
        %1:f32[3] = full_like %0 {value=2.0, dtype=f32}
        %2:f32[3] = fill {shape=(3,), value=0.0, dtype=f32}
        %3:f32[3] = add %2, %1
        return %3""", """
        %1:f32[3] = full_like %0 {value=2.0, dtype=f32}
        return %1""", hits="add_positive_zero=1"),
    Rule("add", "x + -0.0 is exact", X, """
        %1:f32[] = constant {value=dense<f32[]: [-0.0]>}
        %2:f32[2,3] = add %1, %0
        return %2""", "return %0", hits="add_negative_zero=1"),
    Rule("add", "x + (-y), (-y) + x", XY, """
        %2:f32[2,3] = negative %1
        %3:f32[2,3] = add %0, %2
        %4:f32[2,3] = add %2, %0
        return %3, %4""", """
        %2:f32[2,3] = subtract %0, %1
        %3:f32[2,3] = subtract %0, %1
        return %2, %3""", hits="add_negation=2"),
    Rule("add", "x + 0 whose result is broadcast, x + 1, zeros of both signs", "x:f32[3]", """
        %1:f32[2,3] = fill {shape=(2, 3), value=0.0, dtype=f32}
        %2:f32[2,3] = add %0, %1
        %3:f32[] = constant {value=dense<f32[]: [1.0]>}
        %4:f32[3] = add %0, %3
        %5:f32[3] = constant {value=dense<f32[3]: [0.0, -0.0, 0.0]>}
        %6:f32[3] = add %0, %5
        return %2, %4, %6""", None),
    Rule("subtract", "x - (+0)", X, """
        %1:f32[2,3] = fill {shape=(2, 3), value=0.0, dtype=f32}
        %2:f32[2,3] = subtract %0, %1
        return %2""", "return %0", hits="subtract_zero=1"),
    Rule("subtract", "x - (-y)", XY, """
        %2:f32[2,3] = negative %1
        %3:f32[2,3] = subtract %0, %2
        return %3""", """
        %2:f32[2,3] = add %0, %1
        return %2""", hits="subtract_negation=1"),
    Rule("subtract", "x - x and x - (-0.0) stay", X, """
        %1:f32[2,3] = subtract %0, %0
        %2:f32[] = constant {value=dense<f32[]: [-0.0]>}
        %3:f32[2,3] = subtract %0, %2
        return %1, %3""", None),
    Rule("multiply", "x * 1, 1 * x", X, """
        %1:f32[] = constant {value=dense<f32[]: [1.0]>}
        %2:f32[2,3] = multiply %0, %1
        %3:f32[2,3] = multiply %1, %2
        return %3""", "return %0", hits="multiply_one=2"),
    Rule("multiply", "x * -1", X, """
        %1:f32[] = constant {value=dense<f32[]: [-1.0]>}
        %2:f32[2,3] = multiply %1, %0
        return %2""", """
        %1:f32[2,3] = negative %0
        return %1""", hits="multiply_minus_one=1"),
    Rule("multiply", "x * 0 stays, and x * 2, and an integer n * -1", "x:f32[2,3], n:i32[2,3]", """
        %2:f32[] = constant {value=dense<f32[]: [0.0]>}
        %3:f32[2,3] = multiply %0, %2
        %4:f32[] = constant {value=dense<f32[]: [2.0]>}
        %5:f32[2,3] = multiply %4, %0
        %6:i32[] = constant {value=dense<i32[]: [-1]>}
        %7:i32[2,3] = multiply %1, %6
        return %3, %5, %7""", None),
    Rule("divide", "x / 1", X, """
        %1:f32[2,3] = fill {shape=(2, 3), value=1.0, dtype=f32}
        %2:f32[2,3] = divide %0, %1
        return %2""", "return %0", hits="divide_one=1"),
    Rule("divide", "1 / x stays", X, """
        %1:f32[] = constant {value=dense<f32[]: [1.0]>}
        %2:f32[2,3] = divide %1, %0
        return %2""", None),
    Rule("pow", "x ** 1, x ** 2", X, """
        %1:f32[] = constant {value=dense<f32[]: [1.0]>}
        %2:f32[2,3] = pow %0, %1
        %3:f32[] = constant {value=dense<f32[]: [2.0]>}
        %4:f32[2,3] = pow %2, %3
        return %4""", """
        %1:f32[2,3] = square %0
        return %1""", hits="pow_one=1 pow_two=1"),
    Rule("pow", "x ** 3, 2 ** x stay", X, """
        %1:f32[] = constant {value=dense<f32[]: [3.0]>}
        %2:f32[2,3] = pow %0, %1
        %3:f32[] = constant {value=dense<f32[]: [2.0]>}
        %4:f32[2,3] = pow %3, %0
        return %2, %4""", None),
    Rule("negative", "-(-x)", X, """
        %1:f32[2,3] = negative %0
        %2:f32[2,3] = negative %1
        return %2""", "return %0", hits="double_negation=1"),
    Rule("negative", "-abs(x) stays", X, """
        %1:f32[2,3] = abs %0
        %2:f32[2,3] = negative %1
        return %2""", None),
    Rule("logical_not", "not not c", "c:bool[2,3]", """
        %1:bool[2,3] = logical_not %0
        %2:bool[2,3] = logical_not %1
        return %2""", "return %0", hits="double_not=1"),
    Rule("logical_not", "not c stays", "c:bool[2,3]", """
        %1:bool[2,3] = logical_not %0
        return %1""", None),
    Rule("identity", "identity(x)", X, """
        %1:f32[2,3] = identity %0
        return %1""", "return %0", hits="identity=1"),
    Rule("stop_gradient", "stop_gradient(x)", X, """
        %1:f32[2,3] = stop_gradient %0
        return %1""", "return %0", hits="stop_gradient=1"),
    Rule("cast", "cast to its own dtype", X, """
        %1:f32[2,3] = cast %0 {dtype=f32}
        return %1""", "return %0", hits="cast_to_own_dtype=1"),
    Rule("cast", "cast to another dtype stays", X, """
        %1:f64[2,3] = cast %0 {dtype=f64}
        return %1""", None),
    Rule("broadcast_to", "to its own shape", X, """
        %1:f32[2,3] = broadcast_to %0 {shape=(2, 3)}
        return %1""", "return %0", hits="broadcast_to_own_shape=1"),
    Rule("broadcast_to", "to a larger shape stays", "x:f32[3]", """
        %1:f32[2,3] = broadcast_to %0 {shape=(2, 3)}
        return %1""", None),
    Rule("broadcast_like", "like a value of its own type", XY, """
        %2:f32[2,3] = broadcast_like %0, %1
        return %2""", "return %0", hits="broadcast_like_own_shape=1"),
    Rule("broadcast_like", "like a static shape: broadcast_to, no longer waiting for y", "x:f32[3], y:f32[2,3]", """
        %2:f32[2,3] = exp %1
        %3:f32[2,3] = broadcast_like %0, %2
        return %3, %2""", """
        %2:f32[2,3] = exp %1
        %3:f32[2,3] = broadcast_to %0 {shape=(2, 3)}
        return %3, %2""", hits="broadcast_like_static=1"),
    Rule("broadcast_like", "like a shape known at run time stays", "x:f32[3], y:f32[d0,3]", """
        %2:f32[d0,3] = broadcast_like %0, %1
        return %2""", None),
    Rule("transpose", "identity permutation, transposes composed", "x:f32[2,3], t:f32[2,3,4]", """
        %2:f32[2,3] = transpose %0 {perm=(0, 1)}
        %3:f32[3,2] = transpose %2 {perm=(1, 0)}
        %4:f32[2,3] = transpose %3 {perm=(1, 0)}
        %5:f32[3,4,2] = transpose %1 {perm=(1, 2, 0)}
        %6:f32[4,2,3] = transpose %5 {perm=(1, 2, 0)}
        return %4, %6""", """
        %2:f32[4,2,3] = transpose %1 {perm=(2, 0, 1)}
        return %0, %2""", hits="transpose_identity=2 transpose_of_transpose=2"),
    Rule("transpose", "a lone transpose stays", X, """
        %1:f32[3,2] = transpose %0 {perm=(1, 0)}
        return %1""", None),
    Rule("reshape", "to its own shape, reshape of reshape", X, """
        %1:f32[2,3] = reshape %0 {shape=(2, 3)}
        %2:f32[6] = reshape %1 {shape=(6,)}
        %3:f32[3,2] = reshape %2 {shape=(3, 2)}
        return %3""", """
        %1:f32[3,2] = reshape %0 {shape=(3, 2)}
        return %1""", hits="reshape_to_own_shape=1 reshape_of_reshape=1"),
    Rule("reshape", "a lone reshape stays", X, """
        %1:f32[3,2] = reshape %0 {shape=(3, 2)}
        return %1""", None),
    Rule("reshape_like", "like a static shape: a reshape, of a reshape's input", XY, """
        %2:f32[6] = reshape %0 {shape=(6,)}
        %3:f32[3,2] = transpose %1 {perm=(1, 0)}
        %4:f32[3,2] = reshape_like %2, %3
        %5:f32[2,3] = reshape_like %0, %1
        return %4, %5, %3""", """
        %2:f32[3,2] = transpose %1 {perm=(1, 0)}
        %3:f32[3,2] = reshape %0 {shape=(3, 2)}
        return %3, %0, %2""", hits="reshape_like_static_of_reshape=1 reshape_like_own_shape=1"),
    Rule("reshape_like", "like a static shape: a reshape", "x:f32[2,3], y:f32[3,2]", """
        %2:f32[3,2] = reshape_like %0, %1
        return %2""", """
        %2:f32[3,2] = reshape %0 {shape=(3, 2)}
        return %2""", hits="reshape_like_static=1"),
    Rule("reshape_like", "of a reshape, like a shape known at run time", "x:f32[2,3], s:f32[d0,3]", """
        %2:f32[6] = reshape %0 {shape=(6,)}
        %3:f32[d0,3] = reshape_like %2, %1
        return %3""", """
        %2:f32[d0,3] = reshape_like %0, %1
        return %2""", hits="reshape_like_of_reshape=1"),
    Rule("reshape_like", "like a shape known at run time stays", "x:f32[2,3], s:f32[d0,3]", """
        %2:f32[d0,3] = reshape_like %0, %1
        return %2""", None),
    Rule("squeeze", "squeeze(expand_dims(x, a), a)", X, """
        %1:f32[2,1,3] = expand_dims %0 {axes=(1,)}
        %2:f32[2,3] = squeeze %1 {axes=(1,)}
        return %2""", "return %0", hits="squeeze_expand_dims=1"),
    Rule("squeeze", "other axes stay", X, """
        %1:f32[1,1,2,3] = expand_dims %0 {axes=(0, 1)}
        %2:f32[1,2,3] = squeeze %1 {axes=(0,)}
        return %2""", None),
    Rule("squeeze", "of a reduction that keeps the axes: one reduction", X, """
        %1:f32[2,1] = reduce_sum %0 {axes=(1,), keepdims=True}
        %2:f32[2] = squeeze %1 {axes=(1,)}
        return %2""", """
        %1:f32[2] = reduce_sum %0 {axes=(1,), keepdims=False}
        return %1""", hits="squeeze_kept_dims=1"),
    Rule("squeeze", "of a reduction over other axes stays", X, """
        %1:f32[1,1] = reduce_sum %0 {axes=(0, 1), keepdims=True}
        %2:f32[1] = squeeze %1 {axes=(1,)}
        return %2""", None),
    Rule("expand_dims", "expand_dims(squeeze(x, a), a)", "e:f32[2,1,3]", """
        %1:f32[2,3] = squeeze %0 {axes=(1,)}
        %2:f32[2,1,3] = expand_dims %1 {axes=(1,)}
        return %2""", "return %0", hits="expand_dims_squeeze=1"),
    Rule("expand_dims", "other axes stay", "e:f32[2,1,3]", """
        %1:f32[2,3] = squeeze %0 {axes=(1,)}
        %2:f32[1,2,3] = expand_dims %1 {axes=(0,)}
        return %2""", None),
    Rule("reduce_max", "over a size-1 axis it keeps", "e:f32[2,1,3]", """
        %1:f32[2,1,3] = reduce_max %0 {axes=(1,), keepdims=True}
        return %1""", "return %0", hits="reduce_size_one_kept=1"),
    Rule("reduce_max", "over a longer axis kept stays", "e:f32[2,1,3]", """
        %1:f32[2,1,1] = reduce_max %0 {axes=(1, 2), keepdims=True}
        return %1""", None),
    Rule("reduce_min", "over no axes, kept", X, """
        %1:f32[2,3] = reduce_min %0 {axes=(), keepdims=True}
        return %1""", "return %0", hits="reduce_no_axes=1"),
    Rule("reduce_min", "a real reduction stays", X, """
        %1:f32[3] = reduce_min %0 {axes=(0,), keepdims=False}
        return %1""", None),
    Rule("reduce_prod", "over size-1 axes it keeps", "e:f32[2,1,3]", """
        %1:f32[2,1,3] = reduce_prod %0 {axes=(1,), keepdims=True}
        return %1""", "return %0", hits="reduce_size_one_kept=1"),
    Rule("reduce_prod", "a real reduction kept stays", X, """
        %1:f32[2,1] = reduce_prod %0 {axes=(1,), keepdims=True}
        return %1""", None),
    Rule("reduce_sum", "a sum over no axes stays: it turns -0.0 into +0.0", X, """
        %1:f32[2,3] = reduce_sum %0 {axes=(), keepdims=False}
        return %1""", None),
    Rule("where", "where(c, x, x)", "c:bool[2,3], x:f32[2,3]", """
        %2:f32[2,3] = where %0, %1, %1
        return %2""", "return %1", hits="where_same=1"),
    Rule("where", "where(c, x, y) stays", "c:bool[2,3], x:f32[2,3], y:f32[2,3]", """
        %3:f32[2,3] = where %0, %1, %2
        return %3""", None),
    Rule("where", "where(c, 1.0, 0.0) is c as a float (relu's gradient of a ones seed)", "c:bool[2,3]",
         _where_of("f32[] = constant {value=dense<f32[]: [1.0]>}", "f32[2,3] = fill {shape=(2, 3), value=0.0, dtype=f32}"),
         _cast_of_c("f32"), hits="where_one_zero=1"),
    Rule("where", "where(c, 1, 0) of integers", "c:bool[2,3]",
         _where_of("i32[2,3] = fill {shape=(2, 3), value=1, dtype=i32}", "i32[] = constant {value=dense<i32[]: [0]>}"),
         _cast_of_c("i32"), hits="where_one_zero=1"),
    Rule("where", "where(c, 1.0, -0.0) stays: cast gives +0.0", "c:bool[2,3]",
         _where_of("f32[] = constant {value=dense<f32[]: [1.0]>}", "f32[] = constant {value=dense<f32[]: [-0.0]>}"), None),
    Rule("where", "where(c, 1.0, 0.0) stays when it broadcasts c", "c:bool[3]",
         _where_of("f32[2,3] = fill {shape=(2, 3), value=1.0, dtype=f32}", "f32[] = constant {value=dense<f32[]: [0.0]>}"), None),
    Rule("where", "where(c, s, s * 0.0), s all ones (relu's gradient of a ones seed, unfolded)", "c:bool[2,3]", """
        %1:f32[] = constant {value=dense<f32[]: [1.0]>}
        %2:f32[2,3] = broadcast_to %1 {shape=(2, 3)}
        %3:f32[] = constant {value=dense<f32[]: [0.0]>}
        %4:f32[2,3] = multiply %2, %3
        %5:f32[2,3] = where %0, %2, %4
        return %5""", _cast_of_c("f32"), hits="where_one_zero=1"),
    Rule("where", "where(c, s, s * 0.0) stays when s is not all ones", "c:bool[2,3], s:f32[2,3]", """
        %2:f32[] = constant {value=dense<f32[]: [0.0]>}
        %3:f32[2,3] = multiply %1, %2
        %4:f32[2,3] = where %0, %1, %3
        return %4""", None),
]


def simplify_and_clean(graph: Graph) -> Graph:
    """``simplify``, then dead-code elimination of what it left unused."""
    return eliminate_dead_code(simplify(graph))


def rule_hits(hits: str) -> dict[str, int]:
    """``{"multiply_one": 2}`` from ``"multiply_one=2"``."""
    return {name: int(n) for name, n in (word.split("=") for word in hits.split())}


@pytest.mark.parametrize("case", RULE_CASES, ids=[f"{c.op}: {c.id}" for c in RULE_CASES])
def test_simplification_rule(case):
    before = parse_graph(graph_text(case.signature, case.body))
    after = check_pass(simplify_and_clean, before, draws=8)
    assert text(after) == graph_text(case.signature, case.expected or case.body)
    stats = []
    run_passes(before, [Pass("simplify", simplify)], "optimize", stats)
    assert stats[0].counts == rule_hits(case.hits)


def test_every_rule_fires_in_a_case_and_every_op_with_rules_has_a_case_it_leaves():
    assert {name for c in RULE_CASES for name in rule_hits(c.hits)} == {r.name for r in RULES}
    assert all(c.hits for c in RULE_CASES if c.expected is not None)
    ops_with_rules = {name for name, opdef in OPS.items() if RULES.for_op(opdef)}
    assert {c.op for c in RULE_CASES if c.expected is not None} == ops_with_rules
    unconditional = {"identity", "stop_gradient"}  # nothing to leave: they always go
    assert {c.op for c in RULE_CASES if c.expected is None} >= ops_with_rules - unconditional


def test_simplify_leaves_nodes_it_made_unused_for_dead_code_elimination():
    before = parse_graph(graph_text(X, """
        %1:f32[2,3] = exp %0
        %2:f32[] = constant {value=dense<f32[]: [1.0]>}
        %3:f32[2,3] = multiply %0, %2
        return %3"""))
    simplified = simplify(before)
    assert [n.op for n in simplified.nodes] == ["exp", "constant"]
    assert text(eliminate_dead_code(simplified)) == graph_text(X, "return %0")


# -- gradient clean-up on real gradient graphs ----------------------------------------------------
W = gc.Variable(np.ones(3, np.float32), name="w")
B = gc.Variable(np.zeros(3, np.float32), name="b")


def _relu_layer_gradients(x):
    with gc.GradientTape() as tape:
        loss = gc.reduce_sum(gc.nn.relu(x * W + B))
    return tape.gradient(loss, [W, B])


def _tangent(x, y):
    return gc.jvp(lambda x, y: gc.concat([x * y, x + y], 0), [x, y], [gc.ones_like(x), gc.zeros_like(y)])[1]


# d/dw and d/db of sum(relu(x * w + b)): the loss itself, its ones seed, the seed's broadcast and the
# multiplication by it are gone, and each unbroadcast (a kept-dims sum and its squeeze) is one sum
RELU_LAYER_GRADIENTS = """
        graph _relu_layer_gradients(%0:f32[4,3] x)
          var @w: f32[3]
          var @b: f32[3]
          %1:f32[3] = read_variable {var=@w}
          %2:f32[4,3] = multiply %0, %1
          %3:f32[3] = read_variable {var=@b}
          %4:f32[4,3] = add %2, %3
          %5:f32[] = constant {value=dense<f32[]: [0.0]>}
          %6:bool[4,3] = greater %4, %5
          %7:f32[4,3] = cast %6 {dtype=f32}
          %8:f32[3] = reduce_sum %7 {axes=(0,), keepdims=False}
          %9:f32[4,3] = multiply %7, %0
          %10:f32[3] = reduce_sum %9 {axes=(0,), keepdims=False}
          return %10, %8"""

# (id, function, argument shapes, options, expected optimized graph)
GRADIENT_CASES = [
    ("reverse mode: the ones seed, its broadcast and the multiply by it go", _relu_layer_gradients, [(4, 3)], {},
     RELU_LAYER_GRADIENTS),
    ("the same by simplification alone", _relu_layer_gradients, [(4, 3)], {"constant_folding": False},
     RELU_LAYER_GRADIENTS),
    ("a batch of one: unbroadcasting over the size-1 batch axis is one sum (it keeps zeros' sign as NumPy)",
     _relu_layer_gradients, [(1, 3)],
     {"constant_folding": False}, """
        graph _relu_layer_gradients(%0:f32[1,3] x)
          var @w: f32[3]
          var @b: f32[3]
          %1:f32[3] = read_variable {var=@w}
          %2:f32[1,3] = multiply %0, %1
          %3:f32[3] = read_variable {var=@b}
          %4:f32[1,3] = add %2, %3
          %5:f32[] = constant {value=dense<f32[]: [0.0]>}
          %6:bool[1,3] = greater %4, %5
          %7:f32[1,3] = cast %6 {dtype=f32}
          %8:f32[3] = reduce_sum %7 {axes=(0,), keepdims=False}
          %9:f32[1,3] = multiply %7, %0
          %10:f32[3] = reduce_sum %9 {axes=(0,), keepdims=False}
          return %10, %8"""),
    ("forward mode: adding the zero tangent and multiplying by the ones tangent go", _tangent, [(3,), (3,)],
     {"constant_folding": False}, """
        graph _tangent(%0:f32[3] x, %1:f32[3] y)
          %2:f32[3] = full_like %0 {value=1.0, dtype=f32}
          %3:f32[3] = full_like %1 {value=0.0, dtype=f32}
          %4:f32[3] = multiply %3, %0
          %5:f32[3] = add %1, %4
          %6:f32[6] = concat %5, %2 {axis=0}
          return %6"""),
]


def _check_stages_agree(stages: dict[str, Graph], seed: int) -> None:
    """The optimized and fused stages compute what the traced graph computes, on random inputs."""
    traced = stages["traced"]
    variables = dict(traced.variables)
    rng = np.random.default_rng(seed)
    inputs = [random_array(v.type, rng) for v in traced.inputs]
    initial = {name: random_array(var.type, rng) for name, var in variables.items()}
    saved = {name: var.value for name, var in variables.items()}
    try:
        reference = evaluate(traced, inputs, variables, initial)
        for stage in ("optimized", "fused"):
            assert_same_runs(reference, evaluate(stages[stage], inputs, variables, initial), pruned=True)
    finally:
        for name, var in variables.items():
            var.value = saved[name]


@pytest.mark.parametrize("fn, shapes, options, expected", [c[1:] for c in GRADIENT_CASES], ids=[c[0] for c in GRADIENT_CASES])
def test_gradient_clean_up(fn, shapes, options, expected):
    cf = gc.function(fn, backend="numpy").get_concrete_function(*(np.ones(s, np.float32) for s in shapes))
    stages, _ = compile_stages(cf.graph, run_op, options)
    assert text(stages["optimized"]) == textwrap.dedent(expected).strip("\n")
    _check_stages_agree(stages, seed=1)


# -- the pass manager --------------------------------------------------------------------------------
SMALL = graph_text(X, """
    %1:f32[] = constant {value=dense<f32[]: [1.0]>}
    %2:f32[] = constant {value=dense<f32[]: [2.0]>}
    %3:f32[] = add %1, %2
    %4:f32[2,3] = multiply %0, %1
    %5:f32[2,3] = exp %4
    %6:f32[2,3] = exp %4
    %7:f32[2,3] = add %5, %6
    %8:f32[2,3] = multiply %7, %3
    return %8""")


def _drop_last_node_but_keep_outputs(graph: Graph) -> Graph:
    """A deliberately broken pass: the result still refers to a node it no longer holds."""
    broken = Graph(graph.name)
    broken.inputs, broken.variables = list(graph.inputs), dict(graph.variables)
    broken.nodes, broken.outputs = graph.nodes[:-1], list(graph.outputs)
    return broken


def _mistype_exp(graph: Graph) -> Graph:
    """A deliberately broken pass: ``exp`` results typed f64[7], which the op's shape rule denies."""

    def rule(node, inputs, writer):
        if node.op == "exp":
            return writer.graph.add_node("exp", inputs, {}, [TensorType((7,), float64)]).outputs
        return None

    return rebuild(graph, rule)


@pytest.mark.parametrize("broken, message", [
    (_drop_last_node_but_keep_outputs, "output 0 .* is not defined in this graph"),
    (_mistype_exp, "results typed f64\\[7\\] but the op's shape rule gives f32\\[2,3\\]"),
])
def test_the_verifier_catches_a_pass_that_breaks_the_graph(broken, message):
    stats = []
    passes = [Pass("simplify", simplify), Pass("broken", broken), Pass("never_run", eliminate_dead_code)]
    with pytest.raises(IRError, match=f"pass 'broken' \\(optimize\\) returned an invalid graph: .*{message}"):
        run_passes(parse_graph(SMALL), passes, "optimize", stats)
    assert [s.name for s in stats] == ["simplify"]


def test_run_passes_keeps_per_pass_statistics():
    stats = []
    graph = parse_graph(SMALL)
    passes = [Pass("fold", fold), Pass("simplify", simplify), Pass("cse", eliminate_common_subexpressions),
              Pass("dce", eliminate_dead_code)]
    result = run_passes(graph, passes, "optimize", stats)
    assert [(s.stage, s.name, s.nodes_before, s.nodes_after) for s in stats] == [
        ("optimize", "fold", 8, 8), ("optimize", "simplify", 8, 7), ("optimize", "cse", 7, 6), ("optimize", "dce", 6, 4),
    ]
    assert all(s.seconds >= 0 for s in stats)
    assert text(result) == graph_text(X, """
        %1:f32[] = constant {value=dense<f32[]: [3.0]>}
        %2:f32[2,3] = exp %0
        %3:f32[2,3] = add %2, %2
        %4:f32[2,3] = multiply %3, %1
        return %4""")


def test_run_to_fixed_point_repeats_until_nothing_changes():
    stats = []
    # the first round changes the graph, so a second runs; it changes nothing, so none follows
    graph = parse_graph(graph_text("", """
        %0:f32[] = constant {value=dense<f32[]: [4.0]>}
        %1:f32[] = sqrt %0
        return %1"""))
    result = run_to_fixed_point(graph, [Pass("fold", fold), Pass("dce", eliminate_dead_code)], "optimize", stats, 8)
    assert [s.name for s in stats] == ["fold", "dce", "fold", "dce"]
    assert text(result) == graph_text("", """
        %0:f32[] = constant {value=dense<f32[]: [2.0]>}
        return %0""")


@pytest.mark.parametrize("option, missing_pass", [
    ("constant_folding", "fold_constants"),
    ("arithmetic_optimization", "simplify"),
    ("common_subgraph_elimination", "eliminate_common_subexpressions"),
    ("dead_code_elimination", "eliminate_dead_code"),
    ("fusion", "fuse"),
])
def test_compile_stages_options_switch_passes_off(option, missing_pass):
    graph = parse_graph(SMALL)
    _, all_on = compile_stages(graph, run_op)
    stages, stats = compile_stages(graph, run_op, {option: False})
    assert missing_pass in {s.name for s in all_on}
    assert missing_pass not in {s.name for s in stats}
    assert list(stages) == ["traced", "optimized", "fused"]
    _check_stages_agree(stages, seed=2)


def test_compile_stages_rejects_unknown_options():
    with pytest.raises(ValueError, match=r"unknown optimizer options \['constant_fold'\]; known: constant_folding"):
        compile_stages(parse_graph(SMALL), run_op, {"constant_fold": False})
    assert set(DEFAULT_OPTIONS) == set(gc.config.get_optimizer_options())


def test_fold_simplify_cse_dce_fuse_are_pure_on_a_training_step():
    weights = [gc.Variable(np.full((3, 3), 0.5, np.float32), name=f"w{i}") for i in range(2)]

    @gc.function(backend="numpy")
    def step(x):
        with gc.GradientTape() as tape:
            h = x
            for w in weights:
                h = gc.tanh(gc.matmul(h, w) + 1.0)
            loss = gc.reduce_mean(gc.nn.softmax(h) * 1.0)
        for w, g in zip(weights, tape.gradient(loss, weights)):
            w.assign_sub(0.1 * g)
        return loss

    graph = step.get_concrete_function(np.ones((2, 3), np.float32)).graph
    for pass_fn in (fold, simplify, eliminate_common_subexpressions, eliminate_dead_code, fuse):
        check_pass(pass_fn, graph, draws=1)


# -- property: random graphs evaluate the same at every stage ---------------------------------------
UNARY = {f.__name__: f for f in (ops.exp, ops.tanh, ops.negative, ops.abs, ops.square, ops.sqrt, ops.log, ops.relu,
                                   ops.sigmoid, ops.sign)}
ARITHMETIC = {"add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": ops.divide}
BINARY = {**ARITHMETIC, "pow": ops.power, "maximum": ops.maximum, "minimum": ops.minimum}
REDUCTIONS = {f.__name__: f for f in (ops.reduce_sum, ops.reduce_max, ops.reduce_min, ops.reduce_prod, ops.reduce_mean)}
SCALARS = (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.nan, np.inf)
# Idioms a simplifier may touch: no-ops written out (op functions never emit them), which must go,
# and look-alikes that must stay (x - x and x * 0 are not 0 for Inf and NaN).
IDIOMS = {
    "identity": lambda x: bind("identity", x),
    "transpose": lambda x: bind("transpose", x, perm=tuple(range(x.ndim))),
    "reshape": lambda x: bind("reshape", x, shape=x.shape),
    "broadcast_to": lambda x: bind("broadcast_to", x, shape=x.shape),
    "cast": lambda x: bind("cast", x, dtype=x.dtype),
    "reduce_sum": lambda x: bind("reduce_sum", x, axes=(), keepdims=False),
    "x * 1": lambda x: ops.multiply(x, 1),
    "x + 0": lambda x: ops.add(ops.zeros_like(x), x),
    "--x": lambda x: ops.negative(ops.negative(x)),
    "x - x": lambda x: ops.subtract(x, x),
    "x * 0": lambda x: ops.multiply(x, ops.zeros_like(x)),
    "0 * x": lambda x: ops.multiply(0.0, x),
    "x / x": lambda x: ops.divide(x, x),
    "x + -x": lambda x: ops.add(x, ops.negative(x)),
    "x - -0.0": lambda x: ops.subtract(x, -0.0),
    "x ** 2": lambda x: ops.power(x, 2.0),
}
# step kinds, the common ones listed more than once
KINDS = ("unary", "unary", "binary", "binary", "scalar", "idiom", "idiom", "reduce", "shape", "where", "matmul",
         "read", "read", "update", "update", "softmax")


class _Program:
    """A random graph drawn step by step; each step applies an op to values drawn from those so far."""

    def __init__(self, data):
        self.draw = data.draw
        rows, cols = self.draw(st.integers(1, 3)), self.draw(st.sampled_from([1, 2, 4]))
        self.shapes = [(rows, cols), (cols,), (rows, 1), (1, cols), ()]
        self.graph = Graph("random")
        self.values = []
        for i in range(self.draw(st.integers(1, 3))):
            t = TensorType(self.draw(st.sampled_from(self.shapes)), self.draw(st.sampled_from([float32, float64])))
            self.values.append(self.graph.add_input(t, f"x{i}"))
        self.variables = [Var(f"v{i}", TensorType(self.draw(st.sampled_from(self.shapes)), float32))
                          for i in range(self.draw(st.integers(1, 2)))]

    def pick(self):
        return self.draw(st.sampled_from(self.values))

    def op(self, table: dict):
        return table[self.draw(st.sampled_from(sorted(table)))]

    def step(self):
        kind = self.draw(st.sampled_from(KINDS))
        x = self.pick()
        if kind == "unary":
            return self.op(UNARY)(x)
        if kind == "binary":
            return self.op(BINARY)(x, self.pick())
        if kind == "scalar":
            scalar, op = self.draw(st.sampled_from(SCALARS)), self.op(ARITHMETIC)
            return op(x, scalar) if self.draw(st.booleans()) else op(scalar, x)
        if kind == "idiom":
            return self.op(IDIOMS)(x)
        if kind == "reduce":
            axes = self.draw(st.lists(st.integers(0, x.ndim - 1), max_size=x.ndim, unique=True)) if x.ndim else []
            return self.op(REDUCTIONS)(x, tuple(axes), self.draw(st.booleans()))
        if kind == "shape":
            target = self.draw(st.sampled_from(["transpose", "flatten", "expand", "broadcast", "broadcast_like"]))
            if target == "transpose":
                return ops.transpose(x)
            if target == "flatten":
                return ops.reshape(ops.reshape(x, (-1,)), x.shape)
            if target == "expand":
                return ops.squeeze(ops.expand_dims(x, 0), 0)
            if target == "broadcast":
                return ops.broadcast_to(x, self.shapes[0])
            return ops.broadcast_like(x, self.pick())
        if kind == "where":
            return ops.where(ops.greater(x, self.pick()), self.pick(), self.pick())
        if kind == "matmul":
            return ops.matmul(x, ops.transpose(self.pick())) if x.ndim == 2 else None
        if kind == "softmax":
            return ops.softmax(x) if x.ndim else ops.gelu(x, approximate=True)
        var = self.draw(st.sampled_from(self.variables))
        if kind == "read":
            return ops.read_variable(var)
        # an update as optimizers write it: v <- v * 0.5 - x (or x's mean, if x is larger), returning the value read
        old = ops.read_variable(var)
        if broadcast_shapes(x.shape, var.type.shape) != var.type.shape:
            x = ops.reduce_mean(x)
        new = ops.subtract(ops.multiply(old, 0.5), ops.cast(ops.broadcast_to(x, var.type.shape), float32))
        ops.assign_variable(var, new)
        return old

    def build(self) -> Graph:
        with handler(GraphBuilder(self.graph)):
            for _ in range(self.draw(st.integers(1, 16))):
                try:
                    result = self.step()
                except GraphcError:  # shapes that do not broadcast, a matmul that does not fit
                    continue
                if result is not None:
                    self.values.append(result)
        used = {v for n in self.graph.nodes for v in n.inputs}
        unused = [v for v in self.values if v not in used and v is not self.values[-1]]
        self.graph.outputs = [self.values[-1]] + [v for v in unused if self.draw(st.booleans())]
        return self.graph


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_graphs_evaluate_the_same_at_every_stage(data):
    graph = _Program(data).build()
    snapshot = format_graph(verify(graph), full_constants=True)
    stages, stats = compile_stages(graph, run_op)
    assert format_graph(graph, full_constants=True) == snapshot
    assert stages["traced"] is graph
    for stage in stages.values():
        verify(stage)
    assert not [n for n in stages["fused"].nodes if n.opdef.elementwise]
    _check_stages_agree(stages, seed=data.draw(st.integers(0, 2**16)))
