"""Models and functions exported to ONNX, run in ONNX Runtime at batch sizes other than the traced
one, compared with graphc's own results (LLVM backend) to 1e-5; what the file holds (initializers,
scopes, source lines, symbolic sizes); and the errors of what cannot be exported."""
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphc as gc
from graphc.onnx import ExportError

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from digits_cnn import make_cnn  # noqa: E402
from digits_mlp import make_mlp  # noqa: E402

_rng = np.random.default_rng(7)


def _randomized(model):
    """The model with random weights, batch-norm statistics included (variance kept positive)."""
    for v in model.variables:
        values = _rng.normal(0.0, 0.5, v.shape)
        v.assign((np.abs(values) + 0.5 if "variance" in v.name else values).astype(np.float32))
    return model


@pytest.mark.parametrize("make_model, image", [(make_mlp, (64,)), (make_cnn, (8, 8, 1))], ids=["mlp", "cnn"])
def test_example_models_run_in_onnx_runtime_at_any_batch_size(make_model, image, run_onnx, tmp_path):
    model = _randomized(make_model())
    path = tmp_path / "model.onnx"
    model.export(str(path), verbose=False)
    exported = onnx.load(str(path))
    (dim, *rest) = exported.graph.input[0].type.tensor_type.shape.dim
    assert dim.dim_param == "batch" and [d.dim_value for d in rest] == list(image)  # the batch is symbolic
    for batch in (1, 5, 33):
        x = _rng.random((batch, *image), np.float32)
        (got,) = run_onnx(exported, [x])
        want = model(x, training=False).numpy()
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_variables_are_initializers_and_nodes_keep_scopes_and_lines():
    model = _randomized(make_cnn())
    exported = gc.onnx.export(model, gc.TensorSpec([None, 8, 8, 1]))
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in exported.graph.initializer}
    for v in model.variables:
        np.testing.assert_array_equal(initializers[v.name], v.numpy())
    assert [n.op_type for n in exported.graph.node].count("Conv") == 2  # no patches: Conv, NHWC <-> NCHW
    convs = [n for n in exported.graph.node if n.name.startswith(f"{model.name}/conv2d")]
    assert convs and all(n.doc_string.startswith("graphc ") for n in convs)
    assert all(f"{__file__}:" in n.doc_string for n in convs)  # the line that exported the model


def test_function_export_names_the_user_line_in_doc_strings(run_onnx, tmp_path):
    def f(x, y):
        return gc.nn.softmax(gc.matmul(x, y), axis=-1)  # the line the nodes name

    line = f.__code__.co_firstlineno + 1
    path = tmp_path / "f.onnx"
    model = gc.onnx.export(f, gc.TensorSpec([None, 3]), gc.TensorSpec([3, 4]), path=path)
    assert onnx.load(str(path)) == model
    assert any(n.doc_string.endswith(f"{__file__}:{line}") for n in model.graph.node)
    x, y = _rng.random((6, 3), np.float32), _rng.random((3, 4), np.float32)
    (got,) = run_onnx(model, [x, y])
    e = np.exp(x @ y - (x @ y).max(-1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


@gc.function(input_signature=[gc.TensorSpec([None, 4])])
def branchy(x):
    if gc.reduce_sum(x) > 0:
        y = x * 2.0
    else:
        y = -x - 1.0
    while gc.reduce_max(gc.abs(y)) < 100.0:
        y = y * 1.5 + 0.25
    return y


def _branchy_numpy(x):
    y = x * 2.0 if x.sum() > 0 else -x - 1.0
    while np.abs(y).max() < 100.0:
        y = y * np.float32(1.5) + np.float32(0.25)
    return y


def _ops(graph):
    return {n.op_type for n in graph.node} | {op for n in graph.node for a in n.attribute if a.g.node
                                            for op in _ops(a.g)}


def test_control_flow_becomes_if_and_loop(run_onnx):
    model = gc.onnx.export(branchy)
    assert {"If", "Loop"} <= _ops(model.graph)
    for batch, sign in [(1, 1.0), (3, -1.0), (9, 1.0)]:
        x = (sign * _rng.random((batch, 4))).astype(np.float32)
        (got,) = run_onnx(model, [x])
        np.testing.assert_allclose(got, branchy(x).numpy(), rtol=1e-5)
        np.testing.assert_allclose(got, _branchy_numpy(x), rtol=1e-5)


def test_while_loop_with_maximum_iterations_and_invariants(run_onnx):
    @gc.function
    def f(x, step):
        i, y = gc.while_loop(lambda i, y: gc.reduce_sum(y) < 1e6, lambda i, y: (i + 1, y * step),
                             [gc.constant(0), x], maximum_iterations=5)
        return i, y

    x, step = np.ones(3, np.float32), np.float32(3.0)
    i, y = run_onnx(gc.onnx.export(f, x, step), [x, step])
    assert i == 5
    np.testing.assert_allclose(y, x * 3.0**5)


# -- what cannot be exported ---------------------------------------------------------------------------
def test_an_assignment_names_the_op_and_the_line():
    v = gc.Variable(np.zeros(3, np.float32))

    @gc.function
    def step(x):
        v.assign_add(x)  # the line the error names
        return v.read_value() * 2.0

    with pytest.raises(ExportError, match="assign_variable") as error:
        gc.onnx.export(step, gc.TensorSpec([3]))
    assert f"{__file__}:{step.python_function.__code__.co_firstlineno + 2}" in str(error.value)


def test_random_numbers_are_not_exported():
    with pytest.raises(ExportError, match="random_uniform.*counter-based"):
        gc.onnx.export(lambda x, seed: x + gc.random.stateless_uniform([3], seed), gc.TensorSpec([3]),
                       gc.TensorSpec([2], gc.int64))
    with pytest.raises(ExportError, match="assign_variable"):  # the global generator's state
        gc.onnx.export(lambda x: x + gc.random.uniform([3]), gc.TensorSpec([3]))


def test_an_op_onnx_lacks_for_a_dtype_is_an_export_error_at_the_users_line(tmp_path):
    def total(x):
        return gc.reduce_sum(x * 2)  # ONNX's ReduceSum takes no uint8

    with pytest.raises(ExportError, match=r"ONNX refuses the exported graph at graphc reduce_sum at .*ReduceSum"):
        gc.onnx.export(total, gc.TensorSpec([None, 4], gc.uint8))
    model = gc.onnx.export(lambda x: gc.cast(x, gc.float32) / 255.0, gc.TensorSpec([None, 4], gc.uint8),
                           path=tmp_path / "scale.onnx")
    assert model.graph.input[0].type.tensor_type.elem_type == 2  # UINT8 inputs themselves export
    pixels = np.array([[0, 1, 128, 255]], np.uint8)
    np.testing.assert_allclose(gc.onnx.load(tmp_path / "scale.onnx")(pixels).numpy(), pixels / np.float32(255))


def test_calls_back_into_python_are_not_exported():
    with pytest.raises(ExportError, match="host_call.*runs without Python"):
        gc.onnx.export(lambda x: (gc.print(x), x * 2.0)[1], gc.TensorSpec([3]))
    with pytest.raises(ExportError, match="pure_host_call.*runs without Python"):
        gc.onnx.export(lambda x: gc.numpy_function(np.sin, [x], gc.TensorSpec([3], gc.float32), stateful=False),
                       gc.TensorSpec([3]))


@pytest.mark.parametrize("opset", [17, 10**6, "18", 18.0, True])
def test_opset_out_of_range(opset):
    with pytest.raises(ExportError, match="opset must be an int"):
        gc.onnx.export(lambda x: x + 1.0, gc.TensorSpec([3]), opset=opset)


def test_every_supported_opset_checks():
    for opset in (18, onnx.defs.onnx_opset_version()):
        model = gc.onnx.export(branchy, opset=opset)
        assert model.opset_import[0].version == opset


@pytest.mark.parametrize("target, specs, message", [
    (3, (), "expected a gc.function"),
    (lambda x: [], (gc.TensorSpec([2]),), "returns no tensors"),
])
def test_bad_targets(target, specs, message):
    with pytest.raises(ExportError, match=message):
        gc.onnx.export(target, *specs)


def test_a_concrete_function_takes_no_specs():
    concrete = branchy.get_concrete_function()
    with pytest.raises(ExportError, match="pass no input_specs"):
        gc.onnx.export(concrete, gc.TensorSpec([None, 4]))


def test_model_without_an_input_shape_needs_specs(run_onnx, tmp_path):
    model = gc.Sequential([gc.layers.Dense(3)])
    with pytest.raises(ExportError, match="no declared input shape"):
        model.export(str(tmp_path / "m.onnx"), verbose=False)
    with pytest.raises(gc.errors.InvalidArgumentError, match="format 'onnx' only"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    model.export(str(tmp_path / "m.onnx"), input_signature=gc.TensorSpec([None, 2]), verbose=False)
    x = _rng.random((4, 2), np.float32)
    (got,) = run_onnx(onnx.load(str(tmp_path / "m.onnx")), [x])
    np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_a_known_batch_exports_convolutions_as_conv_too(run_onnx):
    model = _randomized(make_cnn())
    exported = gc.onnx.export(model, gc.TensorSpec([4, 8, 8, 1]))
    assert [n.op_type for n in exported.graph.node].count("Conv") == 2
    x = _rng.random((4, 8, 8, 1), np.float32)
    (got,) = run_onnx(exported, [x])
    np.testing.assert_allclose(got, model(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_variables_named_like_inputs_or_constants_keep_their_names(run_onnx):
    v = gc.Variable(np.float32([1, 2, 3]), name="const")
    w = gc.Variable(np.float32([10, 20, 30]), name="x")
    model = gc.onnx.export(lambda x: x * 3.0 + v + w, gc.TensorSpec([3], name="x"))
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(initializers["const"], [1, 2, 3])
    np.testing.assert_array_equal(initializers["x"], [10, 20, 30])
    assert model.graph.input[0].name != "x"  # the input gives way: a variable keeps its name
    (got,) = run_onnx(model, [np.float32([1, 1, 1])])
    np.testing.assert_array_equal(got, [14, 25, 36])


def test_a_functional_model_with_two_inputs_exports_from_its_inputs(run_onnx, tmp_path):
    image, meta = gc.Input((8, 8, 1), name="image"), gc.Input((3,), name="meta")
    features = gc.layers.GlobalAveragePooling2D()(gc.layers.Conv2D(4, 3, activation="relu")(image))
    hidden = gc.layers.Concatenate()([features, gc.layers.Dense(5)(meta)])
    model = _randomized(gc.Model([image, meta], gc.layers.Dense(2)(hidden)))
    path = tmp_path / "functional.onnx"
    model.export(str(path), verbose=False)
    exported = onnx.load(str(path))
    assert [len(i.type.tensor_type.shape.dim) for i in exported.graph.input] == [4, 2]
    x, m = _rng.random((3, 8, 8, 1), np.float32), _rng.random((3, 3), np.float32)
    (got,) = run_onnx(exported, [x, m])
    np.testing.assert_allclose(got, model([x, m], training=False).numpy(), rtol=1e-5, atol=1e-5)
