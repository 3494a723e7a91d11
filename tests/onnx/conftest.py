"""Fixtures of the ONNX tests: running an exported model in ONNX Runtime (and, for the float64
kernels ONNX Runtime lacks, in the onnx package's reference evaluator)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

# ONNX ops ONNX Runtime (1.18 - 1.32) implements for float32 only: models using them on float64 run in
# the onnx package's reference evaluator instead (an independent implementation of the ONNX spec)
ORT_FLOAT32_ONLY = {"Erf", "Asin", "Acos", "Atan", "Asinh", "Acosh", "Atanh"}


def _ort_run(model: onnx.ModelProto, arrays) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(arrays), f"the model takes {names}, got {len(arrays)} arrays"
    return session.run(None, dict(zip(names, map(np.asarray, arrays))))


def _ops(graph: onnx.GraphProto) -> set[str]:
    ops = set()
    for node in graph.node:
        ops.add(node.op_type)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                ops |= _ops(attribute.g)
    return ops


def reference_only(model: onnx.ModelProto) -> bool:
    """Whether ``model`` runs in the reference evaluator: float64 with an op ORT has for float32 only."""
    doubles = [v for v in [*model.graph.input, *model.graph.output]
               if v.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE]
    return bool(doubles) and bool(_ops(model.graph) & ORT_FLOAT32_ONLY)


def run_model(model: onnx.ModelProto, arrays) -> list[np.ndarray]:
    """The model's results on ``arrays``, from ONNX Runtime, after checking the model in full."""
    onnx.checker.check_model(model, full_check=True)
    if reference_only(model):
        from onnx.reference import ReferenceEvaluator

        return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, {
            i.name: a for i, a in zip(model.graph.input, arrays)})]
    return _ort_run(model, arrays)


@pytest.fixture
def run_onnx():
    return run_model


@pytest.fixture
def onnx_reference_only():
    return reference_only
