"""``gc.callbacks``: hooks into ``Model.fit``/``evaluate``/``predict``, as Keras callbacks. One module per
job: the protocol and what ``fit`` adds itself (``base``), callbacks that steer training (``training``)."""
from .base import Callback, CallbackList, History, Progbar, ProgbarLogger, format_logs
from .training import EarlyStopping, LambdaCallback, LearningRateScheduler
from .tensorboard import TensorBoard

__all__ = [
    "Callback", "CallbackList", "History", "Progbar", "ProgbarLogger", "format_logs",
    "EarlyStopping", "LambdaCallback", "LearningRateScheduler",
    "TensorBoard",
]
