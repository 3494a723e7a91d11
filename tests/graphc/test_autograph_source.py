"""The ``def`` autograph converts is found from the lines its code spans (``source.function_def``),
without tokenizing the file: it is the ``def`` ``inspect.getsourcelines`` finds, line numbers
included, whatever follows the function or ends its body."""
from __future__ import annotations

import ast
import functools
import inspect
import textwrap

import pytest

from graphc.autograph import source

from .test_autograph_code_cache import module_from


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
    first = module_from(tmp_path / "edited.py", "def f(x):\n    return x + 1\n").f
    assert ast.unparse(source.function_def(first)[0]) == "def f(x):\n    return x + 1"
    edited = module_from(tmp_path / "edited.py", "def f(x):\n    return x + 22222\n").f
    assert ast.unparse(source.function_def(edited)[0]) == "def f(x):\n    return x + 22222"


# -- lambdas: found by line, parameters and column, in one walk of their file's tree ------------------------
SQUARE = lambda x: x * x  # noqa: E731
PAIR = (lambda a, b: a + b, lambda a: a - 1)  # two on one line: told apart by their parameters
SAME_PARAMETERS = (lambda v: v + 1, lambda v: v * 2)  # told apart by their columns


@pytest.mark.parametrize("func, body", [(SQUARE, "x * x"), (PAIR[0], "a + b"), (PAIR[1], "a - 1"),
                                        (SAME_PARAMETERS[0], "v + 1"), (SAME_PARAMETERS[1], "v * 2")])
def test_a_lambda_is_found_as_a_def_returning_its_body(func, body):
    node = source.lambda_def(func.__code__)
    assert node is not None and ast.unparse(node.body[0]) == f"return {body}"
    assert node.lineno == func.__code__.co_firstlineno


def test_the_lambdas_of_a_file_are_found_in_one_walk_of_its_tree_per_version(tmp_path, monkeypatch):
    """Walking the whole tree for each lambda made converting a lambda cost time in proportion to
    its file's size (85 ms a lambda in a file of 1,400 lines, under cProfile)."""
    walks = []
    walk = ast.walk
    monkeypatch.setattr(ast, "walk", lambda node: (walks.append(node), walk(node))[1])
    path = tmp_path / "lambdas.py"
    functions = module_from(path, "FUNCTIONS = [\n" + "".join(f"    lambda x: x + {k},\n" for k in range(50)) + "]\n").FUNCTIONS
    bodies = [ast.unparse(source.lambda_def(f.__code__).body[0]) for f in functions]
    assert bodies == [f"return x + {k}" for k in range(50)]
    assert len([w for w in walks if isinstance(w, ast.Module)]) == 1
    edited = module_from(path, "FUNCTIONS = [lambda x: x * 7]\n").FUNCTIONS
    assert ast.unparse(source.lambda_def(edited[0].__code__).body[0]) == "return x * 7"
    assert len([w for w in walks if isinstance(w, ast.Module)]) == 2
