"""Names of the classes and functions that configs may mention, and turning objects into configs
and back (Keras's ``register_keras_serializable``, ``custom_object_scope``, ``serialize`` and
``deserialize``).

A config names a class, never a module: ``{"class_name": "Custom>Scaler", "config": {...}}``. Loading
looks the name up in ``custom_objects``, the classes made known with ``register_serializable``, and
the built-in classes of the kind being loaded (a loss among the losses...); it imports nothing, so a
file can only ever make objects of classes the program already has."""
from __future__ import annotations

import contextlib
import threading

from graphc.ir.errors import InvalidArgumentError

_REGISTERED: dict[str, object] = {}  # "package>name" -> class or function
_NAME_OF: dict[int, str] = {}  # id(class or function) -> its registered name


class _Scopes(threading.local):
    def __init__(self):
        self.stack: list[dict] = []


_SCOPES = _Scopes()


def register_serializable(package: str = "Custom", name: str | None = None):
    """Class or function decorator: makes ``obj`` known to configs as ``"<package>>name"`` (``name``
    defaults to its ``__name__``), as ``keras.saving.register_keras_serializable``. A class needs
    ``get_config`` (and ``from_config`` unless its constructor takes the config's entries)."""
    if not isinstance(package, str) or not package or ">" in package:
        raise InvalidArgumentError(f"register_serializable: package must be a non-empty string without '>', got {package!r}")

    def decorator(obj):
        registered = f"{package}>{name or getattr(obj, '__name__', '')}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise InvalidArgumentError(f"register_serializable: class {obj.__name__} has no get_config method")
        if not callable(obj) or registered.endswith(">"):
            raise InvalidArgumentError(f"register_serializable: expected a class or a named function, got {obj!r:.80}")
        _REGISTERED[registered] = obj
        _NAME_OF[id(obj)] = registered
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """The name configs use for ``obj`` (a class or function): its registered name, else ``__name__``."""
    return _NAME_OF.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects: dict | None = None, builtins: dict | None = None):
    """The class or function named ``name`` in a config: from ``custom_objects`` (by its full or its
    short name), the active ``custom_object_scope``s, the registered objects, then ``builtins``; None
    if none has it."""
    if not isinstance(name, str):
        return None
    short = name.rpartition(">")[2]
    for table in [custom_objects or {}, *reversed(_SCOPES.stack)]:
        for key in (name, short):
            if key in table:
                return table[key]
    if name in _REGISTERED:
        return _REGISTERED[name]
    return (builtins or {}).get(name)


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict):
    """Within it, configs may name the classes and functions of ``custom_objects`` (a dict name ->
    class or function), as ``keras.saving.custom_object_scope``."""
    if not isinstance(custom_objects, dict):
        raise InvalidArgumentError(f"custom_objects must be a dict of name -> class or function, got {type(custom_objects).__name__}")
    _SCOPES.stack.append(custom_objects)
    try:
        yield
    finally:
        _SCOPES.stack.pop()


def serialize_object(obj, kind: str) -> dict:
    """``{"class_name": <registered or class name>, "config": obj.get_config()}`` (a ``kind`` such as
    "loss" names it in errors)."""
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        raise InvalidArgumentError(f"cannot serialize the {kind} {obj!r:.80}: it has no get_config method")
    return {"class_name": get_registered_name(type(obj)), "config": get_config()}


def deserialize_object(config, kind: str, builtins: dict, custom_objects: dict | None = None):
    """A new object from ``serialize_object``'s dict; the class is looked up by ``get_registered_object``."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidArgumentError(f"a serialized {kind} is a dict with a 'class_name' string, got {config!r:.120}")
    name = config["class_name"]
    cls = get_registered_object(name, custom_objects, builtins)
    if not isinstance(cls, type):
        raise InvalidArgumentError(
            f"unknown {kind} class {name!r}: pass it in custom_objects={{{name!r}: ...}} or decorate it with "
            f"@gc.utils.register_serializable(); known {kind}s: {', '.join(sorted(builtins))}")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise InvalidArgumentError(f"the config of {kind} {name!r} must be a dict, got {type(inner).__name__}")
    try:
        return cls.from_config(inner)
    except TypeError as error:
        raise InvalidArgumentError(f"cannot make the {kind} {name!r} from its config: {error}") from None


def function_name(fn, kind: str, builtins: dict) -> str:
    """The name configs use for the function ``fn``: its built-in name (a key of ``builtins``) or its
    registered one."""
    for name, known in builtins.items():
        if known is fn:
            return name
    if id(fn) in _NAME_OF:
        return _NAME_OF[id(fn)]
    raise InvalidArgumentError(f"cannot serialize the {kind} function {getattr(fn, '__qualname__', fn)!r}: it is not a "
                               "built-in one; decorate it with @gc.utils.register_serializable()")


def serialize_callable(obj, kind: str, base: type, functions: dict):
    """An object of class ``base`` (a loss, a metric) as ``serialize_object``'s dict; a function as its
    name (``function_name``)."""
    if isinstance(obj, base):
        return serialize_object(obj, kind)
    if callable(obj):
        return function_name(obj, kind, functions)
    raise InvalidArgumentError(f"cannot serialize {obj!r:.80} as a {kind}: expected a {kind} object or function")


def deserialize_function(name, kind: str, functions: dict, custom_objects: dict | None = None):
    """The function called ``name`` in a config: built-in (in ``functions``) or registered."""
    fn = get_registered_object(name, custom_objects, functions) if isinstance(name, str) else None
    if fn is None or isinstance(fn, type) or not callable(fn):
        raise InvalidArgumentError(f"unknown {kind} function {name!r:.80}; known: {', '.join(sorted(functions))} "
                                   "and functions decorated with @gc.utils.register_serializable()")
    return fn
