"""Liveness for autograph's rewrite: for each if/while/for, the variables it may assign, those live
after it, and for loops those read before being assigned; the rewrite carries through a ``cond`` or
``while_loop`` only what is both modified and used."""
from __future__ import annotations

import ast

from .syntax import extra_tests, nested_blocks


class ControlFlowInfo:
    """What the rewrite of one if/while/for needs: the variables it assigns (``modified``), those
    live after it, and for loops those read before being assigned in the condition and body
    (``read_first``) and those its condition reads (``test_reads``)."""

    def __init__(self, modified: set, live_after: set, read_first: set = frozenset(), test_reads: set = frozenset()):
        self.modified, self.live_after = modified, live_after
        self.read_first, self.test_reads = read_first, test_reads


def analyse(function: ast.FunctionDef) -> dict[int, ControlFlowInfo]:
    """The facts about every if/while/for of ``function`` (nested functions' ones too, each in its own
    scope), by the statement's ``id``."""
    return _Analysis().run(function)


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _stored(stmts: list[ast.stmt]) -> set[str]:
    """Every name the statements may assign, in their own scope."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for s in stmts:
        visit(s)
    return found


def _defined(stmt: ast.stmt) -> set[str]:
    """The names ``stmt`` surely assigns when it completes."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            return set()
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return set().union(*(_target_names(t) for t in targets if isinstance(t, (ast.Name, ast.Tuple, ast.List))))
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return _stored([stmt])
    if isinstance(stmt, ast.If):
        return _defined_all(stmt.body) & _defined_all(stmt.orelse)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return set().union(*(_target_names(i.optional_vars) for i in stmt.items if i.optional_vars)) | _defined_all(stmt.body)
    return set()


def _defined_all(stmts) -> set[str]:
    return set().union(*(_defined(s) for s in stmts)) if stmts else set()


def _read_first(stmts: list[ast.stmt], defined: set[str] = frozenset()) -> set[str]:
    """Names the statements may read before assigning them (``defined``: assigned already)."""
    reads, defined = set(), set(defined)
    for s in stmts:
        reads |= _read_first_stmt(s, defined)
        defined |= _defined(s)
    return reads


def _read_first_stmt(s: ast.stmt, defined: set[str]) -> set[str]:
    if isinstance(s, (ast.If, ast.While)):
        return (_loads(s.test) - defined) | _read_first(s.body, defined) | _read_first(s.orelse, defined)
    if isinstance(s, ast.For):
        extra = set().union(*(_loads(t) for t in extra_tests(s)))
        return (_loads(s.iter) | extra) - defined | _read_first(s.body, defined | _target_names(s.target))
    if isinstance(s, (ast.With, ast.AsyncWith)):
        bound = set().union(*(_target_names(i.optional_vars) for i in s.items if i.optional_vars))
        return set().union(*(_loads(i.context_expr) for i in s.items)) - defined | _read_first(s.body, defined | bound)
    if isinstance(s, ast.Try):
        return set().union(*(_read_first(b, defined) for b in nested_blocks(s, True)))
    if isinstance(s, ast.AugAssign):
        return (_loads(s) | _target_names(s.target)) - defined
    return _loads(s) - defined


class _Analysis:
    """Annotates every if/while/for of a function (nested functions separately) with a ``ControlFlowInfo``."""

    def __init__(self):
        self.info: dict[int, ControlFlowInfo] = {}

    def run(self, node: ast.FunctionDef) -> dict[int, ControlFlowInfo]:
        self.block(node.body, set())
        return self.info

    def block(self, stmts: list[ast.stmt], live_out: set[str]) -> None:
        for i, s in enumerate(stmts):
            rest = stmts[i + 1:]
            self.stmt(s, _read_first(rest) | (live_out - _defined_all(rest)))

    def stmt(self, s: ast.stmt, after: set[str]) -> None:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.block(s.body, set())
        elif isinstance(s, ast.If):
            self.info[id(s)] = ControlFlowInfo(_stored(s.body + s.orelse), after)
            self.block(s.body, after)
            self.block(s.orelse, after)
        elif isinstance(s, (ast.While, ast.For)):
            targets = _target_names(s.target) if isinstance(s, ast.For) else set()
            loop = [ast.Expr(value=s.test)] if isinstance(s, ast.While) else []
            loop += [ast.Expr(value=t) for t in extra_tests(s)]
            read_first = _read_first(loop + s.body, targets)
            test_reads = set().union(*(_loads(t) for t in loop))
            self.info[id(s)] = ControlFlowInfo(_stored(s.body) | targets, after, read_first, test_reads)
            self.block(s.body, after | read_first)
        else:
            for block in nested_blocks(s, True):
                self.block(block, after)
