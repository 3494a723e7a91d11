"""Each public namespace module (gc.losses, gc.metrics, gc.optimizers, ...) says what its API is
in ``__all__``: names that exist, are no modules, and are not the helpers the module imports
(NumPy, the op set, error classes of other namespaces), so ``from graphc.losses import *`` gives
the Keras names and nothing else."""
import importlib
import types

import pytest

import graphc as gc

NAMESPACES = ["losses", "metrics", "optimizers", "activations", "initializers", "regularizers", "random", "data",
              "config", "errors", "callbacks", "layers", "distribute", "utils", "train"]


@pytest.mark.parametrize("name", NAMESPACES)
def test_a_namespace_lists_its_api(name):
    module = getattr(gc, name)
    assert hasattr(module, "__all__"), f"gc.{name} has no __all__"
    listed = list(module.__all__)
    assert len(set(listed)) == len(listed), f"gc.{name}.__all__ repeats names"
    for attribute in listed:
        value = getattr(module, attribute)  # raises if missing
        assert not isinstance(value, types.ModuleType), f"gc.{name}.{attribute} is a module"
    helpers = {"np", "ops", "annotations", "math", "sys", "warnings", "nest", "Variable", "Tensor", "init_scope"}
    assert not helpers & set(listed), f"gc.{name}.__all__ lists imported helpers {sorted(helpers & set(listed))}"


@pytest.mark.parametrize("name", ["losses", "metrics", "optimizers", "initializers", "regularizers"])
def test_star_import_gives_the_listed_names(name):
    scope: dict = {}
    exec(f"from graphc.{name} import *", scope)  # noqa: S102  (the statement under test)
    assert set(scope) - {"__builtins__"} == set(importlib.import_module(f"graphc.{name}").__all__)


def test_errors_lists_every_graphc_error_class():
    classes = {n for n, v in vars(gc.errors).items() if isinstance(v, type) and issubclass(v, gc.errors.GraphcError)}
    assert classes == set(gc.errors.__all__)
