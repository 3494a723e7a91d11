"""Prints the seconds the first call of W3 (or of W6, given ``W6``) takes (trace, optimise, compile or
load, run) as JSON."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cnn  # noqa: E402
import workloads  # noqa: E402

if sys.argv[1:] == ["W6"]:
    params, x, labels = cnn.cnn_data()
    step, _ = cnn.graphc_cnn_step(params)
else:
    weights, biases, x, labels = workloads.mlp_data()
    step = workloads.graphc_mlp_step(weights, biases)
start = time.perf_counter()
step(x, labels)
print(json.dumps({"seconds": time.perf_counter() - start}))
