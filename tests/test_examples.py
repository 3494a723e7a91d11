"""Every script in examples/ runs to completion in a fresh interpreter, compiled and with
GRAPHC_RUN_EAGERLY=1, and prints what it promises. The README's quick start is
examples/quickstart.py, with its real output, and every ``gc.`` name the README mentions exists."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import graphc as gc

pytestmark = pytest.mark.examples

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"

# GRAPHC_RUN_EAGERLY value per mode; None: unset
MODES = {"compiled": None, "eager": "1"}

# What each example must print: in every mode, and in one mode only.
EXPECTED = {
    "demo.py": {
        "any": [
            "graph model(%0:f32[3,4] x)",
            "= matmul %0, %1",
            "= relu",
            "picture of the compiled graph (fused kernels as boxes around their ops): ",
            "build/demo/model.",  # .svg, or .dot where Graphviz's dot is missing
            "compiled == NumPy reference: True",
            "graph and eager results agree: True",
            "call with batch 7: result shape (7,)",
        ],
        "compiled": [
            "@gc.function calls run compiled",
            "row_sums was traced 3 time(s)",
            "row_sums_any_batch was traced 1 time(s)",
            "print() in the body ran: x.shape = (None, 4)",
            "graph row_sums_any_batch(%0:f32[d0,4] x)",
        ],
        "eager": [
            "@gc.function calls run eager (GRAPHC_RUN_EAGERLY)",
            "row_sums was traced 0 time(s)",
            "row_sums_any_batch was traced 0 time(s)",
        ],
    },
    "tensor_basics.py": {
        "any": [
            "gc.constant(3.0)             float32  shape=()  3.",
            "gc.constant([1, 2, 3])       int32    shape=(3,)  [1, 2, 3]",
            "int32 tensor / 2             float32  shape=(3,)  [0.5, 1. , 1.5]",
            "m + [10, 20, 30]             float32  shape=(2, 3)  [[10., 21., 32.], [13., 24., 35.]]",
            "t[..., -1]                   float32  shape=(2, 3)  [[ 3.,  7., 11.], [15., 19., 23.]]",
            "t[None, 0, ..., 0]           float32  shape=(1, 3)  [[0., 4., 8.]]",
            "after v.assign_add([1, 1, 1]):   [11. 21. 31.]",
            "accumulate([5.0, 6.0]) -> running mean of batch sums 7.00; total=21.0 steps=3",
        ],
        "compiled": ["traced 1 time(s); the variables kept every update", "assign_variable %3 {var=@total}"],
        "eager": ["ran eagerly (GRAPHC_RUN_EAGERLY), op by op; the variables kept every update"],
    },
    "dense_forward.py": {
        "any": [
            "dense_1  kernel (4, 16)   relu     -> (5, 16)",
            "dense_3  kernel (16, 3)   softmax  -> (5, 3)",
            "output shape (None, 3)",
            "probabilities (5, 3), rows sum to 1: True",
            "traced 1 time(s) for batches of 5 and 2",
            "compiled and eager results agree: True",
            "both match the NumPy reference: True",
        ],
        "compiled": [],
        "eager": [],
    },
    "linear_regression.py": {
        "any": ["(true [ 2.  -3.4])", "error in w: 0.000", "error in b: 0.000"],
        "compiled": ["trained compiled in"],
        "eager": ["trained eagerly in"],
    },
    "distributed_digits.py": {
        "any": [
            "Ray: a local instance, 2 CPUs", "replicas in sync: 2; global batch 64 = 2 x 32",
            "same weights as one process with batches of 64: True", "gc.distribute.predict agrees with model.predict: True",
        ],
        "compiled": [],
        "eager": [],
    },
    "quickstart.py": {
        "any": ["graph predict(%0:f32[2,3] x)", "= sigmoid %4   # quickstart.py:9", "return %5"],
        "compiled": [],
        "eager": [],
    },
}


def _run(example: str, eager_flag: str | None, **graphc_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")} | graphc_env
    if eager_flag is not None:
        env["GRAPHC_RUN_EAGERLY"] = eager_flag
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def runs() -> dict:
    """Every example in every mode, run side by side: (example, mode) -> completed process."""
    jobs = [(example, mode) for example in EXPECTED for mode in MODES]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda job: _run(job[0], MODES[job[1]]), jobs)
        return dict(zip(jobs, results))


# the training examples run (small) in tests/test_examples_training.py
TRAINING_EXAMPLES = ["custom_layer.py", "digits_cnn.py", "digits_mlp.py", "tensorboard_digits.py", "text_classifier.py"]


def test_every_example_has_expectations():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted([*EXPECTED, *TRAINING_EXAMPLES])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("example", EXPECTED)
def test_example_runs_and_prints_what_it_promises(runs, example, mode):
    result = runs[(example, mode)]
    assert result.returncode == 0, f"{example} ({mode}) exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    missing = [line for line in EXPECTED[example]["any"] + EXPECTED[example][mode] if line not in result.stdout]
    assert not missing, f"{example} ({mode}) did not print {missing}; it printed:\n{result.stdout}"


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """The README's fenced blocks in order, as (language, content)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("mode", MODES)
def test_readme_quick_start_is_quickstart_py_with_its_real_output(runs, mode):
    blocks = _fenced_blocks(README.read_text())
    source = (EXAMPLES / "quickstart.py").read_text()
    positions = [i for i, (lang, content) in enumerate(blocks) if lang == "python" and content == source]
    assert positions, "README.md has no ```python block identical to examples/quickstart.py"
    assert positions[0] + 1 < len(blocks), "the quick start's output block is missing"
    lang, shown_output = blocks[positions[0] + 1]
    assert lang == "text"
    assert shown_output == runs[("quickstart.py", mode)].stdout


def _resolve(dotted: str):
    obj = gc
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def test_every_gc_name_in_the_readme_exists():
    names = {n.rstrip(".") for n in re.findall(r"\bgc\.[A-Za-z_][\w.]*", README.read_text())}
    assert len(names) > 20, "the README should document the API"
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except AttributeError:
            missing.append(name)
    assert not missing, f"README.md mentions names graphc does not have: {missing}"


def test_readme_trace_log_example_is_real():
    (example,) = re.findall(r"`(graphc graphc\.trace: [^`]*)`", README.read_text())
    pattern = re.escape(example).replace(re.escape("/path/to/"), ".*/")
    stderr = _run("quickstart.py", None, GRAPHC_LOG="trace").stderr
    assert re.fullmatch(pattern, stderr.strip()), f"README shows {example!r}, GRAPHC_LOG=trace printed {stderr!r}"
