"""GRAPHC_* environment variables: each declared once (graphc.ir.environment) and read only through it;
junk in any of them never breaks ``import graphc`` or a compiled call: it costs one warning line naming
the variable, the value, what is accepted and the default used. Valid values take effect."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.ir import environment

ROOT = Path(__file__).resolve().parents[2]
PATH_VARIABLES = ("GRAPHC_CACHE_DIR", "GRAPHC_DUMP_DIR")  # any text names a path: no junk to reject
CHECKED = [name for name in environment.VARIABLES if name not in PATH_VARIABLES]
READ_BY_GRAPHC = [name for name in CHECKED if name != "GRAPHC_FUZZ_EXAMPLES"]  # that one only by the tests

# junk that no checked variable accepts; bytes are not valid UTF-8 (the environment may hold anything)
JUNK = [
    "maybe", "  maybe  ", "ünïcødé", "∞", "٣", "99999999999999999999", "-1", "1.5", "nan", "0x10", "1e3", "+2",
    "true,false", "yes please", "x" * 5000, b"\xff\xfe",
]
FAST_JUNK = ["maybe", "ünïcødé", "99999999999999999999", b"\xff\xfe"]
BLANK = ["", "   ", "\t\n"]
CLAMPED = {("GRAPHC_NUM_THREADS", "99999999999999999999")}

# name, text, value in effect
VALID = [
    ("GRAPHC_RUN_EAGERLY", "1", True), ("GRAPHC_RUN_EAGERLY", " TRUE ", True), ("GRAPHC_RUN_EAGERLY", "off", False),
    ("GRAPHC_BACKEND", "numpy", "numpy"), ("GRAPHC_BACKEND", "LLVM", "llvm"),
    ("GRAPHC_CHECK", "yes", True), ("GRAPHC_CHECK_NUMERICS", "On", True), ("GRAPHC_CHECK_NUMERICS", "0", False),
    ("GRAPHC_LOG", "trace", frozenset({"trace"})), ("GRAPHC_LOG", "passes, cache,", frozenset({"passes", "cache"})),
    ("GRAPHC_NUM_THREADS", "1", 1), ("GRAPHC_NUM_THREADS", "003", 3),
    ("GRAPHC_CACHE", "no", False), ("GRAPHC_CACHE", "1", True),
    ("GRAPHC_CACHE_DIR", "/tmp/graphc cache", "/tmp/graphc cache"),
    ("GRAPHC_CACHE_DIR", "~/c", os.path.expanduser("~/c")),
    ("GRAPHC_DUMP_DIR", "dump", "dump"), ("GRAPHC_DUMP_DIR", "ünï", "ünï"),
    ("GRAPHC_FUZZ_EXAMPLES", "20000", 20000),
]


def _text(junk) -> str:
    """The junk as os.environ shows it (undecodable bytes as surrogate escapes)."""
    return os.fsdecode(junk) if isinstance(junk, bytes) else junk


@pytest.fixture
def fresh(monkeypatch, caplog):
    """Forgets the texts parsed so far (each warns once per process) and captures the warnings."""
    monkeypatch.setattr(environment, "_outcomes", {})
    caplog.set_level(logging.WARNING, logger="graphc.environment")
    return caplog


# -- in this process: every variable, every value ---------------------------------------------------
@pytest.mark.parametrize("junk", JUNK, ids=repr)
@pytest.mark.parametrize("name", CHECKED)
def test_junk_warns_once_in_one_line_and_the_default_applies(name, junk, fresh, monkeypatch):
    text = _text(junk)
    monkeypatch.setenv(name, text)
    variable = environment.VARIABLES[name]
    values = [environment.value(name) for _ in range(3)]
    assert len(set(map(repr, values))) == 1, "parsed differently on each read"
    (record,) = fresh.records
    line = record.getMessage()
    assert "\n" not in line and len(line) < 400
    assert line.startswith(f"graphc: ") and name in line and repr(text)[:20] in line
    assert variable.accepted in line
    if (name, junk) in CLAMPED:
        assert values[0] == environment.max_threads() and f"using {values[0]}" in line
    else:
        assert values[0] == variable.default() and f"using the default, {environment.shown(values[0])}" in line


@pytest.mark.parametrize("blank", BLANK, ids=repr)
@pytest.mark.parametrize("name", list(environment.VARIABLES))
def test_unset_empty_and_blank_mean_the_default_silently(name, blank, fresh, monkeypatch):
    monkeypatch.setenv(name, blank)
    assert repr(environment.value(name)) == repr(environment.VARIABLES[name].default())
    monkeypatch.delenv(name)
    assert repr(environment.value(name)) == repr(environment.VARIABLES[name].default())
    assert not fresh.records


@pytest.mark.parametrize("name,text,expected", VALID, ids=[f"{n}={t!r}" for n, t, _ in VALID])
def test_valid_values_are_honoured_silently(name, text, expected, fresh, monkeypatch):
    monkeypatch.setenv(name, text)
    assert environment.value(name) == expected
    assert environment.setting(name).startswith(f"{name}={environment.shown(expected)}")
    assert not fresh.records


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(list(environment.VARIABLES)),
       text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30))
def test_any_text_gives_a_value_of_the_declared_kind_and_at_most_one_line(name, text):
    """Whatever the text: no exception, a value the parser could give (or the default), at most one warning."""
    variable = environment.VARIABLES[name]
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    environment.log.addHandler(handler)
    saved = os.environ.get(name)
    try:
        os.environ[name] = text
        environment._outcomes.pop((name, text), None)
        first, second = environment.value(name), environment.value(name)
    finally:
        environment.log.removeHandler(handler)
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved
    assert repr(first) == repr(second) and len(records) <= 1
    assert all("\n" not in r.getMessage() for r in records)
    default = variable.default()
    assert type(first) is type(default) or default is None
    if records and name != "GRAPHC_NUM_THREADS":
        assert repr(first) == repr(default)


def test_thread_counts_above_the_limit_are_clamped_to_it(fresh, monkeypatch):
    limit = environment.max_threads()
    for text, expected in ((str(limit), limit), (str(limit + 1), limit), ("9" * 400, limit)):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", text)
        assert environment.value("GRAPHC_NUM_THREADS") == expected
    assert len(fresh.records) == 2 and all("threads per core" in r.getMessage() for r in fresh.records)


def test_the_default_cache_dir_follows_xdg_cache_home(fresh, monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert environment.value("GRAPHC_CACHE_DIR") == str(tmp_path / "graphc")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert environment.value("GRAPHC_CACHE_DIR") == os.path.join(os.path.expanduser("~"), ".cache", "graphc")


def test_a_rejected_value_is_named_in_the_setting(fresh, monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "gpu")
    assert environment.setting("GRAPHC_BACKEND") == "GRAPHC_BACKEND=llvm (the default: 'gpu' is not accepted)"
    monkeypatch.delenv("GRAPHC_BACKEND")
    assert environment.setting("GRAPHC_BACKEND") == "GRAPHC_BACKEND=llvm (default)"


# -- declared once ----------------------------------------------------------------------------------------
def _sources():
    for folder in ("graphc", "ir", "backends", "tests", "bench"):
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "Makefile"


def test_every_variable_the_code_names_is_declared():
    named = {m for path in _sources() for m in re.findall(r"\bGRAPHC_[A-Z_]*[A-Z]\b", path.read_text())}
    assert named - set(environment.VARIABLES) == set()


def test_only_the_environment_module_reads_graphc_variables():
    direct = re.compile(r"(environ|getenv)\W+[\w.]*\W*[\"']GRAPHC_")
    readers = [
        str(path.relative_to(ROOT)) for folder in ("graphc", "ir", "backends") for path in (ROOT / folder).rglob("*.py")
        if direct.search(path.read_text()) and path.name != "environment.py"
    ]
    assert readers == []


# -- fresh interpreters: import graphc and a compiled call -------------------------------------------------
CHILD = """
    import numpy as np
    import graphc as gc
    from graphc.backends.llvm import runtime

    x = np.ones(1 << 17, np.float32)  # large enough to run on the worker threads
    y = gc.function(lambda v: v * 2.0 + 1.0)(x).numpy()
    assert (y == 3.0).all()
    a = np.ones((4, 32), np.float32)  # a product deep enough for gemm: the BLAS (GRAPHC_BLAS) is chosen then
    assert (gc.function(lambda a: a @ gc.transpose(a))(a).numpy() == 32.0).all()
    print(gc.config.get_backend(), gc.config.functions_run_eagerly(), gc.config.check_mode(),
          gc.config.check_numerics_enabled(), sorted(gc.config.log_topics()), runtime.num_threads())
"""


def _child(tmp_path: Path, values: dict) -> subprocess.CompletedProcess:
    env = {k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith("GRAPHC_")}
    env[b"GRAPHC_CACHE_DIR"] = str(tmp_path / "cache").encode()
    env.update({k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in values.items()})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, errors="backslashreplace")


def _check_junk_run(result: subprocess.CompletedProcess, junk) -> None:
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for name in READ_BY_GRAPHC:
        (line,) = [line for line in lines if f" {name}=" in line]
        assert line.startswith("graphc: ") and "using" in line
    assert len(lines) == len(READ_BY_GRAPHC), result.stderr
    threads = environment.max_threads() if junk == "99999999999999999999" else environment.cores()
    assert result.stdout.split() == ["llvm", "False", "False", "False", "[]", str(threads)]


def _junk_runs(tmp_path: Path, junks: list) -> None:
    """Every checked variable set to one junk value at once, one fresh interpreter per junk value."""
    with ThreadPoolExecutor(max_workers=len(junks)) as pool:
        results = list(pool.map(lambda junk: _child(tmp_path, dict.fromkeys(READ_BY_GRAPHC, junk)), junks))
    for junk, result in zip(junks, results):
        _check_junk_run(result, junk)


def test_junk_in_every_variable_costs_one_line_each_never_a_traceback(tmp_path):
    _junk_runs(tmp_path, FAST_JUNK)


@pytest.mark.slow
def test_junk_in_every_variable_costs_one_line_each_every_junk(tmp_path):
    _junk_runs(tmp_path, JUNK)


def test_valid_values_take_effect_at_import(tmp_path):
    values = {"GRAPHC_BACKEND": "numpy", "GRAPHC_RUN_EAGERLY": "yes", "GRAPHC_CHECK": "1", "GRAPHC_CHECK_NUMERICS": "on",
              "GRAPHC_LOG": "dump", "GRAPHC_NUM_THREADS": "3", "GRAPHC_CACHE": "off"}
    result = _child(tmp_path, values)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split() == ["numpy", "True", "True", "True", "['dump']", "3"]


def test_graphc_info_lists_every_variable_with_its_value_and_doc(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHC_")}
    env |= {"GRAPHC_CACHE_DIR": str(tmp_path), "GRAPHC_NUM_THREADS": "2", "GRAPHC_BACKEND": "gpu"}
    result = subprocess.run([sys.executable, "-m", "graphc", "info"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "graphc: ignoring GRAPHC_BACKEND='gpu': expected llvm or numpy; using the default, llvm"
    ]
    out = result.stdout
    for name, variable in environment.VARIABLES.items():
        assert f"\n  {name}=" in out and variable.doc.split()[0] in out
    assert "\n  GRAPHC_NUM_THREADS=2\n" in out and "\n  GRAPHC_RUN_EAGERLY=off (default)\n" in out
    assert f"\n  GRAPHC_CACHE_DIR={tmp_path}\n" in out
    assert "\n  GRAPHC_BACKEND=llvm (the default: 'gpu' is not accepted)\n" in out
