"""``gc.Model`` and ``gc.Sequential``: layers with a training loop, as Keras models.

The model and its loops are in ``model.py``, the stack of layers in ``sequential.py``, the data cut
into batches in ``batching.py``, ``Model.summary``'s table in ``summary.py``.
"""
from .batching import unpack_x_y_sample_weight
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "unpack_x_y_sample_weight"]
