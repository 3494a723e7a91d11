"""Layers as plain data: ``serialize`` a layer to its class name and config, ``deserialize`` it back
by that name from the classes made known with ``register`` (every ``gc.layers`` class is) or with
``gc.utils.register_serializable``."""
from __future__ import annotations

from ..saving.registry import custom_object_scope, deserialize_object, serialize_object

_REGISTRY: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Makes a layer class known to ``deserialize`` by ``name`` (default: the class's name); also usable
    as a class decorator."""
    _REGISTRY[name or cls.__name__] = cls
    return cls


def serialize(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}`` (a registered class by its registered name)."""
    return serialize_object(layer, "layer")


def deserialize(config: dict, custom_objects: dict | None = None):
    """A new layer from ``serialize``'s dict; ``custom_objects`` maps class names to your classes (also
    those of the layers inside a model's config)."""
    with custom_object_scope(dict(custom_objects or {})):
        return deserialize_object(config, "layer", _REGISTRY)


def layer_classes() -> dict[str, type]:
    """Every class ``register`` made known, by name."""
    return dict(_REGISTRY)
