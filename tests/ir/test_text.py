"""The text IR: its exact form, stability, and parse(format(g)) round trips that run the same."""
import inspect
import math
import os
import re

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy import Interpreter
from graphc.ir.errors import IRError
from graphc.ir.graph import Graph
from graphc.ir.text import Renaming, format_attr, format_graph, parse_graph, parse_type
from graphc.ir.types import TensorType, float32, fresh_dim, int32
from graphc.ir.verify import verify

F32 = np.float32
FILE = os.path.basename(__file__)


def _line_of(marker: str) -> int:
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


def test_the_text_form_line_by_line():
    w = gc.Variable(np.ones((3, 4), F32), name="w")

    @gc.function(input_signature=[gc.TensorSpec([2, 3]), gc.TensorSpec([None, 4])])
    def predict(x, b):
        with gc.name_scope("dense_1"):
            y = gc.matmul(x, w)  # matmul line
        return y + b  # add line

    text = str(predict.get_concrete_function().graph)
    m, a = _line_of("# matmul line"), _line_of("# add line")
    assert text.splitlines() == [
        "graph predict(%0:f32[2,3] x, %1:f32[d0,4] b)",
        "  var @w: f32[3,4]",
        f"  %2:f32[3,4] = read_variable {{var=@w}}   # {FILE}:{m} @dense_1",
        f"  %3:f32[2,4] = matmul %0, %2   # {FILE}:{m} @dense_1",
        f"  %4:f32[2,4] = add %3, %1   # {FILE}:{a}",
        "  return %4",
    ]


def test_the_text_does_not_depend_on_when_or_how_the_graph_was_built():
    def body(x, y):
        return gc.concat([x, y], axis=0) * 2

    spec = gc.TensorSpec([None, 2])
    texts = set()
    for _ in range(3):
        gc.TensorSpec([None])  # other work in between creates other values and symbolic sizes
        gc.function(lambda v: v + 1)(np.ones(3, F32))
        texts.add(str(gc.function(body).get_concrete_function(spec, spec).graph))
    (text,) = texts
    assert text.splitlines()[0] == "graph body(%0:f32[d0,2] x, %1:f32[d1,2] y)"
    assert "%2:f32[d2,2] = concat %0, %1 {axis=0}" in text


def test_large_constants_are_elided_unless_asked_for():
    graph = gc.function(lambda: gc.constant(np.arange(40, dtype=F32)) + 1).get_concrete_function().graph
    short, full = format_graph(graph), format_graph(graph, full_constants=True)
    assert "dense<f32[40]: ...>" in short and 'dense<f32[40]: b64"' in full
    with pytest.raises(IRError, match="line 2: a constant was elided; print the graph with full_constants=True"):
        parse_graph(short)
    assert format_graph(parse_graph(full), full_constants=True) == full


# -- round trips ------------------------------------------------------------------------------------------
V = gc.Variable(np.arange(6, dtype=F32).reshape(2, 3), name="v")
COUNTER = gc.Variable(0, name="step counter")  # a name that must be quoted


def _constants(x):
    small = gc.constant([[1.5, -0.0], [np.inf, -np.inf]])
    large = gc.constant(np.linspace(-1, 1, 30).astype(F32).reshape(5, 6))
    tricky = gc.constant(np.array([0.1, 1 / 3, 123456789.0, 1e8, -2.5e-7], F32))
    ints, flags = gc.constant([3, -4], gc.int64), gc.constant([True, False])
    scalar = gc.constant(1e-30) + gc.constant(np.float64(2.5)) + gc.fill([], 0.1, gc.float64)
    return x + large[0, :2], small, ints * 2, gc.logical_not(flags), scalar, tricky


def _split(x):
    a, b, c = gc.split(x, [1, 2, 3], axis=1)
    return c, a + b[:, :1]


def _getitem(x):
    return x[0], x[None, :, ::-1], x[..., 1:5:2], x[-1, None, -3:], x[:, 0][::2]


def _variables(x):
    COUNTER.assign_add(1)
    V.assign(V * 2 + x[:2, :3])
    return V.read_value() + gc.cast(COUNTER, gc.float32)


def _symbolic(x):
    flat = gc.reshape(x, [-1])
    return gc.reduce_sum(flat), gc.transpose(x), gc.expand_dims(x, 0)


def _scopes(x):
    with gc.name_scope("block"):
        with gc.name_scope("inner part"):
            y = gc.nn.relu(x)
        z = gc.nn.softmax(y)
    return z


def _gradient(x):
    with gc.GradientTape() as tape:
        tape.watch(x)
        y = gc.reduce_sum(gc.sin(x) * x)
    return tape.gradient(y, x)


ROUND_TRIPS = [
    # (function, input signature, an input)
    (_constants, [gc.TensorSpec([2])], np.ones(2, F32)),
    (_split, [gc.TensorSpec([4, 6])], np.arange(24, dtype=F32).reshape(4, 6)),
    (_getitem, [gc.TensorSpec([6, 8])], np.arange(48, dtype=F32).reshape(6, 8)),
    (_variables, [gc.TensorSpec([4, 5])], np.ones((4, 5), F32)),
    (_symbolic, [gc.TensorSpec([None, 3])], np.arange(15, dtype=F32).reshape(5, 3)),
    (_scopes, [gc.TensorSpec([None, 4])], np.arange(8, dtype=F32).reshape(2, 4) - 3),
    (_gradient, [gc.TensorSpec([3])], np.array([0.5, 1.0, 2.0], F32)),
]


@pytest.mark.parametrize("fn, signature, x", ROUND_TRIPS, ids=[c[0].__name__.strip("_") for c in ROUND_TRIPS])
def test_parse_reads_back_what_format_prints(fn, signature, x):
    graph = gc.function(fn, input_signature=signature).get_concrete_function().graph
    text = format_graph(graph, full_constants=True)
    parsed = verify(parse_graph(text, variables=graph.variables))
    assert format_graph(parsed, full_constants=True) == text
    assert parsed.variables == graph.variables
    for original, copy in zip(graph.nodes, parsed.nodes):
        assert (copy.op, copy.scope, copy.is_gradient, copy.loc.line) == (
            original.op, original.scope, original.is_gradient, original.loc.line)
        assert copy.loc.file == FILE
    state = {name: var.numpy() for name, var in graph.variables.items()}
    expected = Interpreter(graph).run([x])
    for name, value in state.items():  # run the parsed graph from the same variable values
        graph.variables[name].assign(value)
    got = Interpreter(parsed).run([x])
    for e, g in zip(expected, got):
        assert e.dtype == g.dtype
        np.testing.assert_array_equal(e, g)


@pytest.mark.parametrize("fn, signature, x", ROUND_TRIPS, ids=[c[0].__name__.strip("_") for c in ROUND_TRIPS])
def test_a_renamed_text_holds_no_names_and_reads_back_with_the_graphs_own(fn, signature, x):
    graph = gc.function(fn, input_signature=signature).get_concrete_function().graph
    renaming = Renaming.of(graph)
    text = format_graph(graph, full_constants=True, renaming=renaming)
    names = [graph.name, *(v.name for v in graph.inputs if v.name), *graph.variables, FILE]
    assert not [name for name in names if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text)], text
    parsed = verify(parse_graph(text, graph.variables, renaming))
    assert format_graph(parsed, full_constants=True) == format_graph(graph, full_constants=True)
    assert [n.loc for n in parsed.nodes] == [n.loc for n in graph.nodes], "whole locations, not file names"
    assert format_graph(parsed, full_constants=True, renaming=renaming) == text


def test_a_renamed_text_refuses_python_objects_it_cannot_carry():
    graph = gc.function(lambda x: x * 2.0).get_concrete_function(np.ones(3, np.float32)).graph
    graph.nodes[-1].attrs["note"] = (1, object())
    assert 'note=(1, opaque"' in format_graph(graph)
    with pytest.raises(ValueError, match="attribute item holds a object"):
        format_graph(graph, renaming=Renaming.of(graph))


def test_graphs_that_differ_only_in_names_print_alike_when_renamed():
    v, u = gc.Variable(np.ones(3, np.float32), name="v"), gc.Variable(np.ones(3, np.float32), name="other")

    def f(x):
        return x * v

    def g(inputs):
        return inputs * u

    graphs = [gc.function(h).get_concrete_function(np.ones(3, np.float32)).graph for h in (f, g)]
    assert str(graphs[0]) != str(graphs[1])
    texts = {format_graph(graph, full_constants=True, renaming=Renaming.of(graph)) for graph in graphs}
    assert len(texts) == 1
    w = gc.Variable(np.ones(3, np.float64), name="v")
    other = gc.function(lambda x: x * w).get_concrete_function(np.ones(3, np.float64)).graph
    assert format_graph(other, full_constants=True, renaming=Renaming.of(other)) not in texts


def test_round_trip_features_are_present():
    texts = {fn.__name__: format_graph(gc.function(fn, input_signature=s).get_concrete_function().graph)
             for fn, s, _ in ROUND_TRIPS}
    assert "dense<f32[2,2]: [1.5, -0.0, inf, -inf]>" in texts["_constants"]
    assert "dense<i64[2]: [3, -4]>" in texts["_constants"] and "dense<bool[2]: [True, False]>" in texts["_constants"]
    assert "dense<f32[]: [1e-30]>" in texts["_constants"] and "dense<f64[]: [2.5]>" in texts["_constants"]
    assert "dense<f32[5]: [0.1, 0.33333334, 1.2345679e+08, 1e+08, -2.5e-07]>" in texts["_constants"]
    assert "%1:f32[4,1], %2:f32[4,2], %3:f32[4,3] = split %0 {axis=1, sizes=(1, 2, 3)}" in texts["_split"]
    assert "getitem %0 {index=[None, :, ::-1]}" in texts["_getitem"]
    assert "getitem %0 {index=[-1, None, -3:]}" in texts["_getitem"]
    assert "getitem %0 {index=[:, 1:5:2]}" in texts["_getitem"]
    assert 'var @"step counter": i32[]' in texts["_variables"] and "assign_variable" in texts["_variables"]
    assert "f32[d0,3]" in texts["_symbolic"] and "f32[3,d0]" in texts["_symbolic"]
    assert '@"block/inner part"' in texts["_scopes"] and "@block/softmax" in texts["_scopes"]
    assert " grad" in texts["_gradient"]


def test_names_that_are_not_identifiers_are_quoted():
    graph = Graph("my graph")
    x = graph.add_input(TensorType((2,), float32), "x[0]['k']")
    y = graph.add_input(TensorType((2,), float32), "nan")
    z = graph.add_input(TensorType((2,), float32), "plain_name")
    node = graph.add_node("add", [x, y], {}, [TensorType((2,), float32)], scope='say "hi"')
    graph.outputs = [node.outputs[0], z]
    text = format_graph(graph)
    assert text.splitlines()[0] == """graph "my graph"(%0:f32[2] "x[0]['k']", %1:f32[2] "nan", %2:f32[2] plain_name)"""
    assert text.splitlines()[1] == """  %3:f32[2] = add %0, %1   # @"say \\"hi\\"\""""
    parsed = parse_graph(text)
    assert parsed.name == "my graph" and [v.name for v in parsed.inputs] == ["x[0]['k']", "nan", "plain_name"]
    assert parsed.nodes[0].scope == 'say "hi"' and format_graph(parsed) == text


ATTRS = [
    # (value, text)
    (1.5, "1.5"), (-0.0, "-0.0"), (float("inf"), "inf"), (float("-inf"), "-inf"), (1e-300, "1e-300"),
    (3, "3"), (-7, "-7"), (True, "True"), (None, "None"), (float32, "f32"), (int32, "i32"),
    ((), "()"), ((1,), "(1,)"), ((0, (1, 2)), "(0, (1, 2))"),
    ('a "quoted"\nline', '"a \\"quoted\\"\\nline"'), (np.int64(4), "4"), (np.float32(0.5), "0.5"),
]


@pytest.mark.parametrize("value, text", ATTRS, ids=[t for _, t in ATTRS])
def test_attribute_values_print_and_parse_back(value, text):
    assert format_attr("a", value) == text
    graph = Graph("g")
    graph.add_node("noop", [], {"a": value}, [])
    parsed = parse_graph(format_graph(graph)).nodes[0].attrs["a"]
    expected = value.item() if isinstance(value, np.generic) else value
    assert type(parsed) is type(expected) and (parsed == expected or math.isnan(parsed))
    if isinstance(value, float):
        assert math.copysign(1, parsed) == math.copysign(1, value)


def test_nan_constants_round_trip():
    graph = gc.function(lambda: gc.constant([np.nan, 1.0])).get_concrete_function().graph
    text = format_graph(graph)
    assert "dense<f32[2]: [nan, 1.0]>" in text
    value = parse_graph(text).nodes[0].attrs["value"]
    assert value.dtype == F32 and np.isnan(value[0]) and value[1] == 1


def test_parsed_variables_without_objects_are_declarations():
    graph = gc.function(_variables, input_signature=ROUND_TRIPS[3][1]).get_concrete_function().graph
    parsed = verify(parse_graph(format_graph(graph)))
    assert {name: (v.name, v.type) for name, v in parsed.variables.items()} == {
        "v": ("v", V.type), "step counter": ("step counter", COUNTER.type)}
    wrong = {"v": gc.Variable(np.zeros(3, F32))}
    mismatch = r"line 3: variable @v is declared f32\[2,3\], the object given has type f32\[3\]"
    with pytest.raises(IRError, match=mismatch):
        parse_graph(format_graph(graph), variables=wrong)


PARSE_ERRORS = [
    ("", "line 1: expected 'graph NAME"),
    ("grph f()\n  return", "line 1: expected 'graph NAME"),
    ("graph f(%0:f32[2] x)\n  %1:f32[2] = neg %5\n  return %1", "line 2: %5 is not defined"),
    ("graph f(%0:f32[2] x)\n  %1:f32[2] = neg %0 ?\n  return %1", "line 2: cannot read '?'"),
    ("graph f(%0:f32[2] x)\n  %0:f32[2] = negative %0\n  return %0", "line 2: %0 is defined twice"),
    ("graph f(%0:q32[2] x)\n  return %0", "unsupported dtype 'q32'"),
    ("graph f(%0:f32[2] x)\n  %1:f32[2] = negative %0 {a=1} extra\n  return %1", "line 2: unexpected 'extra'"),
    ("graph f(%0:f32[2] x)\n  %1:f32[2] = call %0 {function=opaque\"<GraphFunction g>\"}\n  return %1",
     r"line 2: an attribute holds a Python object \(<GraphFunction g>\)"),
]


@pytest.mark.parametrize("text, message", PARSE_ERRORS, ids=[m for _, m in PARSE_ERRORS])
def test_malformed_text_is_an_error_with_its_line(text, message):
    with pytest.raises(gc.errors.GraphcError, match=message):
        parse_graph(text)


def test_parse_type_keeps_dimension_names():
    assert parse_type("f32[2,d7]") == TensorType((2, "d7"), float32)
    assert parse_type("i32[]") == TensorType((), int32)
    with pytest.raises(IRError, match="unexpected"):
        parse_type("f32[2] x")


def test_parsed_symbolic_sizes_are_fresh_and_keep_their_equalities():
    text = "graph g(%0:f32[d0,3] x, %1:f32[d0,d1] y)\n  return %0, %1"
    first, second = parse_graph(text), parse_graph(text)
    (x1, y1), (x2, y2) = ([v.type.shape for v in g.inputs] for g in (first, second))
    assert x1[0] == y1[0] != y1[1]  # equal names, equal sizes
    assert {x1[0], y1[1]}.isdisjoint({x2[0], y2[1]})  # each parse names its sizes afresh
    assert fresh_dim() not in {x1[0], y1[1], x2[0], y2[1]}
    assert format_graph(first) == format_graph(second) == text
