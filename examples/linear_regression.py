"""Linear regression by minibatch SGD: a compiled train step with GradientTape.

Synthetic data y = X w + b + noise with the true w = [2, -3.4], b = 4.2 (1000 samples, noise 0.01).
The train step (forward, backward, update) is one compiled function; run with GRAPHC_RUN_EAGERLY=1
to execute it op by op instead.
"""
import time

import numpy as np

import graphc as gc

TRUE_W, TRUE_B = np.array([2.0, -3.4], np.float32), 4.2


def synthetic_data(n=1000, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x @ TRUE_W + TRUE_B + rng.normal(scale=noise, size=n)).astype(np.float32).reshape(-1, 1)
    return x, y


def train(epochs=3, batch_size=10, learning_rate=0.03, seed=0):
    """Trains w, b from zero; returns the learned parameters, the final loss and the time taken."""
    x, y = synthetic_data(seed=seed)
    w = gc.Variable(np.zeros((2, 1), np.float32), name="w")
    b = gc.Variable(0.0, name="b")

    @gc.function
    def train_step(xb, yb):
        with gc.GradientTape() as tape:
            loss = gc.reduce_mean(gc.square(gc.matmul(xb, w) + b - yb))
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
        return loss

    order = np.random.default_rng(seed).permutation(len(x))
    start = time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            loss = train_step(x[batch], y[batch])
    seconds = time.perf_counter() - start
    return {"w": w.numpy().ravel(), "b": float(b.numpy()), "loss": float(loss), "seconds": seconds}


if __name__ == "__main__":
    result = train()
    mode = "eagerly" if gc.config.functions_run_eagerly() else "compiled"
    print(f"trained {mode} in {result['seconds']:.2f} s, final minibatch loss {result['loss']:.6f}")
    print(f"w = {np.round(result['w'], 4)} (true {TRUE_W}),  b = {result['b']:.4f} (true {TRUE_B})")
    print(f"error in w: {np.abs(result['w'] - TRUE_W).max():.4f}, error in b: {abs(result['b'] - TRUE_B):.4f}")
