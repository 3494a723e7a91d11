"""``gc.utils``: Keras's utilities: ``to_categorical`` on NumPy data, and ``plot_model``/``model_to_dot``
(drawn with Graphviz, ``graphc/models/plot.py``)."""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import InvalidArgumentError


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot rows for integer class labels ``y`` (any shape; a trailing axis of size 1 is dropped,
    as in Keras): shape ``y.shape + (num_classes,)``; ``num_classes`` defaults to ``max(y) + 1``."""
    labels = np.asarray(y)
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise InvalidArgumentError(f"to_categorical needs integer labels, got {labels.dtype} values like "
                                   f"{labels.ravel()[~np.equal(np.mod(labels.ravel(), 1), 0)][0]}")
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InvalidArgumentError(f"labels must be in [0, {num_classes}), got values from {labels.min()} to "
                                   f"{labels.max()}")
    return np.eye(num_classes, dtype=dtype)[labels]


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False) -> str:
    """Draws ``model``'s layer graph to ``to_file`` (format from its suffix: ``.png``, ``.svg``, ``.pdf``
    or ``.dot``), as ``tf.keras.utils.plot_model``; returns the path. Needs ``pip install 'graphc[viz]'``
    and Graphviz's ``dot`` program."""
    from .models.plot import plot_model as draw  # loads graphviz only when drawing

    return draw(model, to_file, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
                show_layer_activations, show_trainable)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB", expand_nested=False,
                 dpi=96, show_layer_activations=False, show_trainable=False):
    """``model``'s layer graph as a ``graphviz.Digraph`` (its ``.source`` is the DOT text), as Keras's."""
    from .models.plot import model_to_dot as to_dot

    return to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
                  show_layer_activations, show_trainable)
