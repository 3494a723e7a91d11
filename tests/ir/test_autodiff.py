"""The reverse-mode transform on IR graphs: the gradient nodes it appends, and their values."""
import numpy as np
import pytest

import graphc  # noqa: F401  (registers the NumPy kernels)
from graphc.backends.numpy import Interpreter
from graphc.ir import autodiff, dispatch, ops
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType, float64, int32


def build(fn, *types):
    graph = Graph("f")
    inputs = [graph.add_input(TensorType(shape, dtype), name) for name, shape, dtype in types]
    with dispatch.handler(dispatch.GraphBuilder(graph)):
        graph.outputs = list(fn(*inputs))
    return graph, inputs


def test_gradient_nodes_are_appended_marked_and_carry_the_forward_line():
    graph, (x, y) = build(
        lambda x, y: [ops.reduce_sum(ops.multiply(ops.tanh(x), y))],  # forward line
        ("x", (3,), float64), ("y", (2, 3), float64),
    )
    forward = len(graph.nodes)
    (gx,) = autodiff.gradients(graph, graph.outputs, [x])
    graph.outputs.append(gx)
    text = str(graph)
    body = [line.split("#")[0].strip() for line in text.splitlines()[1 + forward:-1]]
    assert body == [
        "%5:f64[] = full_like %4 {value=1.0, dtype=f64}",
        "%6:f64[1,1] = expand_dims %5 {axes=(0, 1)}",
        "%7:f64[2,3] = broadcast_like %6, %3",
        "%8:f64[2,3] = multiply %7, %1",
        "%9:f64[1,3] = reduce_sum %8 {axes=(0,), keepdims=True}",
        "%10:f64[3] = squeeze %9 {axes=(0,)}",
        "%11:f64[2,3] = multiply %7, %2",
        "%12:f64[3] = square %2",
        "%13:f64[] = constant {value=dense<f64[]: [1.0]>}",
        "%14:f64[3] = subtract %13, %12",
        "%15:f64[3] = multiply %10, %14",
    ]
    forward_loc = graph.nodes[0].loc
    assert all(n.is_gradient for n in graph.nodes[forward:])
    assert all(n.loc == forward_loc for n in graph.nodes[forward + 1:])
    assert text.splitlines()[-2].endswith(f"# {forward_loc} grad")

    xv, yv = np.array([0.1, -0.4, 2.0]), np.arange(6.0).reshape(2, 3)
    value, grad = Interpreter(graph).run([xv, yv])
    np.testing.assert_allclose(grad, (1 - np.tanh(xv) ** 2) * yv.sum(0))


def test_only_nodes_between_sources_and_targets_are_visited():
    graph, (x, y) = build(lambda x, y: [ops.exp(x), ops.sin(y)], ("x", (2,), float64), ("y", (2,), float64))
    before = len(graph.nodes)
    (gx,) = autodiff.gradients(graph, [graph.outputs[0]], [x])
    assert "sin" not in {n.op for n in graph.nodes[before:]} and "cos" not in {n.op for n in graph.nodes[before:]}
    assert gx is not None


def test_fan_out_accumulates_and_unconnected_sources_follow_the_option():
    graph, (x, y, n) = build(
        lambda x, y, n: [ops.add(ops.multiply(x, x), ops.sin(x))],
        ("x", (), float64), ("y", (), float64), ("n", (), int32),
    )
    gx, gy, gn = autodiff.gradients(graph, graph.outputs, [x, y, n])
    assert gy is None and gn is None
    graph2, (x2, y2, _) = build(lambda x, y, n: [ops.multiply(x, x)], ("x", (), float64), ("y", (), float64), ("n", (), int32))
    _, gy_zero, _ = autodiff.gradients(graph2, graph2.outputs, [x2, y2, _], unconnected="zero")
    graph.outputs = [gx]
    graph2.outputs = [gy_zero]
    np.testing.assert_allclose(Interpreter(graph).run([np.array(0.5), np.array(1.0), np.array(3, np.int32)])[0],
                               2 * 0.5 + np.cos(0.5))
    assert Interpreter(graph2).run([np.array(0.5), np.array(1.0), np.array(3, np.int32)])[0] == 0.0
    with pytest.raises(ValueError, match="unconnected"):
        autodiff.gradients(graph2, graph2.outputs, [x2], unconnected="zeros")
