"""W8, W9: inference, graphc's LLVM backend against ONNX Runtime running graphc's own ONNX export
of the same function (CPU execution provider, default threads), with a NumPy baseline where one is
short to write. Each implementation's results are checked against graphc's before timing.

W8 W3's forward pass: MLP 784-512-512-10 with W3's weights, float32[256, 784] -> logits
W9 the digits CNN of examples/digits_cnn.py (random weights), float32[256, 8, 8, 1] -> logits

    python bench/onnx_inference.py        # both, as `python bench/run.py W8 W9`
"""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

import graphc as gc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
BATCH = 256


def _onnx_runtime(function, x: np.ndarray, want: np.ndarray):
    """A call of ONNX Runtime on graphc's export of ``function`` (traced with a None batch)."""
    import onnxruntime as ort

    spec = gc.TensorSpec([None, *x.shape[1:]], gc.float32)
    model = gc.onnx.export(function, spec)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    np.testing.assert_allclose(session.run(None, {name: x})[0], want, rtol=1e-4, atol=1e-4)
    return lambda: session.run(None, {name: x})


def _with_peer(impls: dict, function, x, want) -> dict:
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        impls["onnxrt"] = _onnx_runtime(function, x, want)
    return impls


def w8(peers=()):
    from workloads import mlp_data

    weights, biases, x, _ = mlp_data()
    ws = [gc.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    bs = [gc.Variable(b, name=f"b{i}") for i, b in enumerate(biases)]

    @gc.function
    def forward(x):
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = gc.matmul(h, w) + b
            h = gc.nn.relu(h) if i < len(ws) - 1 else h
        return h

    def numpy_forward():
        h = x
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = h @ w + b
            h = np.maximum(h, 0) if i < len(weights) - 1 else h
        return h

    want = numpy_forward()
    np.testing.assert_allclose(forward(x).numpy(), want, rtol=1e-4, atol=1e-4)
    return _with_peer({"numpy": numpy_forward, "graphc": lambda: forward(x)}, forward, x, want)


def w9(peers=()):
    from digits_cnn import make_cnn

    model = make_cnn()
    rng = np.random.default_rng(0)
    for v in model.variables:
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32) + (1.0 if "variance" in v.name else 0.0))
    x = rng.random((BATCH, 8, 8, 1), np.float32)
    forward = gc.function(lambda x: model(x, training=False))
    want = forward(x).numpy()
    return _with_peer({"graphc": lambda: forward(x)}, model, x, want)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    import run

    run.run(["W8", "W9"])
