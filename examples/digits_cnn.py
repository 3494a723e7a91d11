"""Handwritten digits with a small convolutional network (Conv2D, BatchNormalization, MaxPool2D).

The same journey as digits_mlp.py (fit to >= 95% held-out accuracy, checkpoint and restore into a
fresh model, the train-step graph, compiled against eager timing) with 8x8x1 images:

    Conv2D(16, 3, same, relu) -> BatchNormalization -> MaxPool2D(2)
    -> Conv2D(32, 3, same, relu) -> MaxPool2D(2) -> Flatten -> Dropout(0.25) -> Dense(10)

Convolutions are image patches times a kernel matrix (im2col); their gradients go through the
patches' adjoint op.

    python examples/digits_cnn.py            # full size (needs the `examples` extra: scikit-learn)
    python examples/digits_cnn.py --small    # a quick run for CI (also GRAPHC_EXAMPLES_SMALL=1)
"""
import graphc as gc
from graphc import layers as L

from digits_mlp import run, scale_pixels


def make_cnn():
    return gc.Sequential([
        gc.Input(shape=(8, 8, 1)),
        scale_pixels(),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.MaxPool2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dropout(0.25),
        L.Dense(10),
    ], name="digits_cnn")


if __name__ == "__main__":
    run("digits_cnn", make_cnn, (8, 8, 1), epochs=12, learning_rate=3e-3, description=__doc__.splitlines()[0])
