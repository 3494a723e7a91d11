"""``save_model`` and ``load_model``: a whole model in one ``.graphc`` file, as Keras's ``.keras``.

The file is a zip archive (``archive.py``) of three members:

- ``metadata.json``: the format and its version, the graphc version, the date;
- ``config.json``: the model's class name and ``get_config()``, its ``get_build_config()`` (the input
  shape it was built for) and ``get_compile_config()`` (optimizer, schedule, loss and metrics as
  configs);
- ``model.weights.safetensors``: every variable of the model, and (``include_optimizer``) of its
  optimizer (step count, learning rate, slots), keyed by path as in ``gc.train.Checkpoint``.

Loading makes the model from its config (class names are looked up among graphc's classes, the
registered ones and ``custom_objects``; nothing is imported or evaluated), builds and compiles it,
then restores every value after checking every key, shape and dtype, so a model trained on after
loading continues exactly as if it had never been saved."""
from __future__ import annotations

import datetime
import json

from graphc.ir.errors import CheckpointError, GraphcError, InvalidArgumentError

from .. import __version__
from ..checkpoint_files import decode_tensors, encode_tensors, path_text
from ..checkpoints import restore_values, values_of
from ..layers import Layer
from ..layers.serialization import layer_classes
from .archive import json_member, read_archive, write_archive
from .registry import custom_object_scope, deserialize_object, get_registered_name

FORMAT = "graphc-model"
VERSION = 1
EXTENSION = ".graphc"
METADATA, CONFIG, WEIGHTS = "metadata.json", "config.json", "model.weights.safetensors"
LIMITS = {METADATA: 1 << 16, CONFIG: 1 << 26, WEIGHTS: None}  # the weights are stored, so bounded by the file
OPTIMIZER = "optimizer"


class _Saved:
    """The objects whose variables the file holds: the model, and its optimizer when included."""

    def __init__(self, model, optimizer=None):
        self.model, self.optimizer = model, optimizer

    def _checkpoint_children(self) -> dict:
        return {"model": self.model} | ({OPTIMIZER: self.optimizer} if self.optimizer is not None else {})


def _checked_path(filepath) -> str:
    path = path_text(filepath, "filepath")
    if not path.endswith(EXTENSION):
        raise InvalidArgumentError(f"filepath: a model file's name ends in {EXTENSION!r}, got {path!r} (for weights "
                                   "only, use model.save_weights)")
    return path


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> str:
    """Writes ``model`` (architecture, weights and, with ``include_optimizer``, the optimizer's state)
    to ``filepath`` (ending in ``.graphc``), atomically: if anything fails the old file is intact."""
    path = _checked_path(filepath)
    if not isinstance(model, Layer):
        raise InvalidArgumentError(f"save_model: expected a gc.Model, got {type(model).__name__}")
    compile_config = model.get_compile_config() if hasattr(model, "get_compile_config") else None
    config = {
        "class_name": get_registered_name(type(model)),
        "config": model.get_config(),
        "build_config": model.get_build_config() if hasattr(model, "get_build_config") else None,
        "compile_config": compile_config,
    }
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    arrays, _ = values_of(_Saved(model, optimizer))
    metadata = {"format": FORMAT, "format_version": VERSION, "graphc_version": __version__,
                "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        config_text = json.dumps(config, indent=1, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"save_model: the model's config is not plain data ({error}); override "
                                   "get_config so that it holds numbers, strings, lists and dicts") from None
    members = {METADATA: (json.dumps(metadata, indent=1).encode(), True), CONFIG: (config_text.encode(), True),
               WEIGHTS: (encode_tensors(arrays), False)}
    return write_archive(path, members, overwrite)


def _field(config: dict, key: str, kind: type, where: str, optional: bool = False):
    value = config.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise CheckpointError(f"{where}: {key!r} should be a {kind.__name__}, got {type(value).__name__} {value!r:.80}")
    return value


def load_model(filepath, custom_objects=None, compile=True):
    """The model ``save_model`` wrote to ``filepath``: made from its config, built, compiled (unless
    ``compile=False``: then the optimizer's state is not read) and with every saved value restored.
    ``custom_objects`` maps class (or function) names in the config to your classes; classes
    decorated with ``@gc.utils.register_serializable`` need not be listed. Anything the file has that
    graphc does not know is an error naming it."""
    path = path_text(filepath, "filepath")
    members = read_archive(path, LIMITS)
    where = f"model file {path}"
    metadata = json_member(members[METADATA], f"{where}, member {METADATA},")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a graphc model file: its {METADATA} does not say format {FORMAT!r}")
    version = metadata.get("format_version")
    if version != VERSION or isinstance(version, bool):
        raise CheckpointError(f"{where} has format version {version!r:.40}; this graphc reads version {VERSION}")
    config = json_member(members[CONFIG], f"{where}, member {CONFIG},")
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}, member {CONFIG}: expected an object, got {type(config).__name__}")
    with custom_object_scope(dict(custom_objects or {})):
        try:
            model = _model_of(config, where, compile)
        except (GraphcError, TypeError, ValueError, KeyError, AttributeError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(f"{where}: its config cannot be loaded: {error}") from None
    arrays = decode_tensors(members[WEIGHTS], f"{where}, member {WEIGHTS},")
    optimizer = getattr(model, "optimizer", None) if compile else None
    if optimizer is None or not any(key.startswith(OPTIMIZER + "/") for key in arrays):
        optimizer = None
        arrays = {key: value for key, value in arrays.items() if not key.startswith(OPTIMIZER + "/")}
    restore_values(_Saved(model, optimizer), arrays, where)
    return model


def _model_of(config: dict, where: str, compile: bool):
    """The model ``config`` describes, built and (if asked and saved compiled) compiled."""
    model = deserialize_object(config, "model", layer_classes())
    if not isinstance(model, Layer):
        raise CheckpointError(f"{where}: class {config['class_name']!r} is not a layer or model")
    build_config = _field(config, "build_config", dict, where, optional=True)
    if build_config is not None and not model.built:
        model.build_from_config(build_config)
    compile_config = _field(config, "compile_config", dict, where, optional=True)
    if compile and compile_config is not None:
        model.compile_from_config(compile_config)
    return model
