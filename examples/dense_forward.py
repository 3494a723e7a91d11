"""A Dense/Sequential forward pass as plain functions over variables: a 3-layer MLP (relu, relu,
softmax), run compiled and eagerly.

    python examples/dense_forward.py
"""
import numpy as np

import graphc as gc

rng = np.random.default_rng(42)


def dense_layer(name, n_in, n_out, activation):
    """A layer's state and activation: Glorot-uniform kernel, zero bias."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    kernel = rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)
    return {
        "name": name,
        "kernel": gc.Variable(kernel, name=f"{name}/kernel"),
        "bias": gc.Variable(np.zeros(n_out, np.float32), name=f"{name}/bias"),
        "activation": activation,
    }


def dense(layer, x):
    """``activation(x @ kernel + bias)``, ops named under the layer's scope."""
    with gc.name_scope(layer["name"]):
        return layer["activation"](gc.matmul(x, layer["kernel"]) + layer["bias"])


def sequential(layers, x):
    for layer in layers:
        x = dense(layer, x)
    return x


MLP = [
    dense_layer("dense_1", 4, 16, gc.nn.relu),
    dense_layer("dense_2", 16, 16, gc.nn.relu),
    dense_layer("dense_3", 16, 3, gc.nn.softmax),
]


@gc.function(input_signature=[gc.TensorSpec([None, 4], gc.float32)])
def classify(x):
    """Class probabilities for a batch of 4-feature rows; one graph for any batch size."""
    return sequential(MLP, x)


def numpy_reference(x):
    for layer in MLP:
        z = x @ layer["kernel"].numpy() + layer["bias"].numpy()
        if layer["activation"] is gc.nn.softmax:
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            x = e / e.sum(axis=-1, keepdims=True)
        else:
            x = np.maximum(z, 0.0)
    return x


def describe_layers(x):
    print("== layers (shapes of one eager pass over the batch)")
    print(f"input {'':<24} -> {x.shape}")
    h = gc.constant(x)
    for layer in MLP:
        h = dense(layer, h)
        print(f"{layer['name']:<8} kernel {str(layer['kernel'].shape):<9} "
              f"{layer['activation'].__name__:<8} -> {h.shape}")


def main():
    x = rng.normal(size=(5, 4)).astype(np.float32)
    describe_layers(x)

    print("\n== compiled")
    cf = classify.get_concrete_function()
    print(f"graph {cf.graph.name}: {len(cf.graph.nodes)} nodes, {len(cf.variables)} variables, "
          f"output shape {cf.outputs[0].shape} (batch dimension unknown until run time)")
    with gc.config.run_functions_eagerly(False):
        compiled = classify(x).numpy()
        classify(rng.normal(size=(2, 4)).astype(np.float32))
    print(f"probabilities {compiled.shape}, rows sum to 1: {bool(np.allclose(compiled.sum(axis=1), 1.0))}")
    print("predicted classes:", compiled.argmax(axis=1).tolist())
    print(f"traced {classify.trace_count} time(s) for batches of 5 and 2")

    print("\n== eager")
    with gc.config.run_functions_eagerly(True):
        eager = classify(x).numpy()
    print(f"probabilities {eager.shape}, max |compiled - eager| = {float(np.abs(compiled - eager).max()):.2e}")
    print("compiled and eager results agree:", bool(np.allclose(compiled, eager, rtol=1e-6, atol=1e-7)))
    print("both match the NumPy reference:", bool(np.allclose(compiled, numpy_reference(x), rtol=1e-5, atol=1e-6)))


if __name__ == "__main__":
    main()
