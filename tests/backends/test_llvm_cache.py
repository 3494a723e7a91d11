"""The persistent compile cache of the LLVM backend: where it lives, what its keys cover, that a warm
cache spares a fresh process the compilation, that writes are atomic, and that damaged entries are
detected, reported and rebuilt."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

CHILD = textwrap.dedent(
    """
    import numpy as np
    import graphc as gc

    @gc.function
    def gelu_mix(x, y):
        return gc.nn.gelu(x) * y + gc.reduce_max(x, axis=-1, keepdims=True)

    @gc.function(input_signature=[gc.TensorSpec([None, 3], "float64")])
    def rows(x):
        return gc.reduce_sum(gc.exp(x), axis=1)

    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    print(gelu_mix(x, x + 1).numpy().tolist())
    print(rows(np.arange(6.0).reshape(2, 3)).numpy().tolist())
    print("graphc_entry" in gelu_mix.get_concrete_function(x, x).llvm_ir())
    """
)
GRAPHS_IN_CHILD = 2


def run_child(tmp_path, cache_dir, **env) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    environment = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir), "GRAPHC_LOG": "cache,passes", **env}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    return result


def llvm_stages(log: str) -> set[str]:
    """The compile stages GRAPHC_LOG=passes reported (stage "llvm")."""
    return {line.split()[3] for line in log.splitlines() if line.startswith("graphc graphc.passes: llvm ")}


def entries(directory) -> list[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A cache directory filled by one process, and that process's output."""
    tmp = tmp_path_factory.mktemp("warm")
    cold = run_child(tmp, tmp / "cache")
    return tmp / "cache", cold


def test_a_second_process_loads_instead_of_compiling(warm, tmp_path):
    directory, cold = warm
    assert cold.stderr.count("graphc graphc.cache: miss") == GRAPHS_IN_CHILD
    assert cold.stderr.count("graphc graphc.cache: stored") == GRAPHS_IN_CHILD
    assert {"codegen", "llvm_optimize", "llvm_emit", "load"} <= llvm_stages(cold.stderr)
    assert len(entries(directory)) == GRAPHS_IN_CHILD and all(n.endswith(".o") for n in entries(directory))

    hot = run_child(tmp_path, directory)
    assert hot.stdout == cold.stdout and hot.stdout.endswith("True\n")
    assert hot.stderr.count("graphc graphc.cache: hit") == GRAPHS_IN_CHILD
    assert "miss" not in hot.stderr and "stored" not in hot.stderr
    stages = llvm_stages(hot.stderr)
    assert {"layout", "load"} <= stages and not stages & {"codegen", "llvm_optimize", "llvm_emit"}


CORRUPTIONS = [
    ("truncated", lambda data: data[: len(data) // 2]),
    ("empty", lambda data: b""),
    ("flipped-byte", lambda data: data[:100] + bytes([data[100] ^ 0x40]) + data[101:]),
    ("wrong-magic", lambda data: b"X" + data[1:]),
    ("appended", lambda data: data + b"\0"),
]


def test_a_truncated_entry_is_reported_ignored_and_rebuilt_by_the_next_process(tmp_path):
    directory = tmp_path / "cache"
    cold = run_child(tmp_path, directory)  # its own: other processes' entries may have other keys
    whole = {name: (directory / name).read_bytes() for name in entries(directory)}
    for name, data in whole.items():
        (directory / name).write_bytes(data[: len(data) // 2])
    rerun = run_child(tmp_path, directory, GRAPHC_LOG="")  # reported even when no log topic is on
    assert rerun.stdout == cold.stdout
    assert rerun.stderr.count("ignoring the corrupt or truncated cache entry") == GRAPHS_IN_CHILD
    assert {name: (directory / name).read_bytes() for name in entries(directory)} == whole


@pytest.mark.parametrize("name,corrupt", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_damaged_entries_are_reported_ignored_and_rebuilt(name, corrupt, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    fn = lambda v: gc.tanh(v) * 3.0 - v  # noqa: E731  (one graph, compiled twice)
    want = gc.function(fn)(x).numpy()
    (entry,) = entries(tmp_path)
    whole = (tmp_path / entry).read_bytes()
    (tmp_path / entry).write_bytes(corrupt(whole))
    assert cache.load(entry[: -len(".o")]) is None
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        np.testing.assert_array_equal(gc.function(fn)(x).numpy(), want)
    assert "ignoring the corrupt or truncated cache entry" in caplog.text
    assert (tmp_path / entry).read_bytes() == whole, "rebuilt"


# -- in this process -------------------------------------------------------------------------------------
def _compile(fn, *args):
    f = gc.function(fn)
    f(*args)
    return f.get_concrete_function(*args)


def test_cache_dir_is_honoured_and_writes_leave_no_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "here"))
    cf = _compile(lambda x: gc.sqrt(gc.abs(x)) + 1.0, np.ones(5, np.float32))
    assert entries(tmp_path / "here") == [cache.cache_key(cf.graphs["fused"]) + ".o"]
    assert cache.size() == (1, os.path.getsize(tmp_path / "here" / entries(tmp_path / "here")[0]))


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == os.path.join(str(tmp_path), "graphc")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "graphc")


@pytest.mark.parametrize("off", ["0", "off", "false"])
def test_graphc_cache_0_turns_the_cache_off(off, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "unused"))
    monkeypatch.setenv("GRAPHC_CACHE", off)
    cf = _compile(lambda x: x * 3.0 - 1.0, np.ones(5, np.float32))
    np.testing.assert_array_equal(cf(np.ones(5, np.float32)).numpy(), np.full(5, 2.0, np.float32))
    assert not os.path.exists(tmp_path / "unused")
    stages = {s.name for s in cf.pass_stats if s.stage == "llvm"}
    assert "codegen" in stages and not stages & {"cache_key", "cache_load"}


def test_a_failed_write_is_reported_and_leaves_nothing_behind(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache.os, "replace", failing_replace)
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        cf = _compile(lambda x: x * 5.0, np.ones(3, np.float32))
    np.testing.assert_array_equal(cf(np.ones(3, np.float32)).numpy(), np.full(3, 5.0, np.float32))
    assert "cannot write the compile cache" in caplog.text and "disk full" in caplog.text
    assert entries(tmp_path) == []


def test_an_unusable_cache_dir_only_costs_the_cache(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        cf = _compile(lambda x: x - 5.0, np.ones(3, np.float32))
    np.testing.assert_array_equal(cf(np.ones(3, np.float32)).numpy(), np.full(3, -4.0, np.float32))
    assert "cannot write the compile cache" in caplog.text


# Pairs of functions whose compiled code differs, so their keys must too.
X32 = np.linspace(0.5, 2, 6, dtype=np.float32).reshape(2, 3)
DIFFERENT = [
    # name, function a, function b, arguments of both
    ("op-inside-a-kernel", lambda x: gc.exp(x) * 2.0 + 1.0, lambda x: gc.log(x) * 2.0 + 1.0, [X32]),
    ("constant-inside-a-kernel", lambda x: gc.exp(x) * 2.0 + 1.0, lambda x: gc.exp(x) * 2.0 + 1.5, [X32]),
    ("axis-inside-a-kernel", lambda x: x - gc.reduce_max(x, axis=0, keepdims=True),
     lambda x: x - gc.reduce_max(x, axis=1, keepdims=True), [X32]),
    ("large-constant", lambda x: x + np.arange(6, dtype=np.float32).reshape(2, 3),
     lambda x: x + np.arange(1, 7, dtype=np.float32).reshape(2, 3), [X32]),
]


@pytest.mark.parametrize("name,a,b,args", DIFFERENT, ids=[d[0] for d in DIFFERENT])
def test_keys_differ_whenever_the_code_would(name, a, b, args):
    graph_a, graph_b = (_compile(f, *args).graphs["fused"] for f in (a, b))
    if name.endswith("inside-a-kernel"):  # only a kernel body tells them apart
        top_level = [[(n.op, n.attrs.get("kernel")) for n in g.nodes] for g in (graph_a, graph_b)]
        assert top_level[0] == top_level[1]
    assert cache.cache_key(graph_a) != cache.cache_key(graph_b)


def test_keys_cover_types_variables_and_the_code_generator(monkeypatch):
    def f(x):
        return x * 2.0

    key = cache.cache_key(_compile(f, X32).graphs["fused"])
    assert key == cache.cache_key(_compile(f, X32).graphs["fused"]), "the same graph: the same key"
    assert key != cache.cache_key(_compile(f, X32.astype(np.float64)).graphs["fused"])
    assert key != cache.cache_key(_compile(f, X32[:1]).graphs["fused"])

    v32, v64 = gc.Variable(np.ones(3, np.float32), name="v"), gc.Variable(np.ones(3, np.float64), name="v")
    with_v32 = _compile(lambda: v32.assign(v32 * 2.0)).graphs["fused"]
    with_v64 = _compile(lambda: v64.assign(v64 * 2.0)).graphs["fused"]
    assert cache.cache_key(with_v32) != cache.cache_key(with_v64)

    monkeypatch.setattr(cache, "generator_fingerprint", lambda: "another code generator")
    assert cache.cache_key(_compile(f, X32).graphs["fused"]) != key
