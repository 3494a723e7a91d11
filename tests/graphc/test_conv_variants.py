"""Dilated, 1-D, depthwise, separable and transposed convolutions (ops and layers): against direct
NumPy loops, natively compiled and interpreted, with gradients of second order in float64, bad
arguments, and, where TensorFlow is installed, against Keras with the same weights."""
import json
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.test_util import check_grads

rng = np.random.default_rng(5)


def normal(*shape, dtype=np.float32):
    return rng.normal(size=shape).astype(dtype)


def same_pads(size, window, stride):
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def np_depthwise(x, k, stride=1, padding="valid", rate=(1, 1)):
    """Direct loops: out[n, i, j, c*M + m] = sum_ab x[n, i*s + a*rh, j*s + b*rw, c] k[a, b, c, m]."""
    kh, kw, c, m = k.shape
    rh, rw = rate
    eh, ew = (kh - 1) * rh + 1, (kw - 1) * rw + 1
    if padding == "same":
        (t, b), (l, r) = same_pads(x.shape[1], eh, stride), same_pads(x.shape[2], ew, stride)
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    oh, ow = (x.shape[1] - eh) // stride + 1, (x.shape[2] - ew) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, c, m))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    out[:, i, j] += x[:, i * stride + a * rh, j * stride + b * rw, :, None] * k[a, b]
    return out.reshape(x.shape[0], oh, ow, c * m)


def np_conv(x, k, stride=1, padding="valid", rate=(1, 1)):
    """A full convolution: the depthwise one with every (input, output) channel pair, summed over inputs."""
    out = np_depthwise(x, k, stride, padding, rate)
    return out.reshape(*out.shape[:3], k.shape[2], k.shape[3]).sum(axis=3)


def np_conv_transpose(y, k, out_hw, stride, padding):
    """Every input element spreads its products into the output: the adjoint of np_conv."""
    kh, kw, c, f = k.shape
    oh, ow = out_hw
    (t, _), (l, _) = (same_pads(oh, kh, stride), same_pads(ow, kw, stride)) if padding == "same" else ((0, 0), (0, 0))
    out = np.zeros((y.shape[0], oh + kh + stride, ow + kw + stride, c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            out[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum("nf,abcf->nabc", y[:, i, j], k)
    return out[:, t:t + oh, l:l + ow]


X = normal(2, 7, 6, 3)
# name, op, input, filters, reference(input, filters) in float64
OPS = [
    ("conv2d_dilated", lambda x, k: gc.nn.conv2d(x, k, dilations=2), X, normal(3, 2, 3, 4),
     lambda x, k: np_conv(x, k, rate=(2, 2))),
    ("conv2d_dilated_same", lambda x, k: gc.nn.conv2d(x, k, padding="same", dilations=[1, 2, 3, 1]), X,
     normal(2, 2, 3, 2), lambda x, k: np_conv(x, k, padding="same", rate=(2, 3))),
    ("conv1d_stride_same", lambda x, k: gc.nn.conv1d(x, k, stride=2, padding="same"), X[:, 0], normal(3, 3, 5),
     lambda x, k: np_conv(x[:, None], k[None], 2, "same")[:, 0]),
    ("depthwise", lambda x, k: gc.nn.depthwise_conv2d(x, k), X, normal(3, 3, 3, 2), np_depthwise),
    ("depthwise_same_stride", lambda x, k: gc.nn.depthwise_conv2d(x, k, strides=[1, 2, 2, 1], padding="same"), X,
     normal(3, 2, 3, 1), lambda x, k: np_depthwise(x, k, 2, "same")),
    ("depthwise_dilated", lambda x, k: gc.nn.depthwise_conv2d(x, k, padding="same", dilations=2), X,
     normal(2, 2, 3, 2), lambda x, k: np_depthwise(x, k, 1, "same", (2, 2))),
    ("transpose_valid", lambda y, k: gc.nn.conv2d_transpose(y, k, [2, 9, 7, 3], strides=2, padding="valid"),
     normal(2, 4, 3, 5), normal(3, 3, 3, 5), lambda y, k: np_conv_transpose(y, k, (9, 7), 2, "valid")),
    ("transpose_same", lambda y, k: gc.nn.conv2d_transpose(y, k, [None, 8, 6, 2], strides=2), normal(2, 4, 3, 5),
     normal(3, 3, 2, 5), lambda y, k: np_conv_transpose(y, k, (8, 6), 2, "same")),
]


@pytest.mark.parametrize("name,op,x,k,reference", OPS, ids=[o[0] for o in OPS])
def test_ops_match_direct_loops_on_both_backends(name, op, x, k, reference):
    want = reference(x.astype(np.float64), k.astype(np.float64))
    np.testing.assert_allclose(op(x, k).numpy(), want, rtol=1e-4, atol=1e-4)
    for backend in ("llvm", "numpy"):
        np.testing.assert_allclose(gc.function(op, backend=backend)(x, k).numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,op,x,k,reference", OPS, ids=[o[0] for o in OPS])
def test_ops_gradients_match_finite_differences_in_float64(name, op, x, k, reference):
    check_grads(op, [x[:1, :5].astype(np.float64) if name.startswith("conv1d") else x[:1].astype(np.float64),
                     k.astype(np.float64)], order=2, rtol=1e-4, atol=1e-6)


def test_dilated_taps_are_exact_for_infinite_and_nan_filter_values():
    k = np.zeros((2, 1, 1, 1), np.float32)
    k[1] = np.inf  # the zeros gathered between taps must not turn into inf * 0 = NaN elsewhere
    out = gc.nn.conv2d(np.ones((1, 5, 1, 1), np.float32), k, dilations=2).numpy()
    np.testing.assert_array_equal(out.ravel(), [np.inf, np.inf, np.inf])


BAD = [
    (lambda: gc.nn.conv2d(X, normal(3, 3, 3, 2), strides=2, dilations=2), gc.errors.InvalidArgumentError,
     "dilations [2, 2] need strides of 1"),
    (lambda: gc.nn.depthwise_conv2d(X, normal(3, 3, 2, 2)), gc.errors.ShapeError,
     "filter must be [height, width, 3, multiplier] for 3-channel input, got [3, 3, 2, 2]"),
    (lambda: gc.nn.depthwise_conv2d(X, normal(3, 3, 3, 1), strides=[2, 2, 2, 1]), gc.errors.InvalidArgumentError,
     "strides as 4 ints must be [1, height, width, 1]"),
    (lambda: gc.nn.conv1d(X, normal(3, 3, 2)), gc.errors.ShapeError, "expected input [batch, width, channels]"),
    (lambda: gc.nn.conv1d(X[:, 0], normal(3, 3, 2), stride=[2, 2]), gc.errors.InvalidArgumentError,
     "stride must be an int, [n] or [1, n, 1]"),
    (lambda: gc.nn.conv2d_transpose(normal(2, 4, 3, 5), normal(3, 3, 2, 5), [2, 9, 6, 2], strides=2),
     gc.errors.ShapeError, "output_shape [2, 9, 6, 2] does not fit"),
    (lambda: gc.nn.conv2d_transpose(normal(2, 4, 3, 5), normal(3, 3, 2, 5), [8, 6, 2]),
     gc.errors.InvalidArgumentError, "output_shape must be 4 sizes"),
    (lambda: gc.nn.conv2d_transpose(normal(2, 4, 3, 5), normal(3, 3, 2, 4), [2, 8, 6, 2]), gc.errors.ShapeError,
     "filters must be [height, width, out_channels, 5] for 5-channel input"),
    (lambda: L.Conv1D(2, 3)(X), gc.errors.ShapeError, "expects sequences [batch, steps, channels]"),
    (lambda: L.Conv1D(2, [3, 3]), gc.errors.InvalidArgumentError, "kernel_size must be a positive int or a list of one"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), gc.errors.GraphcError, "depth_multiplier"),
]


@pytest.mark.parametrize("make,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


LAYERS = [
    lambda: L.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
    lambda: L.Conv1D(3, 2, dilation_rate=2),
    lambda: L.Conv2D(3, 3, padding="same", dilation_rate=2),
    lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
    lambda: L.SeparableConv2D(4, 3, strides=2, depth_multiplier=2),
    lambda: L.Conv2DTranspose(3, 3, strides=2),
    lambda: L.Conv2DTranspose(2, (3, 2), strides=(2, 1), padding="same", use_bias=False),
]


@pytest.mark.parametrize("make", LAYERS, ids=[str(i) for i in range(len(LAYERS))])
def test_layers_compile_with_an_unknown_batch_and_round_trip_their_config(make):
    layer = make()
    x = X[:, 0] if isinstance(layer, L.Conv1D) else X
    eager = layer(x).numpy()
    any_batch = gc.function(lambda x: layer(x), input_signature=[gc.TensorSpec([None, *x.shape[1:]])])
    np.testing.assert_allclose(any_batch(x).numpy(), eager, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(any_batch(x[:1]).numpy(), eager[:1], rtol=1e-5, atol=1e-5)
    config = json.loads(json.dumps(layer.get_config()))
    assert type(layer).from_config(config).get_config() == config


tf = None
try:  # the same layers in Keras, where TensorFlow is installed
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
except ImportError:
    pass

KERAS = [
    ("conv1d", "Conv1D", (4, 3), {"strides": 2, "padding": "same"}, X[:, 0]),
    ("conv1d_dilated", "Conv1D", (3, 2), {"dilation_rate": 2}, X[:, 0]),
    ("conv2d_dilated", "Conv2D", (3, 3), {"padding": "same", "dilation_rate": 2}, X),
    ("depthwise", "DepthwiseConv2D", (3,), {"depth_multiplier": 2, "strides": 2}, X),
    ("separable", "SeparableConv2D", (4, 3), {"depth_multiplier": 2, "padding": "same"}, X),
    ("transpose_valid", "Conv2DTranspose", (3, 3), {"strides": 2}, X),
    ("transpose_same", "Conv2DTranspose", (2, (3, 2)), {"strides": (2, 1), "padding": "same"}, X),
]


@pytest.mark.skipif(tf is None, reason="TensorFlow is not installed (pip install -e '.[bench]')")
@pytest.mark.parametrize("name,cls,args,kwargs,x", KERAS, ids=[k[0] for k in KERAS])
def test_layers_compute_what_keras_computes_with_the_same_weights(name, cls, args, kwargs, x):
    theirs, ours = getattr(tf.keras.layers, cls)(*args, **kwargs), getattr(L, cls)(*args, **kwargs)
    theirs(x)
    ours(x)
    weights = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x).numpy(), np.asarray(theirs(x)), rtol=1e-4, atol=1e-4)
