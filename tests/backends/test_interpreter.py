"""The NumPy interpreter on graphs written as text IR: sizes known only at run time, run-time errors that
name the node's op and source line, and variable writes committed only when a whole run succeeds."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy.interpreter import Interpreter
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.text import parse_graph
from graphc.ir.verify import verify

# One graph serves every size of its symbolic dimensions: (name, IR text, NumPy reference, input lists).
GRAPHS = [
    (
        "softplus-rows",
        """
        graph f(%0:f32[d0,3] x)
          %1:f32[d0,3] = abs %0
          %2:f32[d0,3] = negative %1
          %3:f32[d0,3] = exp %2
          %4:f32[d0,3] = log1p %3
          %5:f32[d0,3] = relu %0
          %6:f32[d0,3] = add %4, %5
          %7:f32[d0] = reduce_sum %6 {axes=(1,), keepdims=False}
          return %7
        """,
        lambda x: np.logaddexp(0, x).sum(axis=1),
        [[np.linspace(-4, 4, 3 * n, dtype=np.float32).reshape(n, 3)] for n in (0, 1, 5)],
    ),
    (
        "matmul-broadcast-batch",
        """
        graph f(%0:f64[d0,d1,2] a, %1:f64[2,d2] b)
          %2:f64[d0,d1,d2] = matmul %0, %1
          %3:f64[d0,d2] = reduce_max %2 {axes=(1,), keepdims=False}
          return %3
        """,
        lambda a, b: np.max(a @ b, axis=1),
        [[np.arange(12.0).reshape(2, 3, 2), np.ones((2, 4))], [np.ones((1, 1, 2)), np.arange(2.0).reshape(2, 1)]],
    ),
    (
        "slice-reverse-concat",
        """
        graph f(%0:i32[d0] x)
          %1:i32[d1] = getitem %0 {index=[::-1]}
          %2:i32[d2] = concat %0, %1 {axis=0}
          %3:i64[] = argmax %2 {axis=0, dtype=i64}
          return %2, %3
        """,
        lambda x: (np.concatenate([x, x[::-1]]), np.argmax(np.concatenate([x, x[::-1]]))),
        [[np.array([3, 1, 4], np.int32)], [np.array([7], np.int32)]],
    ),
    (
        "where-broadcast-like",
        """
        graph f(%0:f32[d0,1] x, %1:f32[d0,d1] y)
          %2:bool[d0,d1] = greater %1, %0
          %3:f32[d0,d1] = broadcast_like %0, %1
          %4:f32[d0,d1] = where %2, %1, %3
          return %4
        """,
        lambda x, y: np.maximum(x, y),
        [[np.array([[0.5], [-1.0]], np.float32), np.array([[0.0, 1.0, 2.0], [-2.0, 0.0, -1.5]], np.float32)]],
    ),
]


@pytest.mark.parametrize("name,text,ref,input_lists", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_one_graph_runs_at_every_size(name, text, ref, input_lists):
    graph = verify(parse_graph(text))
    interpreter = Interpreter(graph)
    for inputs in input_lists:
        results = interpreter.run(inputs)
        want = ref(*inputs)
        want = list(want) if isinstance(want, tuple) else [want]
        assert len(results) == len(want)
        for got, expected, out in zip(results, want, graph.outputs):
            assert got.dtype == out.type.dtype.numpy and got.ndim == out.type.ndim
            np.testing.assert_allclose(got, expected, rtol=1e-6)


# Graphs whose run fails: (name, IR text, inputs, op and source line the error must name).
FAILING = [
    (
        "size-mismatch-at-run-time",
        """
        graph f(%0:f32[d0] x, %1:f32[d0] y)
          %2:f32[d0] = add %0, %1   # model.py:7
          return %2
        """,
        [np.ones(2, np.float32), np.ones(3, np.float32)],
        "add", "model.py:7",
    ),
    (
        "result-disagrees-with-the-declared-type",
        """
        graph f(%0:f32[d0] x)
          %1:f32[3] = getitem %0 {index=[1:]}   # model.py:9
          return %1
        """,
        [np.ones(5, np.float32)],
        "getitem", "model.py:9",
    ),
    (
        "reshape-size-at-run-time",
        """
        graph f(%0:f32[d0,d1] x)
          %1:f32[d1,d0] = transpose %0 {perm=(1, 0)}
          %2:f32[d0,d1] = reshape_like %1, %0
          %3:f32[d0,4] = reshape %2 {shape=(-1, 4)}   # layers.py:12
          return %3
        """,
        [np.ones((3, 2), np.float32)],
        "reshape", "layers.py:12",
    ),
    (
        "gather-index-out-of-range",
        """
        graph f(%0:f32[d0,3] x, %1:i64[2] i)
          %2:f32[d0,2] = gather %0, %1 {axis=1}   # data.py:3
          return %2
        """,
        [np.ones((2, 3), np.float32), np.array([0, 5])],
        "gather", "data.py:3",
    ),
    (
        "empty-max",
        """
        graph f(%0:f64[d0] x)
          %1:f64[] = reduce_max %0 {axes=(0,), keepdims=False}   # stats.py:40
          return %1
        """,
        [np.ones(0)],
        "reduce_max", "stats.py:40",
    ),
]


@pytest.mark.parametrize("name,text,inputs,op,line", FAILING, ids=[f[0] for f in FAILING])
def test_run_time_errors_name_the_node(name, text, inputs, op, line):
    with pytest.raises(InvalidArgumentError) as info:
        Interpreter(parse_graph(text)).run(inputs)
    assert info.value.op == op
    assert str(info.value).startswith(f"{op}: ")
    assert line in str(info.value)


STATEFUL = """
graph step(%0:f32[2] x)
  var @w: f32[2]
  %1:f32[2] = read_variable {var=@w}
  %2:f32[2] = add %1, %0
  assign_variable %2 {var=@w}
  %3:f32[2] = read_variable {var=@w}
  %4:f32[2] = getitem %0 {index=[::-1]}
  %5:i64[2] = constant {value=dense<i64[2]: [0, 1]>}
  %6:f32[2] = gather %4, %5 {axis=0}
  return %3, %6
"""


def test_variable_writes_are_seen_by_later_reads_and_committed_at_the_end():
    w = gc.Variable(np.array([1.0, 2.0], np.float32), name="w")
    graph = parse_graph(STATEFUL, variables={"w": w})
    seen = []
    inputs = [np.array([10.0, 20.0], np.float32)]
    read_after_write, _ = Interpreter(graph).run(inputs, observe=lambda node, arrays: seen.append(node.op))
    np.testing.assert_array_equal(read_after_write, [11.0, 22.0])
    np.testing.assert_array_equal(w.numpy(), [11.0, 22.0])
    assert seen == [node.op for node in graph.nodes]


def test_a_failed_run_leaves_variables_unchanged():
    w = gc.Variable(np.array([1.0, 2.0], np.float32), name="w")
    graph = parse_graph(STATEFUL.replace("[0, 1]", "[0, 7]"), variables={"w": w})  # the gather fails after the write
    with pytest.raises(InvalidArgumentError, match="gather"):
        Interpreter(graph).run([np.array([10.0, 20.0], np.float32)])
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
