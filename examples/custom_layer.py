"""Making new layers and models by subclassing, as in the Keras guide: a Linear layer that builds
its weights from the input shape, a layer with a non-trainable weight, a layer that adds an
activity loss, layers nested in a block, and a model trained with a compiled custom loop
(GradientTape + apply_gradients inside @gc.function), then with fit.

    python examples/custom_layer.py [--small]      # GRAPHC_RUN_EAGERLY=1 runs the loop op by op
"""
import argparse
import os
import time

import numpy as np

import graphc as gc


class Linear(gc.layers.Layer):
    """``inputs @ w + b``, the weights made on the first call from the input's last dimension."""

    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return gc.matmul(inputs, self.w) + self.b


class ComputeSum(gc.layers.Layer):
    """A running column sum in a non-trainable weight."""

    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(gc.reduce_sum(inputs, axis=0))
        return self.total.read_value()


class ActivityRegularization(gc.layers.Layer):
    """Adds ``rate * sum(inputs)`` to the losses; passes the inputs on."""

    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * gc.reduce_sum(inputs))
        return inputs


class MLPBlock(gc.layers.Layer):
    """Three Linear layers; their weights are tracked through the attributes."""

    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.linear_2 = Linear(32)
        self.linear_3 = Linear(1)

    def call(self, inputs):
        x = gc.nn.relu(self.linear_1(inputs))
        x = gc.nn.relu(self.linear_2(x))
        return self.linear_3(x)


class MLP(gc.Model):
    """The nested model: a block, an activity penalty on its output, dropout while training."""

    def __init__(self):
        super().__init__()
        self.block = MLPBlock()
        self.regularization = ActivityRegularization(1e-4)
        self.dropout = gc.layers.Dropout(0.1)

    def call(self, inputs, training=False):
        return self.regularization(self.dropout(self.block(inputs), training=training))


def show_layers():
    print("== layers")
    x = gc.ones((2, 2))
    linear = Linear(4)
    y = linear(x)
    print(f"Linear(4) on {x.shape}: output {y.shape}, weights {[tuple(w.shape) for w in linear.weights]}")
    print(f"Linear config: {Linear.from_config(linear.get_config()).get_config()}")
    summer = ComputeSum(2)
    summer(x)
    print(f"ComputeSum after two calls: {summer(x).numpy()}; trainable weights {len(summer.trainable_weights)}, "
          f"non-trainable {len(summer.non_trainable_weights)}")
    block = MLPBlock()
    block(gc.ones((3, 64)))
    print(f"MLPBlock: {len(block.weights)} weights, {len(block.trainable_weights)} trainable")
    activity = ActivityRegularization(0.5)
    activity(gc.fill((2, 3), 2.0))
    print(f"ActivityRegularization losses: {[float(loss) for loss in activity.losses]}")


def synthetic_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] ** 2 - x[:, 2:3]).astype(np.float32)
    return x, y


def make_train_step(model, optimizer):
    """The custom loop's step, compiled: forward, loss (with the model's own losses), gradients, update."""

    @gc.function
    def train_step(x, y):
        with gc.GradientTape() as tape:
            prediction = model(x, training=True)
            loss = gc.reduce_mean(gc.square(prediction - y)) + sum(model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return train_step


def custom_loop(x, y, epochs, batch_size=64):
    print("== a custom training loop in @gc.function")
    gc.random.set_seed(1)
    model, optimizer = MLP(), gc.optimizers.Adam(3e-3)
    train_step = make_train_step(model, optimizer)
    dataset = gc.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(batch_size, drop_remainder=True)
    for epoch in range(epochs):
        losses = [float(train_step(xb, yb)) for xb, yb in dataset]
        if epoch in (0, epochs - 1):
            print(f"epoch {epoch + 1}: mean loss {np.mean(losses):.4f}")
    mode = "ran eagerly (GRAPHC_RUN_EAGERLY)" if gc.config.functions_run_eagerly() else "compiled"
    print(f"train_step {mode}: traced {train_step.trace_count} time(s); the model has "
          f"{len(model.trainable_variables)} trainable variables, the optimizer {len(optimizer.variables)} variables")
    return model


def compare_speed(x, y, steps):
    """One step of the custom loop compiled and eagerly, on fresh models."""
    per_step = {}
    for mode, eager in (("compiled", False), ("eager", True)):
        step = make_train_step(MLP(), gc.optimizers.Adam(1e-3))
        with gc.config.run_functions_eagerly(eager):
            step(x[:64], y[:64])
            start = time.perf_counter()
            for _ in range(steps):
                step(x[:64], y[:64])
            per_step[mode] = (time.perf_counter() - start) / steps
    print(f"speed: compiled {per_step['compiled'] * 1e3:.2f} ms/step, eager {per_step['eager'] * 1e3:.2f} ms/step "
          f"-> compiled is {per_step['eager'] / per_step['compiled']:.1f}x faster")


def fit_the_same_model(x, y, epochs):
    print("== the same model with compile and fit")
    gc.random.set_seed(1)
    model = MLP()
    model.compile(optimizer=gc.optimizers.Adam(3e-3), loss="mse")
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    print(f"fit: loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f} "
          f"(the activity loss included) over {epochs} epochs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("GRAPHC_EXAMPLES_SMALL") == "1")
    small = parser.parse_args().small
    x, y = synthetic_data(512 if small else 2048)
    show_layers()
    custom_loop(x, y, epochs=3 if small else 30)
    fit_the_same_model(x, y, epochs=3 if small else 30)
    compare_speed(x, y, steps=10 if small else 50)


if __name__ == "__main__":
    main()
