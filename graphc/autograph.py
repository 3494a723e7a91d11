"""AutoGraph: Python ``if``, ``while`` and ``for`` on tensors become ``cond`` and ``while_loop`` nodes.

``@gc.function`` traces ``convert(func)`` (unless ``autograph=False``): the function's source,
rewritten with Python's ``ast`` and compiled with the original file name and line numbers, so errors
and node locations point at the user's lines. The rewrite:

1. ``break`` and ``continue`` become flags (``break__1 = True``) with the rest of the loop body
   guarded by ``if not flag``, and the flag added to the loop's condition; a ``return`` inside a
   compound statement becomes ``do_return__ = True; retval__ = value`` the same way.
2. Each ``if``/``while``/``for`` becomes a call of this module's runtime (``ag__.if_stmt`` ...) with
   its branches or body as nested functions that read and write the enclosing variables
   (``nonlocal``), and ``get_state``/``set_state`` functions over the variables it may change that
   are used later (a liveness analysis). ``and``, ``or``, ``not`` and ``x if c else y`` become
   ``ag__.and_`` ... so they work on tensors too; ``range(...)`` in a ``for`` becomes ``ag__.range_``.

At run time (while tracing) each helper checks its condition: a Python value (or an eager tensor)
runs plain Python, a symbolic tensor builds the node (``graphc.control_flow``). Functions without
source (lambdas, the REPL) are traced as they are, with a one-line warning when they have branches.
"""
from __future__ import annotations

import ast
import copy
import dis
import functools
import inspect
import linecache
import os
import sysconfig
import textwrap
import types
import warnings
import weakref

from graphc.ir import dispatch
from graphc.ir import ops as irops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.location import _is_internal
from graphc.ir.types import bool_, int32, weak_type_of

from . import control_flow as cf
from . import nest
from .tensor import Tensor
from .tracing import current_trace
from .variables import Variable

RUNTIME = "ag__"
RETVAL, DO_RETURN = "retval__", "do_return__"


class AutoGraphWarning(UserWarning):
    """A function could not be converted: Python control flow on tensors in it is not converted."""


# -- conversion ---------------------------------------------------------------------------------
_converted: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def convert(func):
    """The function ``@gc.function`` traces in place of ``func``: ``func`` with its control flow on
    tensors converted, or ``func`` itself when it has none or its source cannot be read (a warning
    then names it). Bound methods and callable objects convert their function."""
    if isinstance(func, types.MethodType):
        converted = convert(func.__func__)
        return func if converted is func.__func__ else types.MethodType(converted, func.__self__)
    if not isinstance(func, types.FunctionType):
        call = getattr(type(func), "__call__", None)
        if isinstance(call, types.FunctionType) and not inspect.isclass(func):
            converted = convert(call)
            return func if converted is call else types.MethodType(converted, func)
        return func
    code = func.__code__
    if _left_alone(code.co_filename) or RUNTIME in code.co_freevars:
        return func  # graphc's own code, the standard library, installed packages, code converted already
    if func not in _converted:
        _converted[func] = _convert_function(func)
    return _converted[func]


_LIBRARY_DIRS = tuple(
    os.path.realpath(p) + os.sep for p in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
)


@functools.lru_cache(maxsize=None)
def _left_alone(filename: str) -> bool:
    """Code of graphc itself, of the standard library or of installed packages."""
    if _is_internal(filename) or filename.startswith("<frozen"):
        return True
    return os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def _warn(func, reason: str) -> None:
    message = (f"graphc autograph cannot convert {func.__qualname__} ({reason}); its Python if/while/for run as "
               "plain Python, so a tensor condition in them raises (autograph=False silences this)")
    code = func.__code__
    warnings.warn_explicit(message, AutoGraphWarning, code.co_filename, code.co_firstlineno)


def _has_branches(code: types.CodeType) -> bool:
    return any("JUMP" in ins.opname or ins.opname == "FOR_ITER" for ins in dis.get_instructions(code))


def _convert_function(func):
    code = func.__code__
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        return func
    if code.co_name == "<lambda>":
        node = _lambda_def(code)
        reason = "a lambda without source code, or not told apart from the code beside it"
    else:
        node, reason = _function_def(func)
    if node is None:
        if _has_branches(code):
            _warn(func, reason)
        return func
    if not any(isinstance(n, _CONVERTED) or _is_not(n) for n in ast.walk(node)):
        return func
    node.decorator_list = []
    try:
        transform(node, "__class__" in code.co_freevars)
        return _compile(func, node)
    except (SyntaxError, ValueError, TypeError, KeyError, StopIteration) as error:  # a construct the rewrite
        _warn(func, f"{type(error).__name__}: {error}")                              # does not handle
        return func


_CONVERTED = (ast.If, ast.While, ast.For, ast.BoolOp, ast.IfExp, ast.Call)


def _function_def(func) -> tuple[ast.FunctionDef | None, str]:
    """The ``def`` of ``func``, with the source file's line numbers; or None and why not."""
    try:
        lines, first_line = inspect.getsourcelines(func)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError) as error:
        return None, f"no source code: {type(error).__name__}"
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != func.__name__:
        return None, "its source code is not a plain def"
    ast.increment_lineno(tree, first_line - 1)
    return node, ""


_modules: dict[str, tuple[str, ast.Module | None]] = {}


def _module_ast(filename: str) -> ast.Module | None:
    source = "".join(linecache.getlines(filename))
    cached = _modules.get(filename)
    if cached is None or cached[0] != source:
        try:
            tree = ast.parse(source) if source else None
        except SyntaxError:
            tree = None
        _modules[filename] = cached = (source, tree)
    return cached[1]


def _lambda_def(code: types.CodeType) -> ast.FunctionDef | None:
    """The lambda of ``code`` as a ``def`` returning its body, found in its file by line, parameters
    and column; None when that does not single it out."""
    tree = _module_ast(code.co_filename)
    if tree is None:
        return None
    n_params = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS) + bool(
        code.co_flags & inspect.CO_VARKEYWORDS)
    params = list(code.co_varnames[:n_params])
    candidates = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
                  and _parameters(n.args) == params]
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
    return _at(node, lam)


def _parameters(args: ast.arguments) -> list[str]:
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return names + [a.arg for a in (args.vararg, args.kwarg) if a is not None]


def _is_not(node) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)


def _compile(func, node: ast.FunctionDef):
    """The converted function: ``node`` compiled in a factory whose parameters stand for the original
    closure cells (so the function shares them) and the runtime."""
    freevars = func.__code__.co_freevars
    factory = ast.FunctionDef(
        name="__graphc_factory__",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in (RUNTIME, *freevars)], kwonlyargs=[],
                           kw_defaults=[], defaults=[]),
        body=[node, ast.Return(value=ast.Name(id=node.name, ctx=ast.Load()))],
        decorator_list=[], returns=None, type_params=[],
    )
    ast.copy_location(factory, node)
    module = ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))
    filename = func.__code__.co_filename
    code = compile(module, filename, "exec")
    factory_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    fn_code = next(c for c in factory_code.co_consts if isinstance(c, types.CodeType) and c.co_name == node.name)
    cells = dict(zip(freevars, func.__closure__ or ()))
    cells[RUNTIME] = types.CellType(Runtime(filename))
    converted = types.FunctionType(fn_code, func.__globals__, func.__name__, func.__defaults__,
                                   tuple(cells[n] for n in fn_code.co_freevars))
    converted.__kwdefaults__ = func.__kwdefaults__
    converted.__qualname__, converted.__module__, converted.__doc__ = func.__qualname__, func.__module__, func.__doc__
    converted.__dict__.update(func.__dict__)
    return converted


# -- the rewrite -----------------------------------------------------------------------------------
def transform(node: ast.FunctionDef, has_class_cell: bool = False) -> None:
    """Rewrites the function ``node`` in place (see the module docstring)."""
    names = _Names()
    if has_class_cell and node.args.args:
        _ExplicitSuper(node.args.args[0].arg).visit(node)
    _JumpLowering(names).visit(node)
    for function in _functions_in(node):
        _lower_returns(function)
    global_names = {n for s in ast.walk(node) if isinstance(s, ast.Global) for n in s.names}
    info = _Analysis(global_names).run(node)
    guarded = set().union(*(i.modified for i in info.values())) - global_names if info else set()
    node.body = _ControlFlow(info, names, global_names, guarded).visit_block(node.body)


def _functions_in(node: ast.AST) -> list[ast.FunctionDef]:
    """``node`` and the functions nested in it (not in local classes, whose methods stay as they are)."""
    found = [node] if isinstance(node, ast.FunctionDef) else []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.ClassDef, ast.AsyncFunctionDef, ast.Lambda)):
            found += _functions_in(child)
    return found


class _Names:
    def __init__(self):
        self.count = 0

    def new(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"


def _name(id_: str, store: bool = False) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Store() if store else ast.Load())


def _runtime(attr: str) -> ast.Attribute:
    return ast.Attribute(value=_name(RUNTIME), attr=attr, ctx=ast.Load())


def _call(func: ast.expr, *args: ast.expr) -> ast.Call:
    return ast.Call(func=func, args=list(args), keywords=[])


def _assign(target: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[_name(target, store=True)], value=value)


def _not(flag: str) -> ast.expr:
    return ast.UnaryOp(op=ast.Not(), operand=_name(flag))


def _at(new: ast.AST, like: ast.AST) -> ast.AST:
    """Places the generated nodes of ``new`` (those without a location) on ``like``'s first line, so
    the line a call reports is the user's statement's first line."""
    if getattr(like, "lineno", None) is None:
        return new
    for n in ast.walk(new):
        if getattr(n, "lineno", None) is None and "lineno" in n._attributes:
            n.lineno = n.end_lineno = like.lineno
            n.col_offset = n.end_col_offset = like.col_offset
    return new


def _located(stmts: list[ast.stmt], like: ast.AST) -> list[ast.stmt]:
    for s in stmts:
        _at(s, like)
    return stmts


class _ExplicitSuper(ast.NodeTransformer):
    """``super()`` -> ``super(__class__, self)``: the zero-argument form fails in nested functions."""

    def __init__(self, first_arg: str):
        self.first_arg = first_arg

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args and not node.keywords:
            node.args = [_name("__class__"), _name(self.first_arg)]
        return node


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_LOOPS = (ast.While, ast.For)


def _blocks(stmt: ast.stmt, into_loops: bool) -> list[list[ast.stmt]]:
    """The statement lists inside ``stmt`` that run in its scope; a loop's body only ``into_loops``."""
    if isinstance(stmt, _LOOPS):
        return [stmt.body, stmt.orelse] if into_loops else [stmt.orelse]
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [stmt.body]
    if isinstance(stmt, ast.Try):
        return [stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody]
    return []


def _contains(stmts: list[ast.stmt], kind, into_loops: bool) -> bool:
    for s in stmts:
        if isinstance(s, kind) or any(_contains(b, kind, into_loops) for b in _blocks(s, into_loops)):
            return True
    return False


def _guarded(stmts: list[ast.stmt], kind, into_loops: bool, replace) -> list[ast.stmt]:
    """``stmts`` with each ``kind`` statement replaced by ``replace(stmt)`` (setting a flag), and the
    statements after one that may set the flag guarded by ``if not flag`` (``replace.flag``)."""
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, kind):
            out += _located(replace(s), s)
            return out  # the rest of the block is unreachable
        if not _contains([s], kind, into_loops):
            out.append(s)
            continue
        for block in _blocks(s, into_loops):
            block[:] = _guarded(block, kind, into_loops, replace)
        if into_loops and isinstance(s, _LOOPS):
            _add_loop_test(s, _not(replace.flag))
        out.append(s)
        rest = _guarded(stmts[i + 1:], kind, into_loops, replace)
        if rest:
            out += _located([ast.If(test=_not(replace.flag), body=rest, orelse=[])], s)
        return out
    return out


def _add_loop_test(loop: ast.stmt, test: ast.expr) -> None:
    """Adds ``test`` (checked first) to the condition of a ``while`` or the extra tests of a ``for``."""
    _at(test, loop)
    if isinstance(loop, ast.While):
        loop.test = _at(ast.BoolOp(op=ast.And(), values=[test, loop.test]), loop)
    else:
        loop.graphc_extra_tests = [test, *getattr(loop, "graphc_extra_tests", [])]


class _Replace:
    """Replaces a jump statement by ``flag = True`` (and, for ``return``, ``retval__ = value``)."""

    def __init__(self, flag: str, value: str | None = None):
        self.flag, self.value = flag, value

    def __call__(self, stmt) -> list[ast.stmt]:
        out = [_assign(self.flag, ast.Constant(value=True))]
        if self.value is not None:
            out.append(_assign(self.value, stmt.value or ast.Constant(value=None)))
        return out


class _JumpLowering(ast.NodeTransformer):
    """``break`` and ``continue`` become flags (innermost loops first)."""

    def __init__(self, names: _Names):
        self.names = names

    def visit_FunctionDef(self, node):  # nested functions are their own scope: convert them too
        self.generic_visit(node)
        return node

    def visit_loop(self, node):
        self.generic_visit(node)
        before, after = [], []
        if _contains(node.body, ast.Continue, False):
            flag = self.names.new("continue")
            reset = _located([_assign(flag, ast.Constant(value=False))], node)
            node.body = reset + _guarded(node.body, ast.Continue, False, _Replace(flag))
        if _contains(node.body, ast.Break, False):
            flag = self.names.new("break")
            before.append(_assign(flag, ast.Constant(value=False)))
            node.body = _guarded(node.body, ast.Break, False, _Replace(flag))
            _add_loop_test(node, _not(flag))
            if node.orelse:
                after.append(ast.If(test=_not(flag), body=node.orelse, orelse=[]))
        elif node.orelse:
            after += node.orelse
        node.orelse = []
        return _located(before, node) + [node] + _located(after, node)

    visit_While = visit_For = visit_loop


def _lower_returns(node: ast.FunctionDef) -> None:
    """``return`` inside compound statements -> flag and value, the function returning the value at
    its end (functions whose returns are all at the top level are left as they are)."""
    nested = any(_contains(b, ast.Return, True) for s in node.body for b in _blocks(s, True))
    if not nested:
        return
    body = _guarded(node.body, ast.Return, True, _Replace(DO_RETURN, RETVAL))
    start = [_assign(DO_RETURN, ast.Constant(value=False)),
             _assign(RETVAL, _call(_runtime("undefined"), ast.Constant(value=RETVAL)))]
    end = [ast.Return(value=_call(_runtime("retval"), _name(RETVAL)))]
    node.body = _located(start, node.body[0]) + body + _located(end, node.body[-1])


# -- analysis -------------------------------------------------------------------------------------
class _Info:
    """What the rewrite of one if/while/for needs: the variables it assigns (``modified``), those
    live after it, and for loops those read before being assigned in the condition and body
    (``read_first``) and those its condition reads (``test_reads``)."""

    def __init__(self, modified: set, live_after: set, read_first: set = frozenset(), test_reads: set = frozenset()):
        self.modified, self.live_after = modified, live_after
        self.read_first, self.test_reads = read_first, test_reads


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
        extra = set().union(*(_loads(t) for t in getattr(s, "graphc_extra_tests", [])))
        return (_loads(s.iter) | extra) - defined | _read_first(s.body, defined | _target_names(s.target))
    if isinstance(s, (ast.With, ast.AsyncWith)):
        bound = set().union(*(_target_names(i.optional_vars) for i in s.items if i.optional_vars))
        return set().union(*(_loads(i.context_expr) for i in s.items)) - defined | _read_first(s.body, defined | bound)
    if isinstance(s, ast.Try):
        return set().union(*(_read_first(b, defined) for b in _blocks(s, True)))
    if isinstance(s, ast.AugAssign):
        return (_loads(s) | _target_names(s.target)) - defined
    return _loads(s) - defined


class _Analysis:
    """Annotates every if/while/for of a function (nested functions separately) with an ``_Info``."""

    def __init__(self, global_names: set[str]):
        self.global_names = global_names
        self.info: dict[int, _Info] = {}

    def run(self, node: ast.FunctionDef) -> dict[int, _Info]:
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
            self.info[id(s)] = _Info(_stored(s.body + s.orelse), after)
            self.block(s.body, after)
            self.block(s.orelse, after)
        elif isinstance(s, (ast.While, ast.For)):
            targets = _target_names(s.target) if isinstance(s, ast.For) else set()
            loop = [ast.Expr(value=s.test)] if isinstance(s, ast.While) else []
            loop += [ast.Expr(value=t) for t in getattr(s, "graphc_extra_tests", [])]
            read_first = _read_first(loop + s.body, targets)
            test_reads = set().union(*(_loads(t) for t in loop))
            self.info[id(s)] = _Info(_stored(s.body) | targets, after, read_first, test_reads)
            self.block(s.body, after | read_first)
        else:
            for block in _blocks(s, True):
                self.block(block, after)


# -- the control flow ------------------------------------------------------------------------------
class _ControlFlow(ast.NodeTransformer):
    """Replaces if/while/for by runtime calls, and the expressions that test truth by helpers."""

    def __init__(self, info: dict[int, _Info], names: _Names, global_names: set[str], guarded: set[str]):
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
        info = _Analysis(self.global_names).run(node)
        inner = _ControlFlow(info, self.names, self.global_names, self.guarded | set().union(*(i.modified for i in info.values())))
        node.body = inner.visit_block(node.body)
        return node

    def visit_ClassDef(self, node):  # a local class: its methods are converted when called
        return node

    visit_AsyncFunctionDef = visit_ClassDef

    # -- expressions
    def visit_Call(self, node):  # user functions called here are converted too
        self.generic_visit(node)
        node.func = _at(_call(_runtime("callee"), node.func), node.func)
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.guarded and not node.id.startswith(RETVAL):
            return _at(_call(_runtime("ld"), node), node)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if any(isinstance(n, ast.NamedExpr) for v in node.values[1:] for n in ast.walk(v)):
            return node
        helper = "and_" if isinstance(node.op, ast.And) else "or_"
        rest = [ast.Lambda(args=_no_args(), body=v) for v in node.values[1:]]
        return _at(_call(_runtime(helper), node.values[0], *rest), node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return _at(_call(_runtime("not_"), node.operand), node)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        branches = [ast.Lambda(args=_no_args(), body=b) for b in (node.body, node.orelse)]
        return _at(_call(_runtime("if_exp"), node.test, *branches, ast.Constant(node.lineno)), node)

    # -- statements
    def _functions(self, node, modified: set[str], state: list[str], kind: str) -> tuple[list[ast.stmt], list[str]]:
        """The undefined-variable guards and the ``get_state``/``set_state`` functions."""
        nonlocals = sorted(modified - self.global_names)
        guards = [_guard(n) for n in nonlocals]
        get_name, set_name = self.names.new(f"get_{kind}_state"), self.names.new(f"set_{kind}_state")
        state_tuple = ast.Tuple(elts=[_name(n) for n in state], ctx=ast.Load())
        getter = _function(get_name, [], [ast.Return(value=state_tuple)], [], [])
        target = ast.Tuple(elts=[_name(n, store=True) for n in state], ctx=ast.Store())
        setter = _function(set_name, ["state__"], [ast.Assign(targets=[target], value=_name("state__"))] if state else [],
                           nonlocals if state else [], [])
        return _located(guards + [getter, setter], node), [get_name, set_name]

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
        call = _call(_runtime("if_stmt"), node.test, _name(true_name), _name(false_name), _name(getter), _name(setter),
                     _strings(state), ast.Constant(node.lineno))
        return setup + _located(functions + [ast.Expr(value=call)], node)

    def _loop_state(self, info: _Info) -> tuple[list[str], list[str]]:
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
        call = _call(_runtime("while_stmt"), _name(test_name), _name(body_name), _name(getter), _name(setter),
                     _strings(state), _strings(must_carry), ast.Constant(node.lineno))
        return setup + _located(functions + [ast.Expr(value=call)], node)

    def visit_For(self, node):
        iterable = node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
            iterable.func = _at(_runtime("range_"), iterable.func)
        iterable = self.visit(iterable)
        info = self.info[id(node)]
        tests = getattr(node, "graphc_extra_tests", [])
        body_name, item = self.names.new("loop_body"), self.names.new("item")
        body = [_located([ast.Assign(targets=[node.target], value=_name(item))], node)[0], *self.visit_block(node.body)]
        state, must_carry = self._loop_state(info)
        setup, (getter, setter) = self._functions(node, info.modified, state, "loop")
        functions = [self._body(body_name, body, info.modified, [item])]
        test = ast.Constant(value=None)
        if tests:
            test_name = self.names.new("extra_test")
            value = self.visit(tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests))
            functions.insert(0, _function(test_name, [], [ast.Return(value=value)], [], []))
            test = _name(test_name)
        call = _call(_runtime("for_stmt"), iterable, test, _name(body_name), _name(getter), _name(setter),
                     _strings(state), _strings(must_carry), ast.Constant(node.lineno))
        return setup + _located(functions + [ast.Expr(value=call)], node)


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
        body=[ast.Expr(value=_name(name))],
        handlers=[ast.ExceptHandler(type=_name("NameError"), name=None,
                                    body=[_assign(name, _call(_runtime("undefined"), ast.Constant(value=name)))])],
        orelse=[], finalbody=[],
    )


# -- the runtime of converted code -------------------------------------------------------------------
class Runtime:
    """The helpers converted code calls (as ``ag__``), for one source file."""

    def __init__(self, filename: str):
        self.filename = filename

    def site(self, kind: str, line: int) -> cf.Site:
        return cf.Site(kind, f"{self.filename}:{line}")

    # -- values
    @staticmethod
    def undefined(name: str) -> cf.Undefined:
        return cf.Undefined(name)

    @staticmethod
    def ld(value):
        """A variable's value; raises when it has none (Python's own UnboundLocalError)."""
        if isinstance(value, cf.Undefined):
            value.fail()
        return value

    @staticmethod
    def retval(value):
        return None if isinstance(value, cf.Undefined) else value

    @staticmethod
    def callee(func):
        """The function a call in converted code calls: converted too, when it is user code."""
        return convert(func)

    @staticmethod
    def range_(*args):
        return cf.python_range(*args)

    # -- expressions
    @staticmethod
    def not_(x):
        x = cf.as_condition(x)
        return irops.logical_not(x) if cf.is_symbolic(x) else not x

    @staticmethod
    def and_(first, *rest):
        value = first
        for next_value in rest:
            condition = cf.as_condition(value)
            if cf.is_symbolic(condition):
                value = irops.logical_and(condition, cf.as_condition(_symbolic_or_constant(next_value())))
            elif not value:
                return value
            else:
                value = next_value()
        return value

    @staticmethod
    def or_(first, *rest):
        value = first
        for next_value in rest:
            condition = cf.as_condition(value)
            if cf.is_symbolic(condition):
                value = irops.logical_or(condition, cf.as_condition(_symbolic_or_constant(next_value())))
            elif value:
                return value
            else:
                value = next_value()
        return value

    def if_exp(self, cond, true_fn, false_fn, line: int):
        cond = cf.as_condition(cond)
        if not cf.is_symbolic(cond):
            return true_fn() if cond else false_fn()
        (value,) = cf.trace_cond(cond, [lambda: [true_fn()], lambda: [false_fn()]], ["the value"],
                                 self.site("the conditional expression", line))
        return value

    # -- statements
    def if_stmt(self, cond, true_fn, false_fn, get_state, set_state, names, line: int):
        cond = cf.as_condition(cond)
        if not cf.is_symbolic(cond):
            (true_fn if cond else false_fn)()
            return
        start = get_state()

        def branch(fn):
            def run():
                set_state(start)
                fn()
                return get_state()

            return run

        placeholders = [n for n in names if n == RETVAL]
        set_state(tuple(cf.trace_cond(cond, [branch(true_fn), branch(false_fn)], list(names), self.site("the if", line),
                                      placeholders)))

    def while_stmt(self, test, body, get_state, set_state, names, must_carry, line: int):
        while True:
            cond = cf.as_condition(test())
            if cf.is_symbolic(cond):
                loop = _Loop(self.site("the while loop", line), get_state, set_state, names, must_carry)
                loop.run(lambda hidden: test(), lambda hidden: (body(), [])[1], [], [])
                return
            if not cond:
                return
            body()

    def for_stmt(self, iterable, extra_test, body, get_state, set_state, names, must_carry, line: int):
        site = self.site("the for loop", line)
        if isinstance(iterable, Variable):
            iterable = iterable.read_value()
        if cf.is_symbolic(iterable) and iterable.type.shape and not isinstance(iterable.type.shape[0], int):
            tensor = iterable
            iterable = cf.SymbolicRange(0, irops.dim_size(tensor, [0], int32), 1, int32)
            item = lambda i: irops.gather(tensor, i, 0)  # noqa: E731
        else:
            item = lambda i: i  # noqa: E731
        if isinstance(iterable, cf.SymbolicRange):
            _Loop(site, get_state, set_state, names, must_carry).range(iterable, extra_test, lambda i: body(item(i)))
            return
        for value in iterable:
            if extra_test is not None:
                go = cf.as_condition(extra_test())
                if cf.is_symbolic(go):  # a break on a tensor: this and later iterations run under a cond
                    self.if_stmt(go, lambda: body(value), lambda: None, get_state, set_state, names, line)
                    continue
                if not go:
                    break
            body(value)


def _symbolic_or_constant(x):
    return x if cf.is_symbolic(x) or isinstance(x, (Tensor, Variable)) else irops.constant(x, bool_)


class _Loop:
    """A loop on tensors over the state variables of converted code: the variables without a value yet
    are left out unless used after the loop (an error, but for a return value: zeros stand in)."""

    def __init__(self, site: cf.Site, get_state, set_state, names, must_carry):
        self.site, self.get_state, self.set_state = site, get_state, set_state
        self.names, self.must_carry = list(names), set(must_carry)

    def run(self, condition, step, hidden: list, hidden_names: list[str]) -> None:
        """``condition(hidden)`` and ``step(hidden) -> hidden`` (the body) over the state and the
        ``hidden`` loop variables (a counter)."""
        state = list(self.get_state())
        keep = [i for i, (n, v) in enumerate(zip(self.names, state)) if not isinstance(v, cf.Undefined) or n in self.must_carry]
        for i in keep:
            if isinstance(state[i], cf.Undefined) and self.names[i] != RETVAL:
                raise self.site.error(
                    InvalidArgumentError,
                    f"{self.names[i]!r} is used after {self.site} (or in its condition) but has no value before it: "
                    "give it a value before the loop",
                )
        if any(isinstance(state[i], cf.Undefined) for i in keep):
            state = self._placeholders(state, keep, step, hidden)
        templates = [state[i] for i in keep]
        flat = [*hidden, *(leaf for t in templates for leaf in nest.flatten(t))]
        flat_names = [*hidden_names, *(f"{self.names[i]}{path}" for i in keep for path, _ in nest.flatten_with_paths(state[i]))]
        n_hidden = len(hidden)

        def put(values):
            current = list(state)
            leaves = iter(values[n_hidden:])
            for i, t in zip(keep, templates):
                current[i] = nest.map_structure(lambda _: next(leaves), t)
            self.set_state(tuple(current))

        def cond_fn(*values):
            put(values)
            return condition(list(values[:n_hidden]))

        def body_fn(*values):
            put(values)
            new_hidden = step(list(values[:n_hidden]))
            after = self.get_state()
            leaves = []
            for i, t in zip(keep, templates):
                if nest.structure_key(after[i]) != nest.structure_key(t):
                    raise self.site.error(
                        InvalidArgumentError,
                        f"{self.names[i]!r} changes its nesting in {self.site}: {t!r} before, {after[i]!r} after an iteration",
                    )
                leaves += nest.flatten(after[i])
            return [*new_hidden, *leaves]

        results = self._trace(cond_fn, body_fn, flat, flat_names)
        put(results)

    def _trace(self, cond_fn, body_fn, flat: list, flat_names: list[str]) -> list:
        """Traces the loop; a variable that starts as a Python number and becomes a tensor of another
        dtype (``total = 0`` then ``total += x``) starts as that dtype instead."""
        for attempt in (0, 1):
            try:
                return cf.trace_while(cond_fn, body_fn, flat, flat_names, self.site)
            except cf.LoopVariableTypeError as error:
                start = flat[error.index]
                if attempt or weak_type_of(start) is None or error.new_type.shape != ():
                    raise
                flat[error.index] = irops.constant(start, error.new_type.dtype)
        raise AssertionError("unreachable")

    def _placeholders(self, state: list, keep: list[int], step, hidden) -> list:
        """The state with zeros for the undefined return value, shaped like what an iteration gives it
        (one iteration traced into a region that is then dropped)."""
        parent = current_trace()
        probe = cf.RegionTracer("probe", parent, {})
        with dispatch.handler(probe):
            self.set_state(tuple(state))
            step(list(hidden))
            after = self.get_state()
        self.set_state(tuple(state))
        state = list(state)
        for i in keep:
            if isinstance(state[i], cf.Undefined):
                if isinstance(after[i], cf.Undefined):
                    raise self.site.error(InvalidArgumentError, f"{self.names[i]!r} has no value before or in {self.site}")
                state[i] = cf.zeros_like_value(after[i])
        return state

    def range(self, rng: cf.SymbolicRange, extra_test, body) -> None:
        """``for i in rng: body(i)`` (while ``extra_test()``, when given)."""
        delta = rng.delta

        def condition(hidden):
            (i,) = hidden
            if cf.is_symbolic(delta):
                go = irops.where(irops.greater(delta, 0), irops.less(i, rng.limit), irops.greater(i, rng.limit))
            else:
                go = irops.less(i, rng.limit) if delta > 0 else irops.greater(i, rng.limit)
            if extra_test is not None:
                go = irops.logical_and(go, cf.as_condition(_symbolic_or_constant(extra_test())))
            return go

        def step(hidden):
            (i,) = hidden
            body(i)
            return [irops.add(i, delta)]

        start = rng.start if isinstance(rng.start, Tensor) else irops.constant(rng.start, rng.dtype)
        self.run(condition, step, [start], ["the loop counter"])
