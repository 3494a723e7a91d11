"""The persistent compile cache: object code on disk, keyed by what determines it.

The key hashes the fused graph's full text (constants included), the variables' types, the LLVM
and the machine the code is compiled for (``target_description``: on x86-64 Linux read without
starting LLVM, so that a process whose code is all cached never loads it), the graphc version and
the source of the code generator (this package and the IR passes it builds on), so code from an
older code generator is never loaded.

An entry is one file named after its key: a magic line, the key, the payload's length, the payload
(object code; the buffer layout it runs with, see ``program``; the text of a fused graph, see
``graph_cache``; the digest of the code generator's source, see ``sources_digest``; or a function's
code as autograph converted it, see ``graphc.autograph.code_cache``) and a
SHA-256 of all of it. It is written to a temporary file and renamed, so readers never see
half an entry. An entry is used only if it is a regular file of sane size whose contents hold this key,
its declared length and a matching checksum, and whose object code is well-formed for this host (see
``elf``; a graph entry's text is parsed by ``graph_cache``, a layout checked by ``program.read_layout``); anything else at an entry's path (a damaged or foreign entry, a FIFO, a symbolic link, a
directory) is reported, never waited on, and replaced by a rebuilt entry.

The directory is created 0700. One that another user owns or that group or others can write is
refused with one warning, and the process runs without a cache: code in it would be loaded and run.

``GRAPHC_CACHE_DIR`` sets the directory (default: ``$XDG_CACHE_HOME/graphc`` or ``~/.cache/graphc``);
``GRAPHC_CACHE=0`` turns the cache off; ``GRAPHC_LOG=cache`` explains hits and misses.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import os
import platform
import secrets
import stat
import struct
from typing import Callable, NamedTuple

import llvmlite

from graphc.ir import environment
from graphc.ir.graph import Graph
from graphc.ir.text import format_graph

from . import elf, loader

log = logging.getLogger("graphc.cache")
MAGIC = b"GRAPHC-OBJECT-2\n"  # the first line of an entry holding object code
_LENGTH = struct.Struct("<Q")
_DIGEST = 32
MAX_ENTRY_BYTES = 256 << 20  # a larger file at an entry's path is not read
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_refused: set[str] = set()  # directories already warned about


class Kind(NamedTuple):
    """What an entry holds: its first line, its file name's suffix, the check of its payload (raises
    ValueError; None when its reader checks it) and the word the log puts before hit and miss. (A
    NamedTuple: a dataclass took 0.4 ms of a first call.)"""

    magic: bytes
    suffix: str
    check: Callable[[bytes], None] | None
    word: str


OBJECT = Kind(MAGIC, ".o", elf.check_parts, "")
GRAPH = Kind(b"GRAPHC-GRAPH-1\n", ".graph", None, "graph ")  # its text is checked as it is read (graph_cache)
LAYOUT = Kind(b"GRAPHC-LAYOUT-1\n", ".layout", None, "layout ")  # the object code's buffers (program.read_layout checks it)


def _check_digest(payload: bytes) -> None:
    if len(payload) != 64 or payload.strip(b"0123456789abcdef"):
        raise ValueError("it holds no SHA-256 digest")


SOURCES = Kind(b"GRAPHC-SOURCES-1\n", ".sources", _check_digest, "sources ")  # sources_digest's memo
CONVERTED = Kind(b"GRAPHC-AUTOGRAPH-1\n", ".autograph", None, "autograph ")  # graphc.autograph.code_cache checks it


def cache_dir() -> str:
    return environment.value("GRAPHC_CACHE_DIR")


def enabled() -> bool:
    return environment.value("GRAPHC_CACHE")


@functools.cache
def generator_fingerprint() -> str:
    """A digest of the source files that decide what a traced graph optimises, fuses and compiles to:
    the IR (its ops and passes), the NumPy backend (constant folding runs it) and this backend, with
    their subpackages (once per process: see ``sources_digest``)."""
    from graphc import ir
    from graphc.backends import numpy

    return sources_digest((os.path.dirname(__file__), os.path.dirname(ir.__file__), os.path.dirname(numpy.__file__)))


def sources_digest(tops) -> str:
    """A SHA-256 of the ``.py`` files below the directories ``tops`` (names and contents). It is cached
    (``SOURCES``) under a key made of each file's name, size, inode and modification and change
    times, so a process that finds the files as another left them reads none of them (reading and
    hashing them took 1.5 ms of a first call): any write to a file changes its change time."""
    files = _source_files(tops)
    key = hashlib.sha256(repr([(name, identity) for name, _, identity in files]).encode()).hexdigest()
    stored = load(key, SOURCES) if enabled() else None
    if stored is not None:
        return stored.decode()
    h = hashlib.sha256()
    for name, path, _ in files:
        with open(path, "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    digest = h.hexdigest()
    if enabled():
        store(key, digest.encode(), SOURCES)
    return digest


def _source_files(tops) -> list[tuple[str, str, tuple]]:
    """(name below its top directory, path, (size, inode, modification and change time)) of each ``.py``
    file below ``tops`` (not looking into ``__pycache__``: walking it took 0.5 ms)."""
    files = []
    for top in tops:
        for directory, subdirectories, names in os.walk(top):
            subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
            for name in sorted(n for n in names if n.endswith(".py")):
                path = os.path.join(directory, name)
                info = os.stat(path)  # (below: the path below ``top``, sliced: relpath cost 0.5 ms of a first call)
                files.append((path[len(top) + 1:], path, (info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)))
    return files


@functools.cache
def target_description() -> tuple[str, ...]:
    """What object code depends on besides the graph: the LLVM that compiles it and the machine it
    compiles for. Where graphc loads object code itself (``loader``) it is read without starting
    LLVM: llvmlite's version and its library's size and time (the LLVM it bundles), the machine and
    the CPU as /proc/cpuinfo describes it (vendor, family, model, flags: what LLVM's host detection
    reads from cpuid); elsewhere LLVM's version, target triple, CPU and features."""
    if loader.applies():
        description = _described_without_llvm()
        if description:
            return description
    from . import target

    return (target.llvm_version(), *target.host())


def _described_without_llvm() -> tuple[str, ...] | None:
    """The llvmlite library and the CPU (see ``target_description``), or None when either is unknown."""
    folder = os.path.join(os.path.dirname(llvmlite.__file__), "binding")
    try:
        library = [os.stat(os.path.join(folder, name)) for name in sorted(os.listdir(folder)) if ".so" in name]
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = sorted({line.strip() for line in f if line.split(":")[0].strip() in _CPUINFO_FIELDS})
    except OSError:
        return None
    if len(library) != 1 or not cpu:
        return None
    return (f"llvmlite {llvmlite.__version__}", f"{library[0].st_size} {library[0].st_mtime_ns}",
            platform.machine(), *cpu)


_CPUINFO_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags")


def cache_key(graph: Graph) -> str:
    from graphc import __version__

    h = hashlib.sha256()
    parts = (__version__, generator_fingerprint(), *target_description(), format_graph(graph, full_constants=True))
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    for name, var in graph.variables.items():
        h.update(f"{name}:{var.type}\0".encode())
    return h.hexdigest()


def entry_name(key: str, kind: Kind = OBJECT) -> str:
    return key + kind.suffix


def encode(key: str, payload: bytes, kind: Kind = OBJECT) -> bytes:
    """The entry for ``key`` holding ``payload``."""
    body = kind.magic + key.encode() + b"\n" + _LENGTH.pack(len(payload)) + payload
    return body + hashlib.sha256(body).digest()


def decode(key: str, data: bytes, kind: Kind = OBJECT) -> bytes:
    """The payload in ``data``, the entry for ``key``; raises ValueError saying what is wrong."""
    header = kind.magic + key.encode() + b"\n"
    start = len(header) + _LENGTH.size
    if len(data) < start + _DIGEST:
        raise ValueError(f"truncated: {len(data)} bytes")
    if not data.startswith(kind.magic):
        raise ValueError("not a graphc cache entry")
    if not data.startswith(header):
        raise ValueError("it is the entry of another key")
    (length,) = _LENGTH.unpack_from(data, len(header))
    if len(data) != start + length + _DIGEST:
        raise ValueError(f"truncated or extended: {len(data)} bytes, declaring {length} bytes of payload")
    if hashlib.sha256(data[:-_DIGEST]).digest() != data[-_DIGEST:]:
        raise ValueError("its checksum does not match")
    payload = data[start:-_DIGEST]
    if kind.check:
        kind.check(payload)
    return payload


def load(key: str, kind: Kind = OBJECT) -> bytes | None:
    """The cached payload for ``key``, or None: missing, or anything else than a sound entry for
    ``key`` (reported). Never blocks, whatever file sits at the entry's path."""
    dir_fd = _open_directory(create=False)
    if dir_fd is None:
        log.info("%smiss %s: no usable cache directory %s", kind.word, key[:16], cache_dir())
        return None
    try:
        payload = decode(key, _read_entry(dir_fd, entry_name(key, kind)), kind)
    except FileNotFoundError:
        log.info("%smiss %s: not in %s", kind.word, key[:16], cache_dir())
        return None
    except (OSError, ValueError) as error:
        reject(key, _reason(error), kind)
        return None
    finally:
        os.close(dir_fd)
    log.info("%shit %s: %s", kind.word, key[:16], _path(key, kind))
    return payload


def reject(key: str, reason: str, kind: Kind = OBJECT) -> None:
    """Reports that the entry for ``key`` is unusable: a miss, and the rebuilt entry replaces it."""
    log.warning("ignoring the cache entry %s (%s); it will be rebuilt", _path(key, kind), reason)


def store(key: str, payload: bytes, kind: Kind = OBJECT) -> None:
    """Writes an entry atomically, replacing whatever was at its path; a cache that cannot be written
    is skipped, not an error."""
    entry = encode(key, payload, kind)
    if len(entry) > MAX_ENTRY_BYTES:
        log.info("%snot stored %s: %d bytes is more than an entry may hold", kind.word, key[:16], len(entry))
        return
    dir_fd = _open_directory(create=True)
    if dir_fd is None:
        return
    tmp = f".tmp-{secrets.token_hex(8)}{kind.suffix}"
    try:
        with os.fdopen(os.open(tmp, _CREATE, 0o600, dir_fd=dir_fd), "wb") as f:
            f.write(entry)
        _replace(tmp, entry_name(key, kind), dir_fd)
        tmp = None
        log.info("%sstored %s: %s (%d bytes)", kind.word, key[:16], _path(key, kind), len(payload))
    except OSError as error:
        log.warning("cannot write the compile cache in %s: %s", cache_dir(), error)
    finally:
        if tmp is not None:  # a failed write leaves no temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
        os.close(dir_fd)


def size() -> tuple[int, int]:
    """(entries, bytes) in the cache directory: its regular files named like entries (of every kind)."""
    suffixes = (OBJECT.suffix, GRAPH.suffix, LAYOUT.suffix, SOURCES.suffix, CONVERTED.suffix)
    sizes = []
    with contextlib.suppress(OSError), os.scandir(cache_dir()) as found:
        for item in found:
            if item.name.endswith(suffixes) and not item.name.startswith(".") and item.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    sizes.append(item.stat(follow_symlinks=False).st_size)
    return len(sizes), sum(sizes)


def _path(key: str, kind: Kind = OBJECT) -> str:
    return os.path.join(cache_dir(), entry_name(key, kind))


def _open_directory(create: bool) -> int | None:
    """A descriptor of the cache directory (created 0700 if ``create``), or None when there is none or
    it is refused: not a directory, owned by another user, or writable by group or others."""
    directory = cache_dir()
    try:
        if create:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        if isinstance(error, FileNotFoundError) and not create:
            return None  # nothing cached yet
        _refuse(directory, f"it cannot be opened as a directory: {error.strerror}")
        return None
    problem = _unsafe(os.fstat(fd))
    if problem:
        os.close(fd)
        _refuse(directory, problem)
        return None
    return fd


def _unsafe(directory: os.stat_result) -> str | None:
    """Why code in this directory must not be trusted, or None."""
    if directory.st_uid != os.geteuid():
        return f"it is owned by uid {directory.st_uid}, not by this user (uid {os.geteuid()})"
    if directory.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"group or others can write to it (mode {stat.filemode(directory.st_mode)})"
    return None


def _refuse(directory: str, reason: str) -> None:
    if directory not in _refused:
        _refused.add(directory)
        log.warning("not using the compile cache %s: %s; compiling without a cache", directory, reason)


def _read_entry(dir_fd: int, name: str) -> bytes:
    """The contents of the regular file ``name``: raises OSError for a missing or unreadable one and
    ValueError for anything that is not a regular file of at most MAX_ENTRY_BYTES."""
    fd = os.open(name, _READ, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a regular file (mode {stat.filemode(info.st_mode)})")
        if info.st_size > MAX_ENTRY_BYTES:
            raise ValueError(f"{info.st_size} bytes is more than an entry may hold")
        chunks, wanted = [], info.st_size + 1  # one byte more shows a file that grew since
        while wanted > 0 and (chunk := os.read(fd, wanted)):
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _reason(error: Exception) -> str:
    if isinstance(error, OSError):
        return "a symbolic link" if error.errno == errno.ELOOP else f"cannot read it: {error.strerror}"
    return str(error)


def _replace(tmp: str, name: str, dir_fd: int) -> None:
    """Renames ``tmp`` to ``name``, removing a directory that sits at ``name``."""
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except IsADirectoryError:
        import shutil  # (here: importing it took 2 ms of a first call that finds its code in the cache)

        shutil.rmtree(name, dir_fd=dir_fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
