"""W6: the MNIST-style CNN training step of issue #13, in graphc, NumPy, TensorFlow and PyTorch.

float32 images [64, 28, 28, 1] (NHWC); conv 3x3x32 + relu, max-pool 2x2, conv 3x3x64 + relu,
max-pool 2x2, flatten, dense 128 + relu, dense 10, softmax cross-entropy, one SGD step. Every
padding is "valid", as in Keras's defaults: 28 -> 26 -> 13 -> 11 -> 5, so the flattened features
are 5*5*64 = 1600.

Each implementation is timed in a process of its own (``python cnn.py IMPL REPEATS``): once PyTorch
has run, its idle OpenMP threads and OpenBLAS's threads (NumPy's, graphc's) slow each other down on a
small machine. Measured on 2 cores: NumPy's step 33 -> 632 ms and graphc's 48 -> 774 ms in the same
process after one PyTorch step.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import graphc as gc

BATCH, IMAGE, CLASSES = 64, 28, 10
CONVS = ((3, 1, 32), (3, 32, 64))  # (kernel size, in channels, out channels)
DENSE = ((5 * 5 * 64, 128), (128, CLASSES))
LEARNING_RATE = 0.01


def cnn_data(seed=0):
    """He-normal kernels, zero biases, standard-normal images and random labels: (params, x, labels),
    params ordered k1, b1, k2, b2, w3, b3, w4, b4."""
    rng = np.random.default_rng(seed)
    params = []
    for k, cin, cout in CONVS:
        params += [rng.normal(0, math.sqrt(2 / (k * k * cin)), (k, k, cin, cout)).astype(np.float32),
                   np.zeros(cout, np.float32)]
    for a, b in DENSE:
        params += [rng.normal(0, math.sqrt(2 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    x = rng.standard_normal((BATCH, IMAGE, IMAGE, 1), dtype=np.float32)
    labels = rng.integers(0, CLASSES, BATCH)
    return params, x, labels


def graphc_cnn_step(params):
    """The train step as users write it: variables, gc.nn ops under a GradientTape, SGD assign_sub."""
    variables = [gc.Variable(p, name=f"p{i}") for i, p in enumerate(params)]
    k1, b1, k2, b2, w3, b3, w4, b4 = variables

    @gc.function
    def train_step(x, labels):
        with gc.GradientTape() as tape:
            h = gc.nn.max_pool2d(gc.nn.relu(gc.nn.conv2d(x, k1) + b1), 2)
            h = gc.nn.max_pool2d(gc.nn.relu(gc.nn.conv2d(h, k2) + b2), 2)
            h = gc.reshape(h, [BATCH, -1])
            h = gc.nn.relu(gc.matmul(h, w3) + b3)
            log_probs = gc.nn.log_softmax(gc.matmul(h, w4) + b4)
            loss = -gc.reduce_mean(gc.reduce_sum(gc.one_hot(labels, CLASSES) * log_probs, axis=1))
        grads = tape.gradient(loss, variables)
        for v, g in zip(variables, grads):
            v.assign_sub(LEARNING_RATE * g)
        return loss

    return train_step, variables


# -- NumPy, by hand: im2col with sliding windows, BLAS matmuls, col2im by scatter-add -------------
def _patches(x, k):
    windows = sliding_window_view(x, (k, k), axis=(1, 2))  # [N, OH, OW, C, k, k]
    n, oh, ow, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, k * k * c), (n, oh, ow)


def _patches_transpose(cols, k, image_shape):
    n, h, w, c = image_shape
    oh, ow = h - k + 1, w - k + 1
    windows = cols.reshape(n, oh, ow, k, k, c)
    out = np.zeros(image_shape, cols.dtype)
    for a in range(k):
        for b in range(k):
            out[:, a:a + oh, b:b + ow] += windows[:, :, :, a, b]
    return out


def _pool(x):
    n, h, w, c = x.shape
    windows = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    return windows.max(axis=(2, 4)), windows


def _pool_backward(grad, windows, shape):
    """The gradient shared equally among each window's tied maxima (as graphc's reduce_max)."""
    top = windows.max(axis=(2, 4), keepdims=True)
    mask = windows == top
    share = grad[:, :, None, :, None] / mask.sum(axis=(2, 4), keepdims=True)
    out = np.zeros(shape, grad.dtype)
    n, oh, _, ow, _, c = windows.shape
    out[:, :oh * 2, :ow * 2] = (mask * share).reshape(n, oh * 2, ow * 2, c)
    return out


def numpy_cnn_step(params):
    """The same step in NumPy, updating ``params`` in place; returns the loss."""

    def step(x, labels):
        k1, b1, k2, b2, w3, b3, w4, b4 = params
        cols1, (n, oh, ow) = _patches(x, 3)
        a1 = np.maximum(cols1 @ k1.reshape(-1, 32) + b1, 0).reshape(n, oh, ow, 32)
        p1, win1 = _pool(a1)
        cols2, (n, oh2, ow2) = _patches(p1, 3)
        a2 = np.maximum(cols2 @ k2.reshape(-1, 64) + b2, 0).reshape(n, oh2, ow2, 64)
        p2, win2 = _pool(a2)
        flat = p2.reshape(n, -1)
        a3 = np.maximum(flat @ w3 + b3, 0)
        logits = a3 @ w4 + b4
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(n)
        loss = -log_probs[rows, labels].mean()
        g = np.exp(log_probs)
        g[rows, labels] -= 1
        g /= n
        dw4, db4 = a3.T @ g, g.sum(axis=0)
        g = (g @ w4.T) * (a3 > 0)
        dw3, db3 = flat.T @ g, g.sum(axis=0)
        g = _pool_backward((g @ w3.T).reshape(p2.shape), win2, a2.shape) * (a2 > 0)
        g = g.reshape(-1, 64)
        dk2, db2 = (cols2.T @ g).reshape(k2.shape), g.sum(axis=0)
        g = _patches_transpose(g @ k2.reshape(-1, 64).T, 3, p1.shape)
        g = _pool_backward(g, win1, a1.shape) * (a1 > 0)
        g = g.reshape(-1, 32)
        dk1, db1 = (cols1.T @ g).reshape(k1.shape), g.sum(axis=0)
        for p, d in zip(params, (dk1, db1, dk2, db2, dw3, db3, dw4, db4)):
            p -= LEARNING_RATE * d
        return loss

    return step


# -- peers ------------------------------------------------------------------------------------------
def _torch_step(params, x, labels):
    """PyTorch eager, as its users write it: NCHW modules, autograd, torch.optim.SGD."""
    import torch

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1600, 128), torch.nn.ReLU(), torch.nn.Linear(128, CLASSES),
    )
    with torch.no_grad():  # the same initial weights (HWIO -> OIHW; the flatten order is CHW in torch)
        for conv, (k, b) in zip((model[0], model[3]), ((params[0], params[1]), (params[2], params[3]))):
            conv.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(b))
        w3 = params[4].reshape(5, 5, 64, 128).transpose(2, 0, 1, 3).reshape(1600, 128)
        for linear, (w, b) in zip((model[7], model[9]), ((w3, params[5]), (params[6], params[7]))):
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    tl = torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), tl)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _tensorflow_step(params, x, labels):
    """TensorFlow 2 as its users write it: tf.Variables, tf.nn ops under a GradientTape in a tf.function."""
    import tensorflow as tf

    variables = [tf.Variable(p) for p in params]
    k1, b1, k2, b2, w3, b3, w4, b4 = variables
    tx, tl = tf.constant(x), tf.constant(labels)

    @tf.function
    def train_step(x, labels):
        with tf.GradientTape() as tape:
            h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, k1, 1, "VALID") + b1), 2, 2, "VALID")
            h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, k2, 1, "VALID") + b2), 2, 2, "VALID")
            h = tf.nn.relu(tf.reshape(h, [BATCH, -1]) @ w3 + b3)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, h @ w4 + b4))
        for v, g in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(LEARNING_RATE * g)
        return loss

    return lambda: train_step(tx, tl).numpy()


def _check(got, want, what: str) -> None:
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=2e-5, err_msg=f"W6 {what}: parameter {i} after one step")


def implementations(peers: list[str]) -> dict:
    """W6's implementations, each built from the same start; graphc's first step is checked against
    NumPy's (loss and every updated parameter) and each peer's first loss against NumPy's."""
    params, x, labels = cnn_data()
    reference = [p.copy() for p in params]
    np_step = numpy_cnn_step(reference)
    first_loss = np_step(x, labels)
    step, variables = graphc_cnn_step([p.copy() for p in params])
    np.testing.assert_allclose(float(step(x, labels).numpy()), first_loss, rtol=1e-4, err_msg="W6 graphc loss")
    _check([v.numpy() for v in variables], reference, "graphc against NumPy")
    impls = {"numpy": lambda: np_step(x, labels), "graphc": lambda: step(x, labels)}
    if "tensorflow" in peers:
        impls["tensorflow"] = _tensorflow_step([p.copy() for p in params], x, labels)
    if "torch" in peers:
        impls["torch"] = _torch_step(params, x, labels)
    for name in ("tensorflow", "torch"):  # a peer's first step computes the loss at the same start
        if name in impls:
            np.testing.assert_allclose(impls[name](), first_loss, rtol=1e-4, err_msg=f"W6 {name} loss")
    return impls


def median_seconds(name: str, repeats: int) -> float:
    """The median seconds of one step of implementation ``name`` (after two warm-up steps)."""
    peers = [name] if name in ("tensorflow", "torch") else []
    fn = implementations(peers)[name]
    fn()
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


if __name__ == "__main__":  # one implementation in this process: python cnn.py IMPL REPEATS
    print(json.dumps({"seconds": median_seconds(sys.argv[1], int(sys.argv[2]))}))
