"""The vocabulary of autograph's rewrite: the names it generates, small AST builders, the statement
lists nested in a statement, and the location of generated nodes (the user's statement, so errors and
node locations name the user's line)."""
from __future__ import annotations

import ast

RUNTIME = "ag__"  # the name converted code calls its runtime by
RETVAL, DO_RETURN = "retval__", "do_return__"
LOOPS = (ast.While, ast.For)


class FreshNames:
    """Names for generated variables and functions, unique within one conversion."""

    def __init__(self):
        self.count = 0

    def new(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"


def name_node(id_: str, store: bool = False) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Store() if store else ast.Load())


def runtime_helper(attr: str) -> ast.Attribute:
    """``ag__.attr``: a helper of the runtime of converted code."""
    return ast.Attribute(value=name_node(RUNTIME), attr=attr, ctx=ast.Load())


def call(func: ast.expr, *args: ast.expr) -> ast.Call:
    return ast.Call(func=func, args=list(args), keywords=[])


def assign(target: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[name_node(target, store=True)], value=value)


def negated(flag: str) -> ast.expr:
    """``not flag``."""
    return ast.UnaryOp(op=ast.Not(), operand=name_node(flag))


def placed_at(new: ast.AST, like: ast.AST) -> ast.AST:
    """Places the generated nodes of ``new`` (those without a location) on ``like``'s first line, so
    the line a call reports is the user's statement's first line."""
    if getattr(like, "lineno", None) is None:
        return new
    for n in ast.walk(new):
        if getattr(n, "lineno", None) is None and "lineno" in n._attributes:
            n.lineno = n.end_lineno = like.lineno
            n.col_offset = n.end_col_offset = like.col_offset
    return new


def statements_placed_at(stmts: list[ast.stmt], like: ast.AST) -> list[ast.stmt]:
    """``placed_at`` for each statement of ``stmts``."""
    for s in stmts:
        placed_at(s, like)
    return stmts


def nested_blocks(stmt: ast.stmt, into_loops: bool) -> list[list[ast.stmt]]:
    """The statement lists inside ``stmt`` that run in its scope; a loop's body only ``into_loops``."""
    if isinstance(stmt, LOOPS):
        return [stmt.body, stmt.orelse] if into_loops else [stmt.orelse]
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [stmt.body]
    if isinstance(stmt, ast.Try):
        return [stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody]
    return []


def add_loop_test(loop: ast.stmt, test: ast.expr) -> None:
    """Adds ``test`` (checked first) to the condition of a ``while`` or the extra tests of a ``for``."""
    placed_at(test, loop)
    if isinstance(loop, ast.While):
        loop.test = placed_at(ast.BoolOp(op=ast.And(), values=[test, loop.test]), loop)
    else:
        loop.graphc_extra_tests = [test, *extra_tests(loop)]


def extra_tests(loop: ast.stmt) -> list[ast.expr]:
    """The tests ``add_loop_test`` gave a ``for`` loop, checked before each iteration's body."""
    return getattr(loop, "graphc_extra_tests", [])
