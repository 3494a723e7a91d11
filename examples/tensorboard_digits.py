"""The digits CNN (digits_cnn.py) trained with TensorBoard logging: ``make tensorboard-demo``.

gc.callbacks.TensorBoard writes Keras's layout (runs train/ and validation/: epoch_loss,
epoch_accuracy, epoch_learning_rate, evaluation_*_vs_iterations, weight histograms and images each
epoch, the compiled train step's graph); gc.summary then adds a run test/ with held-out digits as
images, the model's guesses as a text table and the held-out accuracy. Then view it in TensorBoard:

    python examples/tensorboard_digits.py --logdir build/tensorboard-demo
    tensorboard --logdir build/tensorboard-demo        # and open http://localhost:6006/
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

import graphc as gc

from digits_cnn import make_cnn
from digits_mlp import compile_model, load_digits

SHOWN = 8  # held-out digits written as images


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("GRAPHC_EXAMPLES_SMALL") == "1",
                        help="a few hundred images and two epochs (for CI)")
    parser.add_argument("--logdir", default=None,
                        help="where the runs go (default: build/tensorboard-demo; a temp dir with --small)")
    args = parser.parse_args()
    if args.logdir is None:
        args.logdir = tempfile.mkdtemp(prefix="tensorboard-demo-") if args.small else os.path.join("build", "tensorboard-demo")
    return args


def tensorboard_command(logdir: str) -> str:
    """The command that serves ``logdir``: this interpreter's own ``tensorboard`` when it has one."""
    beside = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    program = os.path.relpath(beside) if os.path.exists(beside) else shutil.which("tensorboard") or "tensorboard"
    return f"{program} --logdir {logdir}"


def main() -> None:
    args = parse_args()
    gc.random.set_seed(0)
    x_train, y_train, x_test, y_test = load_digits((8, 8, 1), args.small)
    model = compile_model(make_cnn(), 3e-3)
    epochs = 2 if args.small else 12
    callback = gc.callbacks.TensorBoard(args.logdir, histogram_freq=1, write_images=True)
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=2, callbacks=[callback])
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    guesses = model.predict(x_test[:SHOWN], verbose=0).argmax(axis=-1)
    table = np.array([["digit", "label", "guess"]] + [[str(i), str(y), str(g)] for i, (y, g) in
                                                      enumerate(zip(y_test[:SHOWN], guesses))])
    with gc.summary.create_file_writer(os.path.join(args.logdir, "test")).as_default(step=epochs):
        gc.summary.image("held_out_digits", x_test[:SHOWN], max_outputs=SHOWN)
        gc.summary.text("guesses", table)
        gc.summary.scalar("accuracy", accuracy)
    print(f"held-out accuracy {accuracy:.4f}, loss {loss:.4f}")
    runs = sorted(d for d in os.listdir(args.logdir) if os.path.isdir(os.path.join(args.logdir, d)))
    print(f"TensorBoard runs in {args.logdir}: {', '.join(runs)}")
    print(f"view them: {tensorboard_command(args.logdir)}   (then open http://localhost:6006/)")


if __name__ == "__main__":
    main()
