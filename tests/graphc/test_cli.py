"""The ``graphc`` command end to end, each run in a fresh interpreter (``python -m graphc``, and the
installed console script): pictures, IR, info, the fallback without ``dot``, and one-line errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import graphc as gc
from graphc import cli

ROOT = Path(__file__).resolve().parents[2]

MODEL = '''
import numpy as np
import graphc as gc
from graphc import cli

SIZES = (784, 512, 512, 10)
rng = np.random.default_rng(0)
ws = [gc.Variable(rng.normal(0, 0.05, (a, b)).astype(np.float32), name=f"w{i}") for i, (a, b) in enumerate(zip(SIZES, SIZES[1:]))]
bs = [gc.Variable(np.zeros(b, np.float32), name=f"b{i}") for i, b in enumerate(SIZES[1:])]


@gc.function
def train_step(x, labels):
    with gc.GradientTape() as tape:
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            with gc.name_scope(f"dense_{i + 1}"):
                h = gc.matmul(h, w) + b
                if i < len(ws) - 1:
                    h = gc.nn.relu(h)
        loss = -gc.reduce_mean(gc.reduce_sum(gc.one_hot(labels, SIZES[-1]) * gc.nn.log_softmax(h), axis=1))
    for v, g in zip(ws + bs, tape.gradient(loss, ws + bs)):
        v.assign_sub(0.01 * g)
    return loss


def scale(x, factor):
    return x * factor + 1.0


not_a_function = 3

if __name__ == "__main__":
    raise SystemExit("the CLI must not run the file's main block")
'''

MLP_ARGS = ["--arg", "f32[256,784]", "--arg", "i64[256]"]


def _cases(tmp: Path) -> dict:
    """name -> (argv, env changes, exit status, stdout must hold, stderr must hold, files written)."""
    model = str(tmp / "model.py")
    broken = str(tmp / "broken.py")
    return {
        "viz svg": (["viz", f"{model}:train_step", *MLP_ARGS, "-o", str(tmp / "step.svg")], {}, 0,
                    [str(tmp / "step.svg")], [], {"step.svg": b"<?xml"}),
        "viz fused png": (["viz", f"{model}:train_step", *MLP_ARGS, "-o", str(tmp / "fused.png"), "--stage", "fused"],
                          {}, 0, ["fused.png"], [], {"fused.png": b"\x89PNG"}),
        "viz collapsed dot": (["viz", f"{model}:train_step", *MLP_ARGS, "-o", str(tmp / "c.dot"), "--collapse-scopes",
                               "--no-gradients"], {}, 0, ["c.dot"], [], {"c.dot": b"digraph train_step"}),
        "viz stages html": (["viz", f"{model}:train_step", *MLP_ARGS, "-o", str(tmp / "stages.html")], {}, 0,
                            ["stages.html"], [], {"stages.html": b"<!DOCTYPE html>"}),
        "viz plain function": (["viz", f"{model}:scale", "--arg", "f32[None,3]", "--arg", "2.5", "-o",
                                str(tmp / "scale.svg")], {}, 0, ["scale.svg"], [], {"scale.svg": b"<?xml"}),
        "viz without dot": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o", str(tmp / "nodot.svg")],
                            {"PATH": str(tmp / "empty")}, 0, ["nodot.dot"], [f"dot -Tsvg {tmp / 'nodot.dot'}"],
                            {"nodot.dot": b"digraph scale"}),
        "ir traced": (["ir", f"{model}:train_step", *MLP_ARGS], {}, 0,
                      ["graph train_step(%0:f32[256,784] x, %1:i64[256] labels)", "@dense_1", "grad"], [], {}),
        "ir all stages": (["ir", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "--stage", "all"], {}, 0,
                          ["graph scale(%0:f32[3] x)", 'fused %0 {kernel="elementwise_0"'], [], {}),
        "ir stats": (["ir", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "--stats"], {}, 0,
                     ["fold_constants", "fuse"], [], {}),
        "ir llvm": (["ir", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "--llvm"], {}, 0, ["define "], [], {}),
        "ir asm": (["ir", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "--asm"], {}, 0, ["ret"], [], {}),
        "info": (["info"], {"GRAPHC_CACHE_DIR": str(tmp / "cache")}, 0,
                 [f"graphc {gc.__version__}", "LLVM ", "CPU ", "CPU features ", f"cache {tmp / 'cache'}: 0 entries",
                  "dot "], [], {}),
        "no such file": (["viz", f"{tmp / 'nope.py'}:f"], {}, 2, [], [f"no such file: {tmp / 'nope.py'}"], {}),
        "no such function": (["ir", f"{model}:missing"], {}, 2, [], ["has no function 'missing'", "train_step"], {}),
        "not a function": (["ir", f"{model}:not_a_function"], {}, 2, [], ["not_a_function is not a function: it is 3"], {}),
        "no colon": (["ir", model], {}, 2, [], ["expected FILE.py:FUNC"], {}),
        "bad dtype": (["ir", f"{model}:scale", "--arg", "f33[3]", "--arg", "2"], {}, 2, [], ["bad --arg 'f33[3]'"], {}),
        "bad shape": (["ir", f"{model}:scale", "--arg", "f32[3,x]", "--arg", "2"], {}, 2, [], ["bad --arg 'f32[3,x]'"], {}),
        "unparsable arg": (["ir", f"{model}:scale", "--arg", "f32[3", "--arg", "2"], {}, 2, [], ["bad --arg 'f32[3'"], {}),
        "huge dimension": (["ir", f"{model}:scale", "--arg", "f32[99999999999999999999999,3]", "--arg", "2"], {}, 2, [],
                           ["bad --arg 'f32[99999999999999999999999,3]': shape[0] must be at most 2**63 - 1, got "
                            "99999999999999999999999 (int)"], {}),
        "negative dimension": (["ir", f"{model}:scale", "--arg", "f32[3,-1]", "--arg", "2"], {}, 2, [],
                               ["bad --arg 'f32[3,-1]': shape[1] must be an int >= 0, got -1 (int)"], {}),
        "too many elements": (["ir", f"{model}:scale", "--arg", "f32[4294967296,4294967296]", "--arg", "2"], {}, 2,
                              [], ["has more than 2**63 - 1 elements"], {}),
        "output under a file": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o", f"{model}/x.svg"], {}, 1,
                                [], [f"gc.viz: cannot write '{model}/x.svg': {model} is a file, not a directory"], {}),
        "output two levels under a file": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o",
                                            f"{model}/d/x.dot"], {}, 1, [], ["cannot write", "Not a directory"], {}),
        "html under a file": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o", f"{model}/x.html"], {},
                              1, [], [f"gc.viz: cannot write '{model}/x.html': {model} is a file"], {}),
        "output onto a directory": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o", f"{tmp}/dir.svg"],
                                    {}, 1, [], [f"gc.viz: cannot write '{tmp}/dir.svg': Is a directory"], {}),
        "missing arg": (["ir", f"{model}:scale", "--arg", "f32[3]"], {}, 1, [], ["missing a required argument: 'factor'"], {}),
        "bad suffix": (["viz", f"{model}:scale", "--arg", "f32[3]", "--arg", "2", "-o", str(tmp / "x.jpg")], {}, 1, [],
                       ["must end in .svg, .png, .pdf or .dot"], {}),
        "import fails": (["ir", f"{broken}:f"], {}, 2, [], ["importing", "ZeroDivisionError"], {}),
    }


# run in fresh interpreters (end to end, side by side); the others run in this process through main()
IN_SUBPROCESS = ("viz svg", "viz without dot", "bad dtype", "no such file", "import fails", "missing arg")


def _run(argv: list[str], env_changes: dict, command=(sys.executable, "-m", "graphc")) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")} | env_changes
    env.setdefault("GRAPHC_CACHE_DIR", os.environ["GRAPHC_CACHE_DIR"])
    return subprocess.run([*command, *argv], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict]:
    """The model files, and the subprocess cases already run side by side."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp / "broken.py").write_text("import graphc\n1 / 0\n")
    (tmp / "empty").mkdir()
    (tmp / "dir.svg").mkdir()
    cases = _cases(tmp)
    with ThreadPoolExecutor(max_workers=len(IN_SUBPROCESS)) as pool:
        results = pool.map(lambda name: _run(*cases[name][:2]), IN_SUBPROCESS)
        return tmp, dict(zip(IN_SUBPROCESS, results))


def _run_here(argv: list[str], env_changes: dict, monkeypatch, capsys) -> subprocess.CompletedProcess:
    for key, value in env_changes.items():
        monkeypatch.setenv(key, value)
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, status, out, err)


@pytest.mark.parametrize("name", list(_cases(Path("/tmp"))))
def test_cli(workspace, name, monkeypatch, capsys):
    tmp, finished = workspace
    argv, env_changes, status, out, err, files = _cases(tmp)[name]
    result = finished[name] if name in finished else _run_here(argv, env_changes, monkeypatch, capsys)
    detail = f"graphc {' '.join(argv)} exited {result.returncode}\nstdout:\n{result.stdout[:2000]}\nstderr:\n{result.stderr}"
    assert result.returncode == status, detail
    assert "Traceback" not in result.stderr, detail
    for text in out:
        assert text in result.stdout, detail
    for text in err:
        assert text in result.stderr, detail
    if status != 0 or err:  # an error or a note: one line, nothing on stdout for errors
        assert result.stderr.count("\n") == 1, detail
        assert status == 0 or (result.stdout == "" and result.stderr.startswith("graphc: error: ")), detail
    for file, magic in files.items():
        assert (tmp / file).read_bytes().startswith(magic), file


def test_viz_draws_kernels_and_scopes_of_the_training_step(workspace, monkeypatch, capsys):
    tmp, _ = workspace
    for name in ("viz fused png", "viz collapsed dot", "viz stages html"):
        assert _run_here(*_cases(tmp)[name][:2], monkeypatch, capsys).returncode == 0
    assert (tmp / "fused.png").stat().st_size > 10_000
    svg = (tmp / "step.svg").read_text()
    for scope in ("dense_1", "dense_2", "dense_3"):
        assert f"name scope {scope}" in svg
    collapsed = (tmp / "c.dot").read_text()
    assert "backward pass" in collapsed and "cluster_" not in collapsed
    page = (tmp / "stages.html").read_text()
    assert page.count("<svg") == 3 and "eliminate_common_subexpressions" in page


def test_console_script_is_declared_and_installed():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"graphc": "graphc.cli:main"}
    script = shutil.which("graphc", path=str(Path(sys.executable).parent))
    assert script, "the graphc console script is not installed: run `make install` (pip install -e .)"
    result = _run(["info"], {}, command=(script,))
    assert result.returncode == 0 and result.stdout.startswith(f"graphc {gc.__version__}"), result.stderr


def test_usage_errors_exit_nonzero_with_argparse_usage(capsys):
    for argv in (["viz"], [], ["draw"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
        assert capsys.readouterr().err.startswith("usage: graphc")
