"""``gc.summary``: TensorBoard summaries, as ``tf.summary`` in TensorFlow 2.

    writer = gc.summary.create_file_writer("logs/run1")
    with writer.as_default(step=0):
        gc.summary.scalar("loss", 0.25)
        gc.summary.histogram("weights", w)

Event files are written with TensorBoard's own writer, protos and plugin metadata (the optional
``tensorboard`` package: ``pip install 'graphc[tensorboard]'``); view them with
``tensorboard --logdir logs``. One module per job: writers and the summary state (``writer``), the
summary kinds (``values``), graphs for the Graphs tab (``graph_summary``), PNG encoding (``png``).
"""
from . import experimental
from .graph_summary import graph, graph_def
from .tensorboard_package import TensorBoardMissingError
from .values import histogram, image, scalar, text
from .writer import (
    SummaryWriter, SummaryWriterClosedError, create_file_writer, create_noop_writer, flush, record_if,
    should_record_summaries, write,
)

__all__ = [
    "SummaryWriter", "SummaryWriterClosedError", "TensorBoardMissingError", "create_file_writer",
    "create_noop_writer", "experimental", "flush", "graph", "graph_def", "histogram", "image", "record_if", "scalar",
    "should_record_summaries", "text", "write",
]
