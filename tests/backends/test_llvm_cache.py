"""The persistent compile cache of the LLVM backend: where it lives, what its keys cover, that a warm
cache spares a fresh process the compilation, and that it trusts nothing it reads back. Whatever sits
at an entry's path (a damaged, foreign or malformed entry, a FIFO, a symbolic link, a directory) is
reported, never waited on, and rebuilt with correct results; a cache directory other users could
write to is refused; concurrent and killed writers never leave half an entry."""
from __future__ import annotations

import logging
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache, elf, target

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
REJECTED = "ignoring the cache entry"
REFUSED = "not using the compile cache"


def child_environment(cache_dir, **env) -> dict:
    return {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir), "GRAPHC_LOG": "cache,passes", **env}


def run_child(tmp_path, cache_dir, **env) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env=child_environment(cache_dir, **env))
    assert result.returncode == 0, result.stderr
    return result


def llvm_stages(log: str) -> set[str]:
    """The compile stages GRAPHC_LOG=passes reported (stage "llvm")."""
    return {line.split()[3] for line in log.splitlines() if line.startswith("graphc graphc.passes: llvm ")}


def entries(directory, suffix: str = "") -> list[str]:
    """The names in ``directory`` ending with ``suffix`` (``.o`` for object code, ``.layout`` for its buffer
    layout, ``.graph`` for fused graphs, ``.autograph`` for converted code, ``.sources`` for source digests)."""
    return sorted(n for n in os.listdir(directory) if n.endswith(suffix)) if os.path.isdir(directory) else []


def contents(directory) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in entries(directory)}


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
    assert {"codegen", "llvm_compile", "load"} <= llvm_stages(cold.stderr)
    assert len(entries(directory, ".o")) == len(entries(directory, ".graph")) == len(entries(directory, ".layout")) == GRAPHS_IN_CHILD
    assert len(entries(directory, ".autograph")) == GRAPHS_IN_CHILD, "the functions' converted code"
    assert len(entries(directory, ".sources")) == 2, "the digests of the code generator's and autograph's source"
    assert len(entries(directory)) == 4 * GRAPHS_IN_CHILD + 2

    hot = run_child(tmp_path, directory)
    assert hot.stdout == cold.stdout and hot.stdout.endswith("True\n")
    assert hot.stderr.count("graphc graphc.cache: hit") == GRAPHS_IN_CHILD
    # (this script is at another path: its functions' converted code, keyed by their file, is converted anew)
    compiled = "\n".join(line for line in hot.stderr.splitlines() if "cache: autograph " not in line)
    assert "miss" not in compiled and "stored" not in compiled
    stages = llvm_stages(hot.stderr)
    assert {"layout", "load"} <= stages and not stages & {"codegen", "llvm_compile"}
    assert hot.stderr.count("graphc graphc.cache: graph hit") == GRAPHS_IN_CHILD
    assert "graphc graphc.passes: optimize" not in hot.stderr, "the fused graphs were loaded, not rebuilt"


def test_a_truncated_entry_is_reported_ignored_and_rebuilt_by_the_next_process(tmp_path):
    directory = tmp_path / "cache"
    cold = run_child(tmp_path, directory)  # its own: other processes' entries may have other keys
    whole = contents(directory)
    for name, data in whole.items():
        (directory / name).write_bytes(data[: len(data) // 2])
    rerun = run_child(tmp_path, directory, GRAPHC_LOG="")  # reported even when no log topic is on
    assert rerun.stdout == cold.stdout
    # object code, fused graph and converted code (the layout is rebuilt with the object code, and
    # overwritten unread), and the digests of the code generator's and autograph's source
    assert rerun.stderr.count(REJECTED) == 3 * GRAPHS_IN_CHILD + 2
    assert contents(directory) == whole


# A writer killed while it replaces damaged entries: readers still see the damaged entries (never half
# a new one), and the next process rebuilds them.
STOPPING_CHILD = textwrap.dedent(
    """
    import os, time

    def stop(*args, **kwargs):
        open(os.environ["STOPPED"], "w").close()
        time.sleep(600)

    if os.environ["STOP_AT"] == "rename":
        os.replace = stop
    else:
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, file):
                self.file = file

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                self.file.write(data[: len(data) // 2])
                self.file.flush()
                stop()

        os.fdopen = lambda fd, mode="r", *a, **k: HalfWriter(real_fdopen(fd, mode)) if mode == "wb" else real_fdopen(fd, mode, *a, **k)
    """
) + CHILD


@pytest.mark.parametrize("stop_at", ["write", "rename"])
def test_a_writer_killed_mid_write_leaves_the_old_entry_and_the_next_process_rebuilds_it(stop_at, tmp_path):
    directory = tmp_path / "cache"
    cold = run_child(tmp_path, directory)
    whole = contents(directory)
    damaged = {name: data[:100] for name, data in whole.items()}
    for name, data in damaged.items():
        (directory / name).write_bytes(data)
    script, stopped = tmp_path / "stopping.py", tmp_path / "stopped"
    script.write_text(STOPPING_CHILD)
    env = child_environment(directory, STOP_AT=stop_at, STOPPED=str(stopped))
    writer = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not stopped.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stopped.exists(), "the writer never reached the point where it is killed"
    finally:
        writer.kill()
        writer.wait()
    left = {name: data for name, data in contents(directory).items() if not name.startswith(".tmp-")}
    assert left == damaged, "readers never see part of a new entry"
    rerun = run_child(tmp_path, directory)
    # as in the test above
    assert rerun.stdout == cold.stdout and rerun.stderr.count(REJECTED) == 3 * GRAPHS_IN_CHILD + 2
    assert {name: data for name, data in contents(directory).items() if not name.startswith(".tmp-")} == whole


# -- in this process -------------------------------------------------------------------------------------
X = np.linspace(-3, 3, 7, dtype=np.float32)


def tanh_mix(v):
    return gc.tanh(v) * 3.0 - v


def exp_mix(v):
    return gc.exp(v) * 0.5 + v


REFERENCE = {tanh_mix: np.tanh(X) * 3.0 - X, exp_mix: np.exp(X) * 0.5 + X}


def run(fn) -> np.ndarray:
    """``fn`` at X through a new function (so it is compiled or loaded from the cache afresh)."""
    return gc.function(fn)(X).numpy()


def within_timeout(action, seconds: float = 60):
    """``action()``, failing (instead of hanging the suite) if it blocks for ``seconds``."""
    outcome = {}

    def target_():
        try:
            outcome["result"] = action()
        except BaseException as error:  # noqa: BLE001  (re-raised on the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target_, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def key_of(fn) -> str:
    return cache.cache_key(gc.function(fn).get_concrete_function(X).graphs["fused"])


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache directory for this test; refused directories are warned about afresh."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_refused", set())
    return tmp_path / "cache"


@pytest.fixture
def built(fresh):
    """{function: (entry path, entry bytes)} for tanh_mix and exp_mix, compiled into ``fresh``."""
    found = {}
    for fn in REFERENCE:
        np.testing.assert_allclose(run(fn), REFERENCE[fn], rtol=1e-6)
        path = fresh / cache.entry_name(key_of(fn))
        found[fn] = (path, path.read_bytes())
    return found


def assert_rebuilt(path, whole: bytes, caplog, reason: str) -> None:
    """Running tanh_mix reports the entry at ``path`` (naming ``reason``), gives the right results and
    leaves a regular file holding the rebuilt entry ``whole`` at ``path``."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        result = within_timeout(lambda: run(tanh_mix))
    np.testing.assert_allclose(result, REFERENCE[tanh_mix], rtol=1e-6)
    assert REJECTED in caplog.text and reason in caplog.text, caplog.text
    assert stat.S_ISREG(os.lstat(path).st_mode) and path.read_bytes() == whole, "rebuilt"
    assert not [n for n in os.listdir(path.parent) if n.startswith(".tmp-")]


HEADER = len(cache.MAGIC) + 64 + 1  # magic line, key and newline; then the length, the code, the checksum
CODE = HEADER + 8


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x10]) + data[offset + 1:]


def declaring(length: int):
    """An entry whose length field says ``length``, with a checksum that matches (only the length lies)."""
    import hashlib

    def change(data):
        body = data[:HEADER] + length.to_bytes(8, "little") + data[CODE:-32]
        return body + hashlib.sha256(body).digest()
    return change


DAMAGED_ENTRIES = [
    # name, damage, reason reported
    ("empty", lambda d: b"", "truncated"),
    ("cut-inside-the-magic", lambda d: d[:5], "truncated"),
    ("cut-after-the-magic", lambda d: d[:len(cache.MAGIC)], "truncated"),
    ("cut-inside-the-key", lambda d: d[:len(cache.MAGIC) + 30], "truncated"),
    ("cut-before-the-length", lambda d: d[:HEADER], "truncated"),
    ("cut-inside-the-length", lambda d: d[:HEADER + 3], "truncated"),
    ("cut-before-the-code", lambda d: d[:CODE], "truncated"),
    ("cut-inside-the-code", lambda d: d[:len(d) // 2], "truncated or extended"),
    ("cut-before-the-checksum", lambda d: d[:-32], "truncated or extended"),
    ("one-byte-short", lambda d: d[:-1], "truncated or extended"),
    ("one-byte-longer", lambda d: d + b"\0", "truncated or extended"),
    ("doubled", lambda d: d + d, "truncated or extended"),
    ("flipped-magic", lambda d: flip(d, 3), "not a graphc cache entry"),
    ("flipped-key", lambda d: flip(d, len(cache.MAGIC) + 7), "another key"),
    ("flipped-length", lambda d: flip(d, HEADER), "truncated or extended"),
    ("flipped-code", lambda d: flip(d, CODE + 200), "checksum"),
    ("flipped-checksum", lambda d: flip(d, len(d) - 1), "checksum"),
    ("huge-declared-length", declaring(2**64 - 1), "declaring 18446744073709551615 bytes"),
    ("previous-format", lambda d: b"GRAPHC-OBJECT-1\n" + d[CODE:-32] + bytes(32), "not a graphc cache entry"),
]


@pytest.mark.parametrize("name,damage,reason", DAMAGED_ENTRIES, ids=[d[0] for d in DAMAGED_ENTRIES])
def test_a_damaged_entry_is_reported_and_rebuilt(name, damage, reason, built, caplog):
    path, whole = built[tanh_mix]
    path.write_bytes(damage(whole))
    assert cache.load(path.stem) is None
    assert_rebuilt(path, whole, caplog, reason)


def test_every_truncation_and_bit_flip_of_an_entry_is_rejected(built):
    path, whole = built[tanh_mix]
    key = path.stem
    assert cache.decode(key, whole) == whole[CODE:-32]
    for length in range(len(whole)):
        with pytest.raises(ValueError):
            cache.decode(key, whole[:length])
    for offset in range(len(whole)):
        for bit in range(8):
            with pytest.raises(ValueError):
                cache.decode(key, whole[:offset] + bytes([whole[offset] ^ 1 << bit]) + whole[offset + 1:])


def test_an_entry_copied_from_another_function_is_not_run(built, caplog):
    path, whole = built[tanh_mix]
    path.write_bytes(built[exp_mix][1])
    assert_rebuilt(path, whole, caplog, "the entry of another key")


def unreadable(path, monkeypatch) -> None:
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any file: the refusal it would get is simulated
        real_open = os.open

        def refusing_open(name, flags, *args, **kwargs):
            if name == path.name:
                raise PermissionError(13, "Permission denied", name)
            return real_open(name, flags, *args, **kwargs)

        monkeypatch.setattr(cache.os, "open", refusing_open)


def symlink_to_a_directory(path, tmp_path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "kept").write_text("mine")
    path.symlink_to(tmp_path / "elsewhere")


def directory_with_files(path) -> None:
    path.mkdir()
    (path / "inside").mkdir()
    (path / "inside" / "file").write_bytes(b"x")


# name, what replaces the entry (path, the other function's entry, tmp_path, monkeypatch), reason reported
SPECIAL_FILES = [
    ("fifo", lambda p, other, tmp, mp: os.mkfifo(p), "not a regular file"),
    ("symlink-to-dev-zero", lambda p, other, tmp, mp: p.symlink_to("/dev/zero"), "a symbolic link"),
    ("symlink-to-another-entry", lambda p, other, tmp, mp: p.symlink_to(other), "a symbolic link"),
    ("symlink-to-a-fifo", lambda p, other, tmp, mp: (os.mkfifo(tmp / "pipe"), p.symlink_to(tmp / "pipe")),
     "a symbolic link"),
    ("dangling-symlink", lambda p, other, tmp, mp: p.symlink_to(tmp / "nowhere"), "a symbolic link"),
    ("symlink-to-a-directory", lambda p, other, tmp, mp: symlink_to_a_directory(p, tmp), "a symbolic link"),
    ("empty-directory", lambda p, other, tmp, mp: p.mkdir(), "not a regular file"),
    ("directory-with-files", lambda p, other, tmp, mp: directory_with_files(p), "not a regular file"),
    ("unreadable-file", lambda p, other, tmp, mp: (p.write_bytes(b"x"), unreadable(p, mp)), "Permission denied"),
    ("sparse-terabyte-file", lambda p, other, tmp, mp: (p.touch(), os.truncate(p, 1 << 40)),
     "more than an entry may hold"),
]


@pytest.mark.parametrize("name,replace,reason", SPECIAL_FILES, ids=[s[0] for s in SPECIAL_FILES])
def test_whatever_file_sits_at_an_entry_path_is_never_waited_on_and_is_replaced(
        name, replace, reason, built, tmp_path, monkeypatch, caplog):
    path, whole = built[tanh_mix]
    other, other_whole = built[exp_mix]
    path.unlink()
    replace(path, other, tmp_path, monkeypatch)
    assert within_timeout(lambda: cache.load(path.stem)) is None
    assert_rebuilt(path, whole, caplog, reason)
    assert other.read_bytes() == other_whole, "what a link pointed to is left alone"
    if name == "symlink-to-a-directory":
        assert (tmp_path / "elsewhere" / "kept").read_text() == "mine"


def test_size_counts_only_regular_entry_files(built, tmp_path):
    (tmp_path / "cache" / "dangling.o").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "cache" / "pipe.o")
    (tmp_path / "cache" / "dir.o").mkdir()
    (tmp_path / "cache" / ".tmp-left-by-a-killed-writer.o").write_bytes(b"x" * 10)
    beside = [(tmp_path / "cache" / name).stat().st_size for suffix in (".graph", ".layout", ".sources")
              for name in entries(tmp_path / "cache", suffix)]
    assert len(beside) >= 4, "a fused graph and a buffer layout beside each object (and the source digest)"
    assert within_timeout(cache.size) == (2 + len(beside), sum(len(whole) for _, whole in built.values()) + sum(beside))


# -- valid checksums around bad object code --------------------------------------------------------------
def put(path, object_code: bytes) -> None:
    """At ``path``, an entry for its key with a matching checksum around ``object_code``."""
    path.write_bytes(cache.encode(path.stem, object_code))


def set_field(offset: int, size: int, value: int):
    return lambda obj: obj[:offset] + value.to_bytes(size, "little") + obj[offset + size:]


E_SHOFF, E_SHNUM, E_SHSTRNDX = 40, 60, 62
BAD_OBJECTS = [
    # name, what becomes of the object code, reason reported
    ("empty", lambda obj: b"", "not a relocatable object file for this host"),
    ("random-bytes", lambda obj: random.Random(0).randbytes(len(obj)), "not a relocatable object file"),
    ("cut-inside-the-header", lambda obj: obj[:40], "ends inside a structure"),
    ("cut-after-the-header", lambda obj: obj[:64], "ends inside a structure"),
    ("cut-in-half", lambda obj: obj[: len(obj) // 2], "ends inside a structure"),
    ("cut-by-one-byte", lambda obj: obj[:-1], "ends inside a structure"),
    ("another-machine", set_field(18, 2, 183), "not a relocatable object file for this host"),
    ("an-executable", set_field(16, 2, 2), "not a relocatable object file for this host"),
    ("section-table-past-the-end", lambda obj: set_field(E_SHOFF, 8, len(obj))(obj), "ends inside a structure"),
    ("section-table-offset-overflowing", set_field(E_SHOFF, 8, 2**64 - 64), "ends inside a structure"),
    ("no-sections", set_field(E_SHNUM, 2, 0), "no valid section table"),
    ("too-many-sections", set_field(E_SHNUM, 2, 0xFFFF), "ends inside a structure"),
    ("section-names-not-a-string-table", set_field(E_SHSTRNDX, 2, 0), "is not a string table"),
    ("section-names-out-of-range", lambda obj: set_field(E_SHSTRNDX, 2, int.from_bytes(obj[E_SHNUM:E_SHNUM + 2], "little"))(obj),
     "no valid section table"),
]


@pytest.mark.parametrize("name,change,reason", BAD_OBJECTS, ids=[b[0] for b in BAD_OBJECTS])
def test_malformed_object_code_with_a_valid_checksum_is_rejected_before_llvm_sees_it(
        name, change, reason, built, caplog):
    path, whole = built[tanh_mix]
    put(path, change(whole[CODE:-32]))
    assert_rebuilt(path, whole, caplog, reason)


def damage_every_section(obj: bytes, field: int, size: int, value: int) -> bytes:
    """``obj`` with one field of every section header set to ``value``."""
    shoff, shnum = int.from_bytes(obj[E_SHOFF:E_SHOFF + 8], "little"), int.from_bytes(obj[E_SHNUM:E_SHNUM + 2], "little")
    for i in range(1, shnum):
        obj = set_field(shoff + 64 * i + field, size, value)(obj)
    return obj


SH_NAME, SH_FLAGS, SH_OFFSET, SH_SIZE, SH_LINK, SH_INFO, SH_ADDRALIGN, SH_ENTSIZE = 0, 8, 24, 32, 40, 44, 48, 56
BAD_SECTIONS = [
    ("alignments-not-powers-of-two", SH_ADDRALIGN, 8, 24, "an alignment or flags graphc never emits"),
    ("huge-alignments", SH_ADDRALIGN, 8, 1 << 40, "an alignment or flags graphc never emits"),
    ("thread-local", SH_FLAGS, 8, 0x406, "an alignment or flags graphc never emits"),
    ("nothing-allocated", SH_FLAGS, 8, 0, "unwind tables are not loaded"),
    ("names-past-their-table", SH_NAME, 4, 0xFFFFFF, "name lies outside"),
    ("contents-past-the-end", SH_OFFSET, 8, 2**63, "runs past the end"),
    ("sizes-past-the-end", SH_SIZE, 8, 2**40, "runs past the end"),
    ("links-to-no-section", SH_LINK, 4, 0xFFFF, "is not a "),
    ("entries-of-another-size", SH_ENTSIZE, 8, 7, "has entries of 7 bytes"),
]


@pytest.mark.parametrize("name,field,size,value,reason", BAD_SECTIONS, ids=[b[0] for b in BAD_SECTIONS])
def test_section_tables_pointing_anywhere_are_rejected(name, field, size, value, reason, built, caplog):
    path, whole = built[tanh_mix]
    put(path, damage_every_section(whole[CODE:-32], field, size, value))
    assert_rebuilt(path, whole, caplog, reason)


def every_symbol(obj: bytes, info: int) -> bytes:
    """``obj`` with the type and binding byte of every symbol set to ``info``."""
    shoff, shnum = int.from_bytes(obj[E_SHOFF:E_SHOFF + 8], "little"), int.from_bytes(obj[E_SHNUM:E_SHNUM + 2], "little")
    headers = [obj[shoff + 64 * i:shoff + 64 * (i + 1)] for i in range(shnum)]
    (symtab,) = [h for h in headers if int.from_bytes(h[4:8], "little") == elf.SHT_SYMTAB]
    offset, size = int.from_bytes(symtab[24:32], "little"), int.from_bytes(symtab[32:40], "little")
    for symbol in range(offset + 24, offset + size, 24):
        obj = set_field(symbol + 4, 1, info)(obj)
    return obj


@pytest.mark.parametrize("info", [0x10 | elf.STT_TLS, 0x10 | elf.STT_COMMON], ids=["thread-local", "common"])
def test_symbols_graphc_never_emits_are_rejected(info, built, caplog):
    path, whole = built[tanh_mix]
    put(path, every_symbol(whole[CODE:-32], info))
    assert_rebuilt(path, whole, caplog, "a common or thread-local symbol")


def test_object_code_without_the_entry_points_is_rejected_once_loaded(built, caplog):
    path, whole = built[tanh_mix]
    put(path, target.emit_object(target.optimize("")))  # well-formed, but defines nothing
    assert_rebuilt(path, whole, caplog, "defines no graphc_entry or graphc_call")


def test_every_truncation_of_an_object_file_is_rejected(built):
    obj = built[tanh_mix][1][CODE:-32]
    elf.check(obj)
    for length in range(len(obj)):
        with pytest.raises(ValueError):
            elf.check(obj[:length])


LOAD_EACH = textwrap.dedent(
    """
    import sys
    from graphc.backends.llvm import elf, loader, target
    from graphc.backends.llvm.blas import blas_symbols
    obj = open(sys.argv[1], "rb").read()
    for offset in range(int(sys.argv[2]), int(sys.argv[3])):
        for value in (0x00, 0xFF, obj[offset] ^ 0x01, obj[offset] ^ 0x80):
            mutated = obj[:offset] + bytes([value]) + obj[offset + 1:]
            try:
                elf.check(mutated)
            except ValueError:
                continue
            print(offset, value, flush=True)  # the last line names the change that crashed
            try:  # (a symbol defined nowhere is refused, never called: loader.Unresolved)
                target.LoadedCode([mutated], blas_symbols()).address("graphc_entry")
            except loader.Unresolved:
                pass
            if loader.applies():  # graphc's own loader too: it loads the object or refuses it
                try:
                    loader.LoadedObject(mutated, blas_symbols()).address("graphc_entry")
                except (loader.Unsupported, loader.Unresolved):
                    pass
    print("done")
    """
)


@pytest.mark.slow
def test_objects_that_pass_the_check_after_damage_to_their_headers_load_without_crashing(built, tmp_path):
    """Every one-byte change to the file header and to the section table either fails the check or
    leaves an object LLVM loads, and graphc's loader loads or refuses (symbols, relocations and code
    inside sections are beyond the check: the checksum guards them)."""
    obj = built[tanh_mix][1][CODE:-32]
    shoff = int.from_bytes(obj[E_SHOFF:E_SHOFF + 8], "little")
    (tmp_path / "object.o").write_bytes(obj)
    (tmp_path / "load_each.py").write_text(LOAD_EACH)
    for start, stop in ((0, 64), (shoff, len(obj))):
        command = [sys.executable, str(tmp_path / "load_each.py"), str(tmp_path / "object.o"), str(start), str(stop)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0 and result.stdout.endswith("done\n"), result.stdout[-200:] + result.stderr[-2000:]


# -- the directory -----------------------------------------------------------------------------------------
def writable_by(mode: int):
    def make(path, tmp_path):
        path.mkdir()
        path.chmod(mode)
    return make


def owned_by_nobody(path, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)


def symlink_to_a_shared_directory(path, tmp_path):
    writable_by(0o777)(tmp_path / "shared", tmp_path)
    path.symlink_to(tmp_path / "shared")


UNSAFE_DIRECTORIES = [
    # name, what is made at the cache directory's path (path, tmp_path), reason reported
    ("a-file", lambda path, tmp: path.write_bytes(b"not a directory"), "cannot be opened as a directory"),
    ("under-a-file", lambda path, tmp: None, "cannot be opened as a directory"),
    ("world-writable", writable_by(0o777), "group or others can write to it (mode drwxrwxrwx)"),
    ("world-writable-sticky", writable_by(0o1777), "group or others can write to it"),
    ("group-writable", writable_by(0o770), "group or others can write to it (mode drwxrwx---)"),
    ("owned-by-another-user", owned_by_nobody, "owned by uid 65534"),
    ("symlink-to-a-world-writable-directory", symlink_to_a_shared_directory, "group or others can write"),
]


@pytest.mark.parametrize("name,make,reason", UNSAFE_DIRECTORIES, ids=[u[0] for u in UNSAFE_DIRECTORIES])
def test_an_unsafe_cache_directory_is_refused_with_one_warning(name, make, reason, tmp_path, monkeypatch, caplog):
    directory = tmp_path / "cache"
    if name == "under-a-file":
        directory.write_bytes(b"not a directory")
        directory = directory / "cache"
    make(directory, tmp_path)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_refused", set())
    before = contents(directory) if directory.is_dir() else None
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        for fn in (tanh_mix, exp_mix, tanh_mix):
            np.testing.assert_allclose(run(fn), REFERENCE[fn], rtol=1e-6)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and REFUSED in warnings[0] and reason in warnings[0], warnings
    assert (contents(directory) if directory.is_dir() else None) == before, "nothing is written there"


def test_the_cache_directory_is_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "new" / "cache"))
    old_umask = os.umask(0)  # even with a umask that would allow anything
    try:
        run(tanh_mix)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "cache").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "cache" / cache.entry_name(key_of(tanh_mix))).st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o700, 0o755])
def test_a_symlinked_cache_directory_of_this_user_is_used(mode, tmp_path, monkeypatch, caplog):
    (tmp_path / "real").mkdir()
    (tmp_path / "real").chmod(mode)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "link"))
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        run(tanh_mix)
    assert entries(tmp_path / "real", ".o") == [cache.entry_name(key_of(tanh_mix))] and not caplog.records
    assert len(entries(tmp_path / "real", ".graph")) == 1
    assert cache.load(key_of(tanh_mix)) is not None


# -- concurrent writers ------------------------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys
    from graphc.backends.llvm import cache
    key, source, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    code = open(source, "rb").read()
    for _ in range(rounds):
        cache.store(key, code)
    """
)


def test_processes_writing_one_entry_at_once_never_show_a_reader_half_an_entry(built, tmp_path, caplog):
    key = key_of(tanh_mix)
    codes = [built[fn][1][CODE:-32] for fn in (tanh_mix, exp_mix)]  # both well-formed: either may win
    (tmp_path / "writer.py").write_text(WRITER)
    writers = []
    for i, code in enumerate(codes):
        (tmp_path / f"code{i}.o").write_bytes(code)
        command = [sys.executable, str(tmp_path / "writer.py"), key, str(tmp_path / f"code{i}.o"), "400"]
        writers.append(subprocess.Popen(command, env={**os.environ}, stderr=subprocess.PIPE, text=True))
    seen = set()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        while any(w.poll() is None for w in writers):
            seen.add(cache.load(key))
    assert all(w.wait(timeout=120) == 0 and not w.stderr.read() for w in writers)
    assert not caplog.records, caplog.text
    assert seen <= {*codes, None} and seen & set(codes), "only whole entries were read"
    assert cache.load(key) in codes
    assert not [n for n in entries(tmp_path / "cache") if n.startswith(".tmp-")]


# -- where the cache lives, when it is used ----------------------------------------------------------------
def _compile(fn, *args):
    f = gc.function(fn)
    f(*args)
    return f.get_concrete_function(*args)


def test_cache_dir_is_honoured_and_writes_leave_no_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "here"))
    cf = _compile(lambda x: gc.sqrt(gc.abs(x)) + 1.0, np.ones(5, np.float32))
    assert entries(tmp_path / "here", ".o") == [cache.cache_key(cf.graphs["fused"]) + ".o"]
    found = [n for n in entries(tmp_path / "here") if n.endswith((".o", ".layout", ".graph"))]
    assert len(found) == 3, "the object code, its buffer layout and the fused graph"
    assert cache.size() == (len(entries(tmp_path / "here")), sum(os.path.getsize(tmp_path / "here" / name) for name in entries(tmp_path / "here")))


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


def test_a_failed_write_is_reported_and_leaves_nothing_behind(fresh, monkeypatch, caplog):
    def failing_replace(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache.os, "replace", failing_replace)
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        cf = _compile(lambda x: x * 5.0, np.ones(3, np.float32))
    np.testing.assert_array_equal(cf(np.ones(3, np.float32)).numpy(), np.full(3, 5.0, np.float32))
    assert "cannot write the compile cache" in caplog.text and "disk full" in caplog.text
    assert entries(fresh) == []


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
