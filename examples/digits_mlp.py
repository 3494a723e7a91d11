"""Handwritten digits with a Keras-style MLP: compile, fit, evaluate, checkpoint, restore, compare.

Trains gc.Sequential([Input(64), Lambda(/255), Dense(128, relu), Dropout(0.2), Dense(10)]) on
scikit-learn's bundled 8x8 digits (1797 images, no download), stored as MNIST stores its images (uint8
pixels 0-255 and uint8 labels) and scaled inside the model, to >= 95% held-out accuracy. Each training step is
one compiled function (forward, backward, Adam update, metric updates). Then it saves a
checkpoint, restores it into a fresh model that must predict identically, renders the train-step
graph (when gc.viz is available), and times the compiled step against the same step run eagerly.

    python examples/digits_mlp.py            # full size (needs the `examples` extra: scikit-learn)
    python examples/digits_mlp.py --small    # a quick run for CI (also GRAPHC_EXAMPLES_SMALL=1)
    GRAPHC_RUN_EAGERLY=1 python examples/digits_mlp.py   # fit runs op by op
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import graphc as gc

TARGET_ACCURACY = 0.95


def parse_args(description: str):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", action="store_true", default=os.environ.get("GRAPHC_EXAMPLES_SMALL") == "1",
                        help="a few hundred images and two epochs (for CI); the accuracy target is not checked")
    parser.add_argument("--out", default=None, help="directory for the checkpoint and the graph picture (default: a temp dir)")
    return parser.parse_args()


def load_digits(image_shape, small: bool, seed: int = 0):
    """uint8 pixels (0-255, as MNIST's) in ``image_shape`` and uint8 labels, split 80/20 at random:
    (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x = np.round(digits.data * (255 / 16)).astype(np.uint8).reshape((-1,) + image_shape)
    y = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(x))
    if small:
        order = order[:500]
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]
    print(f"digits: {len(train)} training and {len(test)} held-out images of 8x8 pixels, 10 classes")
    return x[train], y[train], x[test], y[test]


def compile_model(model, learning_rate: float):
    model.compile(
        optimizer=gc.optimizers.Adam(learning_rate),
        loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def describe_train_step(model, batch) -> None:
    """The traced train step: one graph holding the forward pass, the gradients and the updates."""
    graph = model.train_function.get_concrete_function(batch).graph
    gradient_nodes = sum(node.is_gradient for node in graph.nodes)
    updates = sum(node.op == "assign_variable" for node in graph.nodes)
    print(f"train step: one compiled graph of {len(graph.nodes)} nodes ({gradient_nodes} of them gradient nodes, "
          f"{updates} variable updates), traced {model.train_function.trace_count} time(s) while fitting")


def render_train_step(model, batch, out_dir: str, name: str) -> None:
    if not hasattr(gc, "viz"):
        print("train-step graph: not rendered (gc.viz is not available in this graphc)")
        return
    path = os.path.join(out_dir, f"{name}_train_step.svg")
    gc.viz.render(model.train_function, batch, path=path)
    print(f"train-step graph rendered to {path}")


def checkpoint_round_trip(model, make_model, x_test, out_dir: str, name: str) -> None:
    """Saves model and optimizer, restores them into fresh objects, and compares the predictions."""
    path = gc.train.Checkpoint(model=model, optimizer=model.optimizer).save(os.path.join(out_dir, name))
    print(f"checkpoint written to {path}: {len(gc.train.list_variables(path))} tensors (safetensors + JSON index)")
    fresh = make_model()
    fresh_optimizer = gc.optimizers.Adam()
    gc.train.Checkpoint(model=fresh, optimizer=fresh_optimizer).restore(gc.train.latest_checkpoint(out_dir))
    same = np.array_equal(fresh.predict(x_test, verbose=0), model.predict(x_test, verbose=0))
    print(f"restored into a fresh model: predictions identical: {same}; optimizer step {int(fresh_optimizer.iterations.numpy())}")
    if not same:
        sys.exit("the restored model predicts differently")


def time_steps(make_model, batch, steps: int) -> None:
    """The same train step compiled and eager, on fresh models, after a warm-up step."""
    per_step = {}
    for mode, eager in (("compiled", False), ("eager", True)):
        model = compile_model(make_model(), 1e-3)
        with gc.config.run_functions_eagerly(eager):
            step = model.make_train_function()
            step(batch)
            start = time.perf_counter()
            for _ in range(steps):
                step(batch)
            per_step[mode] = (time.perf_counter() - start) / steps
    print(f"speed: compiled {per_step['compiled'] * 1e3:.2f} ms/step, eager {per_step['eager'] * 1e3:.2f} ms/step "
          f"-> compiled is {per_step['eager'] / per_step['compiled']:.1f}x faster")


def run(name: str, make_model, image_shape, epochs: int, learning_rate: float, description: str) -> None:
    """The whole example for one model: data, training, evaluation, checkpoint, picture, timing."""
    args = parse_args(description)
    out_dir = args.out or tempfile.mkdtemp(prefix=f"{name}-")
    os.makedirs(out_dir, exist_ok=True)
    gc.random.set_seed(0)
    mode = "eagerly (GRAPHC_RUN_EAGERLY)" if gc.config.functions_run_eagerly() else "compiled"
    print(f"{name}: training {mode}{' (small size)' if args.small else ''}")
    x_train, y_train, x_test, y_test = load_digits(image_shape, args.small)
    model = compile_model(make_model(), learning_rate)
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=2 if args.small else epochs, validation_split=0.1)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    reached = "reached" if accuracy >= TARGET_ACCURACY else "NOT reached"
    print(f"held-out accuracy: {accuracy:.4f}, loss {loss:.4f} (target {TARGET_ACCURACY}: {reached})")
    batch = (x_train[:32], y_train[:32])
    describe_train_step(model, batch)
    checkpoint_round_trip(model, make_model, x_test, out_dir, name)
    render_train_step(model, batch, out_dir, name)
    time_steps(make_model, batch, 10 if args.small else 50)
    if accuracy < TARGET_ACCURACY and not args.small:
        sys.exit(f"held-out accuracy {accuracy:.4f} is below the target {TARGET_ACCURACY}")


def scale_pixels():
    """uint8 pixels to floats in [0, 1], inside the model (as ``x / 255`` in a TensorFlow model)."""
    return gc.layers.Lambda(lambda x: gc.cast(x, gc.float32) / 255.0, name="scale")


def make_mlp():
    return gc.Sequential([
        gc.Input(shape=(64,)),
        scale_pixels(),
        gc.layers.Dense(128, activation="relu"),
        gc.layers.Dropout(0.2),
        gc.layers.Dense(10),
    ], name="digits_mlp")


if __name__ == "__main__":
    run("digits_mlp", make_mlp, (64,), epochs=20, learning_rate=3e-3, description=__doc__.splitlines()[0])
