"""Layers as plain data: ``serialize`` a layer to its class name and config, ``deserialize`` it back
by that name from the classes made known with ``register`` (every ``gc.layers`` class is)."""
from __future__ import annotations

import inspect

from graphc.ir.errors import InvalidArgumentError

_REGISTRY: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Makes a layer class known to ``deserialize`` by ``name`` (default: the class's name); also usable
    as a class decorator."""
    _REGISTRY[name or cls.__name__] = cls
    return cls


def serialize(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None):
    """A new layer from ``serialize``'s dict; ``custom_objects`` maps class names to your classes."""
    classes = {**_REGISTRY, **(custom_objects or {})}
    name = config.get("class_name")
    if name not in classes:
        raise InvalidArgumentError(
            f"unknown layer class {name!r}: pass it in custom_objects={{{name!r}: {name}}} or gc.layers.register it"
        )
    cls = classes[name]
    if "custom_objects" in inspect.signature(cls.from_config).parameters:  # models: their layers may be custom
        return cls.from_config(config.get("config", {}), custom_objects=custom_objects)
    return cls.from_config(config.get("config", {}))
