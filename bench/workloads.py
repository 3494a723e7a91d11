"""The benchmark workloads, each with one implementation per library."""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import graphc as gc


SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def available_peers() -> list[str]:
    return [name for name in ("jax", "tensorflow", "torch") if importlib.util.find_spec(name)]


@dataclass
class Workload:
    """``make(peers)`` returns the implementations by name; an ``isolated`` workload's are timed each
    in a new process, by ``python SCRIPT IMPL REPEATS`` printing ``{"seconds": median}``."""

    title: str
    make: Callable[[list[str]], dict]
    repeats: int = 7
    isolated: str | None = None

    def implementations(self, peers: list[str]) -> dict[str, Callable]:
        return self.make(peers)


def _rng():
    return np.random.default_rng(0)


# -- W1 ------------------------------------------------------------------------------------------
def _w1(peers):
    rng = _rng()
    x, y, z = (rng.standard_normal(2**24, dtype=np.float32) for _ in range(3))
    c, k = np.float32(SQRT_2_OVER_PI), np.float32(0.044715)

    def numpy_w1():
        return np.float32(0.5) * x * (np.float32(1) + np.tanh(c * (x + k * x**3))) * y + z

    @gc.function
    def graphc_w1(x, y, z):
        return gc.nn.gelu(x, approximate=True) * y + z

    impls = {"numpy": numpy_w1, "graphc": lambda: graphc_w1(x, y, z)}
    if "jax" in peers:
        import jax
        import jax.numpy as jnp

        jx, jy, jz = (jnp.asarray(a) for a in (x, y, z))
        f = jax.jit(lambda x, y, z: jax.nn.gelu(x, approximate=True) * y + z)
        impls["jax"] = lambda: f(jx, jy, jz).block_until_ready()
    if "torch" in peers:
        import torch

        tx, ty, tz = (torch.from_numpy(a) for a in (x, y, z))
        impls["torch"] = lambda: torch.nn.functional.gelu(tx, approximate="tanh") * ty + tz
    return impls


# -- W2 ------------------------------------------------------------------------------------------
def _w2(peers):
    x = _rng().standard_normal((4096, 1024), dtype=np.float32)

    def numpy_w2():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    graphc_w2 = gc.function(lambda x: gc.nn.softmax(x, axis=-1))
    impls = {"numpy": numpy_w2, "graphc": lambda: graphc_w2(x)}
    if "jax" in peers:
        import jax
        import jax.numpy as jnp

        jx = jnp.asarray(x)
        f = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
        impls["jax"] = lambda: f(jx).block_until_ready()
    if "torch" in peers:
        import torch

        tx = torch.from_numpy(x)
        impls["torch"] = lambda: torch.softmax(tx, dim=-1)
    return impls


# -- W3 ------------------------------------------------------------------------------------------
SIZES = (784, 512, 512, 10)
BATCH = 256
W3B_SIZES, W3B_BATCH = (1024, 1024, 10), 512  # W3b: issue #13's second MLP step
LEARNING_RATE = 0.01


def mlp_data(seed=0, sizes=SIZES, batch=BATCH):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, math.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    return weights, biases, x, labels


def graphc_mlp_step(weights, biases):
    """The train step as users write it: GradientTape inside a compiled function, SGD assign_sub."""
    ws = [gc.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    bs = [gc.Variable(b, name=f"b{i}") for i, b in enumerate(biases)]

    @gc.function
    def train_step(x, labels):
        with gc.GradientTape() as tape:
            h = x
            for i, (w, b) in enumerate(zip(ws, bs)):
                h = gc.matmul(h, w) + b
                if i < len(ws) - 1:
                    h = gc.nn.relu(h)
            log_probs = gc.nn.log_softmax(h)
            loss = -gc.reduce_mean(gc.reduce_sum(gc.one_hot(labels, h.shape[-1]) * log_probs, axis=1))
        grads = tape.gradient(loss, ws + bs)
        for v, g in zip(ws + bs, grads):
            v.assign_sub(LEARNING_RATE * g)
        return loss

    return train_step


def numpy_mlp_step(weights, biases):
    """The same step written by hand in NumPy (forward, backward, SGD update in place)."""

    def step(x, labels):
        activations, h = [x], x
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = h @ w + b
            if i < len(weights) - 1:
                h = np.maximum(h, 0)
            activations.append(h)
        shifted = h - h.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(len(labels)), labels].mean()
        grad = np.exp(log_probs)
        grad[np.arange(len(labels)), labels] -= 1
        grad /= len(labels)
        for i in range(len(weights) - 1, -1, -1):
            dw, db = activations[i].T @ grad, grad.sum(axis=0)
            if i:
                grad = (grad @ weights[i].T) * (activations[i] > 0)
            weights[i] -= LEARNING_RATE * dw
            biases[i] -= LEARNING_RATE * db
        return loss

    return step


def _mlp_workload(sizes, batch):
    """W3 (and W3b): the MLP step of ``sizes`` at ``batch``, in graphc, NumPy and JAX."""
    return lambda peers: _mlp(peers, sizes, batch)


def _mlp(peers, sizes, batch):
    weights, biases, x, labels = mlp_data(sizes=sizes, batch=batch)
    layers = len(weights)
    step = graphc_mlp_step(weights, biases)
    np_step = numpy_mlp_step([w.copy() for w in weights], [b.copy() for b in biases])
    impls = {"numpy": lambda: np_step(x, labels), "graphc": lambda: step(x, labels)}
    if "jax" in peers:
        import jax
        import jax.numpy as jnp

        params = [jnp.asarray(p) for p in weights + biases]

        def loss_fn(params, x, labels):
            ws, bs = params[:layers], params[layers:]
            h = x
            for i, (w, b) in enumerate(zip(ws, bs)):
                h = h @ w + b
                if i < layers - 1:
                    h = jax.nn.relu(h)
            return -jnp.mean(jnp.sum(jax.nn.one_hot(labels, sizes[-1]) * jax.nn.log_softmax(h), axis=1))

        @jax.jit
        def jax_step(params, x, labels):
            grads = jax.grad(loss_fn)(params, x, labels)
            return [p - LEARNING_RATE * g for p, g in zip(params, grads)]

        jx, jl = jnp.asarray(x), jnp.asarray(labels)
        state = {"p": params}

        def run_jax():
            state["p"] = jax_step(state["p"], jx, jl)
            state["p"][0].block_until_ready()

        impls["jax"] = run_jax
    return impls


# -- W4 ------------------------------------------------------------------------------------------
def _w4(peers):
    x = np.arange(4, dtype=np.float32)
    f = gc.function(lambda x: x * 2 + 1)
    impls = {"numpy": lambda: x * 2 + 1, "graphc": lambda: f(x)}
    if "jax" in peers:
        import jax
        import jax.numpy as jnp

        jx = jnp.asarray(x)
        g = jax.jit(lambda x: x * 2 + 1)
        impls["jax"] = lambda: g(jx).block_until_ready()
    return impls


WORKLOADS = {
    "W1": Workload("gelu_tanh(x)*y+z f32[2^24]", _w1, repeats=7),
    "W2": Workload("row softmax f32[4096,1024]", _w2, repeats=7),
    "W3": Workload("MLP train step (batch 256)", _mlp_workload(SIZES, BATCH), repeats=9),
    "W3b": Workload("MLP 1024-1024-10 step (batch 512)", _mlp_workload(W3B_SIZES, W3B_BATCH), repeats=9),
    "W4": Workload("per-call overhead x*2+1 f32[4]", _w4, repeats=9),
    "W6": Workload("CNN train step (batch 64)", lambda peers: dict.fromkeys(
        ["numpy", "graphc", *(p for p in peers if p in ("tensorflow", "torch"))]),
                   repeats=9, isolated="cnn.py"),
}
# inference against ONNX Runtime on graphc's own ONNX export (bench/onnx_inference.py)
def _onnx_inference():
    """bench/onnx_inference.py, loaded by path (this file is loaded by path too, by tests)."""
    spec = importlib.util.spec_from_file_location("_bench_onnx_inference", Path(__file__).with_name("onnx_inference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORKLOADS["W8"] = Workload("W3's MLP forward (batch 256)", lambda peers: _onnx_inference().w8(peers), repeats=9)
WORKLOADS["W9"] = Workload("digits CNN forward (batch 256)", lambda peers: _onnx_inference().w9(peers), repeats=9)
