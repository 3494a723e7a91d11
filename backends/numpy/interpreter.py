"""The NumPy interpreter: runs any graph node by node with the reference implementations."""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcError, InvalidArgumentError
from graphc.ir.graph import Graph, Node
from graphc.ir.shapes import concrete_types
from graphc.ir.state import VariableAccess
from graphc.ir.types import TensorType, as_dtype, check_size

from . import control as _control  # noqa: F401  (region ops, registered before the check that every op has an implementation)
from .ops import run_op


def _check_shape(node: Node, index: int, array: np.ndarray) -> None:
    expected = node.outputs[index].type
    if array.ndim != expected.ndim or any(
        isinstance(d, int) and d != a for d, a in zip(expected.shape, array.shape)
    ):
        raise InvalidArgumentError(
            f"result has shape {list(array.shape)} where the graph expects {expected} "
            "(a dimension known only at run time did not match)"
        )


def _refuse_oversized(error: MemoryError, node: Node) -> None:
    """Raises the ShapeError compiled code and eager mode raise when NumPy failed to allocate an array
    larger than any tensor may be (a size known only at run time); returns for a smaller one."""
    shape, dtype = getattr(error, "shape", None), getattr(error, "dtype", None)
    if shape is None or dtype is None:
        return
    try:
        check_size(tuple(shape), as_dtype(dtype))
    except GraphcError as oversized:
        raise oversized.at(node) from None


class Interpreter:
    """Executes a graph. It reads the variables' values as they were when the run started; writes
    are staged and committed together only when the whole run succeeds (see ``graphc.ir.state``)."""

    name = "numpy"

    def __init__(self, graph: Graph, check_sizes: bool = True):
        self.graph = graph
        assigned = dict.fromkeys(n.attrs["var"] for n in graph.nodes if n.op == "assign_variable")
        self._assigned = list(assigned)
        self._reads = VariableAccess(list(graph.variables.values()), [])
        self._reads_and_writes = VariableAccess(list(graph.variables.values()), [graph.variables[n] for n in assigned])
        # sizes known only at run time are checked before the first node runs, as compiled code does
        self._check_sizes = check_sizes and any(isinstance(d, str) for v in graph.inputs for d in v.type.shape)
        self._checked: set[tuple] = set()

    def run(self, inputs: list[np.ndarray], observe=None, commit: bool = True) -> list[np.ndarray]:
        """Runs the graph on ``inputs``; ``observe(node, arrays)`` is called after each node.
        With ``commit=False`` variables are left unchanged (a dry run)."""
        access = self._reads_and_writes if commit and self._assigned else self._reads
        staged = dict(zip(self.graph.variables, access.acquire()))
        try:
            results = self._run_nodes(inputs, observe, staged)
            if commit:
                access.commit([staged[name] for name in self._assigned])
        finally:
            access.release()
        return results

    def _run_nodes(self, inputs: list[np.ndarray], observe, staged: dict) -> list[np.ndarray]:
        graph = self.graph
        if self._check_sizes:
            self._check_run_time_sizes(inputs)
        env: dict = dict(zip(graph.inputs, inputs))
        for node in graph.nodes:
            try:
                results = self.run_node(node, [env[v] for v in node.inputs], staged)
            except GraphcError as error:
                raise error.at(node) from None
            except (ValueError, IndexError, TypeError, ArithmeticError) as error:
                raise InvalidArgumentError(str(error)).at(node) from None
            except MemoryError as error:
                _refuse_oversized(error, node)
                raise
            env.update(zip(node.outputs, results))
            if observe is not None:
                observe(node, results)
        return [env[v] for v in graph.outputs]

    def _check_run_time_sizes(self, inputs: list) -> None:
        """Raises the shape rules' errors (a mismatch, a tensor too large to exist) for these input
        shapes before anything runs (once per input shapes)."""
        key = tuple(np.shape(a) for a in inputs)
        if key not in self._checked and len(inputs) == len(self.graph.inputs):
            concrete_types(self.graph, [TensorType(shape, v.dtype) for shape, v in zip(key, self.graph.inputs)])
            self._checked.add(key)

    def run_node(self, node: Node, arrays: list, staged: dict) -> list:
        """One node's results; ``staged`` holds the variables' values as this run sees them."""
        if node.op == "read_variable":
            return [staged[node.attrs["var"]]]
        if node.op == "assign_variable":
            target = self.graph.variables[node.attrs["var"]].type
            if arrays[0].shape != tuple(target.shape):  # a size known only at run time did not match
                raise InvalidArgumentError(
                    f"cannot assign a value of shape {list(arrays[0].shape)} to a variable of type {target}"
                )
            staged[node.attrs["var"]] = arrays[0]
            return []
        results = run_op(node.op, arrays, node.attrs, [v.type for v in node.outputs])
        for i, array in enumerate(results):
            _check_shape(node, i, array)
        return results


def compile_graph(graph: Graph) -> Interpreter:
    return Interpreter(graph)
