"""The verifier: hand-built malformed graphs, each rejected with a message naming the node."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.errors import IRError
from graphc.ir.graph import Graph
from graphc.ir.location import Location
from graphc.ir.types import TensorType, float32, int32
from graphc.ir.verify import verify

VEC = TensorType((3,), float32)


class _Var:
    name, type = "w", VEC


def _good():
    """x -> negative -> add(., x) -> output; also reads variable w."""
    g = Graph("g")
    x = g.add_input(VEC, "x")
    neg = g.add_node("negative", [x], {}, [VEC], loc=Location("/src/model.py", 7))
    w = g.add_node("read_variable", [], {"var": "w"}, [VEC])
    add = g.add_node("add", [neg.outputs[0], w.outputs[0]], {}, [VEC])
    g.variables = {"w": _Var()}
    g.outputs = [add.outputs[0]]
    return g


def _use_before_def(g):
    g.nodes[0], g.nodes[2] = g.nodes[2], g.nodes[0]


def _type_mismatch(g):
    g.nodes[2].outputs[0].type = TensorType((3,), int32)


def _shape_mismatch(g):
    g.nodes[0].outputs[0].type = TensorType((4,), float32)


def _unknown_op(g):
    g.nodes[0].op = "frobnicate"


def _unknown_variable(g):
    g.variables = {}


def _cycle(g):
    neg, _, add = g.nodes
    neg.inputs[0] = add.outputs[0]  # negative reads add, add reads negative


def _foreign_value(g):
    g.nodes[2].inputs[1] = Graph("other").add_input(VEC)


def _undefined_output(g):
    g.outputs.append(_good().outputs[0])


def _unlinked_result(g):
    g.nodes[2].outputs[0].node = g.nodes[0]


def _duplicated_node(g):
    g.nodes.append(g.nodes[0])


def _bad_attributes(g):
    g.nodes[2].attrs["axis"] = 0


def _wrong_result_count(g):
    g.nodes[0].outputs.append(g.nodes[0].outputs[0])


BAD_GRAPHS = [
    # (the change, the message)
    (_use_before_def, r"node 0 \(add\): input 0 \(f32\[3\], result 0 of graph g, node 2 \(negative\) at model.py:7\) "
                      r"is used before it is defined"),
    (_type_mismatch, r"node 2 \(add\): results typed i32\[3\] but the op's shape rule gives f32\[3\]"),
    (_shape_mismatch, r"node 0 \(negative\) at model.py:7: results typed f32\[4\] but the op's shape rule gives "
                      r"f32\[3\]"),
    (_unknown_op, r"node 0 \(frobnicate\) at model.py:7: unknown op 'frobnicate'"),
    (_unknown_variable, r"node 1 \(read_variable\): unknown variable 'w' \(the graph declares \[\]\)"),
    (_cycle, r"graph g: has a cycle: graph g, node 0 \(negative\) at model.py:7 -> graph g, node 2 \(add\) -> "
             r"graph g, node 0 \(negative\)"),
    (_foreign_value, r"node 2 \(add\): input 1 \(f32\[3\], a graph input\) is not defined in this graph"),
    (_undefined_output, r"graph g: output 1 \(f32\[3\], result 0 of add\) is not defined in this graph"),
    (_unlinked_result, r"node 2 \(add\): result 0 is defined twice or not linked to its node"),
    (_duplicated_node, r"node 3 \(negative\) at model.py:7: result 0 is defined twice"),
    (_bad_attributes, r"node 2 \(add\): the op's shape rule rejects its inputs or attributes: TypeError: .*axis"),
    (_wrong_result_count, r"node 0 \(negative\) at model.py:7: result 1 is defined twice or not linked"),
]


def test_the_unbroken_graph_verifies_and_runs():
    g = _good()
    assert verify(g) is g
    g.variables["w"].value = np.ones(3, np.float32)
    from graphc.backends.numpy import Interpreter

    np.testing.assert_array_equal(Interpreter(g).run([np.arange(3, dtype=np.float32)])[0], [1, 0, -1])


@pytest.mark.parametrize("damage, message", BAD_GRAPHS, ids=[d.__name__.strip("_") for d, _ in BAD_GRAPHS])
def test_each_malformation_is_named(damage, message):
    g = _good()
    damage(g)
    with pytest.raises(IRError, match=message):
        verify(g)


def test_traced_graphs_are_verified():
    @gc.function
    def f(x):
        return gc.reduce_sum(x * 2, axis=0)

    graph = f.get_concrete_function(np.ones((2, 3), np.float32)).graph
    assert verify(graph) is graph
    graph.nodes[-1].outputs[0].type = TensorType((2,), float32)
    with pytest.raises(IRError, match=r"reduce_sum\) at test_verify.py:\d+: results typed f32\[2\] but the op's "
                                      r"shape rule gives f32\[3\]"):
        verify(graph)
