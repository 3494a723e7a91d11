"""The fused graphs cached beside the object code (``backends/llvm/graph_cache.py``): a traced graph
found in the cache skips the passes and runs as if it had been optimised here; identical graphs under
other names share one entry and bind to their own variables, names and source lines; different graphs
under equal names never share one; and whatever sits at an entry's path (damaged, foreign, forged,
a FIFO, a link, a directory) is reported and rebuilt with correct results."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache
from graphc.backends.llvm.graph_cache import GraphEntry
from graphc.ir.text import format_graph

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

X = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
REJECTED = "ignoring the cache entry"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_refused", set())
    return tmp_path / "cache"


def graph_entries(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".graph"))


def compiled(fn, *args):
    """The concrete function of a new ``gc.function(fn)`` at ``args``, compiled (or loaded)."""
    cf = gc.function(fn).get_concrete_function(*args)
    cf.compiled()
    return cf


def loaded(cf) -> bool:
    return [s.name for s in cf.pass_stats if s.stage != "llvm"] == ["load_graph"]


def nodes(graph):
    """Every node of ``graph``, nested graphs' included, with what the text shows and its full location."""
    found = []
    for node in graph.nodes:
        found.append((node.op, node.loc, node.scope, node.is_gradient))
        for body in node.subgraphs.values():
            found += nodes(body)
    return found


def model(w, b):
    """A step with variables, a gradient, a kernel and an update."""
    def step(x):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(gc.tanh(gc.matmul(x, w) + b))
        dw = tape.gradient(loss, w)
        w.assign_sub(0.5 * dw)
        return loss * 2.0
    return step


def numpy_step(w, b, x):
    h = np.tanh(x @ w + b)
    dw = x.T @ (1 - h * h)
    return 2 * h.sum(), w - 0.5 * dw


W0 = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)


def test_a_traced_graph_found_in_the_cache_skips_the_passes_and_gives_the_same_graphs(fresh):
    w, b = gc.Variable(W0, name="w"), gc.Variable(np.ones(2, np.float32), name="b")
    first = compiled(model(w, b), X)
    again = compiled(model(w, b), X)
    assert not loaded(first) and loaded(again)
    for stage in ("fused", "optimized"):
        assert format_graph(again.graphs[stage], full_constants=True) == format_graph(first.graphs[stage], full_constants=True)
    assert nodes(again.graphs["fused"]) == nodes(first.graphs["fused"])
    assert again.graphs["traced"] is again.graph
    loss, new_w = numpy_step(W0, np.ones(2, np.float32), X)
    np.testing.assert_allclose(again(X).numpy(), loss, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), new_w, rtol=1e-5)


def test_identical_graphs_under_other_names_share_one_entry_and_bind_their_own_variables(fresh, caplog):
    w, b = gc.Variable(W0, name="w"), gc.Variable(np.ones(2, np.float32), name="b")
    kernel, bias = gc.Variable(W0 * 3, name="kernel"), gc.Variable(np.full(2, -1, np.float32), name="bias")

    def other_step(inputs):  # the same graph: other function, parameter and variable names, other lines
        with gc.GradientTape() as t:
            total = gc.reduce_sum(gc.tanh(gc.matmul(inputs, kernel) + bias))
        grad = t.gradient(total, kernel)
        kernel.assign_sub(0.5 * grad)
        return total * 2.0

    compiled(model(w, b), X)
    with caplog.at_level(logging.INFO, logger="graphc.cache"):
        other = compiled(other_step, X)
    assert loaded(other) and "graph hit" in caplog.text
    assert len(graph_entries(fresh)) == 1
    reference = gc.function(other_step, backend="numpy").get_concrete_function(X)
    fused, expected = other.graphs["fused"], reference.graphs["fused"]
    assert format_graph(fused, full_constants=True) == format_graph(expected, full_constants=True)
    assert nodes(fused) == nodes(expected), "this function's own lines"
    assert set(fused.variables) == {"kernel", "bias"}
    assert all(fused.variables[name] is other.graph.variables[name] for name in fused.variables)
    loss, new_kernel = numpy_step(W0 * 3, np.full(2, -1, np.float32), X)
    np.testing.assert_allclose(other(X).numpy(), loss, rtol=1e-5)
    np.testing.assert_allclose(kernel.numpy(), new_kernel, rtol=1e-5)
    np.testing.assert_array_equal(w.numpy(), W0)  # the first function's variable is left alone


def same_name(body):
    def step(x):
        return body(x)
    return step


def test_different_graphs_whose_names_are_equal_get_entries_of_their_own(fresh):
    tanh_step, exp_step = same_name(lambda x: gc.tanh(x) * 2.0), same_name(lambda x: gc.exp(x) * 2.0)
    assert tanh_step.__name__ == exp_step.__name__
    np.testing.assert_allclose(gc.function(tanh_step)(X).numpy(), np.tanh(X) * 2, rtol=1e-6)
    exp_cf = compiled(exp_step, X)
    assert not loaded(exp_cf) and len(graph_entries(fresh)) == 2
    np.testing.assert_allclose(exp_cf(X).numpy(), np.exp(X) * 2, rtol=1e-6)
    np.testing.assert_allclose(gc.function(tanh_step)(X).numpy(), np.tanh(X) * 2, rtol=1e-6)


def test_the_optimizer_options_are_part_of_the_key(fresh):
    fn = lambda x: gc.exp(x * 1.0) * 2.0  # noqa: E731
    simplified = compiled(fn, X)
    with gc.config.set_optimizer_options(arithmetic_optimization=False):
        kept = compiled(fn, X)
    assert not loaded(kept) and len(graph_entries(fresh)) == 2
    multiplies = [sum(op == "multiply" for op, *_ in nodes(cf.graphs["fused"])) for cf in (simplified, kept)]
    assert multiplies == [1, 2]
    np.testing.assert_allclose(kept(X).numpy(), np.exp(X) * 2, rtol=1e-6)


# -- whatever sits at an entry's path ------------------------------------------------------------------
def tanh_mix(v):
    return gc.tanh(v) * 3.0 - v


def exp_mix(v):
    return gc.exp(v) * 3.0 - v


REFERENCE = {tanh_mix: np.tanh(X) * 3.0 - X, exp_mix: np.exp(X) * 3.0 - X}


def entry_path(directory, fn):
    return directory / cache.entry_name(GraphEntry(gc.function(fn).get_concrete_function(X).graph,
                                                   gc.config.get_optimizer_options()).key, cache.GRAPH)


@pytest.fixture
def built(fresh):
    """{function: (graph entry path, its bytes)} for tanh_mix and exp_mix."""
    found = {}
    for fn in REFERENCE:
        np.testing.assert_allclose(gc.function(fn)(X).numpy(), REFERENCE[fn], rtol=1e-6)
        path = entry_path(fresh, fn)
        found[fn] = (path, path.read_bytes())
    return found


def assert_rebuilt(path, whole: bytes, caplog, reason: str) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        cf = compiled(tanh_mix, X)
        result = cf(X).numpy()
    np.testing.assert_allclose(result, REFERENCE[tanh_mix], rtol=1e-6)
    assert not loaded(cf)
    assert REJECTED in caplog.text and reason in caplog.text, caplog.text
    assert path.is_file() and not path.is_symlink() and path.read_bytes() == whole, "rebuilt"


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x10]) + data[offset + 1:]


def forged(text: bytes):
    """A well-formed entry for the path's key (checksum and all) around ``text``."""
    return lambda path, whole, other: path.write_bytes(cache.encode(path.name.removesuffix(".graph"), text, cache.GRAPH))


def whole_entry(whole):
    """The text inside an entry."""
    return whole[len(cache.GRAPH.magic) + 65 + 8:-32]


BAD_ENTRIES = [
    # name, what is put at the entry's path (path, its entry, the other function's entry), reason reported
    ("truncated", lambda p, whole, other: p.write_bytes(whole[: len(whole) // 2]), "truncated"),
    ("empty", lambda p, whole, other: p.write_bytes(b""), "truncated"),
    ("bit-flipped-text", lambda p, whole, other: p.write_bytes(flip(whole, len(whole) // 2)), "checksum"),
    ("bit-flipped-key", lambda p, whole, other: p.write_bytes(flip(whole, len(cache.GRAPH.magic) + 3)), "another key"),
    ("object-code-entry", lambda p, whole, other: p.write_bytes(cache.encode(p.stem, b"\x7fELF")), "not a graphc cache entry"),
    ("entry-of-another-graph", lambda p, whole, other: p.write_bytes(other), "the entry of another key"),
    ("fifo", lambda p, whole, other: os.mkfifo(p), "not a regular file"),
    ("symlink-to-the-other-entry", lambda p, whole, other: p.symlink_to(p.parent / "other.graph"), "a symbolic link"),
    ("directory", lambda p, whole, other: (p.mkdir(), (p / "inside").write_bytes(b"x")), "not a regular file"),
    ("forged-garbage", lambda p, whole, other: forged(b"\xff\xfe not text")(p, whole, other), "cannot be used"),
    ("forged-unparsable", lambda p, whole, other: forged(b"graph _(%0:f32[3,4]\n  return %9")(p, whole, other),
     "cannot be used"),
    ("forged-unknown-variable", lambda p, whole, other: forged(
        b'graph "#0"(%0:f32[3,4] "#1")\n  var @v7: f32[3,4]\n  return %0')(p, whole, other), "no variable is printed as @v7"),
    ("forged-other-signature", lambda p, whole, other: forged(b'graph "#0"(%0:f32[3,4] "#1")\n  %1:f32[4,3] = transpose %0 '
                                                             b'{perm=(1, 0)}\n  return %1')(p, whole, other),
     "its inputs and outputs are"),
]


@pytest.mark.parametrize("name,replace,reason", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_whatever_sits_at_a_graph_entry_path_is_reported_and_rebuilt(name, replace, reason, built, caplog):
    path, whole = built[tanh_mix]
    other_path, other = built[exp_mix]
    os.rename(other_path, path.parent / "other.graph")
    path.unlink()
    replace(path, whole, other)
    if name == "directory":
        assert path.is_dir()
    assert_rebuilt(path, whole, caplog, reason)


def test_every_truncation_and_bit_flip_of_a_graph_entry_is_rejected(built):
    path, whole = built[tanh_mix]
    key = path.name.removesuffix(".graph")
    assert cache.decode(key, whole, cache.GRAPH) == whole_entry(whole)
    for length in range(len(whole)):
        with pytest.raises(ValueError):
            cache.decode(key, whole[:length], cache.GRAPH)
    for offset in range(len(whole)):
        for bit in range(8):
            with pytest.raises(ValueError):
                cache.decode(key, whole[:offset] + bytes([whole[offset] ^ 1 << bit]) + whole[offset + 1:], cache.GRAPH)


def test_a_graph_whose_text_does_not_read_back_is_not_stored(fresh, caplog):
    opaque = object()

    def with_opaque_attribute(x):
        return gc.exp(x)

    cf = gc.function(with_opaque_attribute).get_concrete_function(X)
    entry = GraphEntry(cf.graph, gc.config.get_optimizer_options())
    fused = cf.compiled().fused
    fused.nodes[-1].attrs["note"] = opaque  # printed as opaque"...", which the parser refuses
    os.remove(fresh / cache.entry_name(entry.key, cache.GRAPH))
    with caplog.at_level(logging.INFO, logger="graphc.cache"):
        entry.store(fused)
    assert "graph not stored" in caplog.text and not graph_entries(fresh)


def test_a_traced_graph_holding_a_python_object_has_no_entry(fresh, caplog):
    """Such an attribute would enter the key only through its repr, which two objects may share."""
    graph = gc.function(tanh_mix).get_concrete_function(X).graph
    graph.nodes[-1].attrs["note"] = object()
    with caplog.at_level(logging.INFO, logger="graphc.cache"):
        entry = GraphEntry(graph, gc.config.get_optimizer_options())
        assert entry.key is None and entry.load() is None
        entry.store(compiled(exp_mix, X).graphs["fused"])
    assert "graph not cached" in caplog.text and "holds a object" in caplog.text
    assert graph_entries(fresh) == [entry_path(fresh, exp_mix).name], "only exp_mix's own"
