"""graphc's own loader of object code (``backends/llvm/loader.py``): the code it loads gives LLVM's
loader's results bit for bit; a process whose code is all in the compile cache never loads LLVM;
objects it does not load (another relocation kind, a symbol found nowhere, a relocation past its
section) go to LLVM's loader instead; damaged objects that pass the structural check never crash it
(the slow fuzz test in ``test_llvm_cache.py`` loads them with both loaders)."""
from __future__ import annotations

import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache, codegen, compiler, elf, loader, target
from graphc.backends.llvm.blas import blas_symbols
from graphc.backends.llvm.runtime import Executable

pytestmark = pytest.mark.skipif(not loader.applies(), reason="graphc loads object code itself on x86-64 Linux only")

RNG = np.random.default_rng(7)
X = RNG.standard_normal((37, 300)).astype(np.float32)
W = RNG.standard_normal((300, 20)).astype(np.float32)
# graphs whose objects call every kind of outside function: BLAS, memset and memcpy, fmodf
FUNCTIONS = {
    "elementwise-math": (lambda x: gc.exp(gc.tanh(x)) * 2.0 + gc.math.log1p(gc.abs(x)), [X]),
    "matmul-epilogue": (lambda x, w: gc.nn.relu(gc.matmul(x, w) + 1.0), [X, W]),
    "column-sums": (lambda x: gc.reduce_sum(x * x, axis=0) - gc.reduce_max(x, axis=0), [X]),
    "row-softmax-float64": (lambda x: gc.nn.softmax(x, axis=-1), [X.astype(np.float64)]),
    "float-remainder": (lambda x: x % 0.75, [X]),
    "concatenation": (lambda x: gc.concat([x, x * 2.0], axis=0), [X]),
    "one-value-twice": (lambda x: (x * 2.0, gc.reshape(x * 2.0, [-1])), [X]),
    "padding": (lambda x: gc.pad(x, [[1, 1], [2, 2]]), [X]),
}


def object_code(fn, args) -> tuple:
    """(fused graph, program, object code) of ``fn`` compiled for ``args``, without the cache."""
    fused = gc.function(fn).get_concrete_function(*args).compiled().fused
    program = codegen.generate(fused)
    return fused, program, target.emit_object(target.optimize(program.ir))


def undefined_symbols(obj: elf.ObjectFile) -> set[str]:
    (symtab,) = [i for i, s in enumerate(obj.sections) if s.type == elf.SHT_SYMTAB]
    names = obj.strings(obj.sections[symtab].link)
    return {names[n:names.index(b"\0", n)].decode() for n, _, _, shndx, _, _ in obj.symbols(symtab) if n and shndx == 0}


def test_the_header_graphc_expects_is_the_one_llvm_emits():
    assert elf.host_header() == elf.X86_64_LINUX_HEADER == target.emit_object(target.parse(""))[:20]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_code_it_loads_gives_the_results_of_code_llvm_loads(name, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    fn, args = FUNCTIONS[name]
    fused, program, obj = object_code(fn, args)
    ours = Executable(fused, program, loader.LoadedObject(obj, blas_symbols())).run(args)
    llvms = Executable(fused, program, target.LoadedCode([obj], blas_symbols())).run(args)
    assert len(ours) == len(llvms) > 0
    for a, b in zip(ours, llvms):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    reference = gc.nest.flatten(gc.function(fn, backend="numpy")(*args))
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=2e-5, atol=1e-5)


def test_the_objects_tested_call_every_kind_of_outside_function(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    called = set().union(*(undefined_symbols(elf.check(object_code(fn, args)[2])) for fn, args in FUNCTIONS.values()))
    assert {"graphc_blas_sgemm", "memset", "memcpy", "fmodf", "sched_yield"} <= called


def relocations_of_code(obj: bytes) -> tuple[int, int, int]:
    """(file offset of the code's relocation table, its number of entries, the code section's size)."""
    parsed = elf.check(obj)
    (table,) = [s for s in parsed.sections if s.type == elf.SHT_RELA and parsed.sections[s.info].flags & 0x4]
    return table.offset, table.size // 24, parsed.sections[table.info].size


@pytest.fixture(scope="module")
def obj() -> bytes:
    fn, args = FUNCTIONS["matmul-epilogue"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHC_CACHE", "0")
        return object_code(fn, args)[2]


def with_relocation_kind(obj: bytes, kind: int) -> bytes:
    offset, _, _ = relocations_of_code(obj)
    info = struct.unpack_from("<Q", obj, offset + 8)[0]
    damaged = bytearray(obj)
    struct.pack_into("<Q", damaged, offset + 8, (info >> 32) << 32 | kind)
    return bytes(damaged)


def test_a_pc_relative_relocation_in_code_goes_to_llvms_loader(obj):
    """R_X86_64_PC64, which LLVM emits in unwind tables only, passes the check but not this loader."""
    damaged = with_relocation_kind(obj, 24)
    elf.check(damaged)
    with pytest.raises(loader.Unsupported, match="relocation type 24"):
        loader.LoadedObject(damaged, blas_symbols())


@pytest.mark.parametrize("kind", [2, 4, 10, 11, 9, 0x7FFF], ids=["PC32", "PLT32", "32", "32S", "GOTPCREL", "unknown"])
def test_relocation_kinds_graphc_never_emits_fail_the_check(obj, kind):
    """Some of them LLVM's loader aborts the process on (found by the header fuzz test)."""
    with pytest.raises(ValueError, match=f"a relocation of a kind graphc never emits \\({kind}\\)"):
        elf.check(with_relocation_kind(obj, kind))


def test_a_relocation_reaching_past_its_section_is_refused(obj):
    offset, _, code_size = relocations_of_code(obj)
    damaged = bytearray(obj)
    struct.pack_into("<Q", damaged, offset, code_size - 4)  # inside for the check's narrowest site, not for 8 bytes
    elf.check(bytes(damaged))
    with pytest.raises(loader.Unsupported, match="relocation type 1"):
        loader.LoadedObject(bytes(damaged), blas_symbols())


def test_a_symbol_found_nowhere_is_refused_and_not_handed_to_llvm(obj):
    """LLVM's loader searches the same places and leaves a call to address 0: no fallback to it,
    even when the object also holds what only LLVM's loader loads."""
    assert b"graphc_blas_sgemm\0" in obj
    unknown = obj.replace(b"graphc_blas_sgemm\0", b"graphc_blas_sgemX\0")
    with pytest.raises(loader.Unresolved, match="it calls 'graphc_blas_sgemX', which is defined nowhere"):
        loader.LoadedObject(unknown, blas_symbols())
    with pytest.raises(loader.Unresolved, match="'graphc_blas_sgemm'"):
        loader.LoadedObject(obj, {})  # the BLAS symbols not given
    for object_code in (unknown, with_relocation_kind(unknown, 24)):
        with pytest.raises(loader.Unresolved):
            compiler.load_object(object_code)


def test_objects_it_refuses_load_with_llvm(obj, monkeypatch, caplog):
    def refuse(*args):
        raise loader.Unsupported("refused by the test")

    monkeypatch.setattr(loader, "LoadedObject", refuse)
    with caplog.at_level("INFO", logger="graphc.cache"):
        code = compiler.load_object(obj)
    assert isinstance(code, target.LoadedCode) and code.address(codegen.ENTRY)
    assert "object code loaded by LLVM: refused by the test" in caplog.text
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    fn, args = FUNCTIONS["matmul-epilogue"]
    assert gc.function(fn)(*args).numpy().tobytes() == gc.function(fn)(*args).numpy().tobytes()


def test_the_cache_key_covers_the_llvm_and_cpu_description(monkeypatch):
    graph = gc.function(lambda x: x * 2.0).get_concrete_function(X).compiled().fused
    description = cache.target_description()
    assert description[0].startswith("llvmlite ") and any(line.startswith("flags") for line in description)
    key = cache.cache_key(graph)
    for i in range(len(description)):
        changed = description[:i] + (description[i] + " ",) + description[i + 1:]
        monkeypatch.setattr(cache, "target_description", lambda: changed)
        assert cache.cache_key(graph) != key, description[i]


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import graphc as gc

    x = np.linspace(-3, 3, 4096, dtype=np.float32).reshape(64, 64)
    step = gc.function(lambda x: gc.nn.softmax(gc.matmul(x, x) % 1.5, axis=-1) + gc.reduce_sum(x, axis=0))
    print(step(x).numpy().tobytes().hex())
    print("llvmlite.binding" in sys.modules)
    """
)


def test_a_process_finding_its_code_in_the_cache_never_loads_llvm(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    env = {"GRAPHC_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    cold, warm = (subprocess.run([sys.executable, str(tmp_path / "child.py")], capture_output=True, text=True,
                                 timeout=300, env=env, check=True).stdout.split() for _ in range(2))
    assert cold[1] == "True" and warm[1] == "False"
    assert warm[0] == cold[0]
