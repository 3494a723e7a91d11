"""TF's CheckpointManager on a scripted sequence; prints JSON of what it keeps after each step. Run with
TensorFlow (/work/benchvenv/bin/python tf_checkpoint_manager.py > tf_checkpoint_manager.json) to make the
reference tests/graphc/test_checkpoint_manager.py compares with."""
import json
import os
import tempfile

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf  # noqa: E402

SCRIPT = [("save", None), ("save", None), ("save", 7), ("save", None), ("save", 7), ("save", 3), ("save", None),
          ("restart", None), ("save", None), ("save", 2)]
out = []
with tempfile.TemporaryDirectory() as d:
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    manager = tf.train.CheckpointManager(ckpt, d, max_to_keep=3)
    for op, number in SCRIPT:
        if op == "restart":
            ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
            manager = tf.train.CheckpointManager(ckpt, d, max_to_keep=3)
            manager.restore_or_initialize()
        else:
            manager.save(checkpoint_number=number)
        indexes = sorted(n[:-len(".index")] for n in os.listdir(d) if n.endswith(".index"))
        out.append({"op": op, "number": number, "checkpoints": [os.path.basename(p) for p in manager.checkpoints],
                    "latest": os.path.basename(manager.latest_checkpoint), "on_disk": indexes,
                    "save_counter": int(ckpt.save_counter.numpy())})
    # the interval
    d2 = os.path.join(d, "interval")
    step = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(step=step)
    manager = tf.train.CheckpointManager(ckpt, d2, max_to_keep=None, step_counter=step, checkpoint_interval=10)
    saved = []
    for s in range(0, 35, 5):
        step.assign(s)
        path = manager.save(checkpoint_number=step)
        saved.append(None if path is None else os.path.basename(path))
print(json.dumps({"script": out, "interval": saved}))
