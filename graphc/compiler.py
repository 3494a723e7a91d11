"""From a traced graph to something that runs: the pass pipeline, memory planning and a backend,
plus the two debugging modes, check mode and check numerics.

Each compiled function keeps every stage (``traced``, ``optimized``, ``fused``), the per-pass
statistics (``GRAPHC_LOG=passes`` prints them as they run, compile stages included), the memory
plan and the executable. With the LLVM backend and the compile cache on, the fused graph is loaded
from the cache when a process has stored it (``backends/llvm/graph_cache.py``): the passes do not
run, the statistics show one ``cache load_graph`` line instead, and the ``optimized`` stage is
computed only when asked for.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir.errors import CheckError, NumericsError
from graphc.ir.graph import Graph, Node
from graphc.ir.passes import PassStat, compile_stages, format_stats, optimize, plan_memory, record
from graphc.ir.passes.memory import MemoryPlan

from . import config
from .tensor import Tensor


class BackendFallbackWarning(UserWarning):
    """The native backend cannot lower an op of this graph; the NumPy interpreter runs it instead."""


class Compiled:
    """The stages of one graph and its executable for one backend."""

    def __init__(self, graph: Graph, backend: str):
        self.backend = backend
        self._options = config.get_optimizer_options()
        self.fused, self._optimized, self.stats = self._fused_graph(graph)
        self.traced = graph
        self._memory_plan: MemoryPlan | None = None
        self._native = None
        self.executable = self._build()

    # -- building ---------------------------------------------------------------------------------
    def _fused_graph(self, graph: Graph) -> tuple[Graph, Graph | None, list[PassStat]]:
        """(fused, optimized, statistics): from the graph cache (optimized left None) or from the passes."""
        entry = None
        if self.backend != "numpy":
            from graphc.backends.llvm import cache
            from graphc.backends.llvm.graph_cache import GraphEntry

            if cache.enabled():
                start = time.perf_counter()
                entry = GraphEntry(graph, self._options)
                fused = entry.load()
                if fused is not None:
                    stat = PassStat("cache", "load_graph", len(graph.nodes), len(fused.nodes), time.perf_counter() - start)
                    stats: list[PassStat] = []
                    record(stats, stat)
                    return fused, None, stats
        stages, stats = compile_stages(graph, run_op, self._options)
        if entry is not None:
            entry.store(stages["fused"])
        return stages["fused"], stages["optimized"], stats

    @property
    def stages(self) -> dict[str, Graph]:
        """``{"traced": ..., "optimized": ..., "fused": ...}`` (the optimized graph of a fused graph
        loaded from the cache is computed on first use, its statistics not recorded)."""
        if self._optimized is None:
            self._optimized = optimize(self.traced, run_op, self._options, [])
        return {"traced": self.traced, "optimized": self._optimized, "fused": self.fused}

    @property
    def memory_plan(self) -> MemoryPlan:
        if self._memory_plan is None:
            self._memory_plan = plan_memory(self.fused)
        return self._memory_plan

    def _timed(self, name: str, fn):
        start = time.perf_counter()
        result = fn()
        nodes = len(self.fused.nodes)
        record(self.stats, PassStat("llvm", name, nodes, nodes, time.perf_counter() - start))
        return result

    def native(self):
        """The LLVM executable of the fused graph (built on first use, whatever the backend)."""
        if self._native is None:
            from graphc.backends.llvm.compiler import compile_graph
            from graphc.backends.llvm.pyobjects import set_array_holder

            set_array_holder(Tensor, "_array")  # native code takes eager tensors' arrays from them
            self._native = compile_graph(self.fused, timer=self._timed)
        return self._native

    def _build(self):
        fused = self.fused
        if self.backend == "numpy":
            return Interpreter(fused)
        from graphc.backends.llvm.compiler import UnsupportedGraph

        try:
            return self.native()
        except UnsupportedGraph as missing:
            warnings.warn(
                f"{fused.name}: the LLVM backend cannot lower {missing}; running it with the NumPy interpreter",
                BackendFallbackWarning, stacklevel=2,
            )
            return Interpreter(fused)

    def pass_table(self) -> str:
        return format_stats(self.stats)

    # -- running ----------------------------------------------------------------------------------
    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if config.check_numerics_enabled():
            check_numerics(self.traced, arrays)
        if config.check_mode() and not isinstance(self.executable, Interpreter):
            return self._run_checked(arrays)
        return self.executable.run(arrays)

    def _run_checked(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Runs the interpreter (without committing) and the native code; on any difference, finds the
        first top-level node of the fused graph whose native result differs, and raises CheckError."""
        fused = self.fused
        before = {name: var.value for name, var in fused.variables.items()}
        reference_values: dict = {}
        reference = Interpreter(fused).run(
            arrays, observe=lambda node, results: reference_values.update(zip(node.outputs, results)), commit=False
        )
        after = {name: reference_values[_staged_value(fused, name)] for name in _assigned(fused)}
        results = self.executable.run(arrays)
        native_after = {name: fused.variables[name].value for name in after}
        if all(map(_same, results, reference)) and all(_same(native_after[n], after[n]) for n in after):
            return results
        for name, value in before.items():  # leave the variables as they were before the call
            fused.variables[name].value = value
        raise _first_difference(fused, arrays, reference_values)


def _assigned(graph: Graph) -> list[str]:
    return list(dict.fromkeys(n.attrs["var"] for n in graph.nodes if n.op == "assign_variable"))


def _staged_value(graph: Graph, name: str):
    return [n.inputs[0] for n in graph.nodes if n.op == "assign_variable" and n.attrs["var"] == name][-1]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    return bool(np.array_equal(a, b))


def _describe(node: Node) -> str:
    if node.op == "fused":
        body = node.attrs["body"]
        ops = ", ".join(dict.fromkeys(n.op for n in body.nodes if n.op != "constant"))
        lines = ", ".join(dict.fromkeys(str(n.loc) for n in body.nodes if n.loc))
        return f"kernel {node.attrs['kernel']} ({ops}) from {lines}"
    return f"{node.op} at {node.loc}"


def _first_difference(graph: Graph, inputs: list[np.ndarray], reference: dict) -> CheckError:
    """Runs each computing node of ``graph`` alone, natively, on the interpreter's inputs, and names the
    first whose result differs from the interpreter's."""
    from graphc.backends.llvm.compiler import compile_graph

    env = dict(zip(graph.inputs, inputs)) | reference
    for node in graph.nodes:
        if node.op == "constant" or node.opdef.effect:
            continue
        single = Graph(f"check_{node.op}")
        single.variables = dict(graph.variables)
        single_inputs = [single.add_input(v.type) for v in node.inputs]
        copy = single.copy_node(node, single_inputs)
        single.outputs = copy.outputs
        native = compile_graph(single).run([env[v] for v in node.inputs])
        for i, (got, value) in enumerate(zip(native, node.outputs)):
            expected = reference[value]
            if not _same(got, expected):
                diff = np.abs(got.astype(np.float64) - expected.astype(np.float64)) if got.shape == expected.shape else None
                detail = f"; largest difference {np.nanmax(diff):.3g}" if diff is not None and diff.size else ""
                return CheckError(
                    f"native result {i} of {_describe(node)} differs from the NumPy interpreter{detail}",
                ).at(node)
    return CheckError("the native results differ from the NumPy interpreter's, but no single node does")


def _backward_pass_of(graph: Graph, gradient_node: Node) -> str:
    """Where a gradient node belongs: the forward ops at its location (it carries the forward op's)."""
    forward = dict.fromkeys(
        n.op for n in graph.nodes
        if not n.is_gradient and n.loc == gradient_node.loc and n.op != "constant" and not n.opdef.effect
    )
    return f"the backward pass (the gradient of {' or '.join(forward) or 'the op'} at that line)"


def check_numerics(graph: Graph, arrays: list[np.ndarray]) -> None:
    """Raises NumericsError at the first op of ``graph`` that turns finite inputs into NaN or Inf
    (a dry run of the interpreter: nothing is committed)."""
    finite: dict = {}

    def observe(node: Node, results):
        inputs_finite = all(finite.get(v, True) for v in node.inputs)
        for value, array in zip(node.outputs, results):
            ok = not (array.dtype.kind == "f" and array.size and not np.isfinite(array).all())
            finite[value] = ok
            if not ok and inputs_finite:
                bad = "NaN" if np.isnan(array).any() else "Inf"
                where = _backward_pass_of(graph, node) if node.is_gradient else "the forward pass"
                raise NumericsError(
                    f"produced {bad} in {where}; its inputs were finite",
                ).at(node)

    for v, a in zip(graph.inputs, arrays):
        finite[v] = not (a.dtype.kind == "f" and a.size and not np.isfinite(a).all())
    Interpreter(graph).run(arrays, observe=observe, commit=False)
