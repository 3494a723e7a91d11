"""A module compiled in parts at once (``backends/llvm/partition.py``, ``target.compile_parts``): code
compiled in parts gives the results of code compiled whole, bit for bit, for every kind of graph
(variables and BLAS, math functions outlined into several parts, control flow, host calls, symbolic
sizes, errors flagged by a kernel); each kernel is defined in one part; LLVM's loader links the parts
as graphc's does; threads compiling at once, and a part failing on its thread, are safe; the parts of
a module share one cache entry, and a malformed one is rejected."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache, codegen, elf, loader, partition, target

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

RNG = np.random.default_rng(11)
X = RNG.standard_normal((33, 40)).astype(np.float32)
LABELS = RNG.integers(0, 10, 33)
I = np.array([3, 0, 32, 7], np.int64)


def mlp_step():
    """A training step: two dense layers (BLAS), softmax cross-entropy, SGD on variables (the same
    initial values on every call)."""
    rng, shapes = np.random.default_rng(5), [(40, 64), (64, 10)]
    ws = [gc.Variable(rng.standard_normal(s).astype(np.float32) * 0.1, name=f"w{k}") for k, s in enumerate(shapes)]
    bs = [gc.Variable(np.zeros(s[1], np.float32), name=f"b{k}") for k, s in enumerate(shapes)]

    def step(x, labels):
        with gc.GradientTape() as tape:
            h = gc.nn.relu(gc.matmul(x, ws[0]) + bs[0])
            logits = gc.matmul(h, ws[1]) + bs[1]
            loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        for v, g in zip(ws + bs, tape.gradient(loss, ws + bs)):
            v.assign_sub(0.1 * g)
        return loss
    return step, ws + bs


def sines(x):
    """sin in several kernels, more often than it is inlined: its outlined copy, vector variants and
    table in each part that calls it."""
    a = gc.sin(x) * 2.0 + gc.sin(x * 3.0) + gc.sin(x - 1.0) + gc.sin(x * x) + gc.sin(x + 5.0)
    return gc.reduce_sum(gc.sin(a), axis=0), gc.reduce_max(gc.cos(a) * gc.sin(x), axis=1)


def regions(x):
    y = gc.cond(gc.reduce_sum(x) > 0, lambda: gc.exp(x) * 2.0, lambda: gc.tanh(x) - 1.0)
    n = gc.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s * 0.5 + gc.reduce_mean(y, axis=0)), [0, y[0]])[1]
    return gc.reduce_sum(y, axis=1), n


def host_call(x):
    sorted_rows = gc.numpy_function(lambda a: np.sort(a, axis=1), [gc.tanh(x) * 2.0], gc.TensorSpec(X.shape, "float32"))
    return gc.reduce_sum(sorted_rows * sorted_rows, axis=0) + gc.reduce_max(gc.exp(x), axis=0)


def gathered(x, i):
    return gc.reduce_sum(gc.gather(gc.exp(x), i), axis=0), gc.reduce_max(x * 2.0, axis=1)


FUNCTIONS = {
    # name: (function or a maker of (function, variables), arguments, gc.function options)
    "mlp-step-with-variables": (mlp_step, [X, LABELS], {}),
    "math-outlined-in-parts": (sines, [X], {}),
    "cond-and-while": (regions, [X], {}),
    "host-call": (host_call, [X], {}),
    "symbolic-sizes": (lambda x: (gc.reduce_sum(gc.exp(x), axis=1), gc.reduce_max(gc.tanh(x), axis=0)),
                       [X.astype(np.float64)], {"input_signature": [gc.TensorSpec([None, 40], "float64")]}),
    "gather": (gathered, [X, I], {}),
}


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")


def parts_of(count: int, monkeypatch):
    monkeypatch.setattr(partition, "part_count", lambda cost: count)


def run_in(count: int, name: str, monkeypatch) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(results, variables' values after the call, part texts) of ``FUNCTIONS[name]`` compiled afresh
    in ``count`` parts."""
    parts_of(count, monkeypatch)
    fn, args, options = FUNCTIONS[name]
    variables = []
    if fn is mlp_step:
        fn, variables = mlp_step()
    f = gc.function(fn, **options)
    results = [np.asarray(r) for r in gc.nest.flatten(f(*args))]
    native = f.get_concrete_function(*args).compiled().native()
    if loader.applies() and loader.LoadedParts.__module__ == loader.__name__:  # (not replaced by a test)
        assert isinstance(native._code, loader.LoadedParts), "graphc's loader linked the parts"
    return results, [v.numpy() for v in variables], native.program.parts


@pytest.mark.parametrize("name", FUNCTIONS)
def test_code_compiled_in_parts_gives_the_results_of_code_compiled_whole(name, no_cache, monkeypatch):
    whole, whole_variables, one = run_in(1, name, monkeypatch)
    assert len(one) == 1
    for count in (2, 3):
        results, variables, parts = run_in(count, name, monkeypatch)
        assert len(parts) == count
        for got, want in zip(results + variables, whole + whole_variables, strict=True):
            assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes(), name
    fn, args, options = FUNCTIONS[name]
    reference = gc.function(mlp_step()[0] if fn is mlp_step else fn, backend="numpy", **options)(*args)
    for got, want in zip(whole, gc.nest.flatten(reference), strict=True):
        np.testing.assert_allclose(got, np.asarray(want), rtol=2e-5, atol=1e-5)


def fused(name):
    fn, args, options = FUNCTIONS[name]
    return gc.function(mlp_step()[0] if fn is mlp_step else fn, **options).get_concrete_function(*args).compiled().fused


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_module_text_is_llvmlites_and_each_kernel_is_defined_in_one_part(name, monkeypatch):
    graph = fused(name)
    generator = codegen.CodeGen(graph)
    program = generator.build()
    assert program.ir == str(generator.module)
    parts_of(3, monkeypatch)
    parts = codegen.generate(graph).parts
    defined = [re.findall(r'^define (?:\w+ )*?[\w<> x]+ @"([^"]+)"', p, re.M) for p in parts]
    kernels = [n for n in re.findall(r'^define internal void @"(node\d+_\w+)"', program.ir, re.M)]
    assert kernels and sorted(k for names in defined for k in names if k in kernels) == sorted(kernels)
    assert {"graphc_entry", "graphc_call"} <= set(defined[0])
    for k, part in enumerate(parts):
        for declared in re.findall(r'^declare void @"(node\d+_\w+)"', part, re.M):
            assert declared not in defined[k] and any(declared in d for d in defined)
        assert re.search(r'^define internal void @"node\d+_\w+"\(', part, re.M) is None, "kernels link across parts"


def test_an_error_flagged_by_a_kernel_of_another_part_names_the_op_and_line(no_cache, monkeypatch):
    bad = np.array([3, 0, 99, 7], np.int64)
    messages = []
    for count in (1, 3):
        parts_of(count, monkeypatch)
        with pytest.raises(gc.errors.InvalidArgumentError) as raised:
            gc.function(gathered)(X, bad)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and "gather" in messages[0] and "test_llvm_partition.py" in messages[0]


def test_llvm_links_the_parts_when_graphcs_loader_does_not_load_them(no_cache, monkeypatch):
    whole, _, _ = run_in(1, "math-outlined-in-parts", monkeypatch)

    def refuse(objects, symbols):
        raise loader.Unsupported("refused by the test")

    monkeypatch.setattr(loader, "LoadedParts", refuse)
    results, _, parts = run_in(3, "math-outlined-in-parts", monkeypatch)
    assert len(parts) == 3
    for got, want in zip(results, whole, strict=True):
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("broken", [0, 1, 2])
def test_a_part_that_fails_to_compile_raises_in_the_caller(broken):
    good = codegen.generate(fused("math-outlined-in-parts")).ir
    texts = [good] * 3
    texts[broken] = good.replace("define", "defnie", 1)
    with pytest.raises(RuntimeError, match="parsing error"):
        target.compile_parts(texts)
    assert len(target.compile_parts([good, good])) == 2, "compiling goes on"


def test_threads_compiling_in_parts_at_once_get_the_results_of_one_thread(no_cache, monkeypatch):
    names = ["math-outlined-in-parts", "cond-and-while", "symbolic-sizes", "gather"]
    wanted = {name: run_in(1, name, monkeypatch)[0] for name in names}
    parts_of(2, monkeypatch)
    got, failures = {}, []
    start = threading.Barrier(len(names) + 1)

    def compile_and_run(name):
        try:
            start.wait()
            fn, args, options = FUNCTIONS[name]
            got[name] = [np.asarray(r) for r in gc.nest.flatten(gc.function(fn, **options)(*args))]
        except BaseException as error:  # noqa: BLE001  (reported on the test's thread)
            failures.append(error)

    def use_llvmlite():  # llvmlite's own (locked) calls into LLVM, meanwhile
        start.wait()
        for _ in range(3):
            target.emit_object(target.optimize("define i64 @f(i64 %x) {\n  ret i64 %x\n}"))

    threads = [threading.Thread(target=compile_and_run, args=(n,)) for n in names]
    threads.append(threading.Thread(target=use_llvmlite))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    for name in names:
        for a, b in zip(got[name], wanted[name], strict=True):
            assert a.tobytes() == b.tobytes(), name


# -- the cache ----------------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import numpy as np
    import graphc as gc
    from graphc.backends.llvm import partition

    partition.part_count = lambda cost: 3

    @gc.function
    def sines(x):
        a = gc.sin(x) * 2.0 + gc.sin(x * 3.0) + gc.sin(x - 1.0) + gc.sin(x * x) + gc.sin(x + 5.0)
        return gc.reduce_sum(gc.sin(a), axis=0), gc.reduce_max(gc.cos(a) * gc.sin(x), axis=1)

    x = np.linspace(-3, 3, 60, dtype=np.float32).reshape(6, 10)
    print([r.numpy().tobytes().hex() for r in sines(x)])
    """
)


def run_child(tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path / "cache"), "GRAPHC_LOG": "cache"})
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def stored_parts(tmp_path_factory):
    """(the tmp directory, the child's output, the path and bytes of the object entry in parts)."""
    tmp = tmp_path_factory.mktemp("parts")
    cold = run_child(tmp)
    (path,) = (tmp / "cache").glob("*.o")
    return tmp, cold, path, path.read_bytes()


def payload(entry: bytes) -> bytes:
    return cache.decode(entry[len(cache.MAGIC):len(cache.MAGIC) + 64].decode(), entry)


def test_the_parts_share_one_entry_that_a_new_process_loads(stored_parts):
    tmp, cold, path, entry = stored_parts
    objects = elf.split_parts(payload(entry))
    assert len(objects) == 3 and all(o.startswith(elf.ELF_MAGIC) for o in objects)
    assert elf.join_parts(objects) == payload(entry)
    hot = run_child(tmp)
    assert hot.stdout == cold.stdout and "graphc graphc.cache: hit" in hot.stderr and "miss" not in hot.stderr


def reframed(count=None, lengths=None, objects=None, cut=None):
    """Parts ``objects`` under a header declaring ``count`` parts of ``lengths`` (by default, the true ones)."""
    def change(parts):
        body = objects(parts) if objects else parts
        header = elf.PARTS_MAGIC + (len(body) if count is None else count).to_bytes(4, "little")
        header += b"".join(n.to_bytes(8, "little") for n in (lengths(body) if lengths else [len(p) for p in body]))
        data = header + b"".join(body)
        return data[:cut(data)] if cut else data
    return change


BAD_PARTS = [
    # name, what becomes of the parts, reason reported
    ("no-parts", reframed(count=0, lengths=lambda b: [], objects=lambda p: []), "declares 0 parts"),
    ("one-part-declared", reframed(count=1), "declares 1 parts"),
    ("too-many-parts", reframed(count=elf.MAX_PARTS + 1), f"declares {elf.MAX_PARTS + 1} parts"),
    ("cut-inside-the-count", reframed(cut=lambda d: len(elf.PARTS_MAGIC) + 2), "ends inside the count"),
    ("cut-inside-the-lengths", reframed(cut=lambda d: len(elf.PARTS_MAGIC) + 4 + 12), "declares 3 parts"),
    ("lengths-short", reframed(lengths=lambda b: [len(p) - 1 for p in b]), "do not fill"),
    ("lengths-long", reframed(lengths=lambda b: [len(p) + 1 for p in b]), "do not fill"),
    ("an-empty-part", reframed(lengths=lambda b: [0, len(b[0]) + len(b[1]), len(b[2])]), "do not fill"),
    ("lengths-overflowing", reframed(lengths=lambda b: [2**64 - 1, 2, len(b[2])]), "do not fill"),
    ("a-part-not-an-object", reframed(objects=lambda p: [p[0], b"\0" * 64, p[2]]), "not a relocatable object file"),
    ("a-part-cut", reframed(objects=lambda p: [p[0], p[1][:100], p[2]]), "ends inside a structure"),
]


@pytest.mark.parametrize("name,change,reason", BAD_PARTS, ids=[b[0] for b in BAD_PARTS])
def test_malformed_parts_with_a_valid_checksum_are_rejected(name, change, reason, stored_parts, tmp_path, monkeypatch,
                                                            caplog):
    _, cold, path, entry = stored_parts
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    bad = directory / path.name
    bad.write_bytes(cache.encode(path.stem, change(elf.split_parts(payload(entry)))))
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_refused", set())
    with caplog.at_level(logging.WARNING, logger="graphc.cache"):
        assert cache.load(path.stem) is None
    assert "ignoring the cache entry" in caplog.text and reason in caplog.text, caplog.text


def test_every_cut_of_the_parts_header_is_rejected(stored_parts):
    data = payload(stored_parts[3])
    for length in range(len(elf.PARTS_MAGIC), len(elf.PARTS_MAGIC) + 4 + 3 * 8 + 1):
        with pytest.raises(ValueError):
            elf.split_parts(data[:length])


@pytest.mark.parametrize("kept", [[0, 1], [0, 2], [0, 2, 1]], ids=["last-part-missing", "middle-part-missing",
                                                                    "parts-reordered"])
def test_parts_that_do_not_link_are_rejected_never_run_and_rebuilt(kept, stored_parts, tmp_path):
    """Parts of one module, well-formed each, under a valid checksum: a part missing leaves calls
    to functions defined nowhere, which neither graphc's loader nor LLVM's may run (LLVM's would
    call address 0); parts in another order still link."""
    _, cold, path, entry = stored_parts
    objects = elf.split_parts(payload(entry))
    (tmp_path / "cache").mkdir(mode=0o700)
    bad = tmp_path / "cache" / path.name
    bad.write_bytes(cache.encode(path.stem, elf.join_parts([objects[k] for k in kept])))
    result = run_child(tmp_path)
    assert result.stdout == cold.stdout
    if len(kept) == len(objects):
        assert "graphc graphc.cache: hit" in result.stderr
    else:
        assert "ignoring the cache entry" in result.stderr and "which is defined nowhere" in result.stderr
        assert bad.read_bytes() == entry, "rebuilt"


def test_no_part_is_left_without_a_kernel(no_cache, monkeypatch):
    parts_of(8, monkeypatch)
    f = gc.function(lambda x: gc.tanh(x) * 2.0)
    np.testing.assert_allclose(f(X).numpy(), np.tanh(X) * 2.0, rtol=1e-6)
    assert len(f.get_concrete_function(X).compiled().native().program.parts) == 2, "the entry points and one kernel"


def test_the_long_calls_bypass_llvmlites_lock():
    """The parts compile at once only through llvmlite's unlocked functions (``target._unlocked``):
    an llvmlite without them would compile one part at a time, correctly but slowly; this names it."""
    from llvmlite.binding import ffi

    for name in ("LLVMPY_RunNewModulePassManager", "LLVMPY_TargetMachineEmitToMemory"):
        unlocked = target._unlocked(name)
        assert unlocked is not getattr(ffi.lib, name) and unlocked.argtypes, name
