"""Text classification with Embedding + LSTM (or attention): a synthetic sentiment task, compiled
and eagerly.

Sentences are 12 token ids from a vocabulary of 40: ids 2-9 are "good" words, 10-17 "bad" ones, the
rest neutral (0 pads). A sentence is positive when it holds more good words than bad ones, so the
model must count along the sequence. gc.Sequential([Embedding, LSTM, Dense]) (or
MultiHeadAttention + pooling with --attention) reaches >= 90% held-out accuracy; each training step
is one compiled function (forward through the unrolled LSTM, backward, AdamW update). It also shows
TensorFlow's sliced variable assignment, X[1, 2].assign(9).

    python examples/text_classifier.py                # full size
    python examples/text_classifier.py --small        # a quick run for CI (also GRAPHC_EXAMPLES_SMALL=1)
    python examples/text_classifier.py --attention    # self-attention instead of the LSTM
    GRAPHC_RUN_EAGERLY=1 python examples/text_classifier.py --small
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as gc

VOCABULARY, LENGTH = 40, 12
GOOD, BAD = range(2, 10), range(10, 18)
TARGET_ACCURACY = 0.90


def sentences(count: int, seed: int):
    """``count`` sentences of token ids and their labels (1: more good words than bad), ties removed."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCABULARY, (count * 2, LENGTH))
    x[rng.random(x.shape) < 0.15] = 0  # padding scattered through, as after masking words out
    good = np.isin(x, list(GOOD)).sum(1)
    bad = np.isin(x, list(BAD)).sum(1)
    keep = good != bad
    return x[keep][:count].astype(np.int32), (good > bad)[keep][:count].astype(np.int64)


class AttentionPool(gc.layers.Layer):
    """Self-attention over the sentence, then the mean over its words."""

    def __init__(self, heads=2, size=8, **kwargs):
        super().__init__(**kwargs)
        self.attention = gc.layers.MultiHeadAttention(heads, size)
        self.pool = gc.layers.GlobalAveragePooling1D()

    def call(self, x):
        return self.pool(self.attention(x, x))

    def get_config(self):
        return super().get_config() | {"heads": self.attention.num_heads, "size": self.attention.key_dim}


def build(attention: bool):
    body = AttentionPool() if attention else gc.layers.LSTM(24)
    model = gc.Sequential([gc.Input(shape=(LENGTH,), dtype="int32"), gc.layers.Embedding(VOCABULARY, 16), body,
                           gc.layers.Dense(2)])
    model.compile(optimizer=gc.optimizers.AdamW(0.01), metrics=["accuracy"],
                  loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("GRAPHC_EXAMPLES_SMALL") == "1")
    parser.add_argument("--attention", action="store_true", help="self-attention and pooling instead of the LSTM")
    args = parser.parse_args()
    mode = "eagerly (GRAPHC_RUN_EAGERLY)" if gc.config.functions_run_eagerly() else "compiled"
    size, epochs = (256, 4) if args.small else (3008, 12)  # whole batches of 32: one trace
    print(f"text_classifier: training {mode}{' (small size)' if args.small else ''}, "
          f"{'attention' if args.attention else 'LSTM'} model")
    x, y = sentences(size, seed=0)
    x_test, y_test = sentences(size // 4, seed=1)  # a quarter: whole batches of 32 too
    print(f"{len(x)} training and {len(x_test)} held-out sentences of {LENGTH} tokens; "
          f"{y.mean():.0%} of the training ones positive")

    gc.random.set_seed(0)  # the same initial weights every run
    model = build(args.attention)
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {epochs} epochs in {seconds:.1f} s: loss {history.history['loss'][0]:.4f} -> "
          f"{history.history['loss'][-1]:.4f}")
    reached = "reached" if accuracy >= TARGET_ACCURACY else "NOT reached"
    print(f"held-out accuracy: {accuracy:.4f}, loss {loss:.4f} (target {TARGET_ACCURACY:.2f}: {reached})")

    # TensorFlow's sliced assignment on a variable, as in the study notes: X[1, 2].assign(9)
    X = gc.Variable(np.zeros((2, 3), np.float32))
    X[1, 2].assign(9)
    X[:, 0].assign_add([1.0, 2.0])
    print(f"X after X[1, 2].assign(9) and X[:, 0].assign_add([1, 2]): {X.numpy().tolist()}")


if __name__ == "__main__":
    main()
