"""Host calls in the IR: what each pass may and may not do with ``host_call`` (stateful) and
``pure_host_call``, and the ordering edges that keep stateful calls in program order."""
from __future__ import annotations

import numpy as np

from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir.dispatch import GraphBuilder, handler
from graphc.ir.graph import Graph
from graphc.ir.ops import add, assign_variable, host_call, read_variable
from graphc.ir.ops.host import HostFunction
from graphc.ir.passes import compile_stages, eliminate_common_subexpressions, eliminate_dead_code
from graphc.ir.types import TensorType, float32

SCALAR = TensorType((), float32)


class Var:
    def __init__(self, name, value):
        self.name, self.type, self.value = name, SCALAR, np.float32(value)


def build(body) -> tuple[Graph, list]:
    """A graph of one f32 input built by ``body(x, calls)``; ``calls`` records what the functions saw."""
    graph = Graph("g")
    x = graph.add_input(SCALAR, "x")
    calls: list = []
    with handler(GraphBuilder(graph)):
        graph.outputs = list(body(x, calls))
    return graph, calls


def recorder(calls, tag, results=()):
    return HostFunction(lambda *a: calls.append((tag, *map(float, a))) or (results[0] if results else None),
                        [SCALAR] * len(results), kind="numpy_function", single=bool(results))


def test_dce_keeps_unused_stateful_calls_and_removes_unused_pure_ones():
    def body(x, calls):
        host_call(recorder(calls, "stateful"), x)
        host_call(recorder(calls, "pure", [np.float32(1)]), x, stateful=False)
        return [x]

    graph, calls = build(body)
    pruned = eliminate_dead_code(graph)
    assert [n.op for n in pruned.nodes] == ["host_call"]
    Interpreter(pruned).run([np.float32(2)])
    assert calls == [("stateful", 2.0)]


def test_cse_merges_identical_pure_calls_only():
    def body(x, calls):
        pure = recorder(calls, "pure", [np.float32(1)])
        stateful = recorder(calls, "stateful", [np.float32(1)])
        a, = host_call(pure, x, stateful=False)
        b, = host_call(pure, x, stateful=False)
        c, = host_call(stateful, x)
        d, = host_call(stateful, x)
        return [add(a, b), add(c, d)]

    graph, _ = build(body)
    merged = eliminate_common_subexpressions(graph)
    ops = [n.op for n in merged.nodes]
    assert ops.count("pure_host_call") == 1 and ops.count("host_call") == 2


def test_stateful_calls_are_ordered_with_writes_and_never_fused_or_folded():
    v = Var("v", 1.0)

    def body(x, calls):
        host_call(recorder(calls, "first"), read_variable(v))
        assign_variable(v, add(read_variable(v), x))
        host_call(recorder(calls, "second"), read_variable(v))
        c, = host_call(recorder(calls, "constant input", [np.float32(5)]), np.float32(3))
        return [add(c, 1.0)]

    graph, calls = build(body)
    first, second, third = [n for n in graph.nodes if n.op == "host_call"]
    write = next(n for n in graph.nodes if n.op == "assign_variable")
    edges = graph.effect_edges()
    assert (first, write) in edges and (write, second) in edges and (first, second) in edges
    assert (second, third) in edges
    fused = compile_stages(graph, run_op)[0]["fused"]
    kept = [n for n in fused.nodes if n.op == "host_call"]
    assert len(kept) == 3  # not folded (the third has constant inputs), not fused into kernels
    assert all(n.op != "fused" or "host_call" not in [m.op for m in n.attrs["body"].nodes] for n in fused.nodes)
    assert fused.nodes.index(kept[0]) < next(i for i, n in enumerate(fused.nodes) if n.op == "assign_variable")
    assert Interpreter(fused).run([np.float32(2)])[0] == 6.0
    assert calls == [("first", 1.0), ("second", 3.0), ("constant input", 3.0)]


def test_a_region_op_holding_a_stateful_call_calls_the_host_itself():
    import graphc as gc

    def loop(printing):
        def fn(x, n):
            for i in gc.range(n):  # n a tensor: a while_loop
                if printing:
                    gc.print(i)
                x = x + 1.0
            return n * 0  # nothing needs the loop

        return gc.function(fn).get_concrete_function(gc.constant(1.0), gc.constant(3)).graphs["fused"]

    printing, silent = loop(True), loop(False)
    (node,) = [n for n in printing.nodes if n.op == "while_loop"]
    assert node.calls_host and not node.opdef.effect
    assert all(n.op != "while_loop" for n in silent.nodes)  # removed: nothing needs it
    assert make_pure_copy_is_pure(node)


def make_pure_copy_is_pure(node) -> bool:
    """make_pure replaces the loop's regions by copies without stateful calls, leaving the node's own."""
    from graphc.ir.ops.host import make_pure

    graph = Graph("copy")
    copy = graph.copy_node(node, [graph.add_input(v.type) for v in node.inputs])
    make_pure(graph)
    return not copy.calls_host and node.calls_host
