"""Converted code kept in the compile cache: a process that converts a function another process has
converted loads its code instead of rewriting and compiling the function again (3.5 ms of W3's warm
first call).

The key hashes what the converted code depends on: the ``def`` as parsed (its syntax tree with line
numbers and columns), the file name, the function's free variables, the Python that compiles it
(its version and bytecode magic number), graphc's version and autograph's own source
(``cache.sources_digest``). The entry (``cache.CONVERTED``, with the checks of path, key, length and
checksum every entry has) holds the converted function's code object, marshalled; it is used only
if it unmarshals to a code object of the function's name and file whose free variables are the
function's and the runtime's. Anything else is reported and the function is converted again. Like
object code, the code is run: an entry is trusted as far as its key and checksum show it is one
this graphc wrote.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import marshal
import os
import sys
import types

from .syntax import RUNTIME


@functools.cache
def source_digest() -> str:
    """The digest of autograph's own source (``cache.sources_digest``; once per process)."""
    from graphc.backends.llvm import cache

    return cache.sources_digest((os.path.dirname(__file__),))


class ConvertedCode:
    """The cache entry of one function's converted code (``key`` None: the cache is off)."""

    def __init__(self, func, node: ast.FunctionDef):
        from graphc import __version__
        from graphc.backends.llvm import cache  # (the compile cache: loaded on first use, as the backend is)

        self.cache, self.func, self.name, self.key = cache, func, node.name, None
        if not cache.enabled():
            return
        code = func.__code__
        h = hashlib.sha256()
        for part in (__version__, source_digest(), sys.version,
                     importlib.util.MAGIC_NUMBER.hex(), code.co_filename, repr(code.co_freevars),
                     ast.dump(node, include_attributes=True)):
            h.update(part.encode())
            h.update(b"\0")
        self.key = h.hexdigest()

    def load(self) -> types.CodeType | None:
        """The converted code, or None: no entry, or one that is unusable (reported)."""
        payload = self.cache.load(self.key, self.cache.CONVERTED) if self.key else None
        if payload is None:
            return None
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError) as error:
            self.cache.reject(self.key, f"it holds no code: {error}", self.cache.CONVERTED)
            return None
        expected = self.func.__code__
        if not (isinstance(code, types.CodeType) and code.co_name == self.name
                and code.co_filename == expected.co_filename
                and set(code.co_freevars) <= {RUNTIME, *expected.co_freevars}):
            self.cache.reject(self.key, "it holds the code of another function", self.cache.CONVERTED)
            return None
        return code

    def store(self, code: types.CodeType) -> None:
        if self.key:
            self.cache.store(self.key, marshal.dumps(code), self.cache.CONVERTED)
