"""gc.train.Checkpoint and Model.save_weights/load_weights: safetensors + JSON index, restores into fresh
objects (optimizer slots included), precise mismatch errors that change nothing, corrupt files."""
import hashlib
import json
import os
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

rng = np.random.default_rng(2)
X = rng.normal(size=(32, 3)).astype(np.float32)
Y = rng.integers(0, 2, size=32)


def make_model(hidden=4):
    return gc.Sequential([gc.Input(shape=(3,)), L.Dense(hidden, activation="relu"), L.BatchNormalization(),
                          L.Dropout(0.5, seed=3), L.Dense(2)])


def trained():
    """A model and its Adam optimizer after two steps (so every slot exists)."""
    model = make_model()
    model.compile(gc.optimizers.Adam(0.01), gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    return model


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def test_checkpoint_restores_model_and_optimizer_into_fresh_objects(tmp_path):
    model = trained()
    ckpt = gc.train.Checkpoint(model=model, optimizer=model.optimizer)
    path = ckpt.save(tmp_path / "ckpts" / "run")
    assert path.endswith("run-1") and gc.train.latest_checkpoint(tmp_path / "ckpts") == path
    fresh = make_model()
    fresh_optimizer = gc.optimizers.Adam(0.01)
    status = gc.train.Checkpoint(model=fresh, optimizer=fresh_optimizer).restore(gc.train.latest_checkpoint(tmp_path / "ckpts"))
    status.assert_consumed()
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    assert int(fresh_optimizer.iterations.numpy()) == 2
    assert len(fresh_optimizer.slots()) == len(model.optimizer.slots()) == 2 * len(model.trainable_variables)
    for old_var, new_var in zip(model.trainable_variables, fresh.trainable_variables):
        for slot_name in ("m", "v"):
            np.testing.assert_array_equal(model.optimizer.get_slot(old_var, slot_name).numpy(),
                                          fresh_optimizer.get_slot(new_var, slot_name).numpy())
    np.testing.assert_array_equal(fresh.layers[2].generator.state.numpy(), model.layers[2].generator.state.numpy())
    # training continues identically from the restored state
    for m in (model, fresh):
        m.compile(m.optimizer if m is model else fresh_optimizer, gc.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(X, Y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_files_are_safetensors_and_a_json_index_keyed_by_object_paths(tmp_path):
    model = trained()
    prefix = gc.train.Checkpoint(model=model, optimizer=model.optimizer).write(tmp_path / "ckpt")
    index = json.loads((tmp_path / "ckpt.index.json").read_text())
    assert index["format"] == "graphc-checkpoint" and index["data_file"] == "ckpt.safetensors"
    assert index["variables"]["model/layers/0/kernel"] == {"shape": [3, 4], "dtype": "float32"}
    assert index["objects"]["model/layers/1"] == "BatchNormalization"
    names = dict(gc.train.list_variables(prefix))
    assert names["optimizer/slots/model/layers/0/kernel/m"] == [3, 4]
    assert names["model/layers/1/moving_mean"] == [4] and names["optimizer/iterations"] == [] and "save_counter" in names
    np.testing.assert_array_equal(gc.train.load_variable(prefix, "model/layers/3/bias"), model.layers[3].bias.numpy())
    header_size = int.from_bytes((tmp_path / "ckpt.safetensors").read_bytes()[:8], "little")
    assert json.loads((tmp_path / "ckpt.safetensors").read_bytes()[8:8 + header_size])["__metadata__"]["format"] == "graphc-checkpoint"
    assert sorted(os.listdir(tmp_path)) == ["ckpt.index.json", "ckpt.safetensors"]  # no temporary files left


def test_save_weights_and_load_weights(tmp_path):
    model = trained()
    model.save_weights(tmp_path / "weights.safetensors")
    fresh = make_model()
    fresh.load_weights(tmp_path / "weights")
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    assert "layers/0/kernel" in dict(gc.train.list_variables(tmp_path / "weights"))


# name, model to restore into, message fragments
MISMATCHES = [
    ("wider", lambda: make_model(hidden=5), ["shape or dtype differs (", "layers/0/kernel: checkpoint f32[3,4], object f32[3,5]"]),
    ("fewer_layers", lambda: gc.Sequential([gc.Input(shape=(3,)), L.Dense(4)]),
     ["in the checkpoint, not in the objects (", "layers/3/kernel f32[4,2]"]),
    ("more_layers", lambda: gc.Sequential([gc.Input(shape=(3,)), L.Dense(4), L.BatchNormalization(), L.Dropout(0.5, seed=3),
                                           L.Dense(2), L.Dense(2)]),
     ["in the objects, not in the checkpoint (2): layers/4/kernel f32[2,2], layers/4/bias f32[2]"]),
    ("unbuilt", lambda: gc.Sequential([L.Dense(4)]), ["build the model"]),
]


@pytest.mark.parametrize("name,make,fragments", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_mismatches_are_reported_precisely_and_change_nothing(tmp_path, name, make, fragments):
    trained().save_weights(tmp_path / "w")
    target = make()
    before = snapshot(target.variables)
    with pytest.raises(gc.errors.CheckpointError) as info:
        target.load_weights(tmp_path / "w")
    message = str(info.value)
    assert "nothing was changed" in message
    for fragment in fragments:
        assert fragment in message
    for a, b in zip(before, snapshot(target.variables)):
        np.testing.assert_array_equal(a, b)


def test_partial_restore_ignores_values_no_object_takes(tmp_path):
    model = trained()
    gc.train.Checkpoint(model=model, optimizer=model.optimizer).write(tmp_path / "full")
    fresh = make_model()
    with pytest.raises(gc.errors.CheckpointError, match="not in the objects"):
        gc.train.Checkpoint(model=fresh).read(tmp_path / "full")
    status = gc.train.Checkpoint(model=fresh).read(tmp_path / "full", partial=True)
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    with pytest.raises(gc.errors.CheckpointError, match="optimizer/iterations"):
        status.assert_consumed()


def _corrupt(prefix, kind):
    data, index = prefix + ".safetensors", prefix + ".index.json"
    if kind == "truncated_data":
        content = open(data, "rb").read()
        open(data, "wb").write(content[: len(content) // 2])
    elif kind == "flipped_byte":
        content = bytearray(open(data, "rb").read())
        content[-3] ^= 0xFF
        open(data, "wb").write(bytes(content))
    elif kind == "truncated_index":
        content = open(index).read()
        open(index, "w").write(content[: len(content) // 2])
    elif kind == "missing_data":
        os.remove(data)
    elif kind == "not_safetensors":
        content = b"not a safetensors file at all"
        open(data, "wb").write(content)
        meta = json.load(open(index))
        meta["data_size"], meta["data_sha256"] = len(content), hashlib.sha256(content).hexdigest()
        json.dump(meta, open(index, "w"))


@pytest.mark.parametrize("kind,fragment", [
    ("truncated_data", "truncated or overwritten"),
    ("flipped_byte", "is corrupt: its SHA-256 differs"),
    ("truncated_index", "corrupt or truncated (not valid JSON"),
    ("missing_data", "data file"),
    ("not_safetensors", "not a valid safetensors file"),
])
def test_corrupt_or_truncated_files_are_clear_errors(tmp_path, kind, fragment):
    model = trained()
    prefix = model.save_weights(tmp_path / "w")
    _corrupt(prefix, kind)
    before = snapshot(model.variables)
    with pytest.raises(gc.errors.CheckpointError, match=re.escape(fragment)):
        model.load_weights(prefix)
    for a, b in zip(before, snapshot(model.variables)):
        np.testing.assert_array_equal(a, b)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = trained()
    prefix = model.save_weights(tmp_path / "w")
    original = open(prefix + ".safetensors", "rb").read()
    model.layers[0].kernel.assign(np.zeros((3, 4), np.float32))

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(tmp_path / "w")
    monkeypatch.undo()
    assert open(prefix + ".safetensors", "rb").read() == original
    assert sorted(os.listdir(tmp_path)) == ["w.index.json", "w.safetensors"]


def test_missing_checkpoints_and_bad_objects():
    with pytest.raises(gc.errors.CheckpointError, match="no checkpoint at"):
        gc.train.list_variables("/nonexistent/ckpt")
    with pytest.raises(gc.errors.InvalidArgumentError, match="not checkpointable"):
        gc.train.Checkpoint(model=3)
    assert gc.train.Checkpoint(model=make_model()).restore(None).restored == []


def test_keys_are_weight_names_or_for_unnamed_weights_attribute_names(tmp_path):
    class Linear(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2))
            self.b = self.add_weight(shape=(2,), initializer="zeros")
            self.factor = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            return (gc.matmul(x, self.w) + self.b) * self.factor

    class Net(gc.Model):
        def __init__(self):
            super().__init__()
            self.first = Linear()
            self.blocks = {"head": L.Dense(1)}

        def call(self, x):
            return self.blocks["head"](self.first(x))

    net = Net()
    net(X)
    prefix = net.save_weights(tmp_path / "net")
    assert [k for k, _ in gc.train.list_variables(prefix)] == [
        "blocks/head/bias", "blocks/head/kernel", "first/b", "first/scale", "first/w"]
    fresh = Net()
    fresh(X)
    fresh.load_weights(prefix)
    np.testing.assert_array_equal(fresh(X).numpy(), net(X).numpy())
