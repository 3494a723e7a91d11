"""Control flow: ``cond`` and ``while_loop``, ops holding *regions* (sub-graphs as attributes).

- ``cond(pred, *operands; then_branch, else_branch)``: runs one branch graph on the operands. Both
  branches take the operands' types and return the same types, the cond's results.
- ``while_loop(*loop_vars, *captured; cond, body, maximum_iterations)``: the first
  ``len(body.outputs)`` operands are the loop variables, the rest are loop invariants. ``cond`` and
  ``body`` take every operand; ``cond`` returns one bool scalar, ``body`` the next loop variables.
  The loop stops when ``cond`` is false or after ``maximum_iterations`` iterations (None: no limit).

Regions are pure: they hold no variable reads or writes (the tracer passes variables in as operands
and out as results, see ``graphc.control_flow``). A region's inputs may have symbolic dimensions: they
stand for the operands' sizes, so a region serves any operand of a matching type.

Derivatives are regions too, built from the regions' own derivatives (``GraphFunction``):
- ``cond``: the VJP (JVP) is a ``cond`` over the branches' gradient (tangent) graphs;
- ``while_loop``, forward mode: one loop carrying the tangents beside the values;
- ``while_loop``, reverse mode: a loop counting the iterations, then a loop running them backwards,
  iteration k recomputing its loop variables from the initial ones (k forward steps, in a nested
  loop) and applying the body's VJP. Nothing is stored per iteration, so the trip count may depend on
  the data; the price is k forward steps for backward step k (quadratic in the trip count).
"""
from __future__ import annotations

import weakref

from ..dispatch import (
    GraphBuilder,
    bind,
    current_handler,
    handler,
    paused_observers,
    type_of,
)
from ..errors import DTypeError, InvalidArgumentError, IRError, ShapeError
from ..graph import Graph
from ..transform import clone_into
from ..types import TensorType, bool_, int64
from . import elementwise as ew
from .call import GraphFunction
from .common import define
from .creation import zeros, zeros_like
from .host import make_pure


# -- shape rules ----------------------------------------------------------------------------------
def _types_text(types) -> str:
    return "(" + ", ".join(map(str, types)) + ")"


def _bind_inputs(what: str, graph: Graph, types: list[TensorType]) -> dict:
    """Matches the operand types to ``graph``'s input types; returns the operand dimension each
    symbolic input dimension stands for. Raises when they do not fit."""
    expected = [v.type for v in graph.inputs]
    if len(types) != len(expected):
        raise IRError(f"{what} takes {len(expected)} inputs {_types_text(expected)}, got {len(types)} operands")
    binding: dict = {}
    for i, (t, e) in enumerate(zip(types, expected)):
        fits = t.dtype == e.dtype and t.ndim == e.ndim
        for a, b in zip(t.shape, e.shape) if fits else ():
            fits = binding.setdefault(b, a) == a if isinstance(b, str) else a == b
            if not fits:
                break
        if not fits:
            raise IRError(f"{what}: operand {i} has type {t} where the region takes {e}")
    return binding


def _substituted(types, binding: dict) -> list[TensorType]:
    return [TensorType(tuple(binding.get(d, d) if isinstance(d, str) else d for d in t.shape), t.dtype) for t in types]


def _check_pure(what: str, graph: Graph) -> None:
    for node in graph.nodes:
        if node.calls_host:  # a host call runs in the region, in order: the region op is stateful itself
            continue
        if node.opdef.effect:
            raise IRError(f"{what} holds a {node.op} node: regions take variables as operands and results")
        for name, inner in node.subgraphs.items():
            _check_pure(f"{what}/{node.op}.{name}", inner)


def _cond_infer(types, then_branch: Graph, else_branch: Graph):
    pred, *operands = types
    if pred.dtype != bool_ or pred.shape != ():
        raise DTypeError(f"cond: the predicate must be a bool scalar, got {pred}")
    results = []
    for name, branch in (("then_branch", then_branch), ("else_branch", else_branch)):
        _check_pure(f"cond {name}", branch)
        binding = _bind_inputs(f"cond {name}", branch, operands)
        results.append(_substituted([v.type for v in branch.outputs], binding))
    if results[0] != results[1]:
        raise IRError(f"cond: the branches return different types: {_types_text(results[0])} and {_types_text(results[1])}")
    return results[0]


def _while_infer(types, cond: Graph, body: Graph, maximum_iterations):
    if maximum_iterations is not None and (not isinstance(maximum_iterations, int) or maximum_iterations < 0):
        raise InvalidArgumentError(f"while_loop: maximum_iterations must be None or an int >= 0, got {maximum_iterations!r}")
    n = len(body.outputs)
    if n > len(types):
        raise IRError(f"while_loop: the body returns {n} loop variables but the loop has {len(types)} operands")
    _check_pure("while_loop cond", cond)
    _check_pure("while_loop body", body)
    binding = _bind_inputs("while_loop cond", cond, types)
    (predicate,) = _substituted([v.type for v in cond.outputs], binding) if len(cond.outputs) == 1 else (None,)
    if predicate is None or predicate.dtype != bool_ or predicate.shape != ():
        raise DTypeError(f"while_loop: cond must return one bool scalar, returns {_types_text(v.type for v in cond.outputs)}")
    returned = _substituted([v.type for v in body.outputs], _bind_inputs("while_loop body", body, types))
    loop_vars = list(types[:n])
    if returned != loop_vars:
        raise ShapeError(f"while_loop: the body returns {_types_text(returned)} for loop variables of types {_types_text(loop_vars)}")
    return loop_vars


# -- building regions -----------------------------------------------------------------------------
def build_region(name: str, input_types: list[TensorType], build) -> Graph:
    """A graph with inputs of ``input_types`` whose outputs are ``build(*inputs)`` (a list), the ops
    of ``build`` recorded into it. ``build`` may use only its arguments and constants."""
    graph = Graph(name)
    inputs = [graph.add_input(t) for t in input_types]
    builder = GraphBuilder(graph)
    with handler(builder), paused_observers():
        graph.outputs = [builder.to_value(v) for v in build(*inputs)]
    return graph


def inline(graph: Graph, args: list) -> list:
    """Copies ``graph``'s nodes into the region being built (see ``build_region``), reading ``args``,
    for derivatives: its host calls are made pure (``host.make_pure``)."""
    builder = current_handler()
    start = len(builder.graph.nodes)
    vmap = clone_into(builder.graph, graph, [builder.to_value(a) for a in args])
    make_pure(builder.graph, start)  # derivatives recompute the region: its host calls ran already
    return [vmap[v] for v in graph.outputs]


_functions: "weakref.WeakKeyDictionary[Graph, GraphFunction]" = weakref.WeakKeyDictionary()


def derivatives(graph: Graph) -> GraphFunction:
    """``graph`` as a GraphFunction, whose gradient and tangent graphs are built once and cached."""
    function = _functions.get(graph)
    if function is None:
        function = _functions[graph] = GraphFunction(graph)
    return function


def _types(values) -> list[TensorType]:
    return [type_of(v) for v in values]


# -- cond -----------------------------------------------------------------------------------------
def _cond_of_derivatives(inputs, then_branch, else_branch, mode: str, seeds_given, seed_like, placed_at):
    """A cond over the branches' derivative graphs (``mode``: "gradient" or "tangent"): it takes the
    operands and one seed per float position (``seeds_given[i]``, zeros like ``seed_like(i)`` where
    missing) and its k-th result goes to position ``placed_at(k)`` of the returned list."""
    pred, *operands = inputs
    then_fn, else_fn = derivatives(then_branch), derivatives(else_branch)
    if not then_fn.float_inputs or not then_fn.float_outputs:
        return {}
    seed_positions = then_fn.float_outputs if mode == "gradient" else then_fn.float_inputs
    seeds = [seeds_given(i) if seeds_given(i) is not None else zeros_like(seed_like(i)) for i in seed_positions]
    branches = [getattr(fn, mode)().graph for fn in (then_fn, else_fn)]
    results = cond(pred, *operands, *seeds, then_branch=branches[0], else_branch=branches[1])
    result_positions = then_fn.float_inputs if mode == "gradient" else then_fn.float_outputs
    return {placed_at(i): results[k] for k, i in enumerate(result_positions)}


def _cond_vjp(cts, inputs, outputs, then_branch, else_branch):
    found = _cond_of_derivatives(inputs, then_branch, else_branch, "gradient", lambda i: cts[i],
                                 lambda i: outputs[i], lambda i: 1 + i)
    return [found.get(i) for i in range(len(inputs))]


def _cond_jvp(tangents, inputs, outputs, then_branch, else_branch):
    found = _cond_of_derivatives(inputs, then_branch, else_branch, "tangent", lambda i: tangents[1 + i],
                                 lambda i: inputs[1 + i], lambda i: i)
    return [found.get(i) for i in range(len(outputs))]


define("cond", _cond_infer, vjp=_cond_vjp, jvp=_cond_jvp, multi_output=True, regions=("then_branch", "else_branch"))


def cond(pred, *operands, then_branch: Graph, else_branch: Graph) -> tuple:
    """Runs ``then_branch`` (``pred`` true) or ``else_branch`` on ``operands``; returns its results."""
    return bind("cond", pred, *operands, then_branch=then_branch, else_branch=else_branch)


# -- while_loop -----------------------------------------------------------------------------------
def _trip_count(init, captured, cond_graph: Graph, body: Graph, maximum_iterations):
    """The number of iterations the loop runs (an int64 scalar): the loop again, counting."""
    n = len(init)
    types = _types(init)
    counter = TensorType((), int64)
    counting_cond = build_region(
        "trip_count_cond", [*types, counter, *_types(captured)],
        lambda *a: inline(cond_graph, [*a[:n], *a[n + 1:]]),
    )
    counting_body = build_region(
        "trip_count_body", [*types, counter, *_types(captured)],
        lambda *a: [*inline(body, [*a[:n], *a[n + 1:]]), ew.add(a[n], 1)],
    )
    results = while_loop(*init, zeros((), int64), *captured, cond=counting_cond, body=counting_body,
                         maximum_iterations=maximum_iterations)
    return results[n]


def _replay(steps, state, captured, body: Graph) -> list:
    """The loop variables after ``steps`` iterations of ``body`` from ``state`` (inside a region)."""
    n = len(state)
    counter = TensorType((), int64)
    invariant_types = [counter, *_types(captured)]
    replay_cond = build_region(
        "replay_cond", [counter, *_types(state), *invariant_types], lambda j, *a: [ew.less(j, a[n])],
    )
    replay_body = build_region(
        "replay_body", [counter, *_types(state), *invariant_types],
        lambda j, *a: [ew.add(j, 1), *inline(body, [*a[:n], *a[n + 1:]])],
    )
    results = while_loop(zeros((), int64), *state, steps, *captured, cond=replay_cond, body=replay_body)
    return list(results[1:])


def _loop_operands(inputs, body: Graph):
    """A loop's operands split up: (loop variables, captured values, the body's derivatives, which
    loop variables are floats, which captured values are floats)."""
    n = len(body.outputs)
    function = derivatives(body)
    float_vars = [i for i in function.float_inputs if i < n]
    float_captured = [i - n for i in function.float_inputs if i >= n]
    return list(inputs[:n]), list(inputs[n:]), function, float_vars, float_captured


def _while_vjp(cts, inputs, outputs, cond, body, maximum_iterations):
    n = len(body.outputs)
    init, captured, function, float_vars, float_captured = _loop_operands(inputs, body)
    result = [None] * len(inputs)
    if not float_vars or all(cts[i] is None for i in float_vars):
        return result
    seeds = [cts[i] if cts[i] is not None else zeros_like(outputs[i]) for i in float_vars]
    count = _trip_count(init, captured, cond, body, maximum_iterations)
    grad_body = function.gradient().graph  # (vars, captured, cts of the float vars) -> cts of float inputs
    n_v, n_c = len(float_vars), len(float_captured)
    counter = TensorType((), int64)
    carried = [counter, *_types(seeds), *(type_of(captured[i]) for i in float_captured)]
    region_types = [*carried, *_types(init), *_types(captured)]

    def backward_body(k, *a):
        ct_vars, ct_captured = a[:n_v], a[n_v:n_v + n_c]
        start, invariants = a[n_v + n_c:n_v + n_c + n], a[n_v + n_c + n:]
        step = ew.subtract(k, 1)
        state = _replay(step, list(start), list(invariants), body)
        grads = inline(grad_body, [*state, *invariants, *ct_vars])
        summed = [ew.add(acc, g) for acc, g in zip(ct_captured, grads[n_v:])]
        return [step, *grads[:n_v], *summed]

    backward_cond = build_region("backward_cond", region_types, lambda k, *a: [ew.greater(k, 0)])
    backward = build_region("backward_body", region_types, backward_body)
    zeros = [zeros_like(captured[i]) for i in float_captured]
    final = while_loop(count, *seeds, *zeros, *init, *captured, cond=backward_cond, body=backward)
    for k, i in enumerate(float_vars):
        result[i] = final[1 + k]
    for k, i in enumerate(float_captured):
        result[n + i] = final[1 + n_v + k]
    return result


def _while_jvp(tangents, inputs, outputs, cond, body, maximum_iterations):
    n = len(body.outputs)
    init, captured, function, float_vars, float_captured = _loop_operands(inputs, body)
    result = [None] * len(outputs)
    if not float_vars or all(tangents[i] is None for i in function.float_inputs):
        return result
    seed = lambda x, t: t if t is not None else zeros_like(x)  # noqa: E731
    var_tangents = [seed(init[i], tangents[i]) for i in float_vars]
    captured_tangents = [seed(captured[i], tangents[n + i]) for i in float_captured]
    tangent_body = function.tangent().graph  # (vars, captured, tangents of float inputs) -> tangents of float vars
    n_v = len(float_vars)
    region_types = _types([*init, *var_tangents, *captured, *captured_tangents])

    def split(a):
        vars_, t_vars = a[:n], a[n:n + n_v]
        invariants, t_invariants = a[n + n_v:n + n_v + len(captured)], a[n + n_v + len(captured):]
        return list(vars_), list(t_vars), list(invariants), list(t_invariants)

    def tangent_step(*a):
        vars_, t_vars, invariants, t_invariants = split(a)
        return [*inline(body, vars_ + invariants), *inline(tangent_body, vars_ + invariants + t_vars + t_invariants)]

    def tangent_cond(*a):
        vars_, _, invariants, _ = split(a)
        return inline(cond, vars_ + invariants)

    final = while_loop(
        *init, *var_tangents, *captured, *captured_tangents,
        cond=build_region("jvp_cond", region_types, tangent_cond),
        body=build_region("jvp_body", region_types, tangent_step),
        maximum_iterations=maximum_iterations,
    )
    for k, i in enumerate(float_vars):
        result[i] = final[n + k]
    return result


define(
    "while_loop", _while_infer, vjp=_while_vjp, jvp=_while_jvp, multi_output=True, regions=("cond", "body"),
    foldable=False,  # a loop may run long
)


def while_loop(*operands, cond: Graph, body: Graph, maximum_iterations: int | None = None) -> tuple:
    """Runs ``body`` on the operands while ``cond`` holds (at most ``maximum_iterations`` times);
    returns the final loop variables (the first ``len(body.outputs)`` operands)."""
    return bind("while_loop", *operands, cond=cond, body=body, maximum_iterations=maximum_iterations)
