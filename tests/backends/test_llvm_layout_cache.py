"""The buffer layout cached beside object code (``program.stored_layout``, ``program.read_layout``): it
reads back to the layout the code generator gives, a process whose code is all cached runs without
importing the code generator or llvmlite, and a damaged, foreign, stale or forged layout entry is
reported, never used, and rebuilt."""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache, codegen
from graphc.backends.llvm.program import LAYOUT_VERSION, read_layout, stored_layout

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")
REJECTED = "ignoring the cache entry"
X = np.linspace(-3, 3, 7, dtype=np.float32)
I = np.array([1, 2], np.int32)


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_refused", set())
    return tmp_path / "cache"


def fused_graph(fn, *args, **options):
    f = gc.function(fn, **options)
    f(*args)
    return f.get_concrete_function(*args).graphs["fused"]


W = np.linspace(-1, 1, 21, dtype=np.float32).reshape(7, 3)


def with_variables():
    w = gc.Variable(W, name="w")

    def step(x):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(gc.tanh(gc.matmul(gc.reshape(x, (1, 7)), w)))
        w.assign_sub(0.5 * tape.gradient(loss, w))
        return loss
    return step


def with_regions(x):
    return gc.cond(gc.reduce_sum(x) > 0, lambda: x * 2.0 + np.arange(7, dtype=np.float32), lambda: x - 1.0)


def counting(x):
    return gc.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s * 0.5 + np.ones(7, np.float32)), [0, x])[1]


GRAPHS = [
    # name, function, arguments, gc.function options
    ("elementwise", lambda v: gc.tanh(v) * 3.0 - v, [X], {}),
    ("gather-into-the-arena", lambda x, i: gc.gather(x, i) * 2.0, [X, I], {}),
    ("large-constant", lambda x: x + np.arange(7, dtype=np.float32), [X], {}),
    ("symbolic-sizes", lambda x: gc.reduce_sum(gc.exp(x), axis=1), [np.ones((2, 3))],
     {"input_signature": [gc.TensorSpec([None, 3], "float64")]}),
    ("variables-matmul-gradient", None, [X], {}),
    ("cond-with-constants", with_regions, [X], {}),
    ("while-loop", counting, [X], {}),
]


def graph_of(name, fn, args, options):
    return fused_graph(with_variables() if fn is None else fn, *args, **options)


@pytest.mark.parametrize("name,fn,args,options", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_a_stored_layout_reads_back_as_the_code_generator_lays_it_out(name, fn, args, options):
    fused = graph_of(name, fn, args, options)
    expected = codegen.layout(fused)
    got = read_layout(stored_layout(expected, fused), fused)
    assert (got.name, got.symbols, got.output_slots, got.arena_bytes) == (
        expected.name, expected.symbols, expected.output_slots, expected.arena_bytes)
    assert got.nodes == expected.nodes and got.ir == ""
    assert len(got.slots) == len(expected.slots)
    for a, b in zip(got.slots, expected.slots):
        assert (a.kind, a.dtype, a.shape) == (b.kind, b.dtype, b.shape)
        assert a.key is b.key if a.kind == "constant" else a.key == b.key  # the graph's own array


def test_the_table_covers_every_kind_of_slot():
    kinds = {s.kind for g in GRAPHS for s in codegen.layout(graph_of(*g)).slots}
    assert kinds == {"input", "output", "variable", "assigned", "constant", "arena", "buffer", "scratch"}


def test_a_layout_with_host_calls_is_not_stored_and_its_code_runs_from_the_cache(fresh, caplog):
    def with_host_call(x):
        return gc.numpy_function(np.sort, [x * 2.0], gc.TensorSpec([7], "float32")) + 1.0

    fused = fused_graph(with_host_call, X)
    assert stored_layout(codegen.layout(fused), fused) is None
    assert not list(fresh.glob("*.layout")) and list(fresh.glob("*.o"))
    with caplog.at_level(logging.INFO, logger="graphc.cache"):
        np.testing.assert_allclose(gc.function(with_host_call)(X[::-1]).numpy(), np.sort(X * 2) + 1, rtol=1e-6)
    assert [r.getMessage().split()[0] for r in caplog.records if " hit " in f" {r.getMessage()}"] == ["hit"], "its object code"


# -- what a layout entry may hold ------------------------------------------------------------------------
def stored(name):
    g = next(g for g in GRAPHS if g[0] == name)
    fused = graph_of(*g)
    return json.loads(stored_layout(codegen.layout(fused), fused)), fused


def changed(field, value):
    def change(layout):
        layout[field] = value
    return change


def slot_changed(kind, position, value):
    """Sets item ``position`` (1: key, 2: dtype, 3: shape; 0: the kind itself) of the first ``kind`` slot."""
    def change(layout):
        next(s for s in layout["slots"] if s[0] == kind)[position] = value
    return change


def duplicate(kind):
    def change(layout):
        layout["slots"].append(next(s for s in layout["slots"] if s[0] == kind))
    return change


def removed(kind):
    def change(layout):
        layout["slots"] = [s for s in layout["slots"] if s[0] != kind]
    return change


FORGED = [
    # name, graph whose layout is changed, change, reason
    ("another-version", "elementwise", changed("version", LAYOUT_VERSION + 1), "of version 2"),
    ("no-slots", "elementwise", lambda d: d.pop("slots"), "fields of one"),
    ("extra-field", "elementwise", changed("ir", "define void @f()"), "fields of one"),
    ("negative-arena", "gather-into-the-arena", changed("arena_bytes", -64), "fields of one"),
    ("arena-too-small", "gather-into-the-arena", changed("arena_bytes", 4), "does not fit"),
    ("arena-offset-beyond", "variables-matmul-gradient", slot_changed("arena", 1, 4096), "does not fit"),
    ("arena-offset-unaligned", "variables-matmul-gradient", slot_changed("arena", 1, 4), "does not fit"),
    ("unknown-kind", "elementwise", slot_changed("input", 0, "register"), "does not fit"),
    ("host-kind", "elementwise", slot_changed("input", 0, "host"), "does not fit"),
    ("input-dtype", "elementwise", slot_changed("input", 2, "float64"), "does not fit"),
    ("not-a-dtype", "elementwise", slot_changed("input", 2, "float1024"), "no dtype but 'float1024'"),
    ("dtype-alias", "elementwise", slot_changed("input", 2, "f32"), "no dtype but 'f32'"),
    ("input-shape", "elementwise", slot_changed("input", 3, [8]), "does not fit"),
    ("negative-size", "elementwise", slot_changed("input", 3, [-7]), "is not a slot"),
    ("input-of-another-index", "elementwise", slot_changed("input", 1, 1), "does not fit"),
    ("input-twice", "gather-into-the-arena", duplicate("input"), "one input slot per input"),
    ("no-output", "elementwise", removed("output"), "one output slot per output"),
    ("output-slots-elsewhere", "elementwise", changed("output_slots", [0]), "output slots are not"),
    ("output-slot-beyond", "elementwise", changed("output_slots", [99]), "output slots are not"),
    ("unknown-variable", "variables-matmul-gradient", slot_changed("variable", 1, "v"), "does not fit"),
    ("variable-missing", "variables-matmul-gradient", removed("variable"), "one variable slot per variable"),
    ("assigned-of-no-variable", "variables-matmul-gradient", slot_changed("assigned", 1, "nothing"), "does not fit"),
    ("buffer-with-a-key", "while-loop", slot_changed("buffer", 1, 3), "does not fit"),
    ("scratch-with-a-key", "variables-matmul-gradient", slot_changed("scratch", 1, 3), "does not fit"),
    ("constant-path-to-an-input-node", "large-constant", slot_changed("constant", 1, [99]), "does not fit"),
    ("constant-path-to-a-non-constant", "large-constant", slot_changed("constant", 1, [1]), "does not fit"),
    ("constant-path-malformed", "cond-with-constants", slot_changed("constant", 1, [1, 0, 0]), "does not fit"),
    ("constant-path-no-region", "cond-with-constants", slot_changed("constant", 1, [1, "no_branch", 0]), "does not fit"),
    ("symbol-beyond", "symbolic-sizes", slot_changed("input", 3, [[5], 3]), "is not a slot"),
    ("symbol-as-a-name", "symbolic-sizes", slot_changed("input", 3, ["d1", 3]), "is not a slot"),
]


@pytest.mark.parametrize("name,graph,change,reason", FORGED, ids=[f[0] for f in FORGED])
def test_a_layout_that_does_not_fit_its_graph_is_refused(name, graph, change, reason):
    layout, fused = stored(graph)
    change(layout)
    with pytest.raises(ValueError, match=reason):
        read_layout(json.dumps(layout).encode(), fused)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2]", b"null", b'{"version": 1', b"NaN"])
def test_a_layout_that_is_no_json_object_is_refused(data):
    with pytest.raises(ValueError, match="not JSON|fields of one"):
        read_layout(data, fused_graph(lambda v: v * 2.0, X))


def test_a_layout_of_another_graph_is_refused():
    layout, _ = stored("gather-into-the-arena")
    with pytest.raises(ValueError, match="does not fit|one input slot"):
        read_layout(json.dumps(layout).encode(), stored("elementwise")[1])


# -- layout entries in the cache -------------------------------------------------------------------------
def mix(x, i):
    return gc.gather(gc.tanh(x) * 3.0 - x, i) * 2.0


REFERENCE = (np.tanh(X) * 3.0 - X)[I] * 2.0


@pytest.fixture
def built(fresh):
    """(layout entry path, its bytes, the other graph's layout entry bytes) for ``mix``, compiled into ``fresh``."""
    np.testing.assert_allclose(gc.function(mix)(X, I).numpy(), REFERENCE, rtol=1e-6)
    gc.function(lambda v: gc.exp(v) * 0.5)(X)
    key = cache.cache_key(fused_graph(mix, X, I))
    path = fresh / cache.entry_name(key, cache.LAYOUT)
    other = next(p for p in fresh.glob("*.layout") if p != path)
    return path, path.read_bytes(), other.read_bytes()


def forged_entry(key: str, payload: bytes, magic: bytes = cache.LAYOUT.magic) -> bytes:
    """A well-formed entry (length, checksum and all) for ``key`` around ``payload``."""
    body = magic + key.encode() + b"\n" + len(payload).to_bytes(8, "little") + payload
    return body + hashlib.sha256(body).digest()


def payload_of(whole: bytes) -> bytes:
    return whole[len(cache.LAYOUT.magic) + 65 + 8:-32]


def with_arena_offset(offset):
    def forge(path, whole, other):
        layout = json.loads(payload_of(whole))
        next(s for s in layout["slots"] if s[0] == "arena")[1] = offset
        return forged_entry(path.stem, json.dumps(layout).encode())
    return forge


BAD_ENTRIES = [
    # name, the bytes put at the entry's path (path, its entry, the other graph's entry), reason reported
    ("truncated", lambda p, whole, other: whole[:len(whole) // 2], "truncated"),
    ("empty", lambda p, whole, other: b"", "truncated"),
    ("bit-flipped-layout", lambda p, whole, other: whole[:-40] + bytes([whole[-40] ^ 4]) + whole[-39:], "checksum"),
    ("bit-flipped-key", lambda p, whole, other: whole[:20] + bytes([whole[20] ^ 1]) + whole[21:], "another key"),
    ("previous-version", lambda p, whole, other: forged_entry(p.stem, payload_of(whole), b"GRAPHC-LAYOUT-0\n"),
     "not a graphc cache entry"),
    ("object-code-entry", lambda p, whole, other: forged_entry(p.stem, b"\x7fELF", cache.MAGIC), "not a graphc cache entry"),
    ("entry-of-another-graph", lambda p, whole, other: other, "the entry of another key"),
    ("layout-of-another-graph", lambda p, whole, other: forged_entry(p.stem, payload_of(other)), "does not fit"),
    ("arena-offset-beyond", with_arena_offset(1 << 20), "does not fit"),
    ("not-json", lambda p, whole, other: forged_entry(p.stem, b"slots: input output"), "not JSON"),
]


@pytest.mark.parametrize("name,forge,reason", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_a_bad_layout_entry_is_reported_never_used_and_rebuilt(name, forge, reason, built, caplog):
    path, whole, other = built
    path.write_bytes(forge(path, whole, other))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        result = gc.function(mix)(X, I).numpy()
    np.testing.assert_allclose(result, REFERENCE, rtol=1e-6)
    assert REJECTED in caplog.text and reason in caplog.text and path.name in caplog.text, caplog.text
    assert path.read_bytes() == whole, "rebuilt by the code generator"


def test_a_missing_layout_entry_is_laid_out_and_stored(built, caplog):
    path, whole, _ = built
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        np.testing.assert_allclose(gc.function(mix)(X, I).numpy(), REFERENCE, rtol=1e-6)
    assert REJECTED not in caplog.text and path.read_bytes() == whole


def test_every_truncation_and_bit_flip_of_a_layout_entry_is_rejected(built):
    path, whole, _ = built
    assert json.loads(cache.decode(path.stem, whole, cache.LAYOUT))["version"] == LAYOUT_VERSION
    for length in range(len(whole)):
        with pytest.raises(ValueError):
            cache.decode(path.stem, whole[:length], cache.LAYOUT)
    for offset in range(len(whole)):
        for bit in range(8):
            with pytest.raises(ValueError):
                cache.decode(path.stem, whole[:offset] + bytes([whole[offset] ^ 1 << bit]) + whole[offset + 1:], cache.LAYOUT)


# -- a warm process ----------------------------------------------------------------------------------
WARM_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import graphc as gc

    w = gc.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), name="w")

    @gc.function
    def step(x):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(gc.tanh(gc.matmul(x, w)))
        w.assign_sub(0.5 * tape.gradient(loss, w))
        return loss

    @gc.function
    def pick(x, i):
        return gc.gather(gc.exp(x), i) * 2.0

    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    print(repr(float(step(x).numpy())), repr(w.numpy().tolist()))
    print(repr(pick(x[0], np.array([3, 0], np.int32)).numpy().tolist()))
    print(sorted(m for m in sys.modules if m in {FORBIDDEN}))
    try:
        pick(x[0], np.array([9], np.int32))
    except gc.errors.InvalidArgumentError as error:
        print(str(error).splitlines()[0])
    """
)
# what running cached code does without: the code generator (and with it llvmlite's IR builder) and LLVM
FORBIDDEN = {"graphc.backends.llvm.codegen", "graphc.backends.llvm.emission", "graphc.backends.llvm.emitter",
             "graphc.backends.llvm.kernels", "graphc.backends.llvm.matmul", "graphc.backends.llvm.target",
             "llvmlite.ir", "llvmlite.binding"}


def run_child(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(WARM_CHILD.replace("{FORBIDDEN}", repr(FORBIDDEN)))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "GRAPHC_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_warm_process_imports_neither_the_code_generator_nor_llvmlite(tmp_path):
    cold = run_child(tmp_path)
    warm = run_child(tmp_path)
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    h = np.tanh(x @ w)
    loss, w_after = eval(warm[0].split(" ", 1)[0]), np.array(eval(warm[0].split(" ", 1)[1]))
    np.testing.assert_allclose(loss, h.sum(), rtol=1e-5)
    np.testing.assert_allclose(w_after, w - 0.5 * x.T @ (1 - h * h), rtol=1e-5)
    np.testing.assert_allclose(eval(warm[1]), np.exp(x[0])[[3, 0]] * 2, rtol=1e-6)
    assert warm[:2] == cold[:2], "the same results from cached code"
    assert set(eval(cold[2])) >= {"graphc.backends.llvm.codegen", "llvmlite.ir"}, "the cold process compiled"
    assert eval(warm[2]) == [], "a warm process loads none of them"
    assert warm[3] == cold[3] and "gather" in warm[3], "an error flagged by cached code names the op"
