"""``gc.onnx.load``: ONNX models built with onnx.helper (as another tool would write them) and
graphc's own exports, run by graphc (LLVM backend) and compared with ONNX Runtime; gradients and
fine-tuning through a loaded model; unsupported ops and hostile files."""
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphc as gc
from graphc.compiler import BackendFallbackWarning
from graphc.onnx import LoadError

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from digits_cnn import make_cnn  # noqa: E402
from digits_mlp import make_mlp  # noqa: E402

_rng = np.random.default_rng(11)
F = TensorProto.FLOAT


def _save(model, tmp_path, name="model.onnx") -> str:
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def _model(nodes, inputs, outputs, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "test_graph", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _load_strict(path):
    """Loads, runs on the LLVM backend without falling back to the interpreter."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)
        f = gc.onnx.load(path)
        f.compiled()
    assert f.compiled().backend == "llvm"
    return f


def _resnet_block(channels=4, classes=3):
    """Conv-BN(folded into the conv's bias)-Relu-Conv-BN-Add(skip)-Relu, MaxPool, a BatchNormalization
    node, GlobalAveragePool, Flatten, Gemm, Softmax: NCHW with a symbolic batch."""
    c = channels
    w1, b1 = _rng.normal(0, 0.3, (c, c, 3, 3)), _rng.normal(0, 0.1, c)
    w2, b2 = _rng.normal(0, 0.3, (c, c, 3, 3)), _rng.normal(0, 0.1, c)
    gamma, beta = _rng.uniform(0.5, 1.5, c), _rng.normal(0, 0.1, c)
    mean, var = _rng.normal(0, 0.1, c), _rng.uniform(0.5, 2, c)
    fc, fc_bias = _rng.normal(0, 0.5, (classes, c)), _rng.normal(0, 0.1, classes)
    weights = {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "gamma": gamma, "beta": beta, "mean": mean, "var": var,
               "fc": fc, "fc_bias": fc_bias}
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="block/conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="block/relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="block/conv2", **conv),
        helper.make_node("Add", ["c2", "x"], ["sum"], name="block/skip"),
        helper.make_node("Relu", ["sum"], ["r2"], name="block/relu2"),
        helper.make_node("MaxPool", ["r2"], ["pooled"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["pooled", "gamma", "beta", "mean", "var"], ["bn"], name="bn",
                         epsilon=1e-3),
        helper.make_node("GlobalAveragePool", ["bn"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc", "fc_bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, ["N", c, 8, 8])],
                  [helper.make_tensor_value_info("probs", F, ["N", classes])],
                  [_init(k, v.astype(np.float32)) for k, v in weights.items()])


def test_a_resnet_block_from_another_tool_matches_onnx_runtime(run_onnx, tmp_path):
    model = _resnet_block()
    f = _load_strict(_save(model, tmp_path))
    for batch in (1, 6):
        x = _rng.normal(size=(batch, 4, 8, 8)).astype(np.float32)
        (want,) = run_onnx(model, [x])
        np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_a_loaded_model_is_differentiable_and_fine_tunes(tmp_path):
    f = gc.onnx.load(_save(_resnet_block(), tmp_path))
    names = {v.name for v in f.variables}
    assert {"w1", "b1", "fc", "fc_bias"} <= names and "N" not in names
    bias = next(v for v in f.variables if v.name == "fc_bias")
    x = _rng.normal(size=(5, 4, 8, 8)).astype(np.float32)
    with gc.GradientTape() as tape:
        total = gc.reduce_sum(f(x))  # softmax rows sum to 1: no gradient reaches the logits' bias
    (g,) = tape.gradient(total, [bias])
    np.testing.assert_allclose(g.numpy(), 0.0, atol=1e-5)
    target = np.eye(3, dtype=np.float32)[_rng.integers(0, 3, 5)]
    optimizer = gc.optimizers.SGD(0.5)
    losses = []
    for _ in range(5):
        with gc.GradientTape() as tape:
            loss = gc.reduce_mean(gc.square(f(x) - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, f.variables), f.variables))
        losses.append(float(loss.numpy()))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("make_model, image", [(make_mlp, (64,)), (make_cnn, (8, 8, 1))], ids=["mlp", "cnn"])
def test_round_trip_export_then_load(make_model, image, tmp_path):
    model = make_model()
    path = str(tmp_path / "m.onnx")
    model.export(path, verbose=False)
    f = _load_strict(path)
    for batch in (2, 7):
        x = _rng.random((batch, *image), np.float32)
        np.testing.assert_allclose(f(x).numpy(), model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_round_trip_of_control_flow(tmp_path):
    @gc.function(input_signature=[gc.TensorSpec([None, 3])])
    def f(x):
        if gc.reduce_sum(x) > 0:
            y = x * 2.0
        else:
            y = -x
        while gc.reduce_max(y) < 50.0:
            y = y * 1.5 + 1.0
        return y

    path = str(tmp_path / "f.onnx")
    gc.onnx.export(f, path=path)
    loaded = gc.onnx.load(path)
    for x in (_rng.random((2, 3), np.float32), -_rng.random((4, 3), np.float32)):
        np.testing.assert_allclose(loaded(x).numpy(), f(x).numpy(), rtol=1e-6)


# -- single ONNX ops against ONNX Runtime --------------------------------------------------------------
def _i64(name, values):
    return _init(name, np.asarray(values, np.int64))


X = _rng.normal(size=(2, 3, 4)).astype(np.float32)
IX = _rng.integers(-9, 9, (2, 3, 4)).astype(np.int64)
NONZERO = np.where(IX == 0, 3, IX)
SINGLE_OPS = [  # id, node, inputs (name -> array), initializers
    ("div-int-truncates", helper.make_node("Div", ["a", "b"], ["y"]), {"a": IX, "b": NONZERO[::-1]}, []),
    ("mod-fmod", helper.make_node("Mod", ["a", "b"], ["y"], fmod=1), {"a": X, "b": X[::-1] + 3.0}, []),
    ("mod-int", helper.make_node("Mod", ["a", "b"], ["y"]), {"a": IX, "b": NONZERO[::-1]}, []),
    ("slice-negative-steps", helper.make_node("Slice", ["a", "s", "e", "ax", "st"], ["y"]), {"a": X},
     [_i64("s", [-1, 3]), _i64("e", [-2**63, 0]), _i64("ax", [1, 2]), _i64("st", [-1, -2])]),
    ("expand-bidirectional", helper.make_node("Expand", ["a", "shape"], ["y"]), {"a": X[:, :1]},
     [_i64("shape", [3, 1, 1, 4])]),
    ("split", helper.make_node("Split", ["a", "sizes"], ["y", "z"], axis=2), {"a": X}, [_i64("sizes", [1, 3])]),
    ("gather", helper.make_node("Gather", ["a", "i"], ["y"], axis=1), {"a": X}, [_i64("i", [[2, 0], [-1, 1]])]),
    ("pad-reflect", helper.make_node("Pad", ["a", "p"], ["y"], mode="reflect"), {"a": X},
     [_i64("p", [0, 1, 2, 0, 2, 1])]),
    ("argmax-keepdims", helper.make_node("ArgMax", ["a"], ["y"], axis=1), {"a": X}, []),
    ("reduce-mean", helper.make_node("ReduceMean", ["a", "ax"], ["y"], keepdims=0), {"a": X}, [_i64("ax", [0, 2])]),
    ("log-softmax", helper.make_node("LogSoftmax", ["a"], ["y"], axis=1), {"a": X}, []),
    ("clip", helper.make_node("Clip", ["a", "lo", "hi"], ["y"]), {"a": X},
     [_init("lo", np.float32(-0.5)), _init("hi", np.float32(0.5))]),
    ("where-cast", helper.make_node("Where", ["c", "a", "b"], ["y"]), {"c": X > 0, "a": X, "b": -X}, []),
    ("cast", helper.make_node("Cast", ["a"], ["y"], to=TensorProto.INT32), {"a": X * 10}, []),
    ("cumsum-reverse-exclusive", helper.make_node("CumSum", ["a", "ax"], ["y"], exclusive=1, reverse=1), {"a": X},
     [_i64("ax", 2)]),
    ("tile", helper.make_node("Tile", ["a", "r"], ["y"]), {"a": X}, [_i64("r", [1, 2, 3])]),
    ("unsqueeze", helper.make_node("Unsqueeze", ["a", "ax"], ["y"]), {"a": X}, [_i64("ax", [0, -1])]),
    ("transpose", helper.make_node("Transpose", ["a"], ["y"], perm=[2, 0, 1]), {"a": X}, []),
    ("flatten", helper.make_node("Flatten", ["a"], ["y"], axis=2), {"a": X}, []),
    ("leaky-relu", helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.3), {"a": X}, []),
    ("average-pool-padded", helper.make_node("AveragePool", ["a"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                             strides=[2, 2]), {"a": X.reshape(1, 2, 3, 4)}, []),
    ("depthwise-conv", helper.make_node("Conv", ["a", "w"], ["y"], group=2, kernel_shape=[2, 2]),
     {"a": X.reshape(1, 2, 3, 4)}, [_init("w", _rng.normal(size=(4, 1, 2, 2)).astype(np.float32))]),
]


@pytest.mark.parametrize("case", SINGLE_OPS, ids=[c[0] for c in SINGLE_OPS])
def test_single_onnx_ops_match_onnx_runtime(case, run_onnx, tmp_path):
    _, node, feeds, initializers = case
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for k, v in feeds.items()]
    inferred = onnx.shape_inference.infer_shapes(_model([node], inputs, [], initializers))
    types = {v.name: v for v in inferred.graph.value_info}
    model = _model([node], inputs, [types[o] for o in node.output], initializers)
    want = run_onnx(model, list(feeds.values()))
    got = gc.onnx.load(_save(model, tmp_path))(*feeds.values())
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        assert g.numpy().dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6)


def test_if_and_loop_from_onnx_helper(run_onnx, tmp_path):
    """y = x * 2 if sum(x) > 0 else -x; then, at most 4 times while max(y) < 20: y = y * 3."""
    then_graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", F, None)])
    else_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", F, None)])
    body = helper.make_graph([
        helper.make_node("Mul", ["v", "three"], ["v2"]),
        helper.make_node("ReduceMax", ["v2"], ["m"], keepdims=0),
        helper.make_node("Less", ["m", "twenty"], ["go"]),
    ], "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("v", F, None)],
        [helper.make_tensor_value_info("go", TensorProto.BOOL, []), helper.make_tensor_value_info("v2", F, None)])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["p"]),
        helper.make_node("If", ["p"], ["y"], then_branch=then_graph, else_branch=else_graph),
        helper.make_node("Loop", ["four", "", "y"], ["out"], body=body),
    ]
    scalars = {"two": 2.0, "three": 3.0, "twenty": 20.0, "zero": 0.0}
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["N"])], [helper.make_tensor_value_info("out", F, ["N"])],
                   [_init(k, np.float32(v)) for k, v in scalars.items()] + [_i64("four", 4)])
    f = gc.onnx.load(_save(model, tmp_path))
    for x in (np.float32([1, 2]), np.float32([-1, -2, 0.5]), np.float32([0.01])):
        (want,) = run_onnx(model, [x])
        np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-6)


# -- what cannot be loaded ------------------------------------------------------------------------------
def test_an_unsupported_op_names_the_op_and_the_node(tmp_path):
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["y"], name="detector/nms")
    model = _model([node], [helper.make_tensor_value_info("boxes", F, [1, 4, 4]),
                            helper.make_tensor_value_info("scores", F, [1, 1, 4])],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, ["K", 3])])
    with pytest.raises(LoadError, match=r"'detector/nms'.*NonMaxSuppression"):
        gc.onnx.load(_save(model, tmp_path))


def test_an_op_of_another_domain_is_refused(tmp_path):
    node = helper.make_node("FusedGemm", ["a"], ["y"], name="ort_only", domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", F, [2])],
                              [helper.make_tensor_value_info("y", F, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    with pytest.raises(LoadError, match="com.microsoft"):
        gc.onnx.load(_save(model, tmp_path))


def test_an_unsupported_attribute_names_the_node(tmp_path):
    node = helper.make_node("ArgMax", ["a"], ["y"], name="pick_last", select_last_index=1)
    model = _model([node], [helper.make_tensor_value_info("a", F, [2, 3])],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, [1, 3])])
    with pytest.raises(LoadError, match="'pick_last'.*select_last_index"):
        gc.onnx.load(_save(model, tmp_path))


def _small_model():
    node = helper.make_node("Add", ["a", "w"], ["y"], name="add")
    return _model([node], [helper.make_tensor_value_info("a", F, [4])], [helper.make_tensor_value_info("y", F, [4])],
                  [_init("w", np.arange(4, dtype=np.float32))])


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all\n", bytes(range(256)) * 8,
                                     b"\x08\x08\x12\x04junk"], ids=["empty", "text", "bytes", "no-graph"])
def test_files_that_are_not_onnx_are_refused(content, tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(LoadError, match="not .*ONNX model|not a valid ONNX model"):
        gc.onnx.load(str(path))


def test_a_truncated_file_is_refused(tmp_path):
    data = _small_model().SerializeToString()
    for cut in (len(data) // 3, len(data) - 5):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(LoadError):
            gc.onnx.load(str(path))


def test_a_missing_file(tmp_path):
    with pytest.raises(LoadError, match="no ONNX file"):
        gc.onnx.load(str(tmp_path / "absent.onnx"))


def _with_external_weights(tmp_path, location: str):
    model = _small_model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    directory = tmp_path / "model"
    directory.mkdir(exist_ok=True)
    return _save(model, directory)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "sub/../../secret.bin"])
def test_external_data_outside_the_model_directory_is_refused(location, tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    with pytest.raises(LoadError, match="outside the model's directory"):
        gc.onnx.load(_with_external_weights(tmp_path, location))


def test_external_data_inside_the_model_directory_loads(tmp_path):
    path = _with_external_weights(tmp_path, "weights.bin")
    with pytest.raises(LoadError, match="missing"):
        gc.onnx.load(path)
    (tmp_path / "model" / "weights.bin").write_bytes(np.float32([10, 20, 30, 40]).tobytes())
    f = gc.onnx.load(path)
    np.testing.assert_array_equal(f(np.ones(4, np.float32)).numpy(), [11, 21, 31, 41])


def test_a_loaded_function_checks_its_arguments(tmp_path):
    f = gc.onnx.load(_save(_small_model(), tmp_path))
    with pytest.raises(gc.errors.InvalidArgumentError):
        f(np.ones(5, np.float32))


def test_shape_arithmetic_of_a_run_time_batch(run_onnx, tmp_path):
    """PyTorch's x.view(x.size(0), -1), then a bias broadcast to the result's shape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="size"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="size0", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"], name="unsqueeze"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"], name="view"),
        helper.make_node("Shape", ["flat"], ["flat_shape"], name="flat_size"),
        helper.make_node("Expand", ["bias", "flat_shape"], ["wide"], name="expand"),
        helper.make_node("Add", ["flat", "wide"], ["y"], name="add"),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["N", 2, 3, 4])],
                   [helper.make_tensor_value_info("y", F, ["N", 24])],
                   [_i64("zero", 0), _i64("axes", [0]), _i64("minus_one", [-1]),
                    _init("bias", np.arange(24, dtype=np.float32))])
    f = gc.onnx.load(_save(model, tmp_path))
    for batch in (1, 5):
        x = _rng.normal(size=(batch, 2, 3, 4)).astype(np.float32)
        (want,) = run_onnx(model, [x])
        np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-6)


def test_other_arithmetic_on_run_time_sizes_is_refused(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="size"),
             helper.make_node("Mul", ["shape", "two"], ["y"], name="double_sizes")]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["N", 2])],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, [2])], [_i64("two", 2)])
    with pytest.raises(LoadError, match="'double_sizes'.*known only at run time"):
        gc.onnx.load(_save(model, tmp_path))
