"""Pictures of real graphs (a small scoped model, the MLP training step of the benchmarks, every compile
stage): what the .dot source and the rendered SVG show, the before/after page, the dump directory,
notebook display, the fallback without Graphviz's ``dot`` and graphc without the graphviz package."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import graphc as gc
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.text import format_graph
from graphc.viz import dump_directory
from graphc.viz.dot import COLORS, graph_to_dot

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
THIS_FILE = Path(__file__).name


# -- the graphs -----------------------------------------------------------------------------------
def _workloads():
    spec = importlib.util.spec_from_file_location("_bench_workloads", ROOT / "bench" / "workloads.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mlp():
    """The benchmarks' MLP training step (784-512-512-10, GradientTape, SGD) and its stages."""
    workloads = _workloads()
    weights, biases, x, labels = workloads.mlp_data()
    step = workloads.graphc_mlp_step(weights, biases)
    stages, stats = gc.viz.stage_graphs(step, x, labels)
    return step, (x, labels), stages, stats


class Dense(gc.Module):
    def __init__(self, n_in, n_out, name):
        super().__init__(name)
        rng = np.random.default_rng(len(name))
        self.w = gc.Variable(rng.normal(0, 0.3, (n_in, n_out)).astype(np.float32), name=f"{name}/w")
        self.b = gc.Variable(np.zeros(n_out, np.float32), name=f"{name}/b")

    def __call__(self, x):
        return gc.nn.relu(gc.matmul(x, self.w) + self.b)


@pytest.fixture(scope="module")
def scoped():
    """A small classifier made of modules (name scopes dense_1, dense_2) and an odd scope name."""
    layers = [Dense(4, 8, "dense_1"), Dense(8, 3, "dense_2")]
    table = np.arange(40, dtype=np.float32).reshape(8, 5)

    @gc.function
    def predict(x):
        h = layers[1](layers[0](x))
        with gc.name_scope('head <"odd"> & co'):
            scores = gc.nn.softmax(h) * 2.0
        return scores, gc.reduce_sum(gc.matmul(layers[0](x), gc.constant(table)))

    return predict, (np.ones((2, 4), np.float32),)


# -- reading pictures -----------------------------------------------------------------------------
def _svg(text: str) -> dict:
    """{'nodes': {name: {'fill', 'text', 'tooltip'}}, 'clusters': {name: {'text', 'fill'}}, 'edges': [(a, b)]}"""
    root = ET.fromstring(text)
    result = {"nodes": {}, "clusters": {}, "edges": []}
    for g in root.iter(f"{SVG}g"):
        kind = g.get("class")
        if kind not in ("node", "cluster", "edge"):
            continue
        name = g.find(f"{SVG}title").text
        texts = " | ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        shapes = [e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse")]
        fill = next((e.get("fill") for e in shapes if e.get("fill") not in (None, "none")), None)
        link = next((a for a in g.iter(f"{SVG}a")), None)
        tooltip = link.get(XLINK_TITLE) if link is not None else ""
        if kind == "edge":
            result["edges"].append(tuple(name.split("->")))
        else:
            result["nodes" if kind == "node" else "clusters"][name] = {"fill": fill, "text": texts, "tooltip": tooltip}
    return result


def _svg_of(graph, **options) -> dict:
    return _svg(graph_to_dot(graph, **options).pipe(format="svg", encoding="utf-8"))


def _drawn_ops(graph) -> Counter:
    """How many boxes of each op the picture must hold: every node but the inlined scalar constants,
    kernels by their bodies."""
    ops = Counter()
    for node in graph.nodes:
        if _is_scalar_constant(node):
            continue
        ops += _drawn_ops(node.attrs["body"]) if node.op == "fused" else Counter([node.op])
    return ops


def _is_scalar_constant(node) -> bool:
    return node.op == "constant" and node.attrs["value"].size == 1


def _op_of(label_text: str) -> str:
    return re.split(r"[ (|]", label_text.strip(), maxsplit=1)[0]


# -- what a picture shows -------------------------------------------------------------------------
@pytest.mark.parametrize("stage", gc.viz.STAGES)
def test_every_op_of_the_mlp_training_step_is_drawn_once_with_its_type(mlp, stage):
    graph = mlp[2][stage]
    svg = _svg_of(graph)
    ops = [n for name, n in svg["nodes"].items() if name.startswith("n")]
    kinds = {"read_variable": "#fef3c7", "assign_variable": "#fde68a", "constant": COLORS["constant"]}
    drawn = Counter(
        "read_variable" if n["fill"] == kinds["read_variable"] else
        "assign_variable" if n["fill"] == kinds["assign_variable"] else _op_of(n["text"])
        for n in ops
    )
    assert drawn == _drawn_ops(graph)
    for node in graph.nodes:  # each result type appears in some box
        if node.outputs and node.op != "constant":
            assert any(format_graph_type(node.outputs[0]) in n["text"] for n in ops), node


def format_graph_type(value) -> str:
    return f"{value.dtype.short}[{','.join(str(d) for d in value.shape)}]"


@pytest.mark.parametrize("stage", gc.viz.STAGES)
def test_mlp_inputs_variables_and_outputs_are_distinct_shapes(mlp, stage):
    dot = graph_to_dot(mlp[2][stage]).source
    cases = [
        (r'in0 \[label=<<b>x</b><br/>f32\[256,784\]>[^\]]*shape=invhouse', 1),
        (r'in1 \[label=<<b>labels</b><br/>i64\[256\]>[^\]]*shape=invhouse', 1),
        (r'label=<<b>w0</b><br/>f32\[784,512\]>[^\]]*shape=cylinder', None),
        (r'label=<<b>assign b2</b>>[^\]]*shape=cylinder', 1),
        (r'out0 \[label=<<b>output 0</b><br/>f32\[\]>[^\]]*shape=house', 1),
    ]
    for pattern, count in cases:
        found = len(re.findall(pattern, dot))
        assert found == count if count is not None else found >= 1, (pattern, found)


def test_mlp_gradient_nodes_are_coloured_apart_from_the_forward_pass(mlp):
    graph = mlp[2]["traced"]
    svg = _svg_of(graph)
    fills = Counter(n["fill"] for n in svg["nodes"].values())
    drawn = [n for n in graph.nodes if not _is_scalar_constant(n)]
    assert fills[COLORS["gradient"]] == sum(n.is_gradient for n in drawn) > 40
    forward_ops = sum(not n.is_gradient and n.op not in ("read_variable", "assign_variable", "constant") for n in drawn)
    assert fills[COLORS["forward"]] == forward_ops > 20
    relu_grad = [n for n in svg["nodes"].values() if n["text"].startswith("greater")]
    assert relu_grad and all(n["fill"] == COLORS["gradient"] for n in relu_grad)


def test_mlp_fused_kernels_are_clusters_labelled_with_name_kind_and_op_count(mlp):
    graph = mlp[2]["fused"]
    svg = _svg_of(graph)
    kernels = {n.attrs["kernel"]: n for n in graph.kernels}
    labels = {c["text"].split(" · ")[0]: c for c in svg["clusters"].values() if "kernel" in c["text"]}
    assert set(labels) == set(kernels) and len(kernels) > 5
    for name, node in kernels.items():
        count = sum(1 for n in node.attrs["body"].nodes if n.op != "constant")
        assert labels[name]["text"] == f"{name} · {node.attrs['kind']} kernel · {count} op{'s' * (count != 1)}"
        assert labels[name]["fill"] == COLORS["kernel"]
    collapsed = _svg_of(graph, expand_kernels=False)
    assert not [c for c in collapsed["clusters"].values() if "kernel" in c["text"]]
    assert sum("kernel ·" in n["text"] for n in collapsed["nodes"].values()) == len(kernels)


@pytest.mark.parametrize("stage", gc.viz.STAGES)
def test_a_graph_given_as_it_is_is_not_titled_with_a_stage(mlp, stage):
    """gc.viz draws a Graph as given; it cannot know the graph's stage, so the title names none (it
    used to call every Graph "traced", the optimised and fused ones too)."""
    graph = mlp[2][stage]
    title = re.search(r"<b>(.*?)</b>", gc.viz.to_dot(graph).source).group(1)
    assert title == f"{graph.name} · {len(graph.nodes)} nodes" + (f", {len(graph.kernels)} kernels" if graph.kernels else "")


def test_mlp_without_gradients_draws_the_backward_pass_as_one_box(mlp):
    graph = mlp[2]["traced"]
    svg = _svg_of(graph, gradients=False)
    backward = [name for name, n in svg["nodes"].items() if n["text"].startswith("backward pass")]
    assert len(backward) == 1
    assert sum(n["fill"] == COLORS["gradient"] for n in svg["nodes"].values()) == 1
    (box,) = backward
    assigns = {name for name, n in svg["nodes"].items() if n["text"].startswith("assign")}
    reaches = {b for a, b in svg["edges"] if a == box}
    assert len(assigns) == 6 and len(reaches) >= 6  # every SGD update reads its gradient from the box
    full = _svg_of(graph)["nodes"]
    gradient_boxes = sum(n["fill"] == COLORS["gradient"] for n in full.values())
    assert len(svg["nodes"]) == len(full) - gradient_boxes + 1


def test_each_node_carries_the_users_source_line_as_tooltip(scoped):
    predict, args = scoped
    svg = _svg_of(predict.get_concrete_function(*args).graph)
    ops = [n for name, n in svg["nodes"].items() if name.startswith("n")]
    assert ops and all(re.search(rf"{THIS_FILE}:\d+", n["tooltip"]) for n in ops)


def test_name_scopes_are_nested_clusters_and_collapse_to_boxes(scoped):
    predict, args = scoped
    graph = predict.get_concrete_function(*args).graph
    scopes = Counter(n.scope.split("/")[0] for n in graph.nodes if n.scope and not _is_scalar_constant(n))
    cases = [  # (options, scope clusters, collapsed boxes)
        ({}, {"dense_1", "dense_2", 'head <"odd"> & co', "softmax"}, set()),
        ({"collapse_scopes": True}, set(), {"dense_1", "dense_2", 'head <"odd"> & co'}),
        ({"collapse_scopes": ["dense_1"]}, {"dense_2", 'head <"odd"> & co', "softmax"}, {"dense_1"}),
        ({"collapse_scopes": "softmax"}, {"dense_1", "dense_2", 'head <"odd"> & co'}, {"softmax"}),
    ]
    for options, clusters, boxes in cases:
        svg = _svg_of(graph, **options)
        assert {c["text"] for c in svg["clusters"].values()} == clusters, options
        grouped = {n["text"].split(" | ")[0]: n for n in svg["nodes"].values() if n["text"].endswith(" ops")}
        assert set(grouped) == boxes, options
        for name in boxes & set(scopes):
            assert grouped[name]["text"] == f"{name} | {scopes[name]} ops"
            assert grouped[name]["tooltip"].startswith(f"name scope {name}: ")
    nested = graph_to_dot(graph).source
    assert re.search(r"subgraph cluster_\d+_head_+odd_+co \{[^}]*subgraph cluster_\d+_head_+odd_+co_softmax", nested, re.S)


def test_large_constants_are_abbreviated_and_scalars_inlined(scoped):
    predict, args = scoped
    graph = predict.get_concrete_function(*args).graph
    texts = [n["text"] for n in _svg_of(graph)["nodes"].values()]
    assert "constant | f32[8,5]" in texts  # 40 values: the type only
    assert not any("39.0" in t for t in texts)
    assert any(t.startswith("multiply | (·, 2.0) | f32[2,3]") for t in texts)
    separate = [t for t in (n["text"] for n in _svg_of(graph, inline_scalars=False)["nodes"].values())]
    assert "constant | f32[] | 2.0" in separate


def test_edges_are_labelled_with_types_where_no_box_shows_them(mlp):
    graph = mlp[2]["fused"]
    dot = graph_to_dot(graph, expand_kernels=False).source
    several = [k for k in graph.kernels if len(k.outputs) > 1]
    labelled = re.findall(r"-> \S+ \[label=\" ([^\"]+)\"", dot)
    assert several and len(labelled) >= sum(len(k.outputs) for k in several)
    assert "label=" not in re.sub(r"\[label=<", "", graph_to_dot(graph, edge_labels=False).source.split("->", 1)[1])
    every = graph_to_dot(graph, edge_labels=True).source
    assert every.count("-> ") == len(re.findall(r"-> \S+ \[label=", every))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stage=st.sampled_from(gc.viz.STAGES), gradients=st.booleans(), collapse=st.sampled_from([False, True, ["softmax"]]),
    expand=st.booleans(), inline=st.booleans(), effects=st.booleans(),
)
def test_every_edge_joins_declared_boxes_for_any_options(mlp, stage, gradients, collapse, expand, inline, effects):
    dot = graph_to_dot(
        mlp[2][stage],
        gradients=gradients, collapse_scopes=collapse, expand_kernels=expand, inline_scalars=inline, effects=effects,
    ).source
    declared = set(re.findall(r"^\s*(\w+) \[label=", dot, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M)
    assert edges and {a for a, _ in edges} | {b for _, b in edges} <= declared
    assert dot.count("{") == dot.count("}")


# -- rendering files ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"), (".dot", b"digraph")])
def test_render_writes_the_format_of_the_suffix(scoped, tmp_path, suffix, magic):
    predict, args = scoped
    path = gc.viz.render(predict, *args, path=tmp_path / f"p{suffix}", stage="fused")
    assert path == str(tmp_path / f"p{suffix}")
    assert Path(path).read_bytes().startswith(magic)


def test_render_takes_functions_concrete_functions_plain_functions_and_graphs(scoped, tmp_path):
    predict, args = scoped
    cf = predict.get_concrete_function(*args)
    subjects = [
        (predict, args, "predict(x: f32[2,4])"),
        (cf, (), "predict(x: f32[2,4])"),
        (lambda a, b: a * b + 1.0, (gc.TensorSpec([None, 3]), np.ones(3, np.float32)), "<lambda>(a: f32[None,3], b: f32[3])"),
        (cf.graph, (), "predict"),
    ]
    for i, (fn, fn_args, title) in enumerate(subjects):
        path = Path(gc.viz.render(fn, *fn_args, path=tmp_path / f"{i}.dot", stage="optimized"))
        assert f"{title} · optimized" in path.read_text().replace("&lt;", "<").replace("&gt;", ">")


def test_render_rejects_unknown_suffixes_and_stages(scoped, tmp_path):
    predict, args = scoped
    cases = [({"path": tmp_path / "p.jpg"}, "must end in .svg, .png, .pdf or .dot"),
             ({"path": tmp_path / "p.svg", "stage": "lowered"}, "unknown stage 'lowered'"),
             ({"path": tmp_path / "p.svg", "rankdir": "up"}, "rankdir")]
    for kwargs, message in cases:
        with pytest.raises(InvalidArgumentError, match=re.escape(message)):
            gc.viz.render(predict, *args, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_stages_page_shows_every_stage_side_by_side_with_the_pass_table(mlp, tmp_path):
    step, args, stages, stats = mlp
    path = Path(gc.viz.render_stages(step, *args, path=tmp_path / "stages.html"))
    page = path.read_text()
    assert page.count("<svg") == 3 and page.count("</svg>") == 3
    for stage, graph in stages.items():
        assert f'<section class=stage id="{stage}"><h2>{stage} <small>{len(graph.nodes)} nodes</small>' in page
    rows = re.findall(r"<tr(?: class=changed)?><td>(\w+)</td><td>(\w+)</td><td>(\d+)</td><td>(\d+)</td>", page)
    assert [(r[0], r[1], int(r[2]), int(r[3])) for r in rows] == [
        (s.stage, s.name, s.nodes_before, s.nodes_after) for s in stats
    ]
    assert page.count("class=changed") == sum(s.nodes_before != s.nodes_after for s in stats) > 0
    counted = [s for s in stats if s.counts]  # the hits of each simplification rule
    assert counted and all(f"{name}={n}" in page for s in counted for name, n in s.counts.items())
    with pytest.raises(InvalidArgumentError, match="must end in .html"):
        gc.viz.render_stages(step, *args, path=tmp_path / "stages.svg")


# -- without Graphviz's dot -----------------------------------------------------------------------
@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not gc.viz.dot_available()


def test_without_dot_render_writes_the_dot_file_and_says_how_to_render_it(scoped, tmp_path, no_dot, capsys):
    predict, args = scoped
    written = gc.viz.render(predict, *args, path=tmp_path / "out" / "p.png")
    assert written == str(tmp_path / "out" / "p.dot")
    assert Path(written).read_text().startswith("digraph predict {")
    assert not (tmp_path / "out" / "p.png").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"dot -Tpng {written} -o {tmp_path / 'out' / 'p.png'}" in err


def test_without_dot_notebooks_and_the_stages_page_show_text_ir(scoped, tmp_path, no_dot, capsys):
    predict, args = scoped
    cf = predict.get_concrete_function(*args)
    for shown in (cf.graph, cf):
        assert shown._repr_mimebundle_() == {"text/plain": str(cf.graph)}
        assert shown._repr_svg_() is None
    page = Path(gc.viz.render_stages(cf, path=tmp_path / "s.html")).read_text()
    assert "<svg" not in page and page.count("graph predict(") >= 6  # in place of each picture, and folded
    assert capsys.readouterr().err.count("\n") == 1


# -- notebooks ------------------------------------------------------------------------------------
def test_graphs_and_concrete_functions_display_inline_as_svg(scoped):
    predict, args = scoped
    cf = predict.get_concrete_function(*args)
    for shown in (cf.graph, cf):
        bundle = shown._repr_mimebundle_()
        assert bundle["text/plain"] == str(cf.graph)
        svg = _svg(bundle["image/svg+xml"])
        assert {"dense_1", "dense_2"} <= {c["text"] for c in svg["clusters"].values()}
        assert shown._repr_svg_().lstrip().startswith("<?xml")
    assert "predict(x: f32[2,4]) · traced" in cf._repr_svg_()


# -- the dump directory ---------------------------------------------------------------------------
def test_dump_directory_holds_every_stage_its_pictures_llvm_ir_and_assembly(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(tmp_path / "dump"))
    scale = gc.Variable(np.float32(3.0), name="scale")

    @gc.function
    def affine(x, y):
        return gc.reduce_sum(x * scale + y, axis=1)

    x = np.ones((4, 5), np.float32)
    affine(x, x)
    affine(np.ones(3, np.float32)[None], np.ones((1, 3), np.float32))  # a second signature
    cf = affine.get_concrete_function(x, x)
    files = {p.name: p for p in (tmp_path / "dump").iterdir()}
    for base in ("affine.f32_4x5.f32_4x5", "affine.f32_1x3.f32_1x3"):
        expected = {f"{base}.{stage}.{ext}" for stage in gc.viz.STAGES for ext in ("txt", "dot", "svg")}
        expected |= {f"{base}.{ext}" for ext in ("ll", "opt.ll", "s", "passes.txt")}
        assert expected <= set(files), expected - set(files)
    base = "affine.f32_4x5.f32_4x5"
    for stage, graph in cf.graphs.items():
        assert files[f"{base}.{stage}.txt"].read_text() == format_graph(graph) + "\n"
        assert "<svg" in files[f"{base}.{stage}.svg"].read_text()
    assert "define" in files[f"{base}.ll"].read_text() and "define" in files[f"{base}.opt.ll"].read_text()
    assert re.search(r"^\s+ret", files[f"{base}.s"].read_text(), re.M)
    assert "fold_constants" in files[f"{base}.passes.txt"].read_text()


def test_dump_names_distinct_functions_with_one_name_and_signature_apart(tmp_path):
    a = gc.function(lambda x: x + 1.0).get_concrete_function(np.ones(2, np.float32))
    b = gc.function(lambda x: x * 2.0).get_concrete_function(np.ones(2, np.float32))
    for cf in (a, b, a):
        gc.viz.dump(cf, tmp_path)
    texts = sorted(p.name for p in tmp_path.glob("*.traced.txt"))
    assert texts == ["_lambda_.f32_2-2.traced.txt", "_lambda_.f32_2.traced.txt"]
    assert "add" in (tmp_path / "_lambda_.f32_2.traced.txt").read_text()
    assert "multiply" in (tmp_path / "_lambda_.f32_2-2.traced.txt").read_text()


def test_dump_without_dot_writes_dot_files_and_notes_it_once(tmp_path, no_dot, monkeypatch, capsys):
    monkeypatch.setattr(dump_directory, "_noted", set())
    for factor in (2.0, 3.0):
        gc.viz.dump(gc.function(lambda x: x * factor).get_concrete_function(np.ones(2, np.float32)), tmp_path / "d")
    names = {p.name for p in (tmp_path / "d").iterdir()}
    assert {f"_lambda_.f32_2.{stage}.dot" for stage in gc.viz.STAGES} <= names
    assert not [n for n in names if n.endswith(".svg")]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no .svg pictures" in err


def test_a_dump_directory_that_cannot_be_written_is_reported_not_raised(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(blocker / "dump"))
    double = gc.function(lambda x: x * 2.0)
    np.testing.assert_array_equal(double(np.ones(2, np.float32)).numpy(), [2.0, 2.0])
    assert "cannot write the dump of <lambda>" in caplog.text


def test_region_ops_draw_their_branches_and_bodies_as_clusters():
    def seed(a):
        b = a * 2
        while gc.norm(b) < 1000:
            b = b * 2
        if gc.reduce_sum(b) > 0:
            c = b
        else:
            c = 100 * b
        return c

    cf = gc.function(seed).get_concrete_function(np.array([1.0, 2.0], np.float32))
    source = graph_to_dot(cf.graph).source
    for title in ("while_loop · cond", "while_loop · body", "cond · then_branch", "cond · else_branch"):
        assert title in source
    assert source.count("subgraph cluster_") >= 4


# -- without the graphviz package -----------------------------------------------------------------
WITHOUT_GRAPHVIZ = '''
import json, sys
sys.modules["graphviz"] = None  # an import of graphviz now fails as if the package were not installed
import numpy as np
import graphc as gc
import graphc.viz
from graphc.cli import main

(model := __import__("pathlib").Path("model.py")).write_text(
    "import graphc as gc\\ndef scale(x):\\n    return x * 2.0\\n"
)
cf = gc.function(lambda x: x * 2.0).get_concrete_function(np.ones(2, np.float32))
report = {"result": cf(np.ones(2, np.float32)).numpy().tolist()}
report["display"] = [shown._repr_mimebundle_() == {"text/plain": str(cf.graph)} and shown._repr_svg_() is None
                     for shown in (cf.graph, cf)]
drawings = {
    "to_dot": lambda: gc.viz.to_dot(cf),
    "render": lambda: gc.viz.render(cf, path="p.svg"),
    "render dot source": lambda: gc.viz.render(cf, path="p.dot"),
    "render_stages": lambda: gc.viz.render_stages(cf, path="s.html"),
}
for name, draw in drawings.items():
    try:
        draw()
        report[name] = "drew"
    except ImportError as error:
        report[name] = [type(error).__name__, isinstance(error, gc.errors.GraphcError), str(error)]
report["dump"] = sorted(p.rsplit(".", 2)[-2] + "." + p.rsplit(".", 1)[-1] for p in gc.viz.dump(cf, "dump"))
report["cli"] = main(["viz", "model.py:scale", "--arg", "f32[3]", "-o", "cli.svg"])
print(json.dumps(report))
'''


def test_graphc_imports_without_the_graphviz_package_and_only_drawing_asks_for_it(tmp_path):
    run = subprocess.run([sys.executable, "-c", WITHOUT_GRAPHVIZ], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300, env={**os.environ, "GRAPHC_DUMP_DIR": ""})
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["result"] == [2.0, 2.0] and report["display"] == [True, True]
    for name in ("to_dot", "render", "render dot source", "render_stages"):
        kind, is_graphc_error, message = report[name]
        assert kind == "GraphvizMissingError" and is_graphc_error, name
        assert "graphviz Python package" in message and "pip install graphviz" in message and "dot program" in message
    assert not list(tmp_path.glob("*.svg")) and not list(tmp_path.glob("*.dot")) and not (tmp_path / "s.html").exists()
    assert "dot" not in " ".join(report["dump"]) and {"traced.txt", "fused.txt", "passes.txt"} <= set(report["dump"])
    assert report["cli"] == 1
    errors = run.stderr.splitlines()
    assert len(errors) == 2, errors
    assert errors[0].startswith("graphc: the dump in dump has no pictures: drawing a graph needs the graphviz")
    assert errors[1].startswith("graphc: error: drawing a graph needs the graphviz Python package")


def test_importing_graphc_loads_no_heavy_dependency_until_used():
    """graphviz, SciPy, networkx and llvmlite load when a picture, an erf, a compile needs them."""
    heavy = ("graphviz", "scipy", "networkx", "llvmlite")
    code = f"import sys, graphc, graphc.viz; print([m for m in {heavy!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_a_first_call_loads_gc_viz_only_for_the_dump_directory(tmp_path):
    """Compiling imports the viz package only when GRAPHC_DUMP_DIR asks for files (its import was
    5 ms of every first call); with it set, the call dumps as before."""
    code = ("import sys, numpy as np, graphc as gc; gc.function(lambda x: x * 2 + 1)(np.ones(3, np.float32)); "
            "print('graphc.viz' in sys.modules)")
    for dump, expected in (("", "False"), (str(tmp_path / "dump"), "True")):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "GRAPHC_DUMP_DIR": dump, "GRAPHC_CACHE": "0"})
        assert run.stdout.strip() == expected, run.stdout + run.stderr
    assert any(p.name.endswith(".traced.txt") for p in (tmp_path / "dump").iterdir())
