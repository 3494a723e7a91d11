"""Converted code kept in the compile cache (``autograph.code_cache``): a process loads a function's
converted code instead of converting it again, with the same code and results; a damaged, foreign or
forged entry is reported and the function is converted again; the key changes with what the code
depends on."""
from __future__ import annotations

import importlib.util
import logging
import marshal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.autograph import code_cache, conversion, source
from graphc.backends.llvm import cache

REJECTED = "ignoring the cache entry"
X = np.linspace(-1, 2, 5, dtype=np.float32)
SCALE = 2.0


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_refused", set())
    return tmp_path / "cache"


def clipped(x):
    if gc.reduce_sum(x) > 0:
        y = x * SCALE
    else:
        y = -x
    return y


def counted(x):
    for _ in range(3):
        x = x + 1.0
    return x


def convert_anew(fn):
    """``fn`` converted as a new process would (the memo of converted functions cleared)."""
    conversion._converted.pop(fn, None)
    return conversion.convert(fn)


def results(fn):
    return [gc.function(fn)(x).numpy() for x in (X, -X)]


def reference():
    return [X * SCALE, X]  # sum(X) > 0; sum(-X) < 0, so -(-X)


def entry_of(directory):
    [entry] = sorted(directory.glob("*.autograph"))
    return entry


def test_converted_code_is_stored_and_loaded_instead_of_converted_again(fresh, monkeypatch):
    first = convert_anew(clipped)
    assert first is not clipped
    entry = entry_of(fresh)
    monkeypatch.setattr(conversion, "transform", lambda *a: pytest.fail("converted again"))
    loaded = convert_anew(clipped)
    assert loaded.__code__.co_code == first.__code__.co_code and loaded.__code__ is not first.__code__
    assert entry_of(fresh) == entry
    for got, expected in zip(results(clipped), reference()):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_without_a_cache_nothing_is_stored(fresh, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    assert convert_anew(clipped) is not clipped
    assert not fresh.exists() or not list(fresh.glob("*.autograph"))


def forged(payload):
    return lambda key, whole: cache.encode(key, payload, cache.CONVERTED)


def other_code():
    return marshal.dumps(convert_anew(counted).__code__)


BAD_ENTRIES = [
    # name, the bytes put at the entry's path (from its key and entry), reason reported
    ("truncated", lambda key, whole: whole[:len(whole) // 2], "truncated"),
    ("bit-flipped", lambda key, whole: whole[:-40] + bytes([whole[-40] ^ 1]) + whole[-39:], "checksum"),
    ("previous-version", lambda key, whole: b"GRAPHC-AUTOGRAPH-0\n" + whole[len(cache.CONVERTED.magic):],
     "not a graphc cache entry"),
    ("another-key", lambda key, whole: cache.encode("0" * 64, b"x", cache.CONVERTED), "the entry of another key"),
    ("no-code", forged(b"\xff not marshal data"), "it holds no code"),
    ("a-number", forged(marshal.dumps(42)), "the code of another function"),
    ("another-function", lambda key, whole: forged(other_code())(key, whole), "the code of another function"),
]


@pytest.mark.parametrize("name,damage,reason", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_a_bad_entry_is_reported_and_the_function_converted_again(name, damage, reason, fresh, caplog):
    convert_anew(clipped)
    entry = entry_of(fresh)
    whole = entry.read_bytes()
    entry.write_bytes(damage(entry.name.removesuffix(".autograph"), whole))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        conversion._converted.pop(clipped, None)
        got = results(clipped)
    for g, expected in zip(got, reference()):
        np.testing.assert_allclose(g, expected, rtol=1e-6)
    assert REJECTED in caplog.text and reason in caplog.text and entry.name in caplog.text, caplog.text
    assert entry.read_bytes() == whole, "converted again and stored"


def key_of(fn) -> str:
    node, _ = source.function_def(fn)
    node.decorator_list = []
    return code_cache.ConvertedCode(fn, node).key


def module_from(path, text: str):
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BODY = textwrap.dedent(
    """
    def f(x):
        while x > 0:
            x = x - 1
        return x
    """
)


def test_the_key_covers_the_def_its_lines_its_file_and_autograph(fresh, tmp_path, monkeypatch):
    def key_in(name, text):  # (taken at once: the file is read again once rewritten)
        return key_of(module_from(tmp_path / name, text).f)

    key = key_in("a.py", BODY)
    assert key_in("a.py", BODY) == key, "the same def in the same file: one entry"
    assert key_in("b.py", BODY) != key, "another file"
    assert key_in("a.py", "\n" + BODY) != key, "another line"
    assert key_in("a.py", BODY.replace("- 1", "- 10")) != key, "another def"
    monkeypatch.setattr(code_cache, "source_digest", lambda: "another autograph")
    assert key_in("a.py", BODY) != key, "another autograph"


CHILD = textwrap.dedent(
    """
    import numpy as np
    import graphc as gc

    @gc.function
    def steps(x, n):
        total = gc.zeros_like(x)
        for i in range(n):
            if gc.reduce_sum(total) < 100.0:
                total = total + x * float(i)
        return total

    print(steps(np.arange(3, dtype=np.float32), 5).numpy().tolist())
    """
)


def test_a_second_process_loads_the_converted_code(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**__import__("os").environ, "GRAPHC_CACHE_DIR": str(tmp_path / "cache"), "GRAPHC_LOG": "cache"}
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr + runs[1].stderr
    x = np.arange(3, dtype=np.float32)
    assert runs[0].stdout == runs[1].stdout == f"{(x * 10).tolist()}\n"  # 0+1+2+3+4, the sum stays below 100
    assert "autograph miss" in runs[0].stderr and "autograph stored" in runs[0].stderr
    assert "autograph hit" in runs[1].stderr and "autograph miss" not in runs[1].stderr
