"""The ``tensorboard`` package, an optional dependency (``pip install 'graphc[tensorboard]'``): graphc
imports without it; writing summaries asks for it through ``tensorboard_api``. Event files, protos
and plugin metadata all come from TensorBoard's own maintained code, never hand-written protobuf."""
from __future__ import annotations

import functools
from types import SimpleNamespace

from ..optional import MissingDependencyError, optional_imports


class TensorBoardMissingError(MissingDependencyError):
    """A summary was written but the ``tensorboard`` package is not installed."""


@functools.cache
def tensorboard_api() -> SimpleNamespace:
    """TensorBoard's protos, event writer, tensor conversion and plugin helpers, or
    ``TensorBoardMissingError`` saying how to install them."""
    with optional_imports("gc.summary writes TensorBoard event files with the tensorboard package",
                          "pip install 'graphc[tensorboard]'", TensorBoardMissingError):
        from tensorboard.compat.proto import (
            attr_value_pb2, event_pb2, graph_pb2, node_def_pb2, summary_pb2, tensor_shape_pb2, versions_pb2,
        )
        from tensorboard.compat.tensorflow_stub import dtypes
        from tensorboard.plugins.histogram import summary_v2 as histogram
        from tensorboard.plugins.image import metadata as image_metadata
        from tensorboard.plugins.scalar import summary_v2 as scalar
        from tensorboard.plugins.text import summary_v2 as text
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util
    return SimpleNamespace(
        attr_value_pb2=attr_value_pb2, event_pb2=event_pb2, graph_pb2=graph_pb2, node_def_pb2=node_def_pb2,
        summary_pb2=summary_pb2, tensor_shape_pb2=tensor_shape_pb2, versions_pb2=versions_pb2, dtypes=dtypes,
        histogram=histogram, image_metadata=image_metadata, scalar=scalar, text=text,
        EventFileWriter=EventFileWriter, tensor_util=tensor_util,
    )
