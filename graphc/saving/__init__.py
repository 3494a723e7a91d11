"""``gc.saving``: whole models in one ``.graphc`` file (``save_model``, ``load_model``), and the names
configs may use (``register_serializable``, ``custom_object_scope``). The archive's members and how
they are written and read safely are ``archive.py``'s; what goes in them is ``model_files.py``'s; the
names are ``registry.py``'s."""
from .registry import (
    custom_object_scope, get_registered_name, get_registered_object, register_serializable,
)

__all__ = ["custom_object_scope", "get_registered_name", "get_registered_object", "register_serializable"]
