"""The rewrite of a function autograph converts (see the package docstring): jumps lowered first,
then each if/while/for replaced by a runtime call with its branches or body as nested functions and
``get_state``/``set_state`` functions over the variables it may change that are used later, and
the expressions that test truth replaced by runtime helpers."""
from __future__ import annotations

import ast

from .analysis import ControlFlowInfo, analyse
from .jumps import lower_jumps
from .syntax import RETVAL, FreshNames, assign, call, extra_tests, name_node, placed_at, runtime_helper, statements_placed_at


def transform(node: ast.FunctionDef, has_class_cell: bool = False) -> None:
    """Rewrites the function ``node`` in place (see the package docstring)."""
    names = FreshNames()
    if has_class_cell and node.args.args:
        _ExplicitSuper(node.args.args[0].arg).visit(node)
    lower_jumps(node, names)
    global_names = {n for s in ast.walk(node) if isinstance(s, ast.Global) for n in s.names}
    info = analyse(node)
    guarded = set().union(*(i.modified for i in info.values())) - global_names if info else set()
    node.body = _ControlFlow(info, names, global_names, guarded).visit_block(node.body)


def needs_conversion(node: ast.FunctionDef) -> bool:
    """Whether the function ``node`` has anything ``transform`` rewrites."""
    return any(isinstance(n, _CONVERTED) or _is_not(n) for n in ast.walk(node))


_CONVERTED = (ast.If, ast.While, ast.For, ast.BoolOp, ast.IfExp, ast.Call)


def _is_not(node) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)


class _ExplicitSuper(ast.NodeTransformer):
    """``super()`` -> ``super(__class__, self)``: the zero-argument form fails in nested functions."""

    def __init__(self, first_arg: str):
        self.first_arg = first_arg

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args and not node.keywords:
            node.args = [name_node("__class__"), name_node(self.first_arg)]
        return node


class _ControlFlow(ast.NodeTransformer):
    """Replaces if/while/for by runtime calls, and the expressions that test truth by helpers."""

    def __init__(self, info: dict[int, ControlFlowInfo], names: FreshNames, global_names: set[str], guarded: set[str]):
        self.info, self.names, self.global_names, self.guarded = info, names, global_names, guarded

    def visit_block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out = []
        for s in stmts:
            result = self.visit(s)
            out += result if isinstance(result, list) else [result]
        return out

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self.visit_block(value))
            elif isinstance(value, list):
                value[:] = [self.visit(v) if isinstance(v, ast.AST) else v for v in value]
            elif isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))
        return node

    def visit_FunctionDef(self, node):  # a nested function: its own scope, analysed alone
        info = analyse(node)
        inner = _ControlFlow(info, self.names, self.global_names, self.guarded | set().union(*(i.modified for i in info.values())))
        node.body = inner.visit_block(node.body)
        return node

    def visit_ClassDef(self, node):  # a local class: its methods are converted when called
        return node

    visit_AsyncFunctionDef = visit_ClassDef

    # -- expressions
    def visit_Call(self, node):  # user functions called here are converted too
        self.generic_visit(node)
        node.func = placed_at(call(runtime_helper("callee"), node.func), node.func)
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.guarded and not node.id.startswith(RETVAL):
            return placed_at(call(runtime_helper("ld"), node), node)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if any(isinstance(n, ast.NamedExpr) for v in node.values[1:] for n in ast.walk(v)):
            return node
        helper = "and_" if isinstance(node.op, ast.And) else "or_"
        rest = [ast.Lambda(args=_no_args(), body=v) for v in node.values[1:]]
        return placed_at(call(runtime_helper(helper), node.values[0], *rest), node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return placed_at(call(runtime_helper("not_"), node.operand), node)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        branches = [ast.Lambda(args=_no_args(), body=b) for b in (node.body, node.orelse)]
        return placed_at(call(runtime_helper("if_exp"), node.test, *branches, ast.Constant(node.lineno)), node)

    # -- statements
    def _functions(self, node, modified: set[str], state: list[str], kind: str) -> tuple[list[ast.stmt], list[str]]:
        """The undefined-variable guards and the ``get_state``/``set_state`` functions."""
        nonlocals = sorted(modified - self.global_names)
        guards = [_guard(n) for n in nonlocals]
        get_name, set_name = self.names.new(f"get_{kind}_state"), self.names.new(f"set_{kind}_state")
        state_tuple = ast.Tuple(elts=[name_node(n) for n in state], ctx=ast.Load())
        getter = _function(get_name, [], [ast.Return(value=state_tuple)], [], [])
        target = ast.Tuple(elts=[name_node(n, store=True) for n in state], ctx=ast.Store())
        setter = _function(set_name, ["state__"], [ast.Assign(targets=[target], value=name_node("state__"))] if state else [],
                           nonlocals if state else [], [])
        return statements_placed_at(guards + [getter, setter], node), [get_name, set_name]

    def _body(self, name: str, stmts: list[ast.stmt], modified: set[str], args=()) -> ast.FunctionDef:
        nonlocals = sorted(modified - self.global_names)
        declared_global = sorted(modified & self.global_names)
        return _function(name, list(args), stmts, nonlocals, declared_global)

    def visit_If(self, node):
        node.test = self.visit(node.test)
        info = self.info[id(node)]
        body, orelse = self.visit_block(node.body), self.visit_block(node.orelse)
        state = sorted((info.modified & info.live_after) - self.global_names)
        setup, (getter, setter) = self._functions(node, info.modified, state, "if")
        true_name, false_name = self.names.new("if_true"), self.names.new("if_false")
        functions = [self._body(true_name, body, info.modified), self._body(false_name, orelse, info.modified)]
        if_call = call(runtime_helper("if_stmt"), node.test, name_node(true_name), name_node(false_name),
                       name_node(getter), name_node(setter), _strings(state), ast.Constant(node.lineno))
        return setup + statements_placed_at(functions + [ast.Expr(value=if_call)], node)

    def _loop_state(self, info: ControlFlowInfo) -> tuple[list[str], list[str]]:
        carried = info.modified & (info.live_after | info.read_first)
        state = sorted(carried - self.global_names)
        must_carry = sorted(set(state) & (info.live_after | info.test_reads))
        return state, must_carry

    def visit_While(self, node):
        node.test = self.visit(node.test)
        info = self.info[id(node)]
        body = self.visit_block(node.body)
        state, must_carry = self._loop_state(info)
        setup, (getter, setter) = self._functions(node, info.modified, state, "loop")
        test_name, body_name = self.names.new("loop_test"), self.names.new("loop_body")
        functions = [_function(test_name, [], [ast.Return(value=node.test)], [], []),
                     self._body(body_name, body, info.modified)]
        while_call = call(runtime_helper("while_stmt"), name_node(test_name), name_node(body_name), name_node(getter),
                          name_node(setter), _strings(state), _strings(must_carry), ast.Constant(node.lineno))
        return setup + statements_placed_at(functions + [ast.Expr(value=while_call)], node)

    def visit_For(self, node):
        iterable = node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
            iterable.func = placed_at(runtime_helper("range_"), iterable.func)
        iterable = self.visit(iterable)
        info = self.info[id(node)]
        tests = extra_tests(node)
        body_name, item = self.names.new("loop_body"), self.names.new("item")
        body = [statements_placed_at([ast.Assign(targets=[node.target], value=name_node(item))], node)[0],
                *self.visit_block(node.body)]
        state, must_carry = self._loop_state(info)
        setup, (getter, setter) = self._functions(node, info.modified, state, "loop")
        functions = [self._body(body_name, body, info.modified, [item])]
        test = ast.Constant(value=None)
        if tests:
            test_name = self.names.new("extra_test")
            value = self.visit(tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests))
            functions.insert(0, _function(test_name, [], [ast.Return(value=value)], [], []))
            test = name_node(test_name)
        for_call = call(runtime_helper("for_stmt"), iterable, test, name_node(body_name), name_node(getter),
                        name_node(setter), _strings(state), _strings(must_carry), ast.Constant(node.lineno))
        return setup + statements_placed_at(functions + [ast.Expr(value=for_call)], node)


def _no_args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])


def _strings(names: list[str]) -> ast.Tuple:
    return ast.Tuple(elts=[ast.Constant(value=n) for n in names], ctx=ast.Load())


def _function(name: str, args: list[str], body: list[ast.stmt], nonlocals: list[str], declared_global: list[str]):
    declarations = ([ast.Nonlocal(names=nonlocals)] if nonlocals else []) + (
        [ast.Global(names=declared_global)] if declared_global else [])
    return ast.FunctionDef(
        name=name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=a) for a in args], kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=declarations + (body or [ast.Pass()]), decorator_list=[], returns=None, type_params=[],
    )


def _guard(name: str) -> ast.Try:
    """``try: name  except NameError: name = ag__.undefined('name')``: gives a variable a value the
    nested functions can declare ``nonlocal``."""
    return ast.Try(
        body=[ast.Expr(value=name_node(name))],
        handlers=[ast.ExceptHandler(type=name_node("NameError"), name=None,
                                    body=[assign(name, call(runtime_helper("undefined"), ast.Constant(value=name)))])],
        orelse=[], finalbody=[],
    )
