"""``gc.Model`` and ``gc.Sequential``: layers with a training loop, as Keras models.

The model and its loops are in ``model.py``, functional models (``gc.Model(inputs, outputs)``) in
``functional.py`` (their compiled per-output losses and metrics in ``compiled_outputs.py``, their
pictures in ``plot.py``), the stack of layers in ``sequential.py``, the data cut
into batches in ``batching.py``, ``Model.summary``'s table in ``summary.py``.
"""
from .batching import unpack_x_y_sample_weight
from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["Functional", "Model", "Sequential", "unpack_x_y_sample_weight"]
