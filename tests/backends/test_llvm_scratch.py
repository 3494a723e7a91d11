"""Kernels whose product is used only inside them (a matmul and its epilogue) write it to a slot of
kind 'scratch'; every scratch slot of a program points to one buffer, as large as the largest one
the call's sizes need (kernels never overlap: the threads meet at a barrier after each). Products
of different sizes and dtypes one after another, static and symbolic batch sizes, calls from
several threads at once: each against the interpreter."""
import threading

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

RNG = np.random.default_rng(11)
W1, B1 = RNG.normal(size=(64, 128)).astype(np.float32), RNG.normal(size=128).astype(np.float32)
W2 = RNG.normal(size=(128, 24)) / 10  # float64: the second product's scratch holds doubles
W3 = (RNG.normal(size=(24, 200)) / 5).astype(np.float32)


def three_products(x):
    h1 = gc.nn.relu(x @ W1 + B1)  # scratch [n, 128] float32
    h2 = gc.tanh(gc.cast(h1, "float64") @ W2)  # [n, 24] float64
    return gc.sigmoid(gc.cast(h2, "float32") @ W3) * 2.0  # [n, 200] float32


def _functions(signature):
    return (gc.function(three_products, input_signature=signature),
            gc.function(three_products, input_signature=signature, backend="numpy"))


def _scratch_slots(compiled_function, x):
    program = compiled_function.get_concrete_function(x).executable().program
    return [i for i, slot in enumerate(program.slots) if slot.kind == "scratch"]


@pytest.mark.parametrize("signature", [None, [gc.TensorSpec([None, 64], "float32")]], ids=["static", "symbolic"])
def test_products_of_every_size_share_one_scratch_buffer_and_compute_right(signature):
    native, reference = _functions(signature)
    for n in (1, 37, 300, 5):
        x = RNG.normal(size=(n, 64)).astype(np.float32)
        np.testing.assert_allclose(native(x).numpy(), reference(x).numpy(), rtol=2e-5, atol=2e-6)
        slots = _scratch_slots(native, x)
        assert len(slots) == 3
        executable = native.get_concrete_function(x).executable()
        local = executable._local  # (this thread's scratch state: one for static graphs called directly, else per sizes)
        states = [s for s in (getattr(local, "static_scratch", None), *getattr(local, "cache", {}).values()) if s]
        assert states
        for table, _, _, _, keep in states:
            assert len({int(table[i]) for i in slots}) == 1  # one buffer for all three
            assert int(table[slots[0]]) == keep[1].ctypes.data
        if signature is not None:  # the buffer of the sizes of this call: the largest, [n, 200] float32
            table, _, _, _, keep = executable._scratch(np.array([n], np.int64))
            assert keep[1].nbytes == n * 200 * 4


def test_threads_calling_at_once_each_have_their_own_scratch():
    native, reference = _functions([gc.TensorSpec([None, 64], "float32")])
    inputs = [RNG.normal(size=(n, 64)).astype(np.float32) for n in (3, 120, 41, 250)]
    expected = [reference(x).numpy() for x in inputs]
    start, failures = threading.Barrier(len(inputs)), []

    def calls(k):
        start.wait()
        for _ in range(20):
            got = native(inputs[k]).numpy()
            if not np.allclose(got, expected[k], rtol=2e-5, atol=2e-6):
                failures.append(k)

    threads = [threading.Thread(target=calls, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_products_in_a_loop_body_and_at_the_top_level_share_the_scratch_buffer_and_compute_right():
    """A while_loop's body runs its kernels between two top-level kernels: its products' scratch is
    the same buffer as theirs."""
    w = (RNG.normal(size=(64, 64)) / 8).astype(np.float32)

    def loop_of_products(x):
        h = gc.nn.relu(x @ W1 + B1)  # top level, [n, 128]

        def body(i, acc):
            return i + 1, gc.tanh(acc @ w + 0.5)  # in the loop, [n, 64]
        _, y = gc.while_loop(lambda i, acc: i < 3, body, (gc.constant(0), x))
        return gc.sigmoid(gc.cast(gc.tanh(gc.cast(h, "float64") @ W2), "float32") @ W3) + gc.reduce_sum(y)

    native = gc.function(loop_of_products)
    reference = gc.function(loop_of_products, backend="numpy")
    for n in (2, 90):
        x = RNG.normal(size=(n, 64)).astype(np.float32)
        np.testing.assert_allclose(native(x).numpy(), reference(x).numpy(), rtol=2e-5, atol=2e-5)
    kinds = [s.kind for s in native.get_concrete_function(x).executable().program.slots]
    assert kinds.count("scratch") == 4  # three at the top level, one in the loop body
