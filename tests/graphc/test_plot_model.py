"""gc.utils.plot_model / model_to_dot: the DOT source holds one box per layer (with its shapes) and one
arrow per connection; pictures render by suffix; nested models expand into frames; clear errors."""
import re
import xml.etree.ElementTree as ET

import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import InvalidArgumentError
from graphc.viz.graphviz_package import GraphvizMissingError

pytest.importorskip("graphviz")


def two_branch_model():
    a, b = gc.Input((4,), name="a"), gc.Input((3,), name="b")
    x = gc.Input((7,), name="block_in")
    block = gc.Model(x, L.Dense(5, activation="relu", name="block_dense")(x), name="block")
    merged = L.Concatenate(name="merge")([a, b])
    return gc.Model([a, b], [L.Dense(2, name="out1")(block(merged)), L.Dense(3, name="out2")(b)], name="plotted")


def boxes_and_edges(source: str):
    """{box id: label text} and the set of (from, to) arrows of a DOT source."""
    boxes = {m.group(1): re.sub(r"<[^>]+>", " ", m.group(2)) for m in re.finditer(r"^\s*(\d+) \[label=<(.*)>\]$",
                                                                               source, re.M)}
    edges = set(re.findall(r"^\s*(\d+) -> (\d+)", source, re.M))
    return boxes, edges


def by_name(boxes: dict) -> dict:
    return {label.split()[0]: box for box, label in boxes.items()}


def test_dot_source_has_every_layer_shape_and_connection():
    dot = gc.utils.model_to_dot(two_branch_model(), show_shapes=True, rankdir="LR")
    boxes, edges = boxes_and_edges(dot.source)
    ids = by_name(boxes)
    assert set(ids) == {"a", "b", "merge", "block", "out1", "out2"}
    assert "merge (Concatenate)" in boxes[ids["merge"]]
    assert "Input shape: [(None, 4), (None, 3)]" in boxes[ids["merge"]]
    assert "Output shape: (None, 7)" in boxes[ids["merge"]]
    assert "Output shape: (None, 5)" in boxes[ids["block"]]
    expected = {("a", "merge"), ("b", "merge"), ("merge", "block"), ("block", "out1"), ("b", "out2")}
    assert edges == {(ids[s], ids[t]) for s, t in expected}
    assert "rankdir=LR" in dot.source


def test_options_change_the_labels():
    model = two_branch_model()
    plain, _ = boxes_and_edges(gc.utils.model_to_dot(model).source)
    assert not any("shape" in label for label in plain.values())
    full, _ = boxes_and_edges(gc.utils.model_to_dot(model, show_dtype=True, show_layer_activations=True,
                                                    show_trainable=True).source)
    block = by_name(full)["block"]
    assert "dtype: float32" in full[block] and "Trainable: Y" in full[block]
    nameless, _ = boxes_and_edges(gc.utils.model_to_dot(model, show_layer_names=False).source)
    assert sorted(label.split()[0] for label in nameless.values()).count("Dense") == 2


def test_expand_nested_draws_the_inner_layers_in_a_frame():
    source = gc.utils.model_to_dot(two_branch_model(), expand_nested=True, show_layer_activations=True).source
    boxes, edges = boxes_and_edges(source)
    ids = by_name(boxes)
    assert "block" not in ids and {"block_in", "block_dense"} <= set(ids)
    assert "subgraph cluster_" in source and 'label="block (Functional)"' in source
    assert "Activation: relu" in boxes[ids["block_dense"]]
    assert {(ids["merge"], ids["block_in"]), (ids["block_in"], ids["block_dense"]),
            (ids["block_dense"], ids["out1"])} <= edges


def test_sequential_models_draw_as_a_chain():
    model = gc.Sequential([gc.Input((3,)), L.Dense(4, name="d1"), L.Dense(2, name="d2"), L.Dense(1, name="d3")])
    boxes, edges = boxes_and_edges(gc.utils.model_to_dot(model).source)
    ids = by_name(boxes)
    assert edges == {(ids["d1"], ids["d2"]), (ids["d2"], ids["d3"])}


def test_a_subclassed_model_is_one_box():
    class Twice(gc.Model):
        def __init__(self):
            super().__init__(name="twice")
            self.first, self.second = L.Dense(3), L.Dense(2)

        def call(self, inputs):
            return self.second(self.first(inputs))

    model = Twice()
    model(gc.constant([[1.0, 2.0]]))
    boxes, edges = boxes_and_edges(gc.utils.model_to_dot(model, show_shapes=True).source)
    assert list(by_name(boxes)) == ["twice"] and "Output shape: (None, 2)" in next(iter(boxes.values()))
    assert not edges


@pytest.mark.skipif(not gc.viz.dot_available(), reason="needs Graphviz's dot program")
def test_plot_model_renders_by_suffix(tmp_path):
    model = two_branch_model()
    svg = gc.utils.plot_model(model, to_file=tmp_path / "m.svg", show_shapes=True)
    root = ET.parse(svg).getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "merge (Concatenate)" in texts and "Output shape: (None, 7)" in texts
    png = gc.utils.plot_model(model, to_file=str(tmp_path / "m.png"), dpi=50)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    dot_file = gc.utils.plot_model(model, to_file=tmp_path / "m.dot")
    assert open(dot_file).read().startswith("digraph plotted")


def test_errors(tmp_path, monkeypatch):
    model = two_branch_model()
    with pytest.raises(InvalidArgumentError, match="must end in .svg, .png, .pdf or .dot"):
        gc.utils.plot_model(model, to_file=tmp_path / "m.jpeg")
    with pytest.raises(InvalidArgumentError, match="rankdir must be 'TB', 'LR', 'BT' or 'RL', got 'XY'"):
        gc.utils.plot_model(model, to_file=tmp_path / "m.dot", rankdir="XY")
    with pytest.raises(InvalidArgumentError, match="model must be a gc.Model, got Dense"):
        gc.utils.plot_model(L.Dense(2), to_file=tmp_path / "m.dot")
    with pytest.raises(InvalidArgumentError, match="has no layers to draw"):
        gc.utils.plot_model(gc.Sequential(), to_file=tmp_path / "m.dot")
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GraphvizMissingError, match="needs Graphviz's dot program.*to_file='.*m.dot'"):
        gc.utils.plot_model(model, to_file=tmp_path / "m.svg")
    assert not (tmp_path / "m.svg").exists()
    assert gc.utils.plot_model(model, to_file=tmp_path / "m.dot").endswith("m.dot")
