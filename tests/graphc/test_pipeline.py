"""The optimisation pipeline as users see it: ``cf.graphs``, ``cf.pass_stats``, ``GRAPHC_LOG=passes``
and ``gc.config.set_optimizer_options``."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.ir.passes import HEADER, format_stats
from graphc.ir.verify import verify

X = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
OPTIMIZATION_PASSES = ["fold_constants", "simplify", "eliminate_common_subexpressions", "eliminate_dead_code"]


def program(x):
    """Work for every pass: constants to fold, ``x * 1`` to simplify, a repeated ``exp``, a dead
    ``tanh``, and elementwise ops to fuse."""
    c = gc.constant(2.0) + gc.constant(3.0)
    y = x * 1.0
    gc.tanh(x)
    return (gc.exp(y) + gc.exp(y)) * c


def stages_of(fn=program, *args):
    cf = gc.function(fn, backend="numpy").get_concrete_function(*(args or (X,)))
    return cf, cf.graphs


def test_graphs_are_the_stages_in_order():
    cf, graphs = stages_of()
    assert list(graphs) == ["traced", "optimized", "fused"]
    assert cf.graph is graphs["traced"]
    for graph in graphs.values():
        verify(graph)
    assert [n.op for n in graphs["fused"].nodes if n.op != "constant"] == ["fused"]
    assert len(graphs["optimized"].nodes) < len(graphs["traced"].nodes)


def test_pass_stats_follow_the_graph_through_every_pass():
    cf, graphs = stages_of()
    stats = cf.pass_stats
    names = [s.name for s in stats]
    rounds = (len(names) - 2) // len(OPTIMIZATION_PASSES)
    assert rounds >= 2  # the last round changes nothing
    assert names == OPTIMIZATION_PASSES * rounds + ["fuse", "eliminate_dead_code"]
    assert [s.stage for s in stats] == ["optimize"] * (len(names) - 2) + ["fuse"] * 2
    assert stats[0].nodes_before == len(graphs["traced"].nodes)
    assert stats[-3].nodes_after == stats[-2].nodes_before == len(graphs["optimized"].nodes)
    assert stats[-1].nodes_after == len(graphs["fused"].nodes)
    assert all(a.nodes_after == b.nodes_before for a, b in zip(stats, stats[1:]))
    assert all(s.seconds >= 0 for s in stats)
    assert all(s.nodes_before == s.nodes_after for s in stats[-6:-2])  # the last round
    table = format_stats(stats).splitlines()
    assert table[0] == HEADER and len(table) == len(stats) + 1


def test_graphc_log_passes_prints_the_table(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        import graphc as gc
        from graphc.ir.passes import format_stats

        @gc.function
        def scaled(x):
            return gc.exp(x * 1.0) + 2.0

        scaled(np.ones(3, np.float32))
        print(format_stats(scaled.get_concrete_function(np.ones(3, np.float32)).pass_stats))
    """)
    env = {**os.environ, "GRAPHC_LOG": "passes", "GRAPHC_CACHE_DIR": str(tmp_path)}  # passes run: no cached graph
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    logged = [line.removeprefix("graphc graphc.passes: ") for line in done.stderr.splitlines()]
    rows = done.stdout.splitlines()
    assert rows[0] == HEADER
    assert logged[logged.index(HEADER) - 1] == "passes of graph scaled"
    without_ms = lambda line: line.rsplit(None, 1)[0]  # noqa: E731
    assert [without_ms(r) for r in rows[1:]] == [without_ms(line) for line in logged[logged.index(HEADER) + 1:]]
    stages = {r.split()[0] for r in rows[1:]}
    assert {"optimize", "fuse"} <= stages  # and "llvm" rows when the native backend compiles
    quiet = subprocess.run([sys.executable, "-c", script], env={**env, "GRAPHC_LOG": ""}, capture_output=True,
                           text=True, timeout=120)
    assert HEADER not in quiet.stderr


def _is_constant(value, equal_to=None) -> bool:
    node = value.node
    return node is not None and node.op == "constant" and (equal_to is None or np.all(node.attrs["value"] == equal_to))


def _folded(graphs) -> bool:
    return not any(n.op == "add" and all(map(_is_constant, n.inputs)) for n in graphs["optimized"].nodes)


def _simplified(graphs) -> bool:
    return not any(n.op == "multiply" and _is_constant(n.inputs[1], 1) for n in graphs["optimized"].nodes)


# (option, pass it switches off, whether the graphs show that pass's work)
OPTIONS = [
    ("constant_folding", "fold_constants", _folded),
    ("arithmetic_optimization", "simplify", _simplified),
    ("common_subgraph_elimination", "eliminate_common_subexpressions",
     lambda g: [n.op for n in g["optimized"].nodes].count("exp") == 1),
    ("dead_code_elimination", "eliminate_dead_code", lambda g: "tanh" not in {n.op for n in g["optimized"].nodes}),
    ("fusion", "fuse", lambda g: any(_ops_in(k) > 1 for k in g["fused"].kernels)),
]


def _ops_in(kernel) -> int:
    return sum(n.op != "constant" for n in kernel.attrs["body"].nodes)


@pytest.mark.parametrize("option, pass_name, did_work", OPTIONS, ids=[o[0] for o in OPTIONS])
def test_set_optimizer_options_switches_a_pass_off(option, pass_name, did_work):
    cf_on, on = stages_of()
    with gc.config.set_optimizer_options(**{option: False}):
        assert gc.config.get_optimizer_options()[option] is False
        cf_off, off = stages_of()
    assert all(gc.config.get_optimizer_options().values())  # restored on leaving the block
    assert did_work(on) and not did_work(off)
    assert pass_name in {s.name for s in cf_on.pass_stats}
    assert pass_name not in {s.name for s in cf_off.pass_stats}
    np.testing.assert_allclose(cf_off(X).numpy(), cf_on(X).numpy(), rtol=1e-6)


def test_set_optimizer_options_takes_a_dict_and_rejects_unknown_options():
    with gc.config.set_optimizer_options({"fusion": False, "constant_folding": False}):
        assert gc.config.get_optimizer_options() == {
            "constant_folding": False, "arithmetic_optimization": True, "common_subgraph_elimination": True,
            "dead_code_elimination": True, "fusion": False,
        }
    with pytest.raises(ValueError, match=r"unknown optimizer options \['loop_optimization'\]; known: constant_folding"):
        gc.config.set_optimizer_options(loop_optimization=False)
    assert all(gc.config.get_optimizer_options().values())


def test_every_pass_off_still_runs_the_traced_graph():
    everything_off = dict.fromkeys(gc.config.get_optimizer_options(), False)
    with gc.config.set_optimizer_options(everything_off):
        cf, graphs = stages_of()
    assert [s.name for s in cf.pass_stats] == ["kernel_per_op"]  # what backends lower: each op a kernel
    assert graphs["optimized"] is graphs["traced"]
    assert all(_ops_in(k) == 1 for k in graphs["fused"].kernels)
    unfused = [n.attrs["body"].nodes[-1].op if n.op == "fused" else n.op for n in graphs["fused"].nodes]
    assert unfused == [n.op for n in graphs["traced"].nodes if n.op != "tanh"]  # a kernel nobody reads is dropped
    expected = (np.exp(X) + np.exp(X)) * 5
    np.testing.assert_allclose(cf(X).numpy(), expected, rtol=1e-6)


# Each consumer tells -0.0 from +0.0, so an optimisation that changes a zero's sign changes its result.
SIGN_OF_ZERO_CONSUMERS = {
    "divide": lambda z: 1.0 / z,
    "sqrt": lambda z: 1.0 / gc.sqrt(z),
    "minimum": lambda z: 1.0 / gc.minimum(z, 0.0),
    "log-of-divide": lambda z: gc.log(-1.0 / z),
}


@pytest.mark.parametrize("zero_added", [lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x + gc.zeros_like(x),
                                        lambda x: x - (-0.0)], ids=["x+0", "0+x", "x+zeros_like", "x-(-0)"])
@pytest.mark.parametrize("consumer", list(SIGN_OF_ZERO_CONSUMERS), ids=str)
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_optimised_graphs_keep_the_sign_of_zero(zero_added, consumer, backend):
    """``-0.0 + 0.0`` is ``+0.0``: a compiled function gives what its eager run gives, bit for bit."""
    def fn(x):
        return SIGN_OF_ZERO_CONSUMERS[consumer](zero_added(x))

    x = np.array([-0.0, 0.0, -1.5, 2.0], np.float32)
    with np.errstate(all="ignore"):
        with gc.config.run_functions_eagerly(True):
            eager = gc.function(fn)(x).numpy()
        with gc.config.set_backend(backend):
            compiled = gc.function(fn)(x).numpy()
    np.testing.assert_array_equal(np.isnan(compiled), np.isnan(eager))
    finite = ~np.isnan(eager)
    np.testing.assert_array_equal(compiled[finite], eager[finite])
    np.testing.assert_array_equal(np.signbit(compiled[finite]), np.signbit(eager[finite]))
