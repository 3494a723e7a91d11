"""gc.summary: every event file is read back with TensorBoard's own reader (EventAccumulator), and the
values compared with NumPy, with PIL's PNG decoder and with what TensorFlow 2.21 wrote for the same
inputs (tests/graphc/data/tf_summaries.npz, made by data/make_tf_summaries.py)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.ir.errors import ArgumentTypeError, DTypeError, InvalidArgumentError

pytest.importorskip("tensorboard", reason="the tensorboard package is not installed (pip install 'graphc[tensorboard]')")
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

Image = pytest.importorskip("PIL.Image", reason="Pillow (installed with tensorboard) decodes the PNGs")
TF_REFERENCE = Path(__file__).parent / "data" / "tf_summaries.npz"


@pytest.fixture(autouse=True)
def fresh_summary_state():
    """Each test starts and ends with no default writer, no default step, recording on."""
    from graphc.summary import writer

    saved = dict(vars(writer._state))
    yield
    vars(writer._state).update(saved)


def read(logdir) -> event_accumulator.EventAccumulator:
    """Every event under ``logdir``, as TensorBoard loads them (nothing sampled away)."""
    guidance = {kind: 0 for kind in (event_accumulator.TENSORS, event_accumulator.SCALARS,
                                     event_accumulator.HISTOGRAMS, event_accumulator.IMAGES)}
    accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance=guidance)
    accumulator.Reload()
    return accumulator


def series(accumulator, tag) -> list[tuple[int, np.ndarray]]:
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]


def plugin(accumulator, tag) -> str:
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


def decode_png(data: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(data)))
    return image[..., None] if image.ndim == 2 else image


# -- scalars, steps and tags ----------------------------------------------------------------------------
def test_scalars_with_every_kind_of_step_read_back_as_written(tmp_path):
    writer = gc.summary.create_file_writer(tmp_path)
    step = gc.Variable(np.int64(10), trainable=False)
    with writer.as_default():
        assert gc.summary.scalar("loss", 0.5, step=0)
        assert gc.summary.scalar("loss", np.float64(0.25), step=np.int64(1))
        assert gc.summary.scalar("loss", gc.constant(0.125), step=gc.constant(2))
        gc.summary.experimental.set_step(3)
        assert gc.summary.scalar("loss", 3)
        gc.summary.experimental.set_step(step)  # a variable: read when each summary is written
        step.assign(7)
        assert gc.summary.scalar("loss", gc.Variable(0.75))
        gc.summary.experimental.set_step(None)
    writer.close()
    events = read(tmp_path)
    assert plugin(events, "loss") == "scalars"
    written = series(events, "loss")
    assert [s for s, _ in written] == [0, 1, 2, 3, 7]
    assert all(v.dtype == np.float32 and v.shape == () for _, v in written)
    np.testing.assert_array_equal([float(v) for _, v in written], np.float32([0.5, 0.25, 0.125, 3.0, 0.75]))


def test_default_step_and_writer_are_restored_after_as_default(tmp_path):
    outer, inner = gc.summary.create_file_writer(tmp_path / "a"), gc.summary.create_file_writer(tmp_path / "b")
    with outer.as_default(step=10):
        with inner.as_default(step=20):
            assert gc.summary.experimental.get_step() == 20
            gc.summary.scalar("x", 1.0)
        assert gc.summary.experimental.get_step() == 10
        gc.summary.scalar("x", 2.0)
    assert gc.summary.experimental.get_step() is None
    assert not gc.summary.scalar("x", 3.0, step=0)  # no default writer any more
    assert [(s, float(v)) for s, v in series(read(tmp_path / "a"), "x")] == [(10, 2.0)]
    assert [(s, float(v)) for s, v in series(read(tmp_path / "b"), "x")] == [(20, 1.0)]


def test_as_default_flushes_when_the_block_ends(tmp_path):
    writer = gc.summary.create_file_writer(tmp_path, max_queue=1000, flush_millis=10_000_000)
    with writer.as_default(step=1):
        gc.summary.scalar("x", 1.0)
    assert "x" in read(tmp_path).Tags()["tensors"]  # on disk though the writer is open
    writer.close()


def test_name_scopes_prefix_tags(tmp_path):
    with gc.summary.create_file_writer(tmp_path).as_default(step=0):
        with gc.name_scope("outer"):
            with gc.name_scope("inner"):
                gc.summary.scalar("x", 1.0)
            gc.summary.text("note", "hi")
        gc.summary.write("raw/tag", np.arange(3))  # write: the tag as given
    assert sorted(read(tmp_path).Tags()["tensors"]) == ["outer/inner/x", "outer/note", "raw/tag"]


def test_record_if_and_writers_that_write_nothing(tmp_path):
    writer = gc.summary.create_file_writer(tmp_path)
    calls = []
    with writer.as_default(step=0):
        with gc.summary.record_if(False):
            assert not gc.summary.should_record_summaries()
            assert not gc.summary.scalar("never", 1.0)
        with gc.summary.record_if(lambda: calls.append(1) or len(calls) % 2 == 0):
            results = [gc.summary.scalar("every_other", float(i), step=i) for i in range(4)]
        assert gc.summary.should_record_summaries()
    assert results == [False, True, False, True]
    with gc.summary.create_noop_writer().as_default(step=0):
        assert gc.summary.scalar("noop", 1.0)
    writer.close()
    events = read(tmp_path)
    assert events.Tags()["tensors"] == ["every_other"]
    assert [s for s, _ in series(events, "every_other")] == [1, 3]


# -- against TensorFlow 2.21 -------------------------------------------------------------------------------
def test_histograms_images_and_scalars_match_tensorflow(tmp_path):
    reference = np.load(TF_REFERENCE)
    names = sorted({k.split("/")[1] for k in reference.files if k.startswith("input/")})
    with gc.summary.create_file_writer(tmp_path).as_default(step=4):
        for name in names:
            data = reference[f"input/{name}"]
            if name.startswith("hist"):
                buckets = int(reference[f"buckets/{name}"])
                gc.summary.histogram(name, data, buckets=None if buckets < 0 else buckets)
            elif name.startswith("img"):
                gc.summary.image(name, data, max_outputs=int(reference[f"max_outputs/{name}"]))
            else:
                gc.summary.scalar(name, data)
    events = read(tmp_path)
    for name in names:
        assert plugin(events, name) == str(reference[f"plugin/{name}"]), name
        [(step, value)] = series(events, name)
        assert step == 4
        if name.startswith("img"):
            assert [int(value[0]), int(value[1])] == list(reference[f"dims/{name}"])
            assert len(value) - 2 == int(reference[f"count/{name}"])
            for i, png in enumerate(value[2:]):
                np.testing.assert_array_equal(decode_png(png), reference[f"output/{name}/{i}"], err_msg=name)
        else:
            expected = reference[f"output/{name}"]
            assert value.dtype == expected.dtype and value.shape == expected.shape, name
            np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=name)
        if name.startswith("hist"):
            assert value[:, 2].sum() == reference[f"input/{name}"].size


@pytest.mark.parametrize("buckets", [1, 2, 7, 30])
def test_histogram_buckets_count_every_value_as_numpy_does(tmp_path, buckets):
    data = np.random.default_rng(buckets).normal(size=(50, 9)).astype(np.float32)
    with gc.summary.create_file_writer(tmp_path).as_default(step=0):
        gc.summary.histogram("w", gc.constant(data), buckets=buckets)
    [(_, value)] = series(read(tmp_path), "w")
    wide = data.astype(np.float64)
    counts, edges = np.histogram(wide, bins=buckets, range=(wide.min(), wide.max()))
    assert value.shape == (buckets, 3)
    np.testing.assert_array_equal(value[:, 2], counts)
    np.testing.assert_allclose(value[:, 0], edges[:-1])
    np.testing.assert_allclose(value[:, 1], edges[1:])
    assert value[:, 2].sum() == data.size


# -- images and text ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_decodes_back_to_the_input_pixels(tmp_path, channels):
    pixels = np.random.default_rng(channels).integers(0, 256, size=(4, 7, 5, channels), dtype=np.uint8)
    with gc.summary.create_file_writer(tmp_path).as_default(step=2):
        gc.summary.image("img", pixels, max_outputs=3)
    events = read(tmp_path)
    assert plugin(events, "img") == "images"
    [(_, value)] = series(events, "img")
    assert value[:2].tolist() == [b"5", b"7"]  # width, then height
    assert len(value) == 2 + 3  # max_outputs
    for i, png in enumerate(value[2:]):
        np.testing.assert_array_equal(decode_png(png), pixels[i])


def test_float_images_are_clipped_and_scaled(tmp_path):
    pixels = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.float32(1 / 255.5)], np.float32).reshape(1, 1, 6, 1)
    with gc.summary.create_file_writer(tmp_path).as_default(step=0):
        gc.summary.image("img", pixels)
    [(_, value)] = series(read(tmp_path), "img")
    np.testing.assert_array_equal(decode_png(value[2]).reshape(-1), [0, 0, 127, 255, 255, 1])


def test_text_reads_back_as_utf8_strings(tmp_path):
    table = np.array([["a", "ü"], ["**bold**", ""]])
    with gc.summary.create_file_writer(tmp_path).as_default(step=5):
        gc.summary.text("note", "héllo")
        gc.summary.text("table", table)
        gc.summary.text("bytes", [b"x", b"y"])
    events = read(tmp_path)
    assert plugin(events, "note") == "text"
    assert series(events, "note")[0][1] == "héllo".encode()
    table_read = series(events, "table")[0][1]
    assert table_read.shape == (2, 2) and [s.decode() for s in table_read.reshape(-1)] == list(table.reshape(-1))
    assert series(events, "bytes")[0][1].tolist() == [b"x", b"y"]


# -- bad input -----------------------------------------------------------------------------------------------
BAD_INPUT = [
    ("scalar of a vector", lambda: gc.summary.scalar("x", [1.0, 2.0], step=0), InvalidArgumentError, "must be a scalar"),
    ("scalar of a string", lambda: gc.summary.scalar("x", "1.0", step=0), DTypeError, "numeric"),
    ("image of rank 3", lambda: gc.summary.image("i", np.zeros((2, 2, 3)), step=0), InvalidArgumentError, "rank 4"),
    ("image of 5 channels", lambda: gc.summary.image("i", np.zeros((1, 2, 2, 5)), step=0), InvalidArgumentError, "5"),
    ("image of 0 channels", lambda: gc.summary.image("i", np.zeros((1, 2, 2, 0)), step=0), InvalidArgumentError, "channels"),
    ("image of 0 width", lambda: gc.summary.image("i", np.zeros((1, 2, 0, 3)), step=0), InvalidArgumentError, "1x1"),
    ("image of booleans", lambda: gc.summary.image("i", np.zeros((1, 2, 2, 1), bool), step=0), DTypeError, "bool"),
    ("negative max_outputs", lambda: gc.summary.image("i", np.zeros((1, 2, 2, 1)), step=0, max_outputs=-1),
     InvalidArgumentError, "non-negative"),
    ("histogram of strings", lambda: gc.summary.histogram("h", ["a"], step=0), DTypeError, "numeric"),
    ("histogram of infinities", lambda: gc.summary.histogram("h", [1.0, np.inf], step=0), InvalidArgumentError,
     "infinite"),
    ("histogram of NaN", lambda: gc.summary.histogram("h", [np.nan], step=0), InvalidArgumentError, "NaN"),
    ("float buckets", lambda: gc.summary.histogram("h", [1.0], step=0, buckets=2.5), ArgumentTypeError, "buckets"),
    ("text of numbers", lambda: gc.summary.text("t", 3, step=0), DTypeError, "strings"),
    ("text of a mixed list", lambda: gc.summary.text("t", ["a", 3], step=0), DTypeError, "int"),
    ("step missing", lambda: gc.summary.scalar("x", 1.0), InvalidArgumentError, "No step set"),
    ("float step", lambda: gc.summary.scalar("x", 1.0, step=1.5), ArgumentTypeError, "integer"),
    ("string step", lambda: gc.summary.scalar("x", 1.0, step="1"), ArgumentTypeError, "integer"),
    ("vector step", lambda: gc.summary.scalar("x", 1.0, step=[1, 2]), InvalidArgumentError, "scalar"),
    ("name not a string", lambda: gc.summary.scalar(3, 1.0, step=0), ArgumentTypeError, "name"),
    ("graph of a number", lambda: gc.summary.graph(3), ArgumentTypeError, "ConcreteFunction"),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_raises_a_precise_error_and_writes_nothing(tmp_path, case):
    _, call, error, words = case
    writer = gc.summary.create_file_writer(tmp_path)
    with writer.as_default():
        with pytest.raises(error, match=words):
            call()
    writer.close()
    assert read(tmp_path).Tags()["tensors"] == []


def test_nothing_is_checked_or_encoded_without_a_default_writer():
    assert not gc.summary.scalar("x", [1.0, 2.0])  # as TensorFlow: no writer, nothing recorded
    assert not gc.summary.should_record_summaries()


def test_a_closed_writer_refuses_to_be_used(tmp_path):
    writer = gc.summary.create_file_writer(tmp_path)
    writer.set_as_default(step=1)
    gc.summary.scalar("before", 1.0)
    writer.close()
    with pytest.raises(gc.summary.SummaryWriterClosedError, match="closed"):
        gc.summary.scalar("after", 1.0)
    with pytest.raises(RuntimeError, match="already closed"):
        writer.as_default()
    writer.flush()  # as TensorFlow: a no-op once closed
    writer.close()
    assert read(tmp_path).Tags()["tensors"] == ["before"]


def test_bad_logdirs_are_refused(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    with pytest.raises(InvalidArgumentError, match="is a file"):
        gc.summary.create_file_writer(a_file)
    with pytest.raises(InvalidArgumentError, match="cannot create logdir"):
        gc.summary.create_file_writer(a_file / "run")
    with pytest.raises(InvalidArgumentError, match="cannot be None"):
        gc.summary.create_file_writer(None)
    with pytest.raises(ArgumentTypeError, match="path"):
        gc.summary.create_file_writer(3)
    with pytest.raises(InvalidArgumentError, match="max_queue"):
        gc.summary.create_file_writer(tmp_path, max_queue=0)
    with pytest.raises(InvalidArgumentError, match="filename_suffix"):
        gc.summary.create_file_writer(tmp_path, filename_suffix="/../x")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only directories")
def test_an_unwritable_logdir_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(InvalidArgumentError, match="not writable"):
        gc.summary.create_file_writer(locked)


def test_the_event_file_is_named_as_tensorflows(tmp_path):
    gc.summary.create_file_writer(tmp_path, filename_suffix=".graphc").close()
    [name] = os.listdir(tmp_path)
    assert name.startswith("events.out.tfevents.") and name.endswith(".graphc")


def test_graphc_imports_without_tensorboard():
    """Importing graphc, gc.summary and gc.callbacks loads no TensorBoard module; writing asks for it."""
    code = (
        "import sys; sys.modules['tensorboard'] = None\n"
        "import graphc as gc, graphc.summary, graphc.callbacks\n"
        "import tempfile\n"
        "try:\n"
        "    gc.summary.create_file_writer(tempfile.mkdtemp())\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TensorBoardMissingError" in result.stdout and "pip install 'graphc[tensorboard]'" in result.stdout


# -- inside compiled functions ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_summaries_in_a_compiled_function_are_written_on_every_call(tmp_path, backend):
    step = gc.Variable(np.int64(0), trainable=False)
    writer = gc.summary.create_file_writer(tmp_path)

    @gc.function(backend=backend)
    def train_step(x):
        total = gc.reduce_sum(x)
        written = gc.summary.scalar("total", total, step=step)
        with gc.name_scope("layer"):
            gc.summary.histogram("x", x, step=step, buckets=4)
        step.assign_add(1)
        return written

    inputs = [np.arange(6, dtype=np.float32) * k for k in (1.0, 2.0, -1.0)]
    with writer.as_default():
        results = [train_step(x) for x in inputs]
    writer.close()
    assert train_step.trace_count == 1
    assert [bool(r.numpy()) for r in results] == [True, True, True]
    events = read(tmp_path)
    totals = series(events, "total")
    assert [s for s, _ in totals] == [0, 1, 2]  # the variable step, read when each call runs
    np.testing.assert_array_equal([float(v) for _, v in totals], [np.float32(x.sum()) for x in inputs])
    for (s, value), x in zip(series(events, "layer/x"), inputs):
        wide = x.astype(np.float64)
        counts, _ = np.histogram(wide, bins=4, range=(wide.min(), wide.max()))
        np.testing.assert_array_equal(value[:, 2], counts)


def test_the_writer_and_step_are_those_in_force_when_tracing(tmp_path):
    @gc.function
    def f(x):
        gc.summary.scalar("x", gc.reduce_sum(x))
        return x

    traced = gc.summary.create_file_writer(tmp_path / "traced")
    with traced.as_default(step=5):
        f(np.ones(2, np.float32))  # traced here: this writer, step 5
    other = gc.summary.create_file_writer(tmp_path / "other")
    with other.as_default(step=9):
        f(np.ones(2, np.float32) * 3)  # the same graph: still the writer and step it was traced with
    traced.flush()  # leaving other's context flushed other only; the second event may still be queued
    assert [(s, float(v)) for s, v in series(read(tmp_path / "traced"), "x")] == [(5, 2.0), (5, 6.0)]
    assert read(tmp_path / "other").Tags()["tensors"] == []


def test_a_function_traced_without_a_writer_or_recording_writes_nothing(tmp_path):
    @gc.function
    def f(x):
        return gc.summary.scalar("x", gc.reduce_sum(x), step=0)

    assert f(np.ones(2, np.float32)) is False  # a Python result, as traced
    writer = gc.summary.create_file_writer(tmp_path)
    with writer.as_default(), gc.summary.record_if(False):
        g = gc.function(lambda x: gc.summary.scalar("y", gc.reduce_sum(x), step=0))
        g(np.ones(2, np.float32))
    writer.close()
    assert read(tmp_path).Tags()["tensors"] == []


def test_bad_data_in_a_compiled_function_raises_when_it_runs(tmp_path):
    @gc.function
    def f(x):
        gc.summary.scalar("x", x, step=0)
        return x

    with gc.summary.create_file_writer(tmp_path).as_default():
        assert "host_call" in str(f.get_concrete_function(np.ones(2, np.float32)).graph)
        with pytest.raises(InvalidArgumentError, match="must be a scalar"):
            f(np.ones(2, np.float32))


def test_a_missing_step_is_reported_when_tracing(tmp_path):
    @gc.function
    def f(x):
        gc.summary.scalar("x", gc.reduce_sum(x))
        return x

    with gc.summary.create_file_writer(tmp_path).as_default():
        with pytest.raises(InvalidArgumentError, match="No step set"):
            f(np.ones(2, np.float32))


# -- graphs ------------------------------------------------------------------------------------------------
def _train_step():
    kernel = gc.Variable(np.ones((3, 2), np.float32), name="dense/kernel")

    @gc.function
    def step(x):
        with gc.name_scope("dense"):
            with gc.GradientTape() as tape:
                loss = gc.reduce_sum(gc.nn.relu(gc.matmul(x, kernel)) * 2.0 + 1.0)
        kernel.assign_sub(0.1 * tape.gradient(loss, kernel))
        return loss

    return step.get_concrete_function(gc.TensorSpec([None, 3]))


def _written_graph(tmp_path, graph_data):
    with gc.summary.create_file_writer(tmp_path).as_default():
        assert gc.summary.graph(graph_data)
    events = read(tmp_path)
    assert events.Tags()["graph"]
    return {node.name: node for node in events.Graph().node}


def _check_well_formed(nodes: dict) -> None:
    """Every input names a node of the graph (``name`` or ``name:index``)."""
    for node in nodes.values():
        for source in node.input:
            assert source.split(":")[0] in nodes, f"{node.name} reads {source}, which is not a node"


def _op_counts(graph) -> dict:
    """How many nodes of each op ``graph`` holds, kernels and regions opened up (graphc's own graph)."""
    counts: dict = {}
    for node in graph.nodes:
        if node.op != "fused":
            counts[node.op] = counts.get(node.op, 0) + 1
        for body in node.subgraphs.values():
            for op, n in _op_counts(body).items():
                counts[op] = counts.get(op, 0) + n
            if node.op != "fused":
                counts["_Arg"] = counts.get("_Arg", 0) + len(body.inputs)
                counts["_Retval"] = counts.get("_Retval", 0) + len(body.outputs)
    return counts


def test_the_traced_graph_has_one_node_per_op_with_scopes_shapes_and_variables(tmp_path):
    concrete = _train_step()
    graph = concrete.graph
    nodes = _written_graph(tmp_path, graph)
    _check_well_formed(nodes)
    assert len(nodes) == len(graph.nodes) + len(graph.inputs) + len(graph.variables) + len(graph.outputs)
    ops = {}
    for node in nodes.values():
        ops[node.op] = ops.get(node.op, 0) + 1
    assert ops == {**_op_counts(graph), "Placeholder": 1, "VarHandleOp": 1, "_Retval": 1}
    x = nodes["x"]
    assert x.op == "Placeholder" and x.attr["dtype"].type == 1  # DT_FLOAT
    assert [d.size for d in x.attr["_output_shapes"].list.shape[0].dim] == [-1, 3]
    assert nodes["dense/kernel"].op == "VarHandleOp"
    assert "dense/kernel" in nodes["dense/read_variable"].input
    assert nodes["dense/matmul"].input[:2] == ["x", "dense/read_variable"]
    assert [d.size for d in nodes["dense/matmul"].attr["_output_shapes"].list.shape[0].dim] == [-1, 2]
    gradient_nodes = [n for n in nodes if n.startswith("gradients/")]
    assert len(gradient_nodes) == sum(node.is_gradient for node in graph.nodes) > 0
    # as TensorFlow's: the gradient of an op sits under the op's own scope, below gradients/
    assert any(n.startswith("gradients/dense/") and nodes[n].op == "matmul" for n in gradient_nodes), gradient_nodes
    assert any(node.op == "assign_variable" and "dense/kernel" in node.input for node in nodes.values())


def test_the_compiled_graph_shows_fused_kernels_as_scopes(tmp_path):
    concrete = _train_step()
    nodes = _written_graph(tmp_path, concrete)  # a ConcreteFunction: the graph it runs
    _check_well_formed(nodes)
    fused = concrete.graphs["fused"]
    kernels = [n for n in fused.nodes if n.op == "fused"]
    assert kernels
    for kernel in kernels:
        name = kernel.attrs["kernel"]
        inside = [n for n in nodes if f"/{name}/" in f"/{n}"]
        assert len(inside) == len(kernel.attrs["body"].nodes), name
    expected = _op_counts(fused)
    expected.update({"Placeholder": 1, "VarHandleOp": 1, "_Retval": expected.get("_Retval", 0) + 1})
    ops = {}
    for node in nodes.values():
        ops[node.op] = ops.get(node.op, 0) + 1
    assert ops == expected


def test_regions_of_loops_and_conditionals_are_scopes_under_their_op(tmp_path):
    @gc.function
    def f(x):
        _, y = gc.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2.0), (gc.constant(0), x))
        return gc.cond(gc.reduce_sum(y) > 0, lambda: y + 1.0, lambda: y - 1.0)

    graph = f.get_concrete_function(np.ones(3, np.float32)).graph
    nodes = _written_graph(tmp_path, graph)
    _check_well_formed(nodes)
    loop = next(n for n in nodes.values() if n.op == "while_loop").name
    body = [n for n in nodes.values() if n.name.startswith(f"{loop}/body/")]
    assert sorted(n.op for n in body if n.op in ("_Arg", "_Retval")) == ["_Arg", "_Arg", "_Retval", "_Retval"]
    assert any(n.op == "multiply" for n in body)
    conditional = next(n for n in nodes.values() if n.op == "cond").name
    assert any(n.startswith(f"{conditional}/then_branch/") for n in nodes)
    assert any(n.startswith(f"{conditional}/else_branch/") for n in nodes)


def test_graph_is_written_only_with_a_default_writer_and_not_inside_a_function(tmp_path):
    concrete = _train_step()
    assert not gc.summary.graph(concrete)

    @gc.function
    def f(x):
        gc.summary.graph(concrete)
        return x

    with gc.summary.create_file_writer(tmp_path).as_default():
        with pytest.raises(InvalidArgumentError, match="inside gc.function"):
            f(np.ones(2, np.float32))
