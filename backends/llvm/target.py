"""The host target: LLVM initialisation, the target machine, the O3 pipeline, and JIT loading."""
from __future__ import annotations

import ctypes
import functools
import re
import threading

import llvmlite
import llvmlite.binding as llvm
from llvmlite.binding import ffi

_lock = threading.Lock()


@functools.cache
def _initialise() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.cache
def host() -> tuple[str, str, str]:
    """(target triple, CPU name, CPU features) of this machine."""
    _initialise()
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def has_avx512() -> bool:
    """Whether the host has AVX-512F (512-bit vectors, and ``vscalefps`` for ``llvm.ldexp``)."""
    return "+avx512f" in host()[2].split(",")


def target_machine():
    """A new target machine for the host (an execution engine takes ownership of the one it gets)."""
    triple, cpu, features = host()
    target = llvm.Target.from_triple(triple)
    return target.create_target_machine(cpu=cpu, features=features, opt=3, codemodel="jitdefault")


def llvm_version() -> str:
    return ".".join(map(str, llvm.llvm_version_info)) + f" (llvmlite {llvmlite.__version__})"


_DEFINITION = re.compile(r"^(define [^\n]*?)\s*\{$", re.M)


def with_vector_width(ir_text: str) -> str:
    """``ir_text`` whose functions prefer 512-bit vectors on a host with AVX-512. LLVM keeps to 256
    bits there by default (512-bit work lowered the clock of older CPUs); on this project's Xeon
    512 bits made W1 (gelu) 27-30 -> 22 ms and W2 (softmax) 2.9 -> 2.2 ms, with W3 and the first
    call's compile time unchanged within noise. llvmlite's IR builder has no string attributes, so
    the attribute is written into the text."""
    if not has_avx512():
        return ir_text
    return _DEFINITION.sub(lambda m: m.group(0) if "prefer-vector-width" in m.group(1)
                           else m.group(1) + ' "prefer-vector-width"="512" {', ir_text)


def parse(ir_text: str, context=None, machine=None):
    """The verified module of ``ir_text`` (in LLVM context ``context``, by default the global one),
    for this host's target (see ``with_vector_width``)."""
    _initialise()
    module = llvm.parse_assembly(with_vector_width(ir_text), context)
    module.verify()
    module.triple, module.data_layout = host()[0], str((machine or _shared_machine()).target_data)
    return module


def optimize(ir_text: str):
    """Parses ``ir_text`` and runs LLVM's O3 pipeline (loop and SLP vectorisation on); returns the module."""
    module = parse(ir_text)
    tm = _shared_machine()
    builder = _pass_builder(tm)
    builder.getModulePassManager().run(module, builder)
    return module


def _pass_builder(tm):
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_interleaving = True
    options.loop_unrolling = False  # halves the code and the compile time; vectorised loops are wide already
    return llvm.create_pass_builder(tm, options)


def compile_parts(texts: list[str]) -> list[bytes]:
    """The object code of each module text (``partition``), optimised as ``optimize`` does; the
    parts after the first each on a thread of their own. Each part has its own LLVM context and
    target machine, as LLVM requires of modules compiled at once."""
    objects: list = [None] * len(texts)

    def compile_one(k: int) -> None:
        try:
            objects[k] = _compile_alone(texts[k])
        except BaseException as error:  # raised in the calling thread
            objects[k] = error

    threads = [threading.Thread(target=compile_one, args=(k,), name=f"graphc-compile-{k}")
               for k in range(1, len(texts))]
    for thread in threads:
        thread.start()
    compile_one(0)
    for thread in threads:
        thread.join()
    for result in objects:
        if isinstance(result, BaseException):
            raise result
    return objects


def _compile_alone(text: str) -> bytes:
    tm = target_machine()
    module = parse(text, llvm.create_context(), tm)
    builder = _pass_builder(tm)
    _unlocked("LLVMPY_RunNewModulePassManager")(builder.getModulePassManager(), module, builder)
    with ffi.OutputString() as error:
        buffer = _unlocked("LLVMPY_TargetMachineEmitToMemory")(tm, module, 1, error)
        if not buffer:
            raise RuntimeError(str(error))
    try:
        return ctypes.string_at(ffi.lib.LLVMPY_GetBufferStart(buffer), ffi.lib.LLVMPY_GetBufferSize(buffer))
    finally:
        ffi.lib.LLVMPY_DisposeMemoryBuffer(buffer)


def _unlocked(name: str):
    """llvmlite's binding of the LLVM function ``name`` without the lock llvmlite holds around
    every call into LLVM (one for the whole process: it would run the parts one after another).
    The two calls made so run the optimisation pipeline and the code generator on a module of
    the caller's own context with its own target machine, which LLVM allows on several threads at
    once. An llvmlite without the unlocked function (``_cfn``) gets the locked one."""
    locked = getattr(ffi.lib, name)
    return getattr(locked, "_cfn", locked)


@functools.cache
def _shared_machine():
    """The target machine used for optimising and emitting code (never handed to an engine)."""
    return target_machine()


def emit_object(module) -> bytes:
    return _shared_machine().emit_object(module)


def emit_assembly(module) -> str:
    return _shared_machine().emit_assembly(module)


class LoadedCode:
    """Object code loaded into this process; keeps its engine alive while functions are in use."""

    def __init__(self, objects: list[bytes], symbols: dict[str, int]):
        """``objects``: the object code of a module's parts (``partition``), linked with each other."""
        _initialise()
        with _lock:
            for name, address in symbols.items():
                llvm.add_symbol(name, address)
            empty = llvm.parse_assembly("")
            empty.triple = host()[0]
            self.engine = llvm.create_mcjit_compiler(empty, target_machine())
            for object_code in objects:
                self.engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
            self.engine.finalize_object()

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)
