"""``gc.summary.experimental``: the default step, as ``tf.summary.experimental``."""
from .writer import get_step, set_step

__all__ = ["get_step", "set_step"]
