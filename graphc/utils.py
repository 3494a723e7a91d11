"""``gc.utils``: Keras's utilities: ``to_categorical`` on NumPy data, and ``plot_model``/``model_to_dot``
(drawn with Graphviz, ``graphc/models/plot.py``)."""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import InvalidArgumentError

from .models.plot import model_to_dot, plot_model

__all__ = ["model_to_dot", "plot_model", "to_categorical"]


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

