"""Every case of the op reference table (tests/ir/test_ops.py) exported to ONNX, run in ONNX
Runtime and compared with the case's NumPy reference values.

The table drives the test, so a new op is covered as soon as it has a row there: either its graph
exports and runs to the reference values, or export raises ``ExportError`` for an op listed in
``gc.onnx``'s ``NOT_EXPORTABLE`` (with the reason). The default run checks one case per distinct
(ops of the graph, input dtypes); ``-m slow`` runs every case.

The rows of graphc's small dtypes (uint8, int8, int16, uint16, float16) are left out: their export is
not built yet (ONNX has no Neg, Pow or ReduceSum of uint8, no IsInf of float16, ...), nor are the
cast rows of NaN and out-of-range values, whose ONNX Cast is undefined.
"""
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.ir.passes import optimize
from graphc.backends.numpy.ops import run_op
from graphc.onnx.export_ops import EXPORTERS, NOT_EXPORTABLE


def _op_cases():
    path = Path(__file__).parents[1] / "ir" / "test_ops.py"
    spec = importlib.util.spec_from_file_location("graphc_op_reference_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.CASES


_NOT_EXPORTED_YET = re.compile(r"\b(?:u?int(?:8|16)|float16)\b|^cast_edges")
CASES = [c for c in _op_cases() if not _NOT_EXPORTED_YET.search(c.id)]


def _concrete(case):
    return gc.function(lambda *xs: case.op(*xs), name=case.id.split("-")[0]).get_concrete_function(*case.inputs)


def _ops_of(graph) -> set[str]:
    ops = set()
    for node in graph.nodes:
        ops.add(node.op)
        for sub in node.subgraphs.values():
            ops |= _ops_of(sub)
    return ops


def _representatives():
    """One case per op (the first part of a case's id) and input dtypes."""
    seen, chosen = set(), []
    for case in CASES:
        key = case.id.split("-")[0], tuple(a.dtype.name for a in case.inputs)
        if key not in seen:
            seen.add(key)
            chosen.append(case)
    return chosen


def _check(concrete, case, run_onnx, reference_only):
    ops = _ops_of(optimize(concrete.graph, run_op, None, []))
    if not concrete.graph.outputs:
        with pytest.raises(gc.onnx.ExportError, match="returns no tensors"):
            gc.onnx.export(concrete)
        return
    blocked = ops & set(NOT_EXPORTABLE)
    if blocked:
        with pytest.raises(gc.onnx.ExportError, match=next(iter(blocked))):
            gc.onnx.export(concrete)
        return
    model = gc.onnx.export(concrete)
    got = run_onnx(model, list(case.inputs))
    want = case.ref(*case.inputs)
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        # float64 in the reference evaluator: its erf and inverse trigonometry are float32-accurate
        tol = case.rtol or (1e-5 if w.dtype != np.float64 else 1e-6 if reference_only(model) else 1e-10)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)


def _traced(case):
    try:
        return _concrete(case)
    except gc.errors.InvalidArgumentError:
        pytest.skip("graphc rejects this case's arguments: nothing to export")


@pytest.mark.parametrize("case", _representatives(), ids=repr)
def test_op_exports_and_runs_in_onnx_runtime(case, run_onnx, onnx_reference_only):
    _check(_traced(case), case, run_onnx, onnx_reference_only)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_op_case_exports(case, run_onnx, onnx_reference_only):
    _check(_traced(case), case, run_onnx, onnx_reference_only)


def test_every_op_has_an_onnx_form_or_a_reason():
    """A new op needs a rule in export_ops, a decomposition, or a line in NOT_EXPORTABLE."""
    from graphc.ir.registry import OPS

    missing = [name for name, op in OPS.items() if name not in EXPORTERS and name not in NOT_EXPORTABLE
               and op.decomposition is None]
    assert not missing, f"ops without an ONNX form nor a reason in NOT_EXPORTABLE: {missing}"
    assert not set(EXPORTERS) & set(NOT_EXPORTABLE)
