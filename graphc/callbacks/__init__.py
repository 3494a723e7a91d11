"""``gc.callbacks``: hooks into ``Model.fit``/``evaluate``/``predict``, as Keras callbacks. One module per
job: the protocol and what ``fit`` adds itself (``base``), callbacks that steer training (``training``),
the CSV log (``csv_logger``)."""
from .base import Callback, CallbackList, History, Progbar, ProgbarLogger, format_logs
from .csv_logger import CSVLogger
from .training import EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN

__all__ = [
    "Callback", "CallbackList", "History", "Progbar", "ProgbarLogger", "format_logs",
    "CSVLogger", "EarlyStopping", "LambdaCallback", "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN",
]
