"""``convert``: the function ``@gc.function`` traces in place of the user's, its source rewritten by
``transform`` and compiled with the original file name, line numbers and closure cells (or its
converted code loaded from the compile cache, ``code_cache``)."""
from __future__ import annotations

import ast
import dis
import inspect
import threading
import types
import warnings
import weakref

from .code_cache import ConvertedCode
from .runtime import Runtime
from .source import function_def, is_left_alone, lambda_def
from .syntax import RUNTIME
from .transform import needs_conversion, transform


class AutoGraphWarning(UserWarning):
    """A function could not be converted: Python control flow on tensors in it is not converted."""


_converted: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# One conversion at a time: the converted-function and parsed-module caches are shared, and CPython
# 3.11's parser is not safe when threads parse at once ("SystemError: AST constructor recursion depth
# mismatch" when two threads made their first calls of two functions together).
_CONVERTING = threading.RLock()


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
    if is_left_alone(code.co_filename) or RUNTIME in code.co_freevars:
        return func  # graphc's own code, the standard library, installed packages, code converted already
    with _CONVERTING:
        if func not in _converted:
            _converted[func] = _convert_function(func)
        return _converted[func]


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
        node = lambda_def(code)
        reason = "a lambda without source code, or not told apart from the code beside it"
    else:
        node, reason = function_def(func)
    if node is None:
        if _has_branches(code):
            _warn(func, reason)
        return func
    if not needs_conversion(node):
        return func
    node.decorator_list = []
    entry = ConvertedCode(func, node)
    converted = entry.load()
    if converted is None:
        try:
            transform(node, "__class__" in code.co_freevars)
            converted = _compile(func, node)
        except (SyntaxError, ValueError, TypeError, KeyError, StopIteration) as error:  # a construct the rewrite
            _warn(func, f"{type(error).__name__}: {error}")                              # does not handle
            return func
        entry.store(converted)
    return _function(func, converted)


def _compile(func, node: ast.FunctionDef) -> types.CodeType:
    """The converted function's code: ``node`` compiled in a factory whose parameters stand for the
    original closure cells (so the function shares them) and the runtime."""
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
    return next(c for c in factory_code.co_consts if isinstance(c, types.CodeType) and c.co_name == node.name)


def _function(func, fn_code: types.CodeType):
    """The converted function of code ``fn_code``, sharing ``func``'s closure cells, globals and defaults."""
    filename = func.__code__.co_filename
    cells = dict(zip(func.__code__.co_freevars, func.__closure__ or ()))
    cells[RUNTIME] = types.CellType(Runtime(filename, convert))
    converted = types.FunctionType(fn_code, func.__globals__, func.__name__, func.__defaults__,
                                   tuple(cells[n] for n in fn_code.co_freevars))
    converted.__kwdefaults__ = func.__kwdefaults__
    converted.__qualname__, converted.__module__, converted.__doc__ = func.__qualname__, func.__module__, func.__doc__
    converted.__dict__.update(func.__dict__)
    return converted
