"""Memory planning (``ir.passes.memory``).

- ``assign_offsets``: a table of buffer sets with hand-computed offsets, a table of invalid input,
  and a hypothesis property over random lifetimes, sizes and in-place chains;
- ``plan_memory`` on small hand-built graphs: one table with every buffer's expected kind, size,
  lifetime, offset and in-place donor, one table of variable updates the planner must accept or refuse;
- every planned graph (the hand-built ones and real traced training steps) is checked against the
  plan's invariants and *executed through the plan*: arena buffers live at their offsets in one byte
  array, kernels write variables in place where the plan says so; results must equal the interpreter's.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.backends.numpy.interpreter import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir import ops
from graphc.ir.dispatch import GraphBuilder, handler
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph, Value
from graphc.ir.passes import MemoryPlan, compile_stages, fuse, plan_memory
from graphc.ir.passes.memory import assign_offsets
from graphc.ir.types import TensorType, float32

VIEWS = ("reshape", "reshape_like", "expand_dims", "squeeze", "identity", "stop_gradient")
NO_BUFFER = ("constant", "read_variable") + VIEWS


# -- assign_offsets -------------------------------------------------------------------------------
# (id, sizes, lifetimes, alignment, in-place pairs (result, donor), expected offsets)
OFFSET_CASES = [
    ("nothing", [], [], 64, [], []),
    ("disjoint lifetimes share offset 0", [100, 200, 50], [(0, 1), (2, 3), (4, 5)], 64, [], [0, 0, 0]),
    ("all live: largest first, aligned", [100, 200, 50], [(0, 5)] * 3, 64, [], [256, 0, 384]),
    ("no alignment", [100, 200, 50], [(0, 5)] * 3, 1, [], [200, 0, 300]),
    ("lifetimes touching at one node overlap", [64, 64], [(0, 2), (2, 4)], 64, [], [0, 64]),
    # p, q, r placed in a row; s fits in q's place, q being dead by then
    ("fills a gap between live buffers", [128, 128, 128, 64], [(0, 9), (0, 2), (0, 9), (3, 9)], 64, [],
     [0, 128, 256, 128]),
    # equal sizes: the earlier-born first, so the late one goes below the one that is still live
    ("lowest fitting offset below a live buffer", [64, 64, 64], [(0, 1), (0, 9), (2, 9)], 64, [], [0, 64, 0]),
    ("empty buffers take no bytes", [0, 64, 0], [(0, 3)] * 3, 64, [], [0, 0, 0]),
    ("in place: the result takes its donor's bytes", [64, 64, 64], [(0, 2), (2, 4), (1, 3)], 64, [(1, 0)],
     [0, 0, 64]),
    ("the same buffers without the pair", [64, 64, 64], [(0, 2), (2, 4), (1, 3)], 64, [], [0, 128, 64]),
    ("a chain of in-place results", [32, 32, 32, 16], [(0, 1), (1, 2), (2, 3), (0, 3)], 16, [(1, 0), (2, 1)],
     [0, 0, 0, 32]),
]


@pytest.mark.parametrize("sizes, lifetimes, alignment, pairs, expected", [c[1:] for c in OFFSET_CASES],
                         ids=[c[0] for c in OFFSET_CASES])
def test_assign_offsets(sizes, lifetimes, alignment, pairs, expected):
    assert assign_offsets(sizes, lifetimes, alignment, pairs) == expected


# (id, sizes, lifetimes, alignment, pairs)
INVALID_OFFSET_CASES = [
    ("zero alignment", [8], [(0, 1)], 0, []),
    ("negative size", [-8], [(0, 1)], 64, []),
    ("lifetime ending before it starts", [8], [(3, 1)], 64, []),
    ("more sizes than lifetimes", [8, 8], [(0, 1)], 64, []),
    ("in place between different sizes", [8, 16], [(0, 1), (1, 2)], 64, [(1, 0)]),
    ("donor alive after the result starts", [8, 8], [(0, 3), (1, 2)], 64, [(1, 0)]),
    ("one donor for two results", [8, 8, 8], [(0, 1), (1, 2), (1, 2)], 64, [(1, 0), (2, 0)]),
    ("in-place cycle", [8, 8], [(1, 1), (1, 1)], 64, [(0, 1), (1, 0)]),
    ("in-place pair naming no buffer", [8, 8], [(0, 1), (1, 2)], 64, [(-1, 0)]),
]


@pytest.mark.parametrize("sizes, lifetimes, alignment, pairs", [c[1:] for c in INVALID_OFFSET_CASES],
                         ids=[c[0] for c in INVALID_OFFSET_CASES])
def test_assign_offsets_rejects(sizes, lifetimes, alignment, pairs):
    with pytest.raises(InvalidArgumentError):
        assign_offsets(sizes, lifetimes, alignment, pairs)


@st.composite
def buffer_sets(draw):
    """Random buffers, plus in-place results each born where its donor dies."""
    count = draw(st.integers(0, 10))
    sizes = [draw(st.integers(0, 300)) for _ in range(count)]
    lifetimes = []
    for _ in range(count):
        first = draw(st.integers(0, 12))
        lifetimes.append((first, first + draw(st.integers(0, 6))))
    pairs = []
    for _ in range(draw(st.integers(0, 4)) if count else 0):
        free = [i for i in range(len(sizes)) if i not in {d for _, d in pairs}]
        donor = draw(st.sampled_from(free))
        start = lifetimes[donor][1]
        sizes.append(sizes[donor])
        lifetimes.append((start, start + draw(st.integers(0, 4))))
        pairs.append((len(sizes) - 1, donor))
    return sizes, lifetimes, draw(st.sampled_from([1, 8, 64])), pairs


def _chains(count: int, pairs) -> list[int]:
    """For each buffer, the first buffer of its in-place chain."""
    head = list(range(count))
    donor_of = dict(pairs)
    for i in range(count):
        while head[i] in donor_of:
            head[i] = donor_of[head[i]]
    return head


def _live_together(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@settings(max_examples=200, deadline=None)
@given(buffer_sets())
def test_assign_offsets_never_overlaps_live_buffers(case):
    sizes, lifetimes, alignment, pairs = case
    offsets = assign_offsets(sizes, lifetimes, alignment, pairs)
    chain = _chains(len(sizes), pairs)
    assert all(o >= 0 and o % alignment == 0 for o in offsets)
    assert all(offsets[r] == offsets[d] for r, d in pairs)
    ends = [o + s for o, s in zip(offsets, sizes)]
    for i in range(len(sizes)):
        for j in range(i):
            if chain[i] != chain[j] and sizes[i] and sizes[j] and _live_together(lifetimes[i], lifetimes[j]):
                assert ends[i] <= offsets[j] or ends[j] <= offsets[i], (i, j)
    assert max(ends, default=0) <= sum(-(-s // alignment) * alignment for s in sizes)
    # lowest fit: a buffer not at 0 sits right above (aligned) a buffer it lives beside
    for i, offset in enumerate(offsets):
        neighbours = [
            j for j in range(len(sizes))
            if chain[j] != chain[i] and sizes[j] and any(
                _live_together(lifetimes[k], lifetimes[j]) for k in range(len(sizes)) if chain[k] == chain[i])
        ]
        assert offset == 0 or any(-(-ends[j] // alignment) * alignment == offset for j in neighbours), i


# -- hand-built graphs ----------------------------------------------------------------------------
@dataclass(eq=False)
class Var:
    """A variable for hand-built graphs: what ``read_variable`` and the interpreter need."""

    name: str
    type: TensorType
    value: np.ndarray = field(default=None)


def f32(*shape) -> TensorType:
    return TensorType(tuple(shape), float32)


def build(signature: list[TensorType], fn: Callable) -> Graph:
    """The fused graph of ``fn`` applied to inputs of ``signature`` (``fn`` returns the outputs)."""
    g = Graph("case")
    args = [g.add_input(t, f"x{i}") for i, t in enumerate(signature)]
    with handler(GraphBuilder(g)):
        out = fn(*args)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [] if out is None else [out]
    return fuse(g)


W, B = Var("w", f32(4, 4)), Var("b", f32(4))


def chain_with_view(x):
    a = ops.exp(x)
    c = ops.multiply(a, ops.reduce_sum(a))
    d = ops.reshape(c, (4, 4))
    return ops.tanh(ops.matmul(d, d))


def mixed_sizes(x):
    t = ops.transpose(x)
    s = ops.reduce_sum(t, 1, keepdims=True)
    u = ops.concat([t, s], 1)
    return ops.reduce_sum(ops.transpose(u))


def no_buffer_values(x):
    r = ops.read_variable(W)
    c = ops.concat([r, np.ones((4, 4), np.float32)], 0)
    y = ops.reduce_sum(ops.matmul(x, r), 0)
    return ops.concat([c, ops.expand_dims(y, 0)], 0), ops.reshape(c, (32,))


def sgd_step(x):
    rw, rb = ops.read_variable(W), ops.read_variable(B)
    y = ops.add(ops.matmul(x, rw), rb)
    grad_w = ops.matmul(ops.transpose(x), y)
    ops.assign_variable(W, ops.subtract(rw, ops.multiply(grad_w, 0.5)))
    ops.assign_variable(B, ops.subtract(rb, ops.reduce_sum(y, 0)))
    return ops.reduce_sum(y)


@dataclass
class PlanCase:
    id: str
    signature: list
    fn: Callable
    alignment: int
    # name -> (kind, nbytes, first, last, offset, inplace_of)
    buffers: dict[str, tuple]
    arena_bytes: int
    unplanned_bytes: int
    in_place_updates: dict = field(default_factory=dict)


PLAN_CASES = [
    # 0: %1 exp, %2 sum = reduction kernel;  1: %3 = %1 * %2 (elementwise);  2: %4 = reshape %3;
    # 3: %5 = matmul %4 %4 + tanh.  %3 reuses %1 (dying at 1) and lives on through the view to 3.
    PlanCase("elementwise result reuses a dying input; views extend lifetimes", [f32(16)], chain_with_view, 64, {
        "%1": ("arena", 64, 0, 1, 0, None),
        "%2": ("arena", 4, 0, 1, 64, None),
        "%3": ("arena", 64, 1, 3, 0, "%1"),
        "%5": ("output", 64, 3, 4, None, None),
    }, arena_bytes=68, unplanned_bytes=192),
    # 0: %1 transpose;  1: %2 = exp %1;  2: %3 transpose (returned)
    PlanCase("elementwise kernel in place", [f32(4, 4)], lambda x: ops.transpose(ops.exp(ops.transpose(x))), 64, {
        "%1": ("arena", 64, 0, 1, 0, None),
        "%2": ("arena", 64, 1, 2, 0, "%1"),
        "%3": ("output", 64, 2, 3, None, None),
    }, arena_bytes=64, unplanned_bytes=128),
    # 0: %1 transpose;  1: %2 = exp %1;  2: %3 concat %2, %1 (returned): %1 is read after the kernel
    PlanCase("no in place over an input read later", [f32(4, 4)],
             lambda x: (lambda t: ops.concat([ops.exp(t), t], 0))(ops.transpose(x)), 64, {
        "%1": ("arena", 64, 0, 2, 0, None),
        "%2": ("arena", 64, 1, 2, 64, None),
        "%3": ("output", 128, 2, 3, None, None),
    }, arena_bytes=128, unplanned_bytes=128),
    # 0: %1 transpose;  1, 2, 3: scalar constants of softmax;  4: %5 softmax kernel;  5: %6 transpose
    PlanCase("reduction kernel never in place", [f32(4, 4)],
             lambda x: ops.transpose(ops.softmax(ops.transpose(x))), 64, {
        "%1": ("arena", 64, 0, 4, 0, None),
        "%5": ("arena", 64, 4, 5, 64, None),
        "%6": ("output", 64, 5, 6, None, None),
    }, arena_bytes=128, unplanned_bytes=128),
    # 0: %1 transpose [8,4];  1: %2 row sums [8,1];  2: %3 concat [8,5];  3: %4 transpose [5,8];
    # 4: %5 sum.  Largest first: %3 at 0, %4 beside it at 160; %1 fits under %4 (not live together),
    # %2 goes above %1.
    PlanCase("largest first, lowest fitting offset", [f32(4, 8)], mixed_sizes, 16, {
        "%1": ("arena", 128, 0, 2, 160, None),
        "%2": ("arena", 32, 1, 2, 288, None),
        "%3": ("arena", 160, 2, 3, 0, None),
        "%4": ("arena", 160, 3, 4, 160, None),
        "%5": ("output", 4, 4, 5, None, None),
    }, arena_bytes=320, unplanned_bytes=480),
    # 0: %1 read w;  1: %2 constant;  2: %3 concat;  3: %4 matmul [n,4];  4: %5 sum [4];
    # 5: %6 expand_dims %5;  6: %7 concat %3, %6;  7: %8 reshape %3.  Returned: %7 and %3 (via %8).
    PlanCase("constants, variable reads and views take no buffer", [TensorType(("n", 4), float32)],
             no_buffer_values, 64, {
        "%3": ("output", 128, 2, 8, None, None),
        "%4": ("dynamic", None, 3, 4, None, None),
        "%5": ("arena", 16, 4, 6, 0, None),
        "%7": ("output", 144, 6, 8, None, None),
    }, arena_bytes=16, unplanned_bytes=64),
    # 0, 1: read w, b;  2: %3 = x @ w + b;  3: %4 transpose x;  4: constant 0.5;
    # 5: %6 = w - 0.5 * (%4 @ %3) (matmul kernel);  6: assign w;  7: %7 = b - sum(%3, 0) (reduction);
    # 8: assign b;  9: %8 sum(%3) (returned).  The matmul kernel writes straight into w; the
    # reduction's result gets a buffer, in %4's place.
    PlanCase("a matmul kernel writes its update into the variable", [f32(2, 4)], sgd_step, 32, {
        "%3": ("arena", 32, 2, 9, 0, None),
        "%4": ("arena", 32, 3, 5, 32, None),
        "%6": ("variable", 64, 5, 6, None, "@w"),
        "%7": ("arena", 16, 7, 8, 32, None),
        "%8": ("output", 4, 9, 10, None, None),
    }, arena_bytes=64, unplanned_bytes=96, in_place_updates={"w": 5}),
]


@pytest.mark.parametrize("case", PLAN_CASES, ids=[c.id for c in PLAN_CASES])
def test_plan_of_hand_built_graph(case):
    graph = build(case.signature, case.fn)
    plan = plan_memory(graph, case.alignment)
    got = {b.name: (b.kind, b.nbytes, b.first, b.last, b.offset, b.inplace_of) for b in plan.buffers}
    assert got == case.buffers
    assert (plan.arena_bytes, plan.unplanned_bytes) == (case.arena_bytes, case.unplanned_bytes)
    assert plan.in_place_updates == case.in_place_updates
    check_plan(graph, plan)
    check_execution(graph, plan)


def test_plan_prints_a_table_and_serializes():
    plan = plan_memory(build([f32(16)], chain_with_view))
    assert str(plan) == "\n".join([
        "value  type      bytes  live              offset",
        "%1     f32[16]      64  0..1                   0",
        "%2     f32[]         4  0..1                  64",
        "%3     f32[16]      64  1..3  0 (in place of %1)",
        "%5     f32[4,4]     64  3..4              output",
        "peak 68 bytes (unplanned 192 bytes, 65% saved)",
    ])
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["arena_bytes"] == 68 and data["unplanned_bytes"] == 192 and data["alignment"] == 64
    assert data["buffers"][2] == {
        "name": "%3", "dtype": "float32", "shape": [16], "nbytes": 64, "first": 1, "last": 3,
        "offset": 0, "kind": "arena", "inplace_of": "%1",
    }
    assert plan.buffer("%5").kind == "output"
    with pytest.raises(KeyError):
        plan.buffer("%0")


def test_plan_rejects_bad_alignment():
    with pytest.raises(InvalidArgumentError, match="alignment"):
        plan_memory(build([f32(4)], ops.exp), alignment=0)


# -- variables updated in place --------------------------------------------------------------------
def _half(v):
    return ops.multiply(v, 0.5)


def _update(make_new, returned=lambda rw, new: ()):
    """A graph body: w := make_new(x, read w); returns ``returned(read w, new value)``."""
    def fn(x):
        rw = ops.read_variable(W)
        new = make_new(x, rw)
        ops.assign_variable(W, new)
        return returned(rw, new)
    return fn


def _read_again_after(x):
    ops.assign_variable(W, _half(ops.read_variable(W)))
    return ops.transpose(ops.read_variable(W))


def _old_value_used_later(x):
    rw = ops.read_variable(W)
    new = _half(rw)
    later = ops.transpose(rw)
    ops.assign_variable(W, new)
    return later


def _old_value_used_later_through_view(x):
    flat = ops.reshape(ops.read_variable(W), (16,))
    new = _half(ops.read_variable(W))
    later = ops.concat([flat, flat], 0)
    ops.assign_variable(W, new)
    return later


def _assigned_twice(x):
    ops.assign_variable(W, _half(ops.read_variable(W)))
    ops.assign_variable(W, ops.add(ops.read_variable(W), x))


# (id, graph body over x: f32[4,4], variables expected to be updated in place)
VARIABLE_CASES = [
    ("elementwise kernel", _update(lambda x, rw: _half(rw)), {"w"}),
    ("matmul whose epilogue reads the variable", _update(lambda x, rw: ops.subtract(rw, ops.matmul(x, x))), {"w"}),
    ("a read after the assignment sees the new value", _read_again_after, {"w"}),
    ("matmul reading the variable as an operand", _update(lambda x, rw: ops.matmul(rw, x)), set()),
    ("old value used after the kernel", _old_value_used_later, set()),
    ("old value used after the kernel through a view", _old_value_used_later_through_view, set()),
    ("old value returned", _update(lambda x, rw: _half(rw), lambda rw, new: rw), set()),
    ("new value also returned", _update(lambda x, rw: _half(rw), lambda rw, new: new), set()),
    ("new value also used by another node",
     _update(lambda x, rw: _half(rw), lambda rw, new: ops.transpose(new)), set()),
    ("reduction kernel", _update(lambda x, rw: ops.subtract(rw, ops.reduce_sum(x, 0, keepdims=True))), set()),
    ("not a kernel result", _update(lambda x, rw: ops.transpose(rw)), set()),
    ("variable assigned twice", _assigned_twice, set()),
]


@pytest.mark.parametrize("fn, expected", [c[1:] for c in VARIABLE_CASES], ids=[c[0] for c in VARIABLE_CASES])
def test_variable_updated_in_place(fn, expected):
    graph = build([f32(4, 4)], fn)
    plan = plan_memory(graph)
    assert set(plan.in_place_updates) == expected
    assert {b.inplace_of for b in plan.buffers if b.kind == "variable"} == {f"@{v}" for v in expected}
    check_plan(graph, plan)
    check_execution(graph, plan)


# -- real traced programs -----------------------------------------------------------------------
def _mlp_sgd():
    rng = np.random.default_rng(1)
    w1 = gc.Variable(rng.normal(size=(4, 8)).astype(np.float32), name="w1")
    b1 = gc.Variable(np.zeros(8, np.float32), name="b1")
    w2 = gc.Variable(rng.normal(size=(8, 3)).astype(np.float32), name="w2")

    @gc.function
    def step(x, y):
        with gc.GradientTape() as tape:
            h = gc.nn.relu(gc.matmul(x, w1) + b1)
            loss = gc.reduce_mean(gc.square(gc.nn.softmax(gc.matmul(h, w2)) - y))
        for v, g in zip([w1, b1, w2], tape.gradient(loss, [w1, b1, w2])):
            v.assign_sub(0.1 * g)
        return loss

    return step.get_concrete_function(np.zeros((5, 4), np.float32), np.zeros((5, 3), np.float32))


def _momentum():
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    velocity = gc.Variable(np.zeros((3, 2), np.float32), name="velocity")

    @gc.function
    def step(x, y):
        with gc.GradientTape() as tape:
            loss = gc.reduce_mean(gc.square(gc.matmul(x, w) - y))
        velocity.assign(0.9 * velocity + tape.gradient(loss, w))
        w.assign_sub(0.05 * velocity)
        return loss, w.read_value()

    return step.get_concrete_function(np.zeros((6, 3), np.float32), np.zeros((6, 2), np.float32))


def _classifier_any_batch():
    w = gc.Variable(np.full((4, 3), 0.1, np.float32), name="w")
    b = gc.Variable(np.zeros(3, np.float32), name="b")

    @gc.function(input_signature=[gc.TensorSpec([None, 4], gc.float32), gc.TensorSpec([None, 3], gc.float32)])
    def step(x, labels):
        with gc.GradientTape() as tape:
            logits = gc.matmul(x, w) + b
            loss = -gc.reduce_mean(gc.reduce_sum(labels * gc.nn.log_softmax(logits), axis=1))
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(0.5 * dw)
        b.assign_sub(0.5 * db)
        return loss

    return step.get_concrete_function()


def _reshaping_forward():
    w = gc.Variable(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, name="w")

    @gc.function
    def forward(x):
        h = gc.tanh(gc.matmul(x, w))
        rows = gc.squeeze(gc.expand_dims(gc.reduce_sum(h, axis=1), 0), 0)
        return gc.reshape(h, [-1]), rows * 2.0, gc.transpose(gc.reshape(h, [4, 2])), w.read_value()

    return forward.get_concrete_function(np.ones((2, 3), np.float32))


PROGRAMS = {
    "mlp sgd": _mlp_sgd,
    "momentum": _momentum,
    "classifier, any batch": _classifier_any_batch,
    "reshaping forward": _reshaping_forward,
}


@pytest.fixture(scope="module")
def fused_programs() -> dict[str, Graph]:
    return {name: compile_stages(make().graph, run_op)[0]["fused"] for name, make in PROGRAMS.items()}


@pytest.mark.parametrize("alignment", [1, 64])
@pytest.mark.parametrize("program", PROGRAMS)
def test_plan_of_traced_program(fused_programs, program, alignment):
    graph = fused_programs[program]
    before = str(graph)
    plan = plan_memory(graph, alignment)
    assert str(graph) == before
    check_plan(graph, plan)
    check_execution(graph, plan)


def test_traced_programs_save_memory_and_update_variables_in_place(fused_programs):
    plans = {name: plan_memory(g) for name, g in fused_programs.items()}
    assert plans["mlp sgd"].arena_bytes < plans["mlp sgd"].unplanned_bytes
    # b1's update joins its gradient's reduction kernel (not written in place: only elementwise and
    # matmul kernels are)
    assert set(plans["mlp sgd"].in_place_updates) == {"w1", "w2"}
    assert any(b.kind == "dynamic" for b in plans["classifier, any batch"].buffers)
    # both updates in place: w's returned value is read after w's assignment, so it is the new one
    assert set(plans["momentum"].in_place_updates) == {"velocity", "w"}


# -- invariants and execution through a plan ------------------------------------------------------
def _storage_root(v: Value) -> Value:
    while v.node is not None and v.node.op in VIEWS:
        v = v.node.inputs[0]
    return v


def _text_types(graph: Graph) -> dict[str, str]:
    """Value name -> its type as printed in the text IR (definitions only, kernel bodies left out)."""
    types = {}
    for line in str(graph).splitlines():
        if line.startswith("    ") or line.strip() == "}":
            continue  # a fused kernel's body numbers its values afresh
        head = line.split(" = ")[0] if " = " in line else line
        types.update(re.findall(r"(%\d+):(\w+\[[^\]]*\])", head))
    return types


def _same_type(text: str, t: TensorType) -> bool:
    dtype, dims = re.fullmatch(r"(\w+)\[(.*)\]", text).groups()
    dims = dims.split(",") if dims else []
    return dtype == t.dtype.short and len(dims) == t.ndim and all(
        (d == str(s)) if isinstance(s, int) else not d.isdigit() for d, s in zip(dims, t.shape))


def check_plan(graph: Graph, plan: MemoryPlan) -> None:
    """Every invariant of a memory plan, computed independently of the planner."""
    name = {v: f"%{i}" for i, v in enumerate(graph.values())}
    value = {n: v for v, n in name.items()}
    buffers = {b.name: b for b in plan.buffers}
    assert len(buffers) == len(plan.buffers)

    # every intermediate is accounted for, named as in the text IR
    needing = {name[v] for n in graph.nodes if n.op not in NO_BUFFER for v in n.outputs}
    assert set(buffers) == needing
    text_types = _text_types(graph)
    for b in plan.buffers:
        assert _same_type(text_types[b.name], b.type), b
        assert b.type == value[b.name].type

    # lifetimes: from the defining node to the last use through views (the return counts as last)
    position = {n: i for i, n in enumerate(graph.nodes)}
    uses: dict[str, list[int]] = {n: [] for n in buffers}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            uses.get(name[_storage_root(v)], []).append(i)
    returned = {name[_storage_root(v)] for v in graph.outputs}
    for n in returned & set(uses):
        uses[n].append(len(graph.nodes))
    for b in plan.buffers:
        first = position[value[b.name].node]
        assert (b.first, b.last) == (first, max(uses[b.name], default=first)), b

    # kinds
    updated = {f"@{var}": k for var, k in plan.in_place_updates.items()}
    for b in plan.buffers:
        if b.kind == "variable":
            assert updated[b.inplace_of] == b.first
        else:
            expected = "output" if b.name in returned else "dynamic" if not value[b.name].type.is_static else "arena"
            assert b.kind == expected, b
        assert (b.offset is not None) == (b.kind == "arena")
    assert sorted(b.inplace_of for b in plan.buffers if b.kind == "variable") == sorted(updated)

    # variables written in place: by an elementwise or matmul kernel, whose value only the assign reads,
    # while nothing reads the old value after that kernel
    for var, k in plan.in_place_updates.items():
        kernel = graph.nodes[k]
        assert kernel.op == "fused" and kernel.attrs["kind"] in ("elementwise", "matmul")
        (assign,) = [n for n in graph.nodes if n.op == "assign_variable" and n.attrs["var"] == var]
        assert assign.inputs[0].node is kernel
        def reads_old_value(v: Value) -> bool:
            read = _storage_root(v).node
            is_read = read is not None and read.op == "read_variable" and read.attrs["var"] == var
            return is_read and position[read] < position[assign]

        used_later = [v for node in graph.nodes[k + 1:] for v in node.inputs] + graph.outputs
        assert not any(reads_old_value(v) for v in used_later), var

    # arena: aligned, inside the peak, disjoint while live together (in-place chains excepted)
    arena = [b for b in plan.buffers if b.kind == "arena"]
    assert all(b.offset % plan.alignment == 0 for b in arena)
    assert plan.arena_bytes == max((b.offset + b.nbytes for b in arena), default=0)
    assert plan.unplanned_bytes == sum(-(-b.nbytes // plan.alignment) * plan.alignment for b in arena)
    assert plan.arena_bytes <= plan.unplanned_bytes
    for b in arena:
        if b.inplace_of is not None:
            donor, kernel = buffers[b.inplace_of], value[b.name].node
            assert kernel.op == "fused" and kernel.attrs["kind"] == "elementwise"
            assert donor.name in {name[_storage_root(v)] for v in kernel.inputs}
            assert (donor.kind, donor.last, donor.nbytes, donor.offset) == ("arena", b.first, b.nbytes, b.offset)
    chain = {b.name: b.name for b in arena}
    for b in arena:
        while buffers[chain[b.name]].inplace_of is not None:
            chain[b.name] = buffers[chain[b.name]].inplace_of
    for i, a in enumerate(arena):
        for b in arena[:i]:
            if chain[a.name] != chain[b.name] and a.nbytes and b.nbytes and a.first <= b.last and b.first <= a.last:
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset, (a, b)


def _random_input(t: TensorType, rng) -> np.ndarray:
    shape = tuple(d if isinstance(d, int) else 3 for d in t.shape)
    return rng.normal(size=shape).astype(t.dtype.numpy)


def check_execution(graph: Graph, plan: MemoryPlan) -> None:
    """Runs ``graph`` through ``plan`` and compares outputs and variables with the interpreter."""
    rng = np.random.default_rng(7)
    inputs = [_random_input(v.type, rng) for v in graph.inputs]
    variables = {
        n: _random_input(var.type, rng) if getattr(var, "value", None) is None else np.array(var.value)
        for n, var in graph.variables.items()
    }
    reference = copy.copy(graph)
    reference.variables = {
        n: SimpleNamespace(name=n, type=var.type, value=variables[n].copy()) for n, var in graph.variables.items()
    }
    expected = Interpreter(reference).run([a.copy() for a in inputs])
    outputs, final = run_planned(graph, plan, inputs, variables)
    for got, want in zip(outputs, expected):
        np.testing.assert_array_equal(got, want)
    for n, var in reference.variables.items():
        np.testing.assert_array_equal(final[n], var.value, err_msg=f"variable {n}")


def run_planned(graph: Graph, plan: MemoryPlan, inputs, variables) -> tuple[list, dict]:
    """Executes ``graph`` with arena buffers at their offsets in one byte array (filled with garbage
    first), views read from their storage when used, variable reads aliasing the variable's storage
    and in-place updates written into it by the kernel. Assignments not done in place rebind the
    variable to a new array, so reads taken before keep the old value."""
    name = {v: f"%{i}" for i, v in enumerate(graph.values())}
    buffers = {b.name: b for b in plan.buffers}
    arena = np.full(plan.arena_bytes, 0xA5, np.uint8)
    storage = {n: np.array(a) for n, a in variables.items()}
    env = dict(zip(graph.inputs, inputs))
    views: dict[Value, tuple[Value, tuple]] = {}

    def read(v: Value) -> np.ndarray:
        if v in views:
            source, shape = views[v]
            return read(source).reshape(shape)
        return env[v]

    def place(v: Value, result: np.ndarray) -> np.ndarray:
        b = buffers.get(name[v])
        if b is None:
            return result
        if b.kind == "arena":
            slot = arena[b.offset:b.offset + b.nbytes].view(result.dtype).reshape(result.shape)
        elif b.kind == "variable":
            slot = storage[b.inplace_of[1:]]
        else:
            slot = np.empty_like(result)
        slot[...] = result
        return slot

    for node in graph.nodes:
        if node.op == "read_variable":
            env[node.outputs[0]] = storage[node.attrs["var"]]
            continue
        if node.op == "assign_variable":
            written = buffers.get(name[node.inputs[0]])
            if written is None or written.kind != "variable":
                storage[node.attrs["var"]] = np.array(read(node.inputs[0]))
            continue
        results = run_op(node.op, [read(v) for v in node.inputs], node.attrs, [v.type for v in node.outputs])
        for v, result in zip(node.outputs, results):
            if node.op in VIEWS:
                views[v] = (node.inputs[0], result.shape)
            else:
                env[v] = place(v, result)
    return [np.array(read(v)) for v in graph.outputs], storage
