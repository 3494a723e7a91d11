"""Kernels that differ only in their buffers are one function (``emission.KernelFunctions``), called
with a table of each node's own buffers (``emitter.Kernel``): fewer functions to compile, the same
results — operands in either order, one buffer read twice, in parts, on several threads, through
the cache."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import codegen, partition

RNG = np.random.default_rng(3)
A, B, C = (RNG.standard_normal((300, 64)).astype(np.float32) for _ in range(3))


def kernel_functions(fn, *args, op=r"\w+") -> tuple[int, int]:
    """(kernels of ``op`` the fused graph's nodes run, kernel functions of ``op`` its module defines)."""
    fused = gc.function(fn).get_concrete_function(*args).compiled().fused
    ir_text = codegen.generate(fused).ir
    defined = re.findall(rf'^define internal void @"(node\d+_{op})"\(', ir_text, re.M)
    called = re.findall(rf'call void @"(node\d+_{op})"\(', ir_text)
    assert set(called) == set(defined)
    return len(called), len(defined)


def swapped(a, b, c):
    """The same elementwise kernel twice, its operands in the other order the second time."""
    first = gc.reduce_sum(gc.tanh(a) * 2.0 - gc.exp(b * 0.1), axis=1)
    second = gc.reduce_sum(gc.tanh(b) * 2.0 - gc.exp(a * 0.1), axis=1)
    return first, second, gc.reduce_sum(gc.tanh(c) * 2.0 - gc.exp(c * 0.1), axis=1)


def layers(a, b, c):
    """Three dense layers of one shape (the matmul kernels and their epilogues are alike)."""
    h = a
    for w in (b[:64], c[:64], (b - c)[:64]):
        h = gc.nn.relu(gc.matmul(h, w) + 1.0)
    return h


CASES = {
    # name: (function, kernels at least shared)
    "operands-swapped-and-one-buffer-twice": (swapped, 1),
    "dense-layers-alike": (layers, 2),
}


@pytest.fixture(autouse=True)
def no_cache(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("parts", [1, 3])
def test_alike_kernels_are_one_function_with_the_results_of_the_reference(name, parts, monkeypatch):
    monkeypatch.setattr(partition, "part_count", lambda cost: parts)
    fn, shared = CASES[name]
    called, defined = kernel_functions(fn, A, B, C)
    assert defined <= called - shared
    got = gc.nest.flatten(gc.function(fn)(A, B, C))
    want = gc.nest.flatten(gc.function(fn, backend="numpy")(A, B, C))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=2e-5, atol=2e-5)
    if fn is swapped:  # each node's own buffers, in its own order
        first, second, third = (g.numpy() for g in got)
        assert not np.allclose(first, second) and not np.allclose(first, third)


def test_kernels_that_differ_in_more_than_their_buffers_stay_apart():
    def differing(a, b, c):  # a constant, a size, a dtype apart
        return (gc.reduce_sum(gc.tanh(a) * 2.0 - b, axis=1), gc.reduce_sum(gc.tanh(b) * 3.0 - c, axis=1),
                gc.reduce_sum(gc.tanh(c[:, :32]) * 2.0 - a[:, :32], axis=1),
                gc.reduce_sum(gc.tanh(gc.cast(c, "float64")) * 2.0 - gc.cast(a, "float64"), axis=1))

    assert kernel_functions(differing, A, B, C, op="fused") == (4, 4)
    for g, w in zip(gc.function(differing)(A, B, C), gc.function(differing, backend="numpy")(A, B, C), strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=2e-5, atol=2e-5)
