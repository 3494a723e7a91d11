"""The region ops ``cond`` and ``while_loop`` in the IR: shape rules and the verifier, the text form,
the passes (which also run inside regions), the interpreter against native code (a table and a
differential fuzz of random control flow), and the ops' derivative rules."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc  # noqa: F401  (registers the backends' kernels)
from graphc.backends.llvm.compiler import compile_graph
from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir import environment, ops
from graphc.ir.autodiff import gradients
from graphc.ir.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.ir.ops.call import GraphFunction
from graphc.ir.ops.control import build_region
from graphc.ir.passes import compile_stages, plan_memory
from graphc.ir.text import format_graph, parse_graph
from graphc.ir.types import TensorType, bool_, float32, float64, fresh_dim, int32
from graphc.ir.verify import verify

F32 = TensorType((3,), float32)
I32 = TensorType((), int32)


def region(input_types, build, name="region"):
    return build_region(name, list(input_types), lambda *a: list(build(*a)))


def op_counts(graph: Graph) -> dict:
    """How often each op occurs in ``graph`` and every graph its nodes hold."""
    counts: dict = {}
    for node in graph.nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
        for inner in (a for a in node.attrs.values() if isinstance(a, Graph)):
            for op, n in op_counts(inner).items():
                counts[op] = counts.get(op, 0) + n
    return counts


# -- example graphs: builder, inputs, NumPy reference ---------------------------------------------------
def doubling(t=F32, limit=100.0, maximum=None):
    def build(x):
        cond = region([t], lambda v: [ops.less(ops.reduce_sum(v), limit)])
        body = region([t], lambda v: [ops.multiply(v, 2.0)])
        return ops.while_loop(x, cond=cond, body=body, maximum_iterations=maximum)

    def reference(x):
        for _ in range(10**6 if maximum is None else maximum):
            if x.sum() >= limit:
                break
            x = x * 2
        return [x]

    return [t], build, reference


def bounded(maximum):
    def build(x):
        cond = region([F32], lambda v: [ops.greater(ops.reduce_sum(v), -1.0)])
        body = region([F32], lambda v: [ops.add(v, 1.0)])
        return ops.while_loop(x, cond=cond, body=body, maximum_iterations=maximum)

    return [F32], build, lambda x: [x + maximum]


def counting():
    """(i:int32, acc) loop variables, a captured bound and weight; the body swaps nothing in place."""
    types = [I32, F32, I32, F32]

    def build(n, x, w):
        cond = region(types, lambda i, acc, n_, w_: [ops.less(i, n_)])
        body = region(types, lambda i, acc, n_, w_: [ops.add(i, 1), ops.add(ops.multiply(acc, w_), ops.cast(i, float32))])
        return ops.while_loop(ops.zeros((), int32), x, n, w, cond=cond, body=body)

    def reference(n, x, w):
        i, acc = 0, x
        while i < n:
            acc, i = acc * w + np.float32(i), i + 1
        return [np.int32(i), acc]

    return [I32, F32, F32], build, reference


def fibonacci():
    types = [F32, F32, I32]

    def build(a, b):
        cond = region(types, lambda x, y, i: [ops.less(i, 5)])
        body = region(types, lambda x, y, i: [y, ops.add(x, y), ops.add(i, 1)])
        return ops.while_loop(a, b, ops.zeros((), int32), cond=cond, body=body)

    def reference(a, b):
        for _ in range(5):
            a, b = b, a + b
        return [a, b, np.int32(5)]

    return [F32, F32], build, reference


def swap_branches():
    def build(p, a, b):
        then = region([F32, F32], lambda x, y: [y, x])
        orelse = region([F32, F32], lambda x, y: [x, ops.multiply(y, 3.0)])
        return ops.cond(ops.greater(ops.reduce_sum(p), 0.0), a, b, then_branch=then, else_branch=orelse)

    def reference(p, a, b):
        return [b, a] if p.sum() > 0 else [a, b * 3]

    return [F32, F32, F32], build, reference


def nested():
    """A while whose body holds a cond whose branch holds a while."""
    inner_cond = region([F32], lambda v: [ops.less(ops.reduce_max(v), 10.0)])
    inner_body = region([F32], lambda v: [ops.add(v, 3.0)])
    then = region([F32], lambda v: ops.while_loop(v, cond=inner_cond, body=inner_body))
    orelse = region([F32], lambda v: [ops.negative(v)])
    body = region([F32, I32], lambda v, i: [*ops.cond(ops.greater(ops.reduce_sum(v), 0.0), v, then_branch=then,
                                                      else_branch=orelse), ops.add(i, 1)])
    cond = region([F32, I32], lambda v, i: [ops.less(i, 3)])

    def build(x):
        return ops.while_loop(x, ops.zeros((), int32), cond=cond, body=body)

    def reference(x):
        for _ in range(3):
            if x.sum() > 0:
                while x.max() < 10:
                    x = x + 3
            else:
                x = -x
        return [x, np.int32(3)]

    return [F32], build, reference


def symbolic():
    t = TensorType((fresh_dim(),), float32)
    return doubling(t, 50.0, maximum=7)


EXAMPLES = [
    ("doubling", doubling(), [np.array([1, 2, 3], np.float32)]),
    ("zero_iterations", doubling(), [np.array([100, 2, 3], np.float32)]),
    ("maximum_iterations", bounded(4), [np.array([1, 2, 3], np.float32)]),
    ("maximum_iterations_zero", bounded(0), [np.array([1, 2, 3], np.float32)]),
    ("counting", counting(), [np.int32(4), np.array([1, -2, 0.5], np.float32), np.array([0.5, 1, 2], np.float32)]),
    ("counting_zero", counting(), [np.int32(-1), np.array([1, -2, 0.5], np.float32), np.ones(3, np.float32)]),
    ("fibonacci", fibonacci(), [np.array([0, 1, 2], np.float32), np.array([1, 1, 1], np.float32)]),
    ("swap_then", swap_branches(), [np.ones(3, np.float32), np.arange(3, dtype=np.float32), -np.ones(3, np.float32)]),
    ("swap_else", swap_branches(), [-np.ones(3, np.float32), np.arange(3, dtype=np.float32), -np.ones(3, np.float32)]),
    ("nested", nested(), [np.array([1, -5, 2], np.float32)]),
    ("nested_negative", nested(), [np.array([-1, -5, 2], np.float32)]),
    ("symbolic_size", symbolic(), [np.array([1, 2, 3, 4, 5], np.float32)]),
    ("empty", symbolic(), [np.zeros(0, np.float32)]),
]


def build_graph(types, build) -> Graph:
    return region(types, build, name="example")


@pytest.mark.parametrize("name, example, inputs", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_interpreter_and_native_code_agree_with_numpy(name, example, inputs):
    types, build, reference = example
    graph = verify(build_graph(types, build))
    expected = reference(*inputs)
    stages, _ = compile_stages(graph, run_op)
    for result in (Interpreter(graph).run(inputs), Interpreter(stages["fused"]).run(inputs),
                   compile_graph(stages["fused"]).run(inputs)):
        assert len(result) == len(expected)
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
            assert got.dtype == np.asarray(want).dtype


@pytest.mark.parametrize("name, example, inputs", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_text_round_trip(name, example, inputs):
    types, build, _ = example
    graph = build_graph(types, build)
    for stage in compile_stages(graph, run_op)[0].values():
        text = format_graph(stage, full_constants=True)
        parsed = verify(parse_graph(text))
        assert format_graph(parsed, full_constants=True) == text
        for a, b in zip(Interpreter(parsed).run(inputs), Interpreter(stage).run(inputs)):
            np.testing.assert_array_equal(a, b)


def test_text_form_names_each_region():
    text = str(build_graph(*swap_branches()[:2]))
    assert " then_branch {" in text and "  } else_branch {" in text
    assert " cond {" in str(build_graph(*doubling()[:2])) and "  } body {" in str(build_graph(*doubling()[:2]))


# -- the verifier ---------------------------------------------------------------------------------
def _while_with(cond=None, body=None, operands=None, maximum_iterations=None):
    g = Graph("bad")
    x = g.add_input(F32)
    cond = cond or region([F32], lambda v: [ops.less(ops.reduce_sum(v), 1.0)])
    body = body or region([F32], lambda v: [v])
    g.add_node("while_loop", operands or [x], {"cond": cond, "body": body, "maximum_iterations": maximum_iterations}, [F32])
    g.outputs = [g.nodes[-1].outputs[0]]
    return g


def _cond_with(pred_type=TensorType((), bool_), then=None, orelse=None):
    g = Graph("bad")
    p, x = g.add_input(pred_type), g.add_input(F32)
    then = then or region([F32], lambda v: [v])
    orelse = orelse or region([F32], lambda v: [ops.negative(v)])
    g.add_node("cond", [p, x], {"then_branch": then, "else_branch": orelse}, [F32])
    g.outputs = [g.nodes[-1].outputs[0]]
    return g


def _capturing_body():
    """A body reading a value of another graph instead of an input."""
    outer = Graph("outer")
    stray = outer.add_input(F32)
    body = Graph("body")
    v = body.add_input(F32)
    node = body.add_node("add", [v, stray], {}, [F32])
    body.outputs = node.outputs
    return _while_with(body=body)


def _stateful_body():
    class Var:
        name, type = "w", F32

    body = Graph("body")
    v = body.add_input(F32)
    body.variables = {"w": Var()}
    read = body.add_node("read_variable", [], {"var": "w"}, [F32])
    body.outputs = body.add_node("add", [v, read.outputs[0]], {}, [F32]).outputs
    return _while_with(body=body)


MALFORMED = [
    ("predicate_not_bool", lambda: _cond_with(pred_type=TensorType((), float32)), "the predicate must be a bool scalar"),
    ("predicate_not_scalar", lambda: _cond_with(pred_type=TensorType((2,), bool_)), "the predicate must be a bool scalar"),
    ("branches_differ", lambda: _cond_with(orelse=region([F32], lambda v: [ops.cast(v, float64)])), "branches return different types"),
    ("branch_takes_other_inputs", lambda: _cond_with(then=region([I32], lambda v: [ops.cast(v, float32)])), "takes 1 inputs|operand 0 has type"),
    ("body_changes_type", lambda: _while_with(body=region([F32], lambda v: [ops.reduce_sum(v)])), "the body returns"),
    ("cond_not_bool", lambda: _while_with(cond=region([F32], lambda v: [ops.reduce_sum(v)])), "cond must return one bool scalar"),
    ("operand_count", lambda: _while_with(cond=region([F32, F32], lambda v, w: [ops.less(ops.reduce_sum(v), 1.0)])), "takes 2 inputs"),
    ("negative_maximum", lambda: _while_with(maximum_iterations=-1), "maximum_iterations"),
    ("outer_value_inside", _capturing_body, "not defined in this graph"),
    ("variable_inside", _stateful_body, "regions take variables as operands"),
]


@pytest.mark.parametrize("name, make, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_verifier_rejects_malformed_regions(name, make, message):
    with pytest.raises(GraphcError, match=message):
        verify(make())


# -- passes ---------------------------------------------------------------------------------------
def test_passes_run_inside_regions():
    def build(x, p):
        def body(v):
            dead = ops.exp(v)  # noqa: F841  (unused: removed inside the region)
            twice = ops.add(ops.multiply(v, 2.0), ops.multiply(v, 2.0))  # a common subexpression
            return [ops.tanh(ops.add(twice, 1.0))]

        loop = ops.while_loop(x, cond=region([F32], lambda v: [ops.less(ops.reduce_sum(v), 2.5)]), body=region([F32], body))
        constant_pred = ops.greater(ops.constant(1.0), 0.0)
        chosen = ops.cond(constant_pred, p, then_branch=region([F32], lambda v: [ops.sin(v)]),
                          else_branch=region([F32], lambda v: [ops.cos(v)]))
        return [*loop, *chosen]

    graph = build_graph([F32, F32], build)
    stages, _ = compile_stages(graph, run_op)
    optimized, fused = stages["optimized"], stages["fused"]
    loop = next(n for n in optimized.nodes if n.op == "while_loop")
    body_ops = op_counts(loop.attrs["body"])
    assert "exp" not in body_ops and body_ops["multiply"] == 1  # dead code gone, subexpression shared
    assert "cond" not in op_counts(optimized) and op_counts(optimized)["sin"] == 1  # the constant predicate's branch
    fused_loop = next(n for n in fused.nodes if n.op == "while_loop")
    assert [n.op for n in fused_loop.attrs["body"].nodes if n.op != "constant"] == ["fused"]  # fused inside the body
    assert all(inner.op != "while_loop" for n in fused.kernels for inner in n.attrs["body"].nodes)
    inputs = [np.array([0.1, 0.2, 0.3], np.float32), np.array([1.0, 2.0, 3.0], np.float32)]
    for got, want in zip(compile_graph(fused).run(inputs), Interpreter(graph).run(inputs)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_memory_plan_treats_a_region_op_as_one_node():
    graph = compile_stages(build_graph(*nested()[:2]), run_op)[0]["fused"]
    plan = plan_memory(graph)
    names = {v: f"%{i}" for i, v in enumerate(graph.values())}
    loop = next(n for n in graph.nodes if n.op == "while_loop")
    planned = {b.name for b in plan.buffers}
    assert {names[v] for v in loop.outputs} <= planned  # the loop's results: buffers of this graph
    assert len(plan.buffers) <= sum(len(n.outputs) for n in graph.nodes)  # nothing of the regions


# -- derivative rules -------------------------------------------------------------------------------
def _data_dependent(x, w):
    """while sum(x^2) < 30: x = x * w + sin(x)   (trip count depends on x and w)."""
    t = TensorType((3,), float64)
    cond = region([t, t], lambda v, w_: [ops.less(ops.reduce_sum(ops.square(v)), 30.0)])
    body = region([t, t], lambda v, w_: [ops.add(ops.multiply(v, w_), ops.sin(v))])
    (y,) = ops.while_loop(x, w, cond=cond, body=body)
    chosen = ops.cond(ops.greater(ops.reduce_sum(y), 0.0), y, w,
                      then_branch=region([t, t], lambda a, b: [ops.multiply(a, b)]),
                      else_branch=region([t, t], lambda a, b: [ops.exp(a)]))
    return ops.reduce_sum(ops.square(chosen[0]))


def _scalar_graph():
    t = TensorType((3,), float64)
    return region([t, t], lambda x, w: [_data_dependent(x, w)], name="f")


def _numeric_gradient(run, args, eps=1e-6):
    grads = []
    for k, a in enumerate(args):
        g = np.zeros_like(a)
        for i in range(a.size):
            e = np.zeros_like(a)
            e.flat[i] = eps
            plus = [b + e if j == k else b for j, b in enumerate(args)]
            minus = [b - e if j == k else b for j, b in enumerate(args)]
            g.flat[i] = (run(plus) - run(minus)) / (2 * eps)
        grads.append(g)
    return grads


POINTS = [
    [np.array([0.5, 1.0, -0.3]), np.array([1.2, 0.9, 1.1])],
    [np.array([-2.0, 1.5, 0.7]), np.array([1.3, 1.4, 0.8])],
    [np.array([4.0, 4.0, 4.0]), np.array([1.1, 1.0, 0.9])],  # no iteration
]


@pytest.mark.parametrize("point", POINTS)
def test_reverse_and_forward_mode_through_a_data_dependent_loop(point):
    graph = _scalar_graph()
    f = lambda args: float(Interpreter(graph).run(args)[0])  # noqa: E731
    numeric = _numeric_gradient(f, point)
    grad_graph = GraphFunction(graph).gradient().graph  # (x, w, ct) -> (dx, dw)
    reverse = Interpreter(grad_graph).run([*point, np.float64(1.0)])
    forward = GraphFunction(graph).tangent().graph  # (x, w, tx, tw) -> ty
    for k, expected in enumerate(numeric):
        np.testing.assert_allclose(reverse[k], expected, rtol=1e-5, atol=1e-7)
        for i in range(expected.size):
            tangents = [np.zeros(3), np.zeros(3)]
            tangents[k].flat[i] = 1.0
            (ty,) = Interpreter(forward).run([*point, *tangents])
            np.testing.assert_allclose(ty, expected.flat[i], rtol=1e-5, atol=1e-7)


def test_second_derivatives_through_a_loop_and_native_gradients():
    graph = _scalar_graph()
    point = POINTS[0]
    grad_graph = GraphFunction(graph).gradient().graph
    dx = lambda args: Interpreter(grad_graph).run([*args, np.float64(1.0)])[0]  # noqa: E731
    second = GraphFunction(grad_graph).gradient().graph  # d(sum(u * dx))/d(x, w)
    u = np.array([0.3, -0.7, 1.1])
    got = Interpreter(second).run([*point, np.float64(1.0), u, np.zeros(3)])
    numeric = _numeric_gradient(lambda args: float(np.dot(u, dx(args))), point, eps=1e-5)
    for g, n in zip(got, numeric):
        np.testing.assert_allclose(g, n, rtol=1e-4, atol=1e-6)
    stages, _ = compile_stages(second, run_op)
    native = compile_graph(stages["fused"]).run([*point, np.float64(1.0), u, np.zeros(3)])
    for a, b in zip(native, got):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_gradients_appended_to_a_graph():
    t = TensorType((3,), float64)
    g = Graph("g")
    x, w = g.add_input(t), g.add_input(t)
    from graphc.ir.dispatch import GraphBuilder, handler

    with handler(GraphBuilder(g)):
        y = _data_dependent(x, w)
    g.outputs = [y, *gradients(g, [y], [x, w])]
    verify(g)
    point = POINTS[1]
    numeric = _numeric_gradient(lambda args: float(Interpreter(g).run(args)[0]), point)
    for got, want in zip(Interpreter(g).run(point)[1:], numeric):
        np.testing.assert_allclose(got, want, rtol=1e-5)


# -- differential fuzz: random control flow, native code against the interpreter ---------------------------
FUZZ_EXAMPLES = max(10, environment.value("GRAPHC_FUZZ_EXAMPLES") // 20)
UNARY = (ops.sin, ops.tanh, ops.abs, lambda v: ops.multiply(v, 0.75), lambda v: ops.add(v, 1.5), ops.negative)
BINARY = (ops.add, ops.multiply, ops.maximum, ops.subtract)


class _Program:
    """Turns a list of integers into ops: elementwise steps, conds and loops (nested up to depth 2)."""

    def __init__(self, codes: list[int]):
        self.codes, self.i = codes, 0

    def next(self, n: int) -> int:
        code = self.codes[self.i % len(self.codes)] if self.codes else 0
        self.i += 1
        return code % n

    def block(self, values: list, steps: int, depth: int) -> list:
        values = list(values)
        for _ in range(steps):
            values.append(self.step(values, depth))
        return values

    def step(self, values: list, depth: int):
        a, b = values[self.next(len(values))], values[self.next(len(values))]
        kind = self.next(4 if depth < 2 else 2)
        t = a.type
        if kind == 0:
            return UNARY[self.next(len(UNARY))](a)
        if kind == 1:
            return BINARY[self.next(len(BINARY))](a, b)
        if kind == 2:
            pred = ops.greater(ops.reduce_sum(a), ops.reduce_sum(b))
            branch = lambda: region([t, t], lambda x, y: [self.block([x, y], 1 + self.next(2), depth + 1)[-1]])  # noqa: E731
            return ops.cond(pred, a, b, then_branch=branch(), else_branch=branch())[0]
        limit, bound = 1 + self.next(4), float(1 + self.next(50))
        maximum = [None, 2, 0][self.next(3)]
        cond = region([t, I32, t], lambda x, i, y: [ops.logical_and(ops.less(i, limit),
                                                                   ops.less(ops.reduce_sum(ops.abs(x)), bound))])
        body = region([t, I32, t], lambda x, i, y: [ops.tanh(self.block([x, y], 1 + self.next(2), depth + 1)[-1]),
                                                      ops.add(i, 1)])
        return ops.while_loop(a, ops.zeros((), int32), b, cond=cond, body=body, maximum_iterations=maximum)[0]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.integers(0, 10**6), min_size=3, max_size=24), st.sampled_from([0, 1, 3, 7]), st.integers(0, 2**16))
def test_native_code_matches_the_interpreter_on_random_control_flow(codes, size, seed):
    t = TensorType((size,), float32)
    program = _Program(codes)
    graph = region([t, t], lambda x, y: program.block([x, y], 2 + program.next(3), 0)[2:], name="fuzz")
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-3, 3, size).astype(np.float32) for _ in range(2)]
    reference = Interpreter(graph).run(inputs)
    stages, _ = compile_stages(graph, run_op)
    for got, want in zip(compile_graph(stages["fused"]).run(inputs), reference):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
