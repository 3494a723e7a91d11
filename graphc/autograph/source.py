"""The source autograph converts: a function's ``def`` (or a lambda's, as a ``def``) parsed with its
file's line numbers, and which code is left alone (graphc's own, the standard library's, installed
packages')."""
from __future__ import annotations

import ast
import copy
import functools
import inspect
import linecache
import os
import sysconfig
import textwrap
import types

from graphc.ir.location import is_internal

from .syntax import placed_at

_LIBRARY_DIRS = tuple(
    os.path.realpath(p) + os.sep for p in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
)


@functools.lru_cache(maxsize=None)
def is_left_alone(filename: str) -> bool:
    """Code of graphc itself, of the standard library or of installed packages."""
    if is_internal(filename) or filename.startswith("<frozen"):
        return True
    return os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def function_def(func) -> tuple[ast.FunctionDef | None, str]:
    """The ``def`` of ``func``, with the source file's line numbers; or None and why not."""
    found = _def_spanned_by_code(func)
    if found is None:
        try:
            lines, first_line = inspect.getsourcelines(func)
            found = ast.parse(textwrap.dedent("".join(lines))), first_line
        except (OSError, TypeError, SyntaxError) as error:
            return None, f"no source code: {type(error).__name__}"
    tree, first_line = found
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != func.__name__:
        return None, "its source code is not a plain def"
    ast.increment_lineno(tree, first_line - 1)
    return node, ""


def _def_spanned_by_code(func) -> tuple[ast.Module, int] | None:
    """(the parsed lines, the first one's number) from the first line of ``func``'s code (its first
    decorator's) to the last line any of its code spans, nested functions' included; None when they
    do not parse to one ``def`` of its name (``function_def`` then asks ``inspect``, which tokenizes
    the file: 3 ms of a first call). Only statements that compile to no code (``pass``, a string) can
    follow the last line, and they change nothing."""
    code = getattr(func, "__code__", None)
    if code is None or hasattr(func, "__wrapped__"):  # (inspect reads the wrapped function's)
        return None
    linecache.checkcache(code.co_filename)  # (a file edited since it was read: as inspect does)
    lines = linecache.getlines(code.co_filename, func.__globals__)
    first, last = code.co_firstlineno, _last_line(code)
    if not first <= last <= len(lines):
        return None
    try:
        tree = ast.parse(textwrap.dedent("".join(lines[first - 1:last])))
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) or tree.body[0].name != func.__name__:
        return None
    return tree, first


def _last_line(code: types.CodeType) -> int:
    """The last source line ``code`` or a code object nested in it spans (0 when none is known)."""
    ends = [end for _, end, _, _ in code.co_positions() if end is not None]
    ends += [_last_line(c) for c in code.co_consts if isinstance(c, types.CodeType)]
    return max(ends, default=0)


_modules: dict[str, tuple[str, dict[int, list[ast.Lambda]] | None]] = {}


def _lambdas_by_line(filename: str) -> dict[int, list[ast.Lambda]] | None:
    """The lambdas of the file by the line they start on (None: it does not parse), found with one
    walk of its tree per version of its source (a walk for each lambda converted took 85 ms a lambda
    in a file of 1,400 lines, under cProfile)."""
    linecache.checkcache(filename)  # (a file edited since it was read: as for a def)
    source = "".join(linecache.getlines(filename))
    cached = _modules.get(filename)
    if cached is None or cached[0] != source:
        try:
            tree = ast.parse(source) if source else None
        except SyntaxError:
            tree = None
        lambdas: dict[int, list[ast.Lambda]] | None = None
        if tree is not None:
            lambdas = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.Lambda):
                    lambdas.setdefault(node.lineno, []).append(node)
        _modules[filename] = cached = (source, lambdas)
    return cached[1]


def lambda_def(code: types.CodeType) -> ast.FunctionDef | None:
    """The lambda of ``code`` as a ``def`` returning its body, found in its file by line, parameters
    and column; None when that does not single it out."""
    lambdas = _lambdas_by_line(code.co_filename)
    if lambdas is None:
        return None
    n_params = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS) + bool(
        code.co_flags & inspect.CO_VARKEYWORDS)
    params = list(code.co_varnames[:n_params])
    candidates = [n for n in lambdas.get(code.co_firstlineno, []) if _parameters(n.args) == params]
    if len(candidates) > 1:
        columns = [p[2] for p in code.co_positions() if p[0] == code.co_firstlineno and p[2] is not None and p[3]]
        start = min(columns, default=-1)
        candidates = [n for n in candidates if n.body.lineno == code.co_firstlineno
                      and n.body.col_offset <= start < (n.body.end_col_offset if n.body.end_lineno == n.body.lineno else 10**9)]
    if len(candidates) != 1:
        return None
    lam = copy.deepcopy(candidates[0])
    node = ast.FunctionDef(name="__graphc_lambda__", args=lam.args, body=[ast.Return(value=lam.body)],
                           decorator_list=[], returns=None, type_params=[])
    return placed_at(node, lam)


def _parameters(args: ast.arguments) -> list[str]:
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return names + [a.arg for a in (args.vararg, args.kwarg) if a is not None]
