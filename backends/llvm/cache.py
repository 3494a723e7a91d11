"""The persistent compile cache: object code on disk, keyed by what determines it.

The key hashes the fused graph's full text (constants included), the variables' types, the target
(triple, CPU, features), the graphc and LLVM versions and the source of the code generator (this
package and the IR passes it builds on), so code from an older code generator is never loaded.
An entry is one file: a magic line, the object code and a SHA-256 of both; it is written to a temporary file and renamed, so readers never
see half an entry. A truncated or corrupt entry is detected, reported and rebuilt.

``GRAPHC_CACHE_DIR`` sets the directory (default: ``$XDG_CACHE_HOME/graphc`` or ``~/.cache/graphc``);
``GRAPHC_CACHE=0`` turns the cache off; ``GRAPHC_LOG=cache`` explains hits and misses.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile

from graphc.ir import environment
from graphc.ir.graph import Graph
from graphc.ir.text import format_graph

from . import target

log = logging.getLogger("graphc.cache")
MAGIC = b"GRAPHC-OBJECT-1\n"
_DIGEST = 32


def cache_dir() -> str:
    return environment.value("GRAPHC_CACHE_DIR")


def enabled() -> bool:
    return environment.value("GRAPHC_CACHE")


@functools.cache
def generator_fingerprint() -> str:
    """A digest of the source files that decide what code a graph compiles to (read once per process)."""
    from graphc.ir import passes

    h = hashlib.sha256()
    for directory in (os.path.dirname(__file__), os.path.dirname(passes.__file__)):
        for name in sorted(n for n in os.listdir(directory) if n.endswith(".py")):
            with open(os.path.join(directory, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def cache_key(graph: Graph) -> str:
    from graphc import __version__

    triple, cpu, features = target.host()
    h = hashlib.sha256()
    parts = (__version__, generator_fingerprint(), target.llvm_version(), triple, cpu, features,
             format_graph(graph, full_constants=True))
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    for name, var in graph.variables.items():
        h.update(f"{name}:{var.type}\0".encode())
    return h.hexdigest()


def _path(key: str) -> str:
    return os.path.join(cache_dir(), f"{key}.o")


def load(key: str) -> bytes | None:
    """The cached object code for ``key``, or None (missing, unreadable, truncated or corrupt)."""
    path = _path(key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        log.info("miss %s: not in %s", key[:16], cache_dir())
        return None
    except OSError as error:
        log.info("miss %s: cannot read %s (%s)", key[:16], path, error)
        return None
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) <= len(MAGIC) + _DIGEST or not body.startswith(MAGIC) or hashlib.sha256(body).digest() != digest:
        log.warning("ignoring the corrupt or truncated cache entry %s; it will be rebuilt", path)
        return None
    log.info("hit %s: %s", key[:16], path)
    return body[len(MAGIC):]


def store(key: str, object_code: bytes) -> None:
    """Writes an entry atomically; a cache that cannot be written is skipped, not an error."""
    directory = cache_dir()
    body = MAGIC + object_code
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(body + hashlib.sha256(body).digest())
        os.replace(tmp, _path(key))
        tmp = None
        log.info("stored %s: %s (%d bytes)", key[:16], _path(key), len(object_code))
    except OSError as error:
        log.warning("cannot write the compile cache in %s: %s", directory, error)
    finally:
        if tmp is not None:  # a failed write leaves no temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def size() -> tuple[int, int]:
    """(entries, bytes) in the cache directory."""
    try:
        names = [n for n in os.listdir(cache_dir()) if n.endswith(".o") and not n.startswith(".")]
    except FileNotFoundError:
        return 0, 0
    return len(names), sum(os.path.getsize(os.path.join(cache_dir(), n)) for n in names)
