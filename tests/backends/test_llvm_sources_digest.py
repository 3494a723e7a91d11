"""The digest of the code generator's source in cache keys (``cache.sources_digest``): a digest of the
files' names and contents, cached under their identities (size, inode, modification and change
times) so a warm process reads no source file; any edit, even one that keeps the size and the
modification time, is seen, and a bad memo entry is reported and recomputed."""
from __future__ import annotations

import hashlib
import logging
import os

import pytest

from graphc.backends.llvm import cache

REJECTED = "ignoring the cache entry"


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """Two source trees (with a ``__pycache__`` to skip) and an empty cache directory."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_refused", set())
    for top, files in (("a", {"x.py": b"x = 1\n", "sub/y.py": b"y = 2\n", "notes.txt": b"not source"}),
                       ("b", {"z.py": b"z = 3\n", "__pycache__/z.cpython-311.py": b"compiled"})):
        for name, data in files.items():
            (tmp_path / top / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / top / name).write_bytes(data)
    return [str(tmp_path / "a"), str(tmp_path / "b")]


def reference(tops) -> str:
    """The digest as its definition says, computed here from the files."""
    h = hashlib.sha256()
    for top, names in zip(tops, (["x.py", "sub/y.py"], ["z.py"])):
        for name in names:
            with open(os.path.join(top, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def memo_entries(tmp_path) -> list:
    return sorted((tmp_path / "cache").glob("*.sources"))


def test_the_digest_covers_names_and_contents_and_is_remembered(sources, tmp_path, monkeypatch):
    digest = cache.sources_digest(sources)
    assert digest == reference(sources)
    [entry] = memo_entries(tmp_path)
    assert cache.decode(entry.name.removesuffix(".sources"), entry.read_bytes(), cache.SOURCES) == digest.encode()

    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    assert cache.sources_digest(sources) == digest
    assert not [p for p in opened if str(p).endswith(".py")], "no source file read"


def test_an_edit_keeping_size_and_modification_time_is_seen(sources, tmp_path):
    before = cache.sources_digest(sources)
    path = os.path.join(sources[0], "sub", "y.py")
    info = os.stat(path)
    with open(path, "wb") as f:
        f.write(b"y = 7\n")  # the same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # and the same modification time
    after = cache.sources_digest(sources)
    assert after != before and after == reference(sources)
    assert len(memo_entries(tmp_path)) == 2


@pytest.mark.parametrize("change", ["add", "remove", "rename"])
def test_adding_removing_or_renaming_a_file_changes_the_digest(change, sources):
    before = cache.sources_digest(sources)
    x = os.path.join(sources[0], "x.py")
    if change == "add":
        open(os.path.join(sources[1], "new.py"), "w").close()
    elif change == "remove":
        os.remove(x)
    else:
        os.rename(x, os.path.join(sources[0], "w.py"))
    assert cache.sources_digest(sources) != before


def forged(key: str, payload: bytes) -> bytes:
    return cache.encode(key, payload, cache.SOURCES)


BAD_MEMOS = [
    # name, bytes at the memo's path (from its key and entry), reason reported
    ("truncated", lambda key, whole: whole[:len(whole) // 2], "truncated"),
    ("bit-flipped", lambda key, whole: whole[:-40] + bytes([whole[-40] ^ 1]) + whole[-39:], "checksum"),
    ("not-a-digest", lambda key, whole: forged(key, b"not a digest"), "no SHA-256 digest"),
    ("upper-case-digest", lambda key, whole: forged(key, b"AB" * 32), "no SHA-256 digest"),
    ("a-graph-entry", lambda key, whole: cache.encode(key, b"graph g()", cache.GRAPH), "not a graphc cache entry"),
]


@pytest.mark.parametrize("name,damage,reason", BAD_MEMOS, ids=[b[0] for b in BAD_MEMOS])
def test_a_bad_memo_is_reported_and_recomputed(name, damage, reason, sources, tmp_path, caplog):
    digest = cache.sources_digest(sources)
    [entry] = memo_entries(tmp_path)
    whole = entry.read_bytes()
    entry.write_bytes(damage(entry.name.removesuffix(".sources"), whole))
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        assert cache.sources_digest(sources) == digest
    assert REJECTED in caplog.text and reason in caplog.text, caplog.text
    assert entry.read_bytes() == whole, "rewritten"


def test_without_a_cache_the_digest_is_computed_and_nothing_is_written(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    assert cache.sources_digest(sources) == reference(sources)
    assert not (tmp_path / "cache").exists()
