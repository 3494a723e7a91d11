"""Object code loaded by graphc itself, without LLVM: a process that finds its code in the compile
cache then never loads LLVM (importing llvmlite's binding took 15-25 ms of such a first call).

It loads what this backend emits on x86-64 Linux: relocatable ELF objects of LLVM's large code model
(the JIT's default), whose code refers to everything by 64-bit absolute relocations. The allocated
sections are laid out in fresh pages (code first, then read-only data), the unwind tables left out
(no exception crosses graphc's code), undefined symbols taken from the table given (BLAS), then from
the process (memset, memcpy, sched_yield, libm), relocations written, and the pages made read-and-
execute and read-only. Anything else (another relocation kind, a writable section, a page that
cannot be made executable) raises ``Unsupported``: the caller loads the object with LLVM instead. A
symbol found nowhere raises ``Unresolved``: the object is refused. The object is checked first
(``elf.check``), as for LLVM's loader.
"""
from __future__ import annotations

import ctypes
import functools
import mmap
import struct

from . import elf

R_X86_64_NONE, R_X86_64_64 = 0, 1
SHT_X86_64_UNWIND = 0x70000001
SHF_WRITE, SHF_EXECINSTR = 0x1, 0x4
SHN_ABS = 0xFFF1
STB_LOCAL = 0
_ADDRESS = struct.Struct("<Q")


class Unsupported(Exception):
    """The object holds something this loader does not do (LLVM's loader can)."""


class Unresolved(ValueError):
    """The object calls a function defined nowhere: not in the symbols given, not in the process.
    LLVM's loader would find none either (it searches the same places) and leave a call to address
    0, so the object is not handed to it."""


def applies() -> bool:
    """Whether object code of this host is what this loader loads."""
    return elf.is_x86_64_linux()


class LoadedObject:
    """Object code placed in this process's memory; its pages live as long as this object."""

    def __init__(self, object_code: bytes, symbols: dict[str, int]):
        if not applies():
            raise Unsupported("only x86-64 Linux objects are loaded without LLVM")
        obj = elf.check(object_code)
        loaded = [i for i, s in enumerate(obj.sections) if _is_loaded(obj, i, s)]
        if any(obj.sections[i].flags & SHF_WRITE or obj.sections[i].type == elf.SHT_NOBITS for i in loaded):
            raise Unsupported("a writable section")
        code = [i for i in loaded if obj.sections[i].flags & SHF_EXECINSTR]
        data = [i for i in loaded if i not in code]
        offsets, code_bytes = _lay_out(obj, code, 0)
        data_offsets, size = _lay_out(obj, data, _pages(code_bytes))
        offsets |= data_offsets
        self._memory = mmap.mmap(-1, max(_pages(size), mmap.PAGESIZE), prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._memory))
        for i, offset in offsets.items():
            section = obj.sections[i]
            self._memory[offset:offset + section.size] = obj.data[section.offset:section.offset + section.size]
        self._symbols = self._relocate(obj, offsets, symbols)
        _protect(self._base, _pages(code_bytes), mmap.PROT_READ | mmap.PROT_EXEC)
        _protect(self._base + _pages(code_bytes), _pages(size) - _pages(code_bytes), mmap.PROT_READ)

    def _relocate(self, obj: elf.ObjectFile, offsets: dict[int, int], provided: dict[str, int]) -> dict[str, int]:
        """Writes every relocation of the loaded sections; returns the global symbols' addresses."""
        tables = [i for i, s in enumerate(obj.sections) if s.type == elf.SHT_SYMTAB]
        if len(tables) > 1:
            raise Unsupported("more than one symbol table")
        symtab = tables[0] if tables else None
        names = obj.strings(obj.sections[symtab].link) if tables else b""
        addresses, defined, names_of, unsupported = [], {}, [], None
        for name_offset, info, _, shndx, value, _ in obj.symbols(symtab) if tables else []:
            name = names[name_offset:names.index(b"\0", name_offset)].decode("ascii", "replace")
            if shndx == 0:
                address = provided.get(name) or (_process_symbol(name) if name else 0)
            elif shndx == SHN_ABS:
                address = value
            elif shndx in offsets:
                address = self._base + offsets[shndx] + value
            else:
                address = None  # in a section not loaded (the unwind tables): nothing loaded may use it
            addresses.append(address)
            names_of.append(name)
            if shndx in offsets and info >> 4 != STB_LOCAL:
                defined[name] = address
        for section in obj.sections:
            if section.type not in (elf.SHT_RELA, elf.SHT_REL) or section.info not in offsets:
                continue
            if section.link != symtab:
                raise Unsupported("relocations against another symbol table")
            target_size = obj.sections[section.info].size
            for offset, info, addend in obj.relocations(section):
                kind, symbol = info & 0xFFFFFFFF, info >> 32
                if kind == R_X86_64_NONE:
                    continue
                if addresses[symbol] == 0:  # (checked first: nor may LLVM's loader have it)
                    raise Unresolved(f"it calls {names_of[symbol] or f'symbol {symbol}'!r}, which is defined nowhere")
                if kind != R_X86_64_64 or offset + _ADDRESS.size > target_size:
                    unsupported = unsupported or Unsupported(f"relocation type {kind} at {offset}")
                elif addresses[symbol] is None:
                    unsupported = unsupported or Unsupported(f"symbol {symbol} is in a section not loaded")
                else:
                    _ADDRESS.pack_into(self._memory, offsets[section.info] + offset, (addresses[symbol] + addend) % 2**64)
        if unsupported:
            raise unsupported
        return defined

    def address(self, name: str) -> int:
        """The address of the global symbol ``name``, or 0 if the object does not define it."""
        return self._symbols.get(name, 0)


class LoadedParts:
    """The objects of a module's parts (``partition``; the first holds the entry points and calls
    kernels of the others), loaded last part first: each part's undefined symbols are looked up in
    the parts loaded before it, then as ``LoadedObject`` does."""

    def __init__(self, objects: list[bytes], symbols: dict[str, int]):
        self._parts: list[LoadedObject] = []
        defined = dict(symbols)
        for object_code in reversed(objects):
            part = LoadedObject(object_code, defined)
            defined = {**defined, **part._symbols}
            self._parts.append(part)

    def address(self, name: str) -> int:
        """The address of the global symbol ``name`` in any part, or 0 if none defines it."""
        return next((a for a in (part.address(name) for part in reversed(self._parts)) if a), 0)


def _is_loaded(obj: elf.ObjectFile, index: int, section: elf.Section) -> bool:
    return bool(section.flags & elf.SHF_ALLOC) and section.size > 0 and section.type != SHT_X86_64_UNWIND and index > 0


def _lay_out(obj: elf.ObjectFile, indices: list[int], start: int) -> tuple[dict[int, int], int]:
    """Each section's offset from ``start`` on, aligned as it asks; and the end."""
    offsets, end = {}, start
    for i in indices:
        alignment = max(obj.sections[i].alignment, 1)
        end = -(-end // alignment) * alignment
        offsets[i] = end
        end += obj.sections[i].size
    return offsets, end


def _pages(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE


@functools.cache
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


@functools.cache
def _process_symbol(name: str) -> int:
    """The address of a function the process has loaded (C's and the math library's), or 0."""
    try:
        return ctypes.cast(getattr(_libc(), name), ctypes.c_void_p).value or 0
    except AttributeError:
        return 0


def _protect(address: int, size: int, protection: int) -> None:
    if size and _libc().mprotect(address, size, protection) != 0:
        raise Unsupported(f"mprotect failed: errno {ctypes.get_errno()}")
