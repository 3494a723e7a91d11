"""``gc.Module``: a container of variables and sub-modules, found by walking its attributes (as
``tf.Module``)."""
from __future__ import annotations

import functools
import inspect
import json
import re

from graphc.ir.arguments import arguments_of
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.dispatch import name_scope

from .saving.registry import get_registered_name
from .variables import Variable


def snake_case(name: str) -> str:
    """``MyDenseLayer`` -> ``my_dense_layer``, ``Conv2D`` -> ``conv2d`` (Keras's rule)."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().strip("_") or "module"


_INIT_ARGUMENTS = "_init_arguments"  # where ``recording_arguments`` keeps an object's constructor arguments


def check_name(name) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"a module name must be a non-empty string without '/', got {name!r}")
    return name


class Module:
    """A named collection of variables and sub-modules, as ``tf.Module``.

    Variables and modules assigned as attributes, also inside lists, tuples and dicts, are found
    recursively (in attribute order) by ``variables``, ``trainable_variables`` and ``submodules``.
    A ``__call__`` defined by a subclass runs inside ``gc.name_scope(module.name)``, so the nodes of
    a traced graph group by module; decorate other methods with ``Module.with_name_scope``.
    ``@gc.function`` works on methods (each instance gets its own traces)."""

    # attributes the walk skips: bookkeeping that repeats what is tracked elsewhere
    _untracked_attributes = frozenset({"_name", _INIT_ARGUMENTS})
    # whether the module's variables count as a layer's weights (no for random state and metrics)
    _holds_weights = True

    def __init__(self, name: str | None = None):
        self._name = check_name(snake_case(type(self).__name__) if name is None else name)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__ and not getattr(cls.__dict__["__call__"], "_in_name_scope", False):
            cls.__call__ = Module.with_name_scope(cls.__dict__["__call__"])

    @property
    def name(self) -> str:
        return self._name

    @property
    def name_scope(self):
        """A context manager grouping the ops created inside under this module's name."""
        return name_scope(self.name)

    @staticmethod
    def with_name_scope(method):
        """Decorates a method to run inside its module's name scope (works on ``@gc.function`` methods)."""

        @functools.wraps(method, updated=())
        def scoped(self, *args, **kwargs):
            with name_scope(self.name):
                return method.__get__(self, type(self))(*args, **kwargs)

        scoped._in_name_scope = True
        return scoped

    # -- tracking ------------------------------------------------------------------------------------
    def _trackable_children(self) -> dict:
        """Attribute name -> value, for the attributes that hold variables or modules."""
        skip = _untracked(type(self))
        return {k: v for k, v in vars(self).items() if k not in skip and _holds_trackables(v)}

    @property
    def variables(self) -> list[Variable]:
        """Every variable of this module and its sub-modules, each once."""
        return [leaf for _, leaf in walk(self) if isinstance(leaf, Variable)]

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.trainable]

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return [v for v in self.variables if not v.trainable]

    @property
    def submodules(self) -> list["Module"]:
        """Every module reachable from this one (not itself), each once."""
        return [leaf for _, leaf in walk(self) if isinstance(leaf, Module) and leaf is not self]

    def __repr__(self) -> str:
        return f"<{type(self).__module__.split('.')[0]}.{type(self).__name__} {self.name!r}>"


def _untracked(cls) -> frozenset:
    names = set()
    for klass in cls.__mro__:
        names |= klass.__dict__.get("_untracked_attributes", frozenset())
    return frozenset(names)


def is_trackable(value) -> bool:
    return isinstance(value, Variable) or hasattr(value, "_trackable_children")


def _holds_trackables(value, depth: int = 0) -> bool:
    if is_trackable(value):
        return True
    if depth < 8 and isinstance(value, (list, tuple)):
        return any(_holds_trackables(v, depth + 1) for v in value)
    if depth < 8 and isinstance(value, dict):
        return any(_holds_trackables(v, depth + 1) for v in value.values())
    return False


def trackable_leaves(value) -> list:
    """The variables and trackable objects in ``value`` (itself, or inside lists, tuples and dicts)."""
    items = container_items(value)
    if items is None:
        return [value] if is_trackable(value) else []
    return [leaf for _, item in items for leaf in trackable_leaves(item)]


def container_items(value):
    """The (name, item) pairs of a list, tuple or dict; None for anything else."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(value)]
    return None


def module_children(obj) -> dict | None:
    """The tracked children of a module (or any object with ``_trackable_children``); None otherwise."""
    children = getattr(obj, "_trackable_children", None)
    return children() if children is not None else None


def walk(root, children=module_children) -> list:
    """``(path, object)`` for ``root`` and every variable and object under it, depth first in
    attribute order, each object once (at the first path that reaches it). ``children(obj)`` gives an
    object's named children, or None for objects that are not part of the tree."""
    seen: set[int] = set()
    out: list = []

    def visit(path: str, obj):
        items = container_items(obj)
        if items is not None:
            for name, item in items:
                visit(f"{path}/{name}" if path else name, item)
            return
        if id(obj) in seen:
            return
        if isinstance(obj, Variable):
            seen.add(id(obj))
            out.append((path, obj))
            return
        named = children(obj)
        if named is None:
            return
        seen.add(id(obj))
        out.append((path, obj))
        for name, child in named.items():
            visit(f"{path}/{name}" if path else name, child)

    visit("", root)
    return out


# -- constructor arguments, for get_config/from_config ------------------------------------------------
class Configurable:
    """An object Keras-style code saves by its config: ``get_config()`` returns the constructor's
    arguments as a dict, ``from_config(config)`` builds it again (initializers, regularizers)."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def serialize_configurable(obj, kind: type[Configurable], module: str) -> dict | None:
    """``{"class_name", "config"}`` of ``obj``, an instance of ``kind`` (``None`` stays ``None``);
    ``module`` names where such objects come from in the error for anything else."""
    if obj is None:
        return None
    if not isinstance(obj, kind):
        raise InvalidArgumentError(f"cannot serialize {obj!r}: only {module} objects have a config")
    return {"class_name": get_registered_name(type(obj)), "config": obj.get_config()}


def recording_arguments(init):
    """Wraps a class's ``__init__`` to remember the arguments of the outermost call on each object
    (``recorded_arguments``) and to name the object's class in the argument errors it raises."""

    @functools.wraps(init)
    def recording_init(self, *args, **kwargs):
        if _INIT_ARGUMENTS not in self.__dict__:
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            arguments = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = inspect.signature(init).parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    arguments[name] = value
            self.__dict__[_INIT_ARGUMENTS] = arguments
        with arguments_of(type(self).__name__):
            init(self, *args, **kwargs)

    return recording_init


def recorded_arguments(obj) -> dict:
    """The arguments by name (``**kwargs`` spread out, ``*args`` left out) that ``obj``'s constructor,
    wrapped by ``recording_arguments``, was called with: ``obj.get_config()`` for a class that
    describes itself by its constructor arguments, which must be plain data."""
    arguments = dict(obj.__dict__.get(_INIT_ARGUMENTS, {}))
    bad = [k for k, v in arguments.items() if not _json_friendly(v)]
    if bad:
        raise TypeError(
            f"{type(obj).__name__}.get_config: constructor arguments {bad} are not plain data "
            "(numbers, strings, lists, dicts); override get_config to describe them"
        )
    return arguments


def _json_friendly(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
