"""``gc.onnx.load``: an ONNX model as a graphc ``ConcreteFunction``.

The file is read without following external data, checked (``onnx.checker``), its external data
paths confined to the model's directory, and every op looked up in ``import_ops.IMPORTERS`` before
anything runs. The model's graph is then traced as a ``gc.function`` whose body writes each ONNX
node as graphc ops: the result compiles on any backend, and is differentiable where the ops are.
Float initializers of at least one dimension become ``gc.Variable``s (the function's ``variables``,
so the model can be fine-tuned); other initializers (shapes, indices, scalars) are constants.
"""
from __future__ import annotations

import contextlib
import inspect
import keyword
import os
import re

import numpy as np

from graphc.ir.dispatch import name_scope
from graphc.ir.errors import GraphcError
from graphc.ir.types import ALL_DTYPES, as_dtype

from ..function import ConcreteFunction, function
from ..tracing import TensorSpec
from ..variables import Variable
from .errors import LoadError, require_onnx
from .import_ops import IMPORTERS
from .import_shapes import ShapeValue, run_on_sizes

DOMAINS = ("", "ai.onnx")


class Context:
    """What import rules need besides their inputs: the node being written, constants, subgraphs."""

    def __init__(self, onnx, scope: dict):
        self.onnx = onnx
        self.scope = scope  # name -> tensor or array, outer graphs' names included
        self.node = None

    def error(self, message: str) -> LoadError:
        node = self.node
        return LoadError(f"cannot load ONNX node {node.name or '(unnamed)'!r} ({node.op_type}): {message}")

    def known(self, value, what: str) -> np.ndarray:
        """``value`` as an array known when loading (a constant or an initializer), else an error."""
        if not isinstance(value, np.ndarray):
            raise self.error(f"{what} must be known when loading (a constant or an initializer)")
        return value

    def array(self, tensor) -> np.ndarray:
        return self.onnx.numpy_helper.to_array(tensor)

    def dtype(self, onnx_type: int):
        try:
            return as_dtype(self.onnx.helper.tensor_dtype_to_np_dtype(onnx_type))
        except (GraphcError, KeyError, TypeError):
            raise self.error(f"element type {self.onnx.TensorProto.DataType.Name(onnx_type)} "
                             f"(graphc has {', '.join(d.name for d in ALL_DTYPES)})") from None

    def output_count(self) -> int:
        return len(self.node.output)

    def run_subgraph(self, graph, inputs: list) -> list:
        """The outputs of a subgraph (If branch, Loop body) on ``inputs``, outer names visible."""
        inner = Context(self.onnx, dict(self.scope))
        inner.scope.update(zip([i.name for i in graph.input], inputs))
        return inner.run(graph)

    def run(self, graph) -> list:
        """Writes ``graph``'s nodes; returns its outputs. Initializers not in scope become constants."""
        for tensor in graph.initializer:
            if tensor.name not in self.scope:
                self.scope[tensor.name] = self.array(tensor)
        for node in graph.node:
            self.node = node
            self._run_node(node)
        return [self.scope[o.name] for o in graph.output]

    def _run_node(self, node) -> None:
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        inputs = [self.scope[name] if name else None for name in node.input]
        while inputs and inputs[-1] is None:
            inputs.pop()
        if any(isinstance(v, ShapeValue) for v in inputs) and node.op_type not in ("Reshape", "Expand"):
            results = run_on_sizes(node.op_type, attrs, inputs)
            if results is None:
                raise self.error("its input is a shape with sizes known only at run time (graphc computes "
                                 "Gather, Unsqueeze, Squeeze, Concat, Slice and Cast of shapes, for Reshape and Expand)")
            self.scope[node.output[0]] = results
            return
        try:
            with contextlib.ExitStack() as scopes:  # the scope of the node's name (a/b of a/b/Op)
                for part in filter(None, node.name.split("/")[:-1]):
                    scopes.enter_context(name_scope(part))
                results = IMPORTERS[node.op_type](self, attrs, *inputs)
        except LoadError:
            raise
        except GraphcError as error:
            raise self.error(error.message) from None
        except TypeError as error:
            raise self.error(f"unexpected inputs or attributes: {error}") from None
        results = results if isinstance(results, list) else [results]
        self.scope.update(zip(node.output, results))


# -- reading safely ---------------------------------------------------------------------------------
def read_model(path):
    """The checked ModelProto at ``path``, external data loaded from inside its directory only."""
    onnx = require_onnx()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LoadError(f"no ONNX file at {path!r}")
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
        raise LoadError(f"{path!r} is not an ONNX model (or is truncated): {error}") from None
    if not model.graph.node and not model.graph.output:
        raise LoadError(f"{path!r} is not an ONNX model: it has no graph")
    directory = os.path.dirname(os.path.realpath(path))
    external = [t for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        _check_external(tensor, directory)
    if external:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, directory)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        raise LoadError(f"{path!r} is not a valid ONNX model: {str(error).splitlines()[0]}") from None
    return model


def _check_external(tensor, directory: str) -> None:
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    target = os.path.realpath(os.path.join(directory, location))
    if not location or os.path.isabs(location) or os.path.commonpath([directory, target]) != directory:
        raise LoadError(f"tensor {tensor.name!r} keeps its data at {location!r}, outside the model's directory "
                        f"{directory!r}: refused")
    if not os.path.isfile(target):
        raise LoadError(f"tensor {tensor.name!r}: its external data file {location!r} is missing")


def _tensors(graph):
    """Every tensor a graph holds: initializers and Constant values, in subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def _check_ops(graph) -> None:
    for node in graph.node:
        if node.domain not in DOMAINS:
            raise LoadError(f"ONNX node {node.name!r}: op {node.op_type} of domain {node.domain!r} "
                            "(graphc loads the default domain ai.onnx)")
        if node.op_type not in IMPORTERS:
            raise LoadError(f"ONNX node {node.name or '(unnamed)'!r}: graphc has no op for ONNX {node.op_type}")
        for attribute in node.attribute:
            if attribute.HasField("g"):
                _check_ops(attribute.g)


# -- the function -------------------------------------------------------------------------------------
def load(path) -> ConcreteFunction:
    """The ONNX model at ``path`` as a ``ConcreteFunction`` taking its inputs (in order; symbolic
    sizes accept any size) and returning its output (a tuple for several). Float initializers (not
    scalars) are the function's ``variables``. Raises ``LoadError`` for a file that is not a valid ONNX model,
    external data outside the model's directory, or an op graphc cannot express (naming the node)."""
    onnx = require_onnx()
    model = read_model(path)
    _check_ops(model.graph)
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]  # IR < 4 lists initializers as inputs too
    context = Context(onnx, {})
    specs = [_spec(context, v) for v in inputs]
    weights = {}
    for tensor in graph.initializer:
        array = onnx.numpy_helper.to_array(tensor)
        weights[tensor.name] = Variable(array, name=tensor.name) if array.dtype.kind == "f" and array.ndim else array

    def run(*args):
        context.scope = {k: v.read_value() if isinstance(v, Variable) else v for k, v in weights.items()}
        context.scope.update(zip([v.name for v in inputs], args))
        results = context.run(graph)
        return results[0] if len(results) == 1 else tuple(results)

    parameters: list[str] = []
    for k, v in enumerate(inputs):
        name = _parameter(v.name, k)
        parameters.append(name if name not in parameters else f"{name}_{k}")
    run.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in parameters])
    traced = function(run, input_signature=specs, name=_parameter(graph.name or "onnx_model", 0))
    return traced.get_concrete_function()  # run's closure keeps the variables alive


def _spec(context: Context, value) -> TensorSpec:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        raise LoadError(f"ONNX input {value.name!r} must be a tensor of known rank")
    shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    try:
        dtype = as_dtype(context.onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    except (GraphcError, KeyError, TypeError):
        raise LoadError(f"ONNX input {value.name!r} has element type "
                        f"{context.onnx.TensorProto.DataType.Name(tensor_type.elem_type)}, which graphc lacks") from None
    return TensorSpec(shape, dtype, name=value.name)


def _parameter(name: str, index: int) -> str:
    """A Python identifier for an ONNX name."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit() or keyword.iskeyword(text):
        text = f"input_{index}_{text}"
    return text
