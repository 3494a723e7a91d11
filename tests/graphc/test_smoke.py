import numpy as np

import graphc as gc


def test_predict_graph_and_eager_agree():
    w = gc.Variable(np.ones((3, 4), np.float32), name="w")
    b = gc.Variable(np.zeros(4, np.float32), name="b")

    @gc.function
    def predict(x):
        return gc.nn.sigmoid(gc.matmul(x, w) + b)

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph_result = predict(x).numpy()
    with gc.config.run_functions_eagerly(True):
        eager_result = predict(x).numpy()
    expected = 1 / (1 + np.exp(-(x @ np.ones((3, 4), np.float32))))
    np.testing.assert_allclose(graph_result, expected, rtol=1e-6)
    np.testing.assert_allclose(graph_result, eager_result, rtol=1e-6)


def test_the_keras_side_and_the_pictures_load_on_first_use():
    """``import graphc`` leaves layers, models, data, checkpoints and viz for their first use, which
    finds them under their usual names."""
    import subprocess
    import sys

    code = """
import sys, graphc as gc
lazy = ("layers", "models", "data", "train", "checkpoints", "optimizers", "losses", "metrics", "viz")
print(sorted(m for m in lazy if f"graphc.{m}" in sys.modules))
from graphc import Sequential
print(gc.layers.Dense.__name__, gc.Model.__name__, Sequential.__name__, gc.viz.render.__name__, gc.train.Checkpoint.__name__)
print(all(name in dir(gc) for name in ("layers", "Model", "viz", "random")))
try:
    gc.no_such_name
except AttributeError as error:
    print(error)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.splitlines() == [
        "[]", "Dense Model Sequential render Checkpoint", "True", "module 'graphc' has no attribute 'no_such_name'",
    ], run.stdout + run.stderr
