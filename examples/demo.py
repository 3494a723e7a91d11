"""graphc in one run: trace a small model, read its graph, run it compiled and eagerly, watch retracing.

    python examples/demo.py                      # compiled functions (the default)
    GRAPHC_RUN_EAGERLY=1 python examples/demo.py # every @gc.function runs its Python body op by op
    GRAPHC_LOG=trace python examples/demo.py     # also log each trace and the reason for a retrace
"""
from pathlib import Path

import numpy as np

import graphc as gc

PICTURE = Path(__file__).resolve().parents[1] / "build" / "demo" / "model.svg"  # `make clean` removes build/

rng = np.random.default_rng(0)
w1 = gc.Variable(rng.normal(0.0, 0.5, (4, 8)).astype(np.float32), name="w1")
b1 = gc.Variable(np.zeros(8, np.float32), name="b1")
w2 = gc.Variable(rng.normal(0.0, 0.5, (8, 2)).astype(np.float32), name="w2")
b2 = gc.Variable(np.zeros(2, np.float32), name="b2")


@gc.function
def model(x):
    """A two-layer classifier: relu hidden layer, softmax over 2 classes."""
    hidden = gc.nn.relu(gc.matmul(x, w1) + b1)
    return gc.nn.softmax(gc.matmul(hidden, w2) + b2)


def numpy_model(x):
    hidden = np.maximum(x @ w1.numpy() + b1.numpy(), 0.0)
    logits = hidden @ w2.numpy() + b2.numpy()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def section(title):
    print(f"\n== {title}")


def show_graph(x):
    section("1. the traced graph of model(x) for x: float32[3, 4]")
    print(model.get_concrete_function(x).graph)
    picture = gc.viz.render(model, x, path=PICTURE, stage="fused")
    print(f"picture of the compiled graph (fused kernels as boxes around their ops): {picture}")


def compare_modes(x):
    section("2. compiled and eager runs agree")
    with gc.config.run_functions_eagerly(False):
        compiled = model(x).numpy()
    with gc.config.run_functions_eagerly(True):
        eager = model(x).numpy()
    print("compiled:", np.array2string(compiled, precision=4, separator=", ").replace("\n", ""))
    print("eager:   ", np.array2string(eager, precision=4, separator=", ").replace("\n", ""))
    print("max |compiled - eager| =", float(np.abs(compiled - eager).max()))
    print("compiled == NumPy reference:", bool(np.allclose(compiled, numpy_model(x), rtol=1e-5, atol=1e-6)))
    print("graph and eager results agree:", bool(np.allclose(compiled, eager, rtol=1e-6, atol=1e-7)))


def show_retracing():
    section("3. retracing: one graph per input signature")
    if gc.config.functions_run_eagerly():
        print("GRAPHC_RUN_EAGERLY is on: every call runs the Python body op by op, so nothing is traced")
    else:
        print("Python side effects such as print() run while tracing only, not when the cached graph runs")

    @gc.function
    def row_sums(x):
        print(f"    print() in the body ran: x.shape = {x.shape}")
        return gc.reduce_sum(x, axis=1)

    @gc.function(input_signature=[gc.TensorSpec([None, 4], gc.float32)])
    def row_sums_any_batch(x):
        print(f"    print() in the body ran: x.shape = {x.shape}")
        return gc.reduce_sum(x, axis=1)

    for fn in (row_sums, row_sums_any_batch):
        print(f"{fn.name}:")
        for batch in (2, 3, 3, 7):
            result = fn(np.ones((batch, 4), np.float32))
            print(f"  call with batch {batch}: result shape {result.shape}, traces so far: {fn.trace_count}")
        print(f"  {fn.name} was traced {fn.trace_count} time(s)")
    if not gc.config.functions_run_eagerly():
        print("the signature's None dimension becomes a symbolic size (d0) in the single graph:")
        print(row_sums_any_batch.get_concrete_function().graph)


def main():
    mode = "eager (GRAPHC_RUN_EAGERLY)" if gc.config.functions_run_eagerly() else "compiled"
    print(f"graphc {gc.__version__}, backend {gc.config.get_backend()}, @gc.function calls run {mode}")
    x = rng.normal(size=(3, 4)).astype(np.float32)
    show_graph(x)
    compare_modes(x)
    show_retracing()


if __name__ == "__main__":
    main()
