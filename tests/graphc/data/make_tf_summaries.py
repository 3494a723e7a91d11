"""Makes tf_summaries.npz: summaries written by TensorFlow 2.21 (tf.summary, which needs the tensorboard
package) and read back from its event file, for tests/graphc/test_summary.py.

    python tests/graphc/data/make_tf_summaries.py tests/graphc/data/tf_summaries.npz
"""
import os, tempfile, sys
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(0)
inputs = {
    "hist_normal": rng.normal(size=1000).astype(np.float32),
    "hist_ints": np.array([1, 2, 2, 3, 10], np.int32),
    "hist_single": np.full(7, 5.0),
    "hist_empty": np.zeros(0, np.float32),
    "hist_matrix": rng.uniform(-3, 3, size=(13, 7)),
    "img_float": rng.uniform(-0.2, 1.2, size=(3, 5, 4, 3)).astype(np.float32),
    "img_uint8": rng.integers(0, 256, size=(1, 3, 2, 1)).astype(np.uint8),
    "img_int32": rng.integers(-2**31, 2**31 - 1, size=(1, 2, 2, 4)).astype(np.int32),
    "img_float64_grey_alpha": rng.uniform(0, 1, size=(1, 2, 3, 2)),
    "scalar_int": np.array(3, np.int64),
    "scalar_float64": np.array(0.1, np.float64),
}
buckets = {"hist_normal": None, "hist_ints": 4, "hist_single": 3, "hist_empty": 5, "hist_matrix": 11}
max_outputs = {"img_float": 2, "img_uint8": 3, "img_int32": 3, "img_float64_grey_alpha": 3}
d = tempfile.mkdtemp()
w = tf.summary.create_file_writer(d)
with w.as_default(step=4):
    for k, v in inputs.items():
        if k.startswith("hist"):
            tf.summary.histogram(k, v, buckets=buckets[k])
        elif k.startswith("img"):
            tf.summary.image(k, v, max_outputs=max_outputs[k])
        else:
            tf.summary.scalar(k, v)
w.close()
out = {f"input/{k}": v for k, v in inputs.items()}
out.update({f"buckets/{k}": -1 if b is None else b for k, b in buckets.items()})
out.update({f"max_outputs/{k}": m for k, m in max_outputs.items()})
path = [os.path.join(d, f) for f in os.listdir(d)][0]
for event in tf.compat.v1.train.summary_iterator(path):
    for value in event.summary.value:
        t = tf.make_ndarray(value.tensor)
        assert event.step == 4
        if value.tag.startswith("img"):
            out[f"dims/{value.tag}"] = np.array([int(t[0]), int(t[1])])
            for i, png in enumerate(t[2:]):
                out[f"output/{value.tag}/{i}"] = tf.io.decode_png(png, channels=0).numpy()
            out[f"count/{value.tag}"] = len(t) - 2
        else:
            out[f"output/{value.tag}"] = t
        out[f"plugin/{value.tag}"] = value.metadata.plugin_data.plugin_name
np.savez(sys.argv[1], **out)
print(sorted(out))
