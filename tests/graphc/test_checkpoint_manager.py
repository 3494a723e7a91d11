"""``gc.train.CheckpointManager`` as ``tf.train.CheckpointManager``: numbering, ``max_to_keep``
deleting the oldest (index and data), ``keep_checkpoint_every_n_hours``, ``checkpoint_interval``,
``restore_or_initialize``, and a state file a new manager takes over after a restart."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc import checkpoint_manager
from graphc.errors import CheckpointError, InvalidArgumentError


def make(value=0.0):
    return gc.train.Checkpoint(v=gc.Variable(np.float32(value)), step=gc.Variable(np.int64(0)))


def files(directory):
    return sorted(os.listdir(directory))


def test_keeps_the_newest_and_deletes_the_rest(tmp_path):
    ckpt = make()
    manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=2)
    assert manager.latest_checkpoint is None and manager.checkpoints == [] and manager.directory == str(tmp_path)
    paths = []
    for i in range(1, 6):
        ckpt.v.assign(float(i))
        paths.append(manager.save())
    assert paths == [str(tmp_path / f"ckpt-{i}") for i in range(1, 6)]
    assert manager.checkpoints == paths[-2:] and manager.latest_checkpoint == paths[-1]
    names = files(tmp_path)
    assert names[0] == "checkpoint" and len(names) == 5  # the state file, two indexes, two data files
    assert {n.split(".")[0] for n in names[1:]} == {"ckpt-4", "ckpt-5"}
    assert gc.train.latest_checkpoint(tmp_path) == paths[-1]
    state = json.loads((tmp_path / "checkpoint").read_text())
    assert state["latest"] == "ckpt-5" and state["all"] == ["ckpt-4", "ckpt-5"] and len(state["timestamps"]) == 2
    assert gc.train.load_variable(paths[-2], "v") == 4.0


def test_a_new_manager_takes_over_after_a_restart(tmp_path):
    ckpt = make(1.0)
    manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=3)
    for _ in range(4):
        manager.save()
    fresh = make()
    again = gc.train.CheckpointManager(fresh, tmp_path, max_to_keep=3)
    assert again.checkpoints == manager.checkpoints and again.latest_checkpoint == str(tmp_path / "ckpt-4")
    assert again.restore_or_initialize() == str(tmp_path / "ckpt-4")
    assert fresh.v.numpy() == 1.0 and int(fresh.save_counter.numpy()) == 4
    assert again.save() == str(tmp_path / "ckpt-5")  # numbering goes on from the restored counter
    assert again.checkpoints == [str(tmp_path / f"ckpt-{i}") for i in (3, 4, 5)]
    assert not (tmp_path / "ckpt-2.index.json").exists()


def test_restore_or_initialize_calls_init_fn_without_a_checkpoint(tmp_path):
    calls = []
    manager = gc.train.CheckpointManager(make(), tmp_path / "new", max_to_keep=1, init_fn=lambda: calls.append(1))
    assert manager.restore_or_initialize() is None and calls == [1]
    assert gc.train.CheckpointManager(make(), tmp_path / "new", max_to_keep=1).restore_or_initialize() is None


def test_numbers_from_a_step_counter_and_the_interval(tmp_path):
    ckpt = make()
    manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=None, step_counter=ckpt.step,
                                         checkpoint_interval=10, checkpoint_name="model")
    saved = []
    for step in range(0, 35, 5):
        ckpt.step.assign(step)
        saved.append(manager.save(checkpoint_number=ckpt.step))
    assert saved == [str(tmp_path / "model-0"), None, str(tmp_path / "model-10"), None, str(tmp_path / "model-20"),
                     None, str(tmp_path / "model-30")]
    assert manager.save(checkpoint_number=31, check_interval=False) == str(tmp_path / "model-31")
    assert len(manager.checkpoints) == 5 and manager.checkpoint_interval == 10  # max_to_keep=None keeps all


def test_keep_checkpoint_every_n_hours(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(checkpoint_manager.time, "time", lambda: clock[0])
    ckpt = make()
    manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=1, keep_checkpoint_every_n_hours=1)
    for _ in range(6):  # one every 25 minutes
        manager.save()
        clock[0] += 1500.0
    # written at t = 1000, 2500, ..., 8500; the manager started at 999: ckpt-4 (t=5500) is the first
    # written an hour after that; the next kept would be an hour after 5500
    kept = sorted(n.split(".")[0] for n in files(tmp_path) if n.endswith(".index.json"))
    assert kept == ["ckpt-4", "ckpt-6"] and manager.checkpoints == [str(tmp_path / "ckpt-6")]


def test_a_checkpoint_saved_again_moves_to_the_end(tmp_path):
    manager = gc.train.CheckpointManager(make(), tmp_path, max_to_keep=2)
    manager.save(checkpoint_number=1)
    manager.save(checkpoint_number=2)
    manager.save(checkpoint_number=1)
    manager.save(checkpoint_number=3)
    assert manager.checkpoints == [str(tmp_path / "ckpt-1"), str(tmp_path / "ckpt-3")]


@pytest.mark.parametrize("kwargs,message", [
    ({"max_to_keep": 0}, "max_to_keep"),
    ({"max_to_keep": 1, "checkpoint_interval": 5}, "step_counter should be passed"),
    ({"max_to_keep": 1, "keep_checkpoint_every_n_hours": -1}, "keep_checkpoint_every_n_hours must be > 0"),
    ({"max_to_keep": 1, "checkpoint_name": ".."}, "checkpoint_name"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gc.train.CheckpointManager(make(), tmp_path, **kwargs)
    with pytest.raises(InvalidArgumentError, match="expected a gc.train.Checkpoint"):
        gc.train.CheckpointManager(gc.Variable(1.0), tmp_path, max_to_keep=1)


@pytest.mark.parametrize("state,message", [
    ({"latest": "ckpt-1", "all": ["../x"]}, "'all' should list file names"),
    ({"latest": "ckpt-1", "all": ["ckpt-1"], "timestamps": ["x"]}, "'timestamps' should hold one number"),
    ({"latest": "ckpt-1", "all": ["ckpt-1"], "timestamps": [1.0, 2.0]}, "'timestamps' should hold one number"),
    ({"latest": "ckpt-1", "all": [], "last_preserved_timestamp": "soon"}, "'last_preserved_timestamp'"),
])
def test_a_corrupt_state_file_is_named(tmp_path, state, message):
    (tmp_path / "checkpoint").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=message):
        gc.train.CheckpointManager(make(), tmp_path, max_to_keep=1)


REFERENCE = Path(__file__).parent / "reference" / "tf_checkpoint_manager.json"


def test_the_same_script_keeps_what_tensorflow_keeps(tmp_path):
    """``reference/tf_checkpoint_manager.py`` ran this script on tf.train.CheckpointManager (TF 2.21)."""
    reference = json.loads(REFERENCE.read_text())
    ckpt = make()
    manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=3)
    for expected in reference["script"]:
        if expected["op"] == "restart":
            ckpt = make()
            manager = gc.train.CheckpointManager(ckpt, tmp_path, max_to_keep=3)
            manager.restore_or_initialize()
        else:
            manager.save(checkpoint_number=expected["number"])
        on_disk = sorted(n[:-len(".index.json")] for n in files(tmp_path) if n.endswith(".index.json"))
        got = {"op": expected["op"], "number": expected["number"],
               "checkpoints": [os.path.basename(p) for p in manager.checkpoints],
               "latest": os.path.basename(manager.latest_checkpoint), "on_disk": on_disk,
               "save_counter": int(ckpt.save_counter.numpy())}
        assert got == expected
    step = gc.Variable(np.int64(0))
    interval = gc.train.CheckpointManager(gc.train.Checkpoint(step=step), tmp_path / "interval", max_to_keep=None,
                                          step_counter=step, checkpoint_interval=10)
    saved = []
    for value in range(0, 35, 5):
        step.assign(value)
        path = interval.save(checkpoint_number=step)
        saved.append(None if path is None else os.path.basename(path))
    assert saved == reference["interval"]
