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
