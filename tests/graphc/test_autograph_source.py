"""The ``def`` autograph converts is found from the lines its code spans (``source.function_def``),
without tokenizing the file: it is the ``def`` ``inspect.getsourcelines`` finds, line numbers
included, whatever follows the function or ends its body."""
from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import textwrap

import pytest

from graphc.autograph import source


def same(f):
    return f


def plain(x):
    y = x * 2
    return y + 1


@same
@same
def decorated(x):
    return x


def multi_line_header(x,
                      scale=2.0,
                      *,
                      shift=(1,
                             2)):
    return x * scale


def ends_with_else_pass(x):
    if x:
        x = 1
    else:
        pass


def ends_with_a_nested_def(x):
    def inner(y):
        return (y +
                x)


def ends_with_a_long_expression(x):
    return (x
            + 1
            + 2)


def ends_with_a_loop_doing_nothing(x):
    while x:
        pass


def one_line(x): return x * 2


def ends_with_a_lambda(x):
    return lambda y: (
        y + x)


def ends_with_a_comment(x):
    return x
    # a comment after the last line


class Holder:
    def method(self, x):
        for i in range(3):
            x = x + i
        return x


@functools.wraps(plain)
def wrapper(*args):
    return plain(*args)


def ends_with_a_string(x):
    x = x + 1
    """a statement that compiles to nothing"""


FUNCTIONS = [plain, decorated, multi_line_header, ends_with_else_pass, ends_with_a_nested_def,
             ends_with_a_long_expression, ends_with_a_loop_doing_nothing, one_line, ends_with_a_lambda,
             ends_with_a_comment, Holder.method, wrapper, ends_with_a_string]


def inspected(func) -> ast.FunctionDef:
    """The def as ``inspect`` finds it, with the file's line numbers (the reference)."""
    lines, first = inspect.getsourcelines(func)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first - 1)
    return tree.body[0]


@pytest.mark.parametrize("func", FUNCTIONS, ids=[f.__qualname__ for f in FUNCTIONS])
def test_the_def_is_the_one_inspect_finds(func):
    node, reason = source.function_def(func)
    assert reason == ""
    assert ast.dump(node, include_attributes=True) == ast.dump(inspected(func), include_attributes=True)


def test_the_def_is_found_without_tokenizing_the_file(monkeypatch):
    monkeypatch.setattr(inspect, "getsourcelines", lambda func: pytest.fail("inspect was asked"))
    for func in (plain, decorated, multi_line_header, ends_with_a_nested_def, one_line, Holder.method, ends_with_a_string):
        assert source.function_def(func)[0] is not None


def test_code_without_source_is_reported():
    namespace = {}
    exec("def made(x):\n    return x\n", namespace)
    node, reason = source.function_def(namespace["made"])
    assert node is None and reason.startswith("no source code")


def test_a_file_edited_since_it_was_read_is_read_again(tmp_path):
    def load(text):
        path = tmp_path / "edited.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location("edited", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.f

    first = load("def f(x):\n    return x + 1\n")
    assert ast.unparse(source.function_def(first)[0]) == "def f(x):\n    return x + 1"
    edited = load("def f(x):\n    return x + 22222\n")
    assert ast.unparse(source.function_def(edited)[0]) == "def f(x):\n    return x + 22222"
