"""``graphc export`` writes ONNX models that ONNX Runtime runs; ``graphc viz``/``graphc ir`` read
ONNX models through ``gc.onnx.load``."""
import textwrap

import numpy as np
import onnx
import pytest

from graphc import cli

MODEL = '''
import numpy as np
import graphc as gc

rng = np.random.default_rng(0)
w = gc.Variable(rng.normal(0, 0.1, (784, 10)).astype(np.float32), name="w")


@gc.function
def predict(x):
    with gc.name_scope("dense"):
        return gc.nn.softmax(gc.matmul(x, w))


def train(x):
    w.assign_sub(x[0, :, None] * 0.1)
    return w.read_value()


model = gc.Sequential([gc.Input(shape=(4,)), gc.layers.Dense(3, activation="relu")], name="tiny")
'''


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_export_a_function_then_run_it_in_onnx_runtime(workspace, capsys, run_onnx):
    status, out, err = _run(["export", "model.py:predict", "--arg", "f32[None,784]", "-o", "m.onnx"], capsys)
    assert (status, out.strip(), err) == (0, "m.onnx", "")
    model = onnx.load(str(workspace / "m.onnx"))
    x = np.random.default_rng(1).random((3, 784), np.float32)
    (probabilities,) = run_onnx(model, [x])
    w = onnx.numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "w"))
    e = np.exp(x @ w - (x @ w).max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_export_a_model_object_with_its_input_shape(workspace, capsys, run_onnx):
    status, out, _ = _run(["export", "model.py:model", "--opset", "20"], capsys)
    assert (status, out.strip()) == (0, "tiny.onnx")
    model = onnx.load(str(workspace / "tiny.onnx"))
    assert model.opset_import[0].version == 20
    (y,) = run_onnx(model, [np.ones((2, 4), np.float32)])
    assert y.shape == (2, 3) and (y >= 0).all()


def test_viz_and_ir_of_an_onnx_model(workspace, capsys):
    _run(["export", "model.py:predict", "--arg", "f32[None,784]", "-o", "m.onnx"], capsys)
    status, out, _ = _run(["viz", "m.onnx", "-o", "m.dot"], capsys)
    assert status == 0
    picture = (workspace / "m.dot").read_text()
    assert "matmul" in picture and "dense" in picture and "reduce_max" in picture
    status, out, _ = _run(["ir", "m.onnx"], capsys)
    assert status == 0 and "= matmul" in out and "@dense/softmax" in out


@pytest.mark.parametrize("argv, status, message", [
    (["viz", "m.onnx", "--arg", "f32[3]"], 2, "give no --arg"),
    (["viz", "junk.onnx"], 1, "not an ONNX model"),
    (["viz", "absent.onnx"], 1, "no ONNX file"),
    (["export", "model.py:train", "--arg", "f32[2,784]"], 1, "assign_variable"),
    (["export", "model.py:predict", "--arg", "f32[None,784]", "--opset", "7"], 1, "opset must be"),
])
def test_errors_are_one_line(workspace, capsys, argv, status, message):
    _run(["export", "model.py:predict", "--arg", "f32[None,784]", "-o", "m.onnx"], capsys)
    (workspace / "junk.onnx").write_bytes(b"\x00\x01garbage")
    got, out, err = _run(argv, capsys)
    assert got == status and message in err and "Traceback" not in err


def test_graphc_and_gc_onnx_load_without_the_onnx_package():
    """The onnx package loads on the first export or load, not with graphc nor with gc.onnx."""
    import subprocess
    import sys

    code = ("import sys, graphc as gc; gc.onnx.ExportError; import graphc.onnx.load, graphc.onnx.import_ops; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
