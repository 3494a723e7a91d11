"""A structural check of ELF object code before it is loaded (by graphc's ``loader`` or LLVM's).

llvmlite does not report a malformed object file: it crashes the process (its loader ignores LLVM's
parse errors). So object code read back from disk is checked first, as far as its structure goes:
the header matches what this host's target emits; every section, string, symbol and relocation
that the loader reads lies inside the file and refers to something that exists; and nothing uses
what graphc never emits and LLVM's loader aborts on (thread-local or common symbols, alignments
that are not powers of two, unwind tables outside the loaded sections). A fuzz test loads every
one-byte change to the headers that passes. What it cannot check: that the machine code, unwind
tables and relocation kinds inside well-formed sections are right (the cache's checksum and key
binding guard those against damage and mix-ups).
"""
from __future__ import annotations

import functools
import platform
import struct
import sys
from typing import NamedTuple

ELF_MAGIC = b"\x7fELF"
_IDENT = 16
ET_REL = 1
EM_X86_64 = 62
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 2, 3, 4, 8, 9
SHN_LORESERVE, SHN_COMMON = 0xFF00, 0xFFF2
SHF_ALLOC, SHF_TLS = 0x2, 0x400
STT_COMMON, STT_TLS = 5, 6
MAX_ALIGNMENT = 1 << 16
# The relocation kinds of the x86-64 objects LLVM emits for graphc: the large code model's absolute
# addresses (R_X86_64_64) and the unwind tables' PC-relative ones (R_X86_64_PC64). LLVM's loader
# aborts the process on some other kinds, so another kind is refused.
X86_64_RELOCATIONS = frozenset({1, 24})
_RELOCATED_BYTES = 4  # the narrowest relocation: its site must lie inside the section it patches


# The header of the objects LLVM emits for x86-64 Linux: 64-bit, little-endian, System V, relocatable
X86_64_LINUX_HEADER = ELF_MAGIC + bytes([2, 1, 1]) + bytes(_IDENT - 7) + struct.pack("<HH", ET_REL, EM_X86_64)


def is_x86_64_linux() -> bool:
    """Whether this host is x86-64 Linux (where ``loader`` loads object code without LLVM)."""
    return sys.platform.startswith("linux") and platform.machine() == "x86_64"


@functools.cache
def host_header() -> bytes:
    """The first 20 bytes (identification, type, machine) of an object file this host's target emits:
    known without starting LLVM on x86-64 Linux (a test compares it with LLVM's)."""
    if is_x86_64_linux():
        return X86_64_LINUX_HEADER
    from . import target

    return target.emit_object(target.parse(""))[:_IDENT + 4]


# Several objects in one payload (a module compiled in parts, see ``partition``): this line, their
# number, each one's length, then the objects. A lone object is stored as itself.
PARTS_MAGIC = b"GRAPHC-PARTS-1\n"
MAX_PARTS = 256
_COUNT, _LENGTH = struct.Struct("<I"), struct.Struct("<Q")


def join_parts(objects: list[bytes]) -> bytes:
    """The payload holding ``objects`` (the object code of a module's parts, the first part's first)."""
    if len(objects) == 1:
        return objects[0]
    lengths = b"".join(_LENGTH.pack(len(o)) for o in objects)
    return PARTS_MAGIC + _COUNT.pack(len(objects)) + lengths + b"".join(objects)


def split_parts(data: bytes) -> list[bytes]:
    """The objects ``join_parts`` put in ``data``; raises ValueError unless their lengths fill it exactly."""
    if not data.startswith(PARTS_MAGIC):
        return [data]
    start = len(PARTS_MAGIC) + _COUNT.size
    if len(data) < start:
        raise ValueError("the object code ends inside the count of its parts")
    (count,) = _COUNT.unpack_from(data, len(PARTS_MAGIC))
    if not 2 <= count <= MAX_PARTS or len(data) < start + count * _LENGTH.size:
        raise ValueError(f"the object code declares {count} parts, expected 2 to {MAX_PARTS} with their lengths")
    lengths = [_LENGTH.unpack_from(data, start + k * _LENGTH.size)[0] for k in range(count)]
    offset = start + count * _LENGTH.size
    if 0 in lengths or offset + sum(lengths) != len(data):
        raise ValueError(f"the object code's {count} parts of {lengths} bytes do not fill its "
                         f"{len(data) - offset} bytes")
    objects = []
    for length in lengths:
        objects.append(data[offset:offset + length])
        offset += length
    return objects


def check_parts(data: bytes) -> list[ObjectFile | None]:
    """``check`` of every object ``split_parts`` finds in ``data``."""
    return [check(obj) for obj in split_parts(data)]


def check(data: bytes) -> ObjectFile | None:
    """Raises ValueError naming the first structural defect of the relocatable object ``data``;
    returns the object read (None on a host whose objects are not ELF)."""
    reference = host_header()
    if not reference.startswith(ELF_MAGIC):
        return None  # another object format (Mach-O, COFF): only the cache's checksum and key guard it
    obj = ObjectFile(data, "<" if reference[5] == 1 else ">")
    obj.check(reference)
    return obj


class Section(NamedTuple):
    """An ELF64 section header."""

    name: int
    type: int
    flags: int
    address: int
    offset: int
    size: int
    link: int
    info: int
    alignment: int
    entry_size: int


class ObjectFile:
    """An ELF64 relocatable object: its sections, and their symbols, strings and relocations."""

    def __init__(self, data: bytes, order: str):
        self.data, self.order = data, order
        self.sections: list[Section] = []

    def unpack(self, fmt: str, offset: int) -> tuple:
        layout = struct.Struct(self.order + fmt)
        if offset + layout.size > len(self.data):
            raise ValueError(f"the object file ends inside a structure at byte {offset}")
        return layout.unpack_from(self.data, offset)

    def table(self, fmt: str, section: Section) -> list[tuple]:
        layout = struct.Struct(self.order + fmt)
        if section.entry_size != layout.size or section.size % layout.size:
            raise ValueError(f"a table of {section.size} bytes has entries of {section.entry_size} bytes, "
                             f"expected {layout.size}")
        return list(layout.iter_unpack(self.data[section.offset:section.offset + section.size]))

    def check(self, reference: bytes) -> None:
        if self.data[:_IDENT + 4] != reference:
            raise ValueError("not a relocatable object file for this host")
        header = self.unpack("16sHHIQQQIHHHHHH", 0)
        shoff, shentsize, shnum, shstrndx = header[6], header[11], header[12], header[13]
        if header[1] != ET_REL or shentsize != 64 or not 0 < shnum or not shstrndx < shnum:
            raise ValueError("the object file's header describes no valid section table")
        self.sections = [Section(*self.unpack("IIQQQQIIQQ", shoff + 64 * i)) for i in range(shnum)]
        for index, section in enumerate(self.sections):
            if section.type != SHT_NOBITS and section.offset + section.size > len(self.data):
                raise ValueError(f"section {index} runs past the end of the object file")
            alignment = section.alignment
            if alignment & (alignment - 1) or alignment > MAX_ALIGNMENT or section.flags & SHF_TLS:
                raise ValueError(f"section {index} has an alignment or flags graphc never emits")
        names = self.strings(shstrndx)
        for index, section in enumerate(self.sections):
            if section.name >= len(names):
                raise ValueError(f"section {index}'s name lies outside the section name table")
            if names[section.name:].startswith(b".eh_frame\0") and not section.flags & SHF_ALLOC:
                raise ValueError("the unwind tables are not loaded with the code")
            if section.type == SHT_SYMTAB:
                self.check_symbols(index)
            elif section.type in (SHT_RELA, SHT_REL):
                self.check_relocations(section)

    def strings(self, index: int) -> bytes:
        """The string table in section ``index`` (which must be one, and end its last string)."""
        if not index < len(self.sections) or self.sections[index].type != SHT_STRTAB:
            raise ValueError(f"section {index} is not a string table")
        section = self.sections[index]
        table = self.data[section.offset:section.offset + section.size]
        if not table.endswith(b"\0"):
            raise ValueError(f"string table {index} does not end its last string")
        return table

    def symbols(self, index: int) -> list[tuple]:
        if not index < len(self.sections) or self.sections[index].type != SHT_SYMTAB:
            raise ValueError(f"section {index} is not a symbol table")
        return self.table("IBBHQQ", self.sections[index])

    def check_symbols(self, index: int) -> None:
        names = self.strings(self.sections[index].link)
        for name, info, _, shndx, value, _ in self.symbols(index):
            if name >= len(names):
                raise ValueError("a symbol's name lies outside its string table")
            if info & 0xF in (STT_COMMON, STT_TLS) or shndx == SHN_COMMON:
                raise ValueError("a common or thread-local symbol, which graphc never emits")
            if 0 < shndx < SHN_LORESERVE and (shndx >= len(self.sections) or value > self.sections[shndx].size):
                raise ValueError("a symbol lies outside the section that defines it")

    def relocations(self, section: Section) -> list[tuple]:
        """(offset, info, addend) of each relocation in ``section`` (addend 0 in a REL section)."""
        if section.type == SHT_RELA:
            return self.table("QQq", section)
        return [(offset, info, 0) for offset, info in self.table("QQ", section)]

    def check_relocations(self, section: Section) -> None:
        count = len(self.symbols(section.link))
        if not section.info < len(self.sections):
            raise ValueError(f"relocations refer to section {section.info}, which does not exist")
        patched_size = self.sections[section.info].size
        x86_64 = self.data[:_IDENT + 4] == X86_64_LINUX_HEADER
        for entry in self.relocations(section):
            if entry[0] + _RELOCATED_BYTES > patched_size or entry[1] >> 32 >= count:
                raise ValueError("a relocation lies outside its section or names no symbol")
            if x86_64 and entry[1] & 0xFFFFFFFF not in X86_64_RELOCATIONS:
                raise ValueError(f"a relocation of a kind graphc never emits ({entry[1] & 0xFFFFFFFF})")
