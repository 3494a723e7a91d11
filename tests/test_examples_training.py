"""The training examples (custom_layer.py, digits_mlp.py, digits_cnn.py, text_classifier.py) run in a
fresh interpreter in their small CI size, compiled and with GRAPHC_RUN_EAGERLY=1, and print what
they promise (the text classifier its 90% held-out accuracy); the slow tests run the digits examples
and the text classifier at full size and check their held-out accuracy."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.examples
pytest.importorskip("sklearn", reason="the digits examples need the `examples` extra (scikit-learn)")

ROOT = Path(__file__).resolve().parents[1]
MODES = {"compiled": None, "eager": "1"}

DIGITS = [
    r"digits: 400 training and 100 held-out images of 8x8 pixels, 10 classes",
    r"Epoch 2/2\n\d+/\d+ \[=+\] - \d+s \d+[mu]?s/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss",
    r"held-out accuracy: \d\.\d{4}, loss \d+\.\d{4} \(target 0\.95: (NOT )?reached\)",
    r"train step: one compiled graph of \d+ nodes \(\d+ of them gradient nodes, \d+ variable updates\)",
    r"checkpoint written to .+-1: \d+ tensors \(safetensors \+ JSON index\)",
    r"restored into a fresh model: predictions identical: True; optimizer step 24",
    r"train-step graph( rendered to .+\.svg|: not rendered \(gc\.viz is not available in this graphc\))",
    r"speed: compiled \d+\.\d\d ms/step, eager \d+\.\d\d ms/step -> compiled is \d+\.\dx faster",
]
EXPECTED = {
    "custom_layer.py": {
        "any": [
            r"Linear\(4\) on \(2, 2\): output \(2, 4\), weights \[\(2, 4\), \(4,\)\]",
            r"Linear config: \{'name': 'linear(_\d+)?', 'trainable': True, 'dtype': 'float32', 'units': 4\}",
            r"ComputeSum after two calls: \[4\. 4\.\]; trainable weights 0, non-trainable 1",
            r"MLPBlock: 6 weights, 6 trainable",
            r"ActivityRegularization losses: \[6\.0\]",
            r"epoch 3: mean loss \d\.\d{4}",
            r"the model has 6 trainable variables, the optimizer 14 variables",
            r"fit: loss \d\.\d{4} -> \d\.\d{4} \(the activity loss included\) over 3 epochs",
            r"speed: compiled \d+\.\d\d ms/step, eager \d+\.\d\d ms/step -> compiled is \d+\.\dx faster",
        ],
        "compiled": [r"train_step compiled: traced 1 time\(s\)"],
        "eager": [r"train_step ran eagerly \(GRAPHC_RUN_EAGERLY\): traced 0 time\(s\)"],
    },
    "digits_mlp.py": {
        "any": DIGITS + [r"dense \(Dense\)\s+\(None, 128\)\s+8,320"],
        "compiled": [r"digits_mlp: training compiled \(small size\)", r"traced 2 time\(s\) while fitting"],
        "eager": [r"digits_mlp: training eagerly \(GRAPHC_RUN_EAGERLY\) \(small size\)", r"traced 1 time\(s\) while fitting"],
    },
    "digits_cnn.py": {
        "any": DIGITS + [r"conv2d(_\d+)? \(Conv2D\)\s+\(None, 8, 8, 16\)\s+160", r"max_pool2d(_\d+)? \(MaxPool2D\)\s+\(None, 2, 2, 32\)"],
        "compiled": [r"digits_cnn: training compiled \(small size\)"],
        "eager": [r"digits_cnn: training eagerly \(GRAPHC_RUN_EAGERLY\) \(small size\)"],
    },
    "tensorboard_digits.py": {
        "any": [
            DIGITS[0],
            r"held-out accuracy \d\.\d{4}, loss \d+\.\d{4}",
            r"TensorBoard runs in \S+: test, train, validation",
            r"view them: \S*tensorboard --logdir \S+",
        ],
        "compiled": [],
        "eager": [],
    },
    "text_classifier.py": {
        "any": [
            r"256 training and 64 held-out sentences of 12 tokens",
            r"trained 4 epochs in \d+\.\d s: loss 0\.\d{4} -> 0\.\d{4}",
            r"held-out accuracy: \d\.\d{4}, loss \d+\.\d{4} \(target 0\.90: reached\)",
            r"X after X\[1, 2\]\.assign\(9\) and X\[:, 0\]\.assign_add\(\[1, 2\]\): \[\[1\.0, 0\.0, 0\.0\], \[2\.0, 0\.0, 9\.0\]\]",
        ],
        "compiled": [r"text_classifier: training compiled \(small size\), LSTM model"],
        "eager": [r"text_classifier: training eagerly \(GRAPHC_RUN_EAGERLY\) \(small size\), LSTM model"],
    },
}


def _run(example: str, eager_flag: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")}
    if eager_flag is not None:
        env["GRAPHC_RUN_EAGERLY"] = eager_flag
    return subprocess.run([sys.executable, str(ROOT / "examples" / example), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs() -> dict:
    jobs = [(example, mode) for example in EXPECTED for mode in MODES]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda job: _run(job[0], MODES[job[1]], "--small"), jobs)
        return dict(zip(jobs, results))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("example", EXPECTED)
def test_training_example_runs_small_and_prints_what_it_promises(runs, example, mode):
    result = runs[(example, mode)]
    assert result.returncode == 0, f"{example} ({mode}) exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    patterns = EXPECTED[example]["any"] + EXPECTED[example][mode]
    missing = [p for p in patterns if not re.search(p, result.stdout)]
    assert not missing, f"{example} ({mode}) did not print {missing}; it printed:\n{result.stdout}"


@pytest.mark.slow
@pytest.mark.parametrize("example", ["digits_mlp.py", "digits_cnn.py"])
def test_digits_examples_reach_95_percent_held_out_accuracy(example):
    result = _run(example, None)
    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = float(re.search(r"held-out accuracy: (\d\.\d{4})", result.stdout).group(1))
    assert accuracy >= 0.95 and "(target 0.95: reached)" in result.stdout
    assert "predictions identical: True" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("variant", [[], ["--attention"]], ids=["lstm", "attention"])
def test_text_classifier_reaches_90_percent_held_out_accuracy(variant):
    result = _run("text_classifier.py", None, *variant)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(target 0.90: reached)" in result.stdout, result.stdout
