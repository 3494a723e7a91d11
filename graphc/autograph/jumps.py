"""Jump lowering, the first step of autograph's rewrite: ``break`` and ``continue`` become flags
(``break__1 = True``) with the rest of the loop body guarded by ``if not flag``, and a break's flag
added to the loop's condition; a ``return`` inside a compound statement becomes
``do_return__ = True; retval__ = value`` the same way. The if/while/for left have no jumps out."""
from __future__ import annotations

import ast

from .syntax import (
    DO_RETURN, LOOPS, RETVAL, FreshNames, add_loop_test, assign, call, name_node, negated, nested_blocks,
    runtime_helper, statements_placed_at,
)


def lower_jumps(node: ast.FunctionDef, names: FreshNames) -> None:
    """Lowers the jumps of the function ``node`` and of the functions nested in it, in place."""
    _JumpLowering(names).visit(node)
    for function in _functions_in(node):
        _lower_returns(function)


def _functions_in(node: ast.AST) -> list[ast.FunctionDef]:
    """``node`` and the functions nested in it (not in local classes, whose methods stay as they are)."""
    found = [node] if isinstance(node, ast.FunctionDef) else []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.ClassDef, ast.AsyncFunctionDef, ast.Lambda)):
            found += _functions_in(child)
    return found


def _contains(stmts: list[ast.stmt], kind, into_loops: bool) -> bool:
    for s in stmts:
        if isinstance(s, kind) or any(_contains(b, kind, into_loops) for b in nested_blocks(s, into_loops)):
            return True
    return False


def _guarded(stmts: list[ast.stmt], kind, into_loops: bool, replace) -> list[ast.stmt]:
    """``stmts`` with each ``kind`` statement replaced by ``replace(stmt)`` (setting a flag), and the
    statements after one that may set the flag guarded by ``if not flag`` (``replace.flag``)."""
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, kind):
            out += statements_placed_at(replace(s), s)
            return out  # the rest of the block is unreachable
        if not _contains([s], kind, into_loops):
            out.append(s)
            continue
        for block in nested_blocks(s, into_loops):
            block[:] = _guarded(block, kind, into_loops, replace)
        if into_loops and isinstance(s, LOOPS):
            add_loop_test(s, negated(replace.flag))
        out.append(s)
        rest = _guarded(stmts[i + 1:], kind, into_loops, replace)
        if rest:
            out += statements_placed_at([ast.If(test=negated(replace.flag), body=rest, orelse=[])], s)
        return out
    return out


class _Replace:
    """Replaces a jump statement by ``flag = True`` (and, for ``return``, ``retval__ = value``)."""

    def __init__(self, flag: str, value: str | None = None):
        self.flag, self.value = flag, value

    def __call__(self, stmt) -> list[ast.stmt]:
        out = [assign(self.flag, ast.Constant(value=True))]
        if self.value is not None:
            out.append(assign(self.value, stmt.value or ast.Constant(value=None)))
        return out


class _JumpLowering(ast.NodeTransformer):
    """``break`` and ``continue`` become flags (innermost loops first)."""

    def __init__(self, names: FreshNames):
        self.names = names

    def visit_FunctionDef(self, node):  # nested functions are their own scope: convert them too
        self.generic_visit(node)
        return node

    def visit_loop(self, node):
        self.generic_visit(node)
        before, after = [], []
        if _contains(node.body, ast.Continue, False):
            flag = self.names.new("continue")
            reset = statements_placed_at([assign(flag, ast.Constant(value=False))], node)
            node.body = reset + _guarded(node.body, ast.Continue, False, _Replace(flag))
        if _contains(node.body, ast.Break, False):
            flag = self.names.new("break")
            before.append(assign(flag, ast.Constant(value=False)))
            node.body = _guarded(node.body, ast.Break, False, _Replace(flag))
            add_loop_test(node, negated(flag))
            if node.orelse:
                after.append(ast.If(test=negated(flag), body=node.orelse, orelse=[]))
        elif node.orelse:
            after += node.orelse
        node.orelse = []
        return statements_placed_at(before, node) + [node] + statements_placed_at(after, node)

    visit_While = visit_For = visit_loop


def _lower_returns(node: ast.FunctionDef) -> None:
    """``return`` inside compound statements -> flag and value, the function returning the value at
    its end (functions whose returns are all at the top level are left as they are)."""
    nested = any(_contains(b, ast.Return, True) for s in node.body for b in nested_blocks(s, True))
    if not nested:
        return
    body = _guarded(node.body, ast.Return, True, _Replace(DO_RETURN, RETVAL))
    start = [assign(DO_RETURN, ast.Constant(value=False)),
             assign(RETVAL, call(runtime_helper("undefined"), ast.Constant(value=RETVAL)))]
    end = [ast.Return(value=call(runtime_helper("retval"), name_node(RETVAL)))]
    node.body = statements_placed_at(start, node.body[0]) + body + statements_placed_at(end, node.body[-1])
