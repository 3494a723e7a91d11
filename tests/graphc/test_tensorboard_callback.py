"""gc.callbacks.TensorBoard: Keras's layout, read back with TensorBoard's own multiplexer and compared
with the History and the model's weights (NumPy histograms); then, with a headless Chromium, a real
TensorBoard serving the run (marked ``browser``)."""
from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.ir.errors import InvalidArgumentError

pytest.importorskip("tensorboard", reason="the tensorboard package is not installed (pip install 'graphc[tensorboard]')")
from tensorboard.backend.event_processing import event_accumulator, event_multiplexer  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EPOCHS, BATCH, EXAMPLES = 3, 16, 64


def make_model():
    gc.random.set_seed(0)
    model = gc.Sequential([gc.Input(shape=(4,)), gc.layers.Dense(8, activation="relu"), gc.layers.Dense(2)])
    model.compile(optimizer=gc.optimizers.Adam(0.01), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def data():
    x = np.random.default_rng(0).uniform(size=(EXAMPLES, 4)).astype(np.float32)
    return x, (x.sum(axis=1) > 2).astype(np.int64)


def runs(logdir) -> dict:
    """Each run under ``logdir`` as TensorBoard loads it: run name -> EventAccumulator."""
    guidance = {event_accumulator.TENSORS: 0}
    mux = event_multiplexer.EventMultiplexer(size_guidance=guidance)
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return {run: mux.GetAccumulator(run) for run in mux.Runs()}


def series(accumulator, tag) -> list[tuple[int, np.ndarray]]:
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit with every kind of log: validation, histograms and images each 2 epochs, batch scalars."""
    logdir = tmp_path_factory.mktemp("tb")
    model = make_model()
    x, y = data()
    callback = gc.callbacks.TensorBoard(logdir, histogram_freq=2, write_images=True, update_freq=2)
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_split=0.25, verbose=0, callbacks=[callback])
    return model, history, runs(logdir)


def test_runs_and_epoch_scalars_follow_keras_layout(trained):
    model, history, found = trained
    assert sorted(found) == ["train", "validation"]
    train, validation = found["train"], found["validation"]
    for name in ("loss", "accuracy"):
        for run, key in ((train, name), (validation, f"val_{name}")):
            written = series(run, f"epoch_{name}")
            assert [s for s, _ in written] == list(range(EPOCHS))
            np.testing.assert_array_equal([float(v) for _, v in written], np.float32(history.history[key]))
    rates = series(train, "epoch_learning_rate")
    assert [float(v) for _, v in rates] == [np.float32(0.01)] * EPOCHS
    assert train.SummaryMetadata("epoch_loss").plugin_data.plugin_name == "scalars"


def test_evaluation_is_logged_against_the_optimizer_step(trained):
    _, history, found = trained
    steps_per_epoch = int(np.ceil(EXAMPLES * 0.75 / BATCH))
    written = series(found["validation"], "evaluation_loss_vs_iterations")
    assert [s for s, _ in written] == [steps_per_epoch * (e + 1) for e in range(EPOCHS)]
    np.testing.assert_array_equal([float(v) for _, v in written], np.float32(history.history["val_loss"]))


def test_batch_scalars_every_update_freq_batches(trained):
    _, _, found = trained
    steps = int(np.ceil(EXAMPLES * 0.75 / BATCH)) * EPOCHS
    written = series(found["train"], "batch_loss")
    assert [s for s, _ in written] == list(range(2, steps + 1, 2))


def test_weight_histograms_every_histogram_freq_epochs(trained):
    model, _, found = trained
    train = found["train"]
    for layer in model.layers:
        for weight in layer.weights:
            written = series(train, f"{weight.name}/histogram")
            assert [s for s, _ in written] == [0, 2]
            assert train.SummaryMetadata(f"{weight.name}/histogram").plugin_data.plugin_name == "histograms"
            final = written[-1][1]  # epoch 2 is the last: the model's weights now
            values = np.asarray(weight.numpy(), np.float64)
            assert final[:, 2].sum() == values.size
            if values.min() < values.max():
                counts, _ = np.histogram(values, bins=len(final), range=(values.min(), values.max()))
                np.testing.assert_array_equal(final[:, 2], counts)


def test_weight_images_have_the_weights_layout(trained):
    model, _, found = trained
    kernel = model.layers[0].weights[0]  # 4 x 8: drawn as 4 rows of 8 pixels
    [(_, last)] = series(found["train"], f"{kernel.name}/image")[-1:]
    assert [int(last[0]), int(last[1])] == [8, 4]  # width, height
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(last[2])))
    expected = np.clip(np.asarray(kernel.numpy(), np.float32) * np.float32(255.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected)


def test_the_train_step_graph_is_written(trained):
    model, _, found = trained
    train = found["train"]
    assert train.Tags()["graph"] and not found["validation"].Tags()["graph"]
    nodes = {n.name: n for n in train.Graph().node}
    for weight in model.trainable_variables:
        assert nodes[weight.name].op == "VarHandleOp"
    assert any(name.startswith("gradients/") for name in nodes)
    assert sum(n.op == "assign_variable" for n in nodes.values()) >= len(model.trainable_variables)


def test_evaluate_with_the_callback_logs_evaluation(tmp_path):
    model = make_model()
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    loss = model.evaluate(x, y, verbose=0, callbacks=[gc.callbacks.TensorBoard(tmp_path)])[0]
    found = runs(tmp_path)
    written = series(found["validation"], "evaluation_loss_vs_iterations")
    assert [(s, float(v)) for s, v in written] == [(EXAMPLES // BATCH, np.float32(loss))]


def test_eager_training_writes_scalars_and_no_graph(tmp_path):
    model = make_model()
    model.compile(optimizer="sgd", loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[gc.callbacks.TensorBoard(tmp_path)])
    train = runs(tmp_path)["train"]
    assert not train.Tags()["graph"]
    assert [s for s, _ in series(train, "epoch_loss")] == [0, 1]


@pytest.mark.parametrize("kwargs, words", [
    ({"profile_batch": 2}, "profile_batch must be 0"),
    ({"profile_batch": (1, 3)}, "profile_batch must be 0"),
    ({"histogram_freq": -1}, "histogram_freq"),
    ({"update_freq": 0}, "update_freq"),
    ({"update_freq": "step"}, "update_freq"),
    ({"embeddings_freq": 1}, "embeddings_freq"),
    ({"log_dir": 3}, "log_dir"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(InvalidArgumentError, match=words):
        gc.callbacks.TensorBoard(**kwargs)


def test_a_log_dir_that_is_a_file_fails_at_the_first_write(tmp_path):
    model = make_model()
    x, y = data()
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(InvalidArgumentError, match="is a file|cannot create"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[gc.callbacks.TensorBoard(path)])


# -- TensorBoard itself, in a browser ------------------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, deadline: float, ready=bool):
    """The JSON at ``url`` once ``ready`` says it is complete (TensorBoard loads runs in the background),
    or what it last was at ``deadline``."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                found = json.loads(response.read())
            if ready(found) or time.monotonic() > deadline:
                return found
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _screenshot(chromium: str, url: str, path: Path) -> None:
    path.unlink(missing_ok=True)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900",
         "--virtual-time-budget=15000", f"--screenshot={path}", url],
        capture_output=True, timeout=120,
    )
    assert path.exists() and path.stat().st_size > 0, f"Chromium wrote no screenshot of {url}"


def _white_fraction(path: Path) -> float:
    """The share of pure white pixels: TensorBoard draws charts and graphs on white cards over a grey
    page, and shows only grey and text when it finds no data (measured: 0.1% then, 60% with the run)."""
    from PIL import Image

    return float((np.asarray(Image.open(path).convert("RGB")) == 255).all(axis=2).mean())


@pytest.mark.browser
def test_tensorboard_serves_the_run_and_chromium_renders_it(tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no headless Chromium found (Debian: apt-get install chromium)")
    model = make_model()
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[gc.callbacks.TensorBoard(tmp_path)])
    port = _free_port()
    log = open(tmp_path / "tensorboard.log", "w")  # not a pipe: nobody reads it while the server runs
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        runs_listed = _get_json(f"{base}/data/runs", deadline, lambda runs: len(runs) == 2)
        assert sorted(runs_listed) == ["train", "validation"], (tmp_path / "tensorboard.log").read_text()
        tags = _get_json(f"{base}/data/plugin/scalars/tags", deadline, lambda tags: len(tags) == 2)
        assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags["train"])
        assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= set(tags["validation"])
        graphs = _get_json(f"{base}/data/plugin/graphs/info", deadline, lambda info: "train" in info)
        assert graphs["train"]["run_graph"] is True
        build = ROOT / "build"
        build.mkdir(exist_ok=True)
        _screenshot(chromium, f"{base}/#scalars", build / "tb_scalars.png")
        _screenshot(chromium, f"{base}/#graphs&run=train", build / "tb_graphs.png")
        assert _white_fraction(build / "tb_scalars.png") > 0.25
        assert _white_fraction(build / "tb_graphs.png") > 0.25
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
