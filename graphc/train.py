"""``gc.train``: TensorFlow's ``tf.train`` namespace, the checkpoint API by the names TF users know
(``gc.train.Checkpoint``, ``gc.train.CheckpointManager``, ``gc.train.latest_checkpoint``...). The
checkpoints themselves are ``graphc.checkpoints`` and ``graphc.checkpoint_files``, the manager
``graphc.checkpoint_manager``."""
from .checkpoint_files import latest_checkpoint
from .checkpoint_manager import CheckpointManager
from .checkpoints import Checkpoint, LoadStatus, list_variables, load_variable

__all__ = ["Checkpoint", "CheckpointManager", "LoadStatus", "latest_checkpoint", "list_variables", "load_variable"]
