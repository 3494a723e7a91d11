"""A structural check of ELF object code before llvmlite loads it.

llvmlite does not report a malformed object file: it crashes the process (its loader ignores LLVM's
parse errors). So object code read back from disk is checked first, as far as its structure goes:
the header matches what this host's target emits, and every section, string, symbol and relocation
that the loader reads lies inside the file and refers to something that exists. What it cannot
check: that the machine code, unwind tables and relocation kinds inside well-formed sections are
right (the cache's checksum and key binding guard those against damage and mix-ups).
"""
from __future__ import annotations

import functools
import struct

from . import target

ELF_MAGIC = b"\x7fELF"
_IDENT = 16
ET_REL = 1
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 2, 3, 4, 8, 9
SHN_LORESERVE, SHN_COMMON = 0xFF00, 0xFFF2
SHF_ALLOC, SHF_TLS = 0x2, 0x400
STT_COMMON, STT_TLS = 5, 6
MAX_ALIGNMENT = 1 << 16
_RELOCATED_BYTES = 4  # the narrowest relocation: its site must lie inside the section it patches


@functools.cache
def host_header() -> bytes:
    """The first 20 bytes (identification, type, machine) of an object file this host's target emits."""
    return target.emit_object(target.optimize(""))[:_IDENT + 4]


def check(data: bytes) -> None:
    """Raises ValueError naming the first structural defect of the relocatable object ``data``."""
    reference = host_header()
    if not reference.startswith(ELF_MAGIC):
        return  # another object format (Mach-O, COFF): only the cache's checksum and key guard it
    _Object(data, "<" if reference[5] == 1 else ">").check(reference)


class _Object:
    def __init__(self, data: bytes, order: str):
        self.data, self.order = data, order
        self.sections: list[tuple] = []

    def unpack(self, fmt: str, offset: int) -> tuple:
        layout = struct.Struct(self.order + fmt)
        if offset + layout.size > len(self.data):
            raise ValueError(f"the object file ends inside a structure at byte {offset}")
        return layout.unpack_from(self.data, offset)

    def table(self, fmt: str, section: tuple) -> list[tuple]:
        layout = struct.Struct(self.order + fmt)
        _, _, _, _, offset, size, _, _, _, entry_size = section
        if entry_size != layout.size or size % layout.size:
            raise ValueError(f"a table of {size} bytes has entries of {entry_size} bytes, expected {layout.size}")
        return list(layout.iter_unpack(self.data[offset:offset + size]))

    def check(self, reference: bytes) -> None:
        if self.data[:_IDENT + 4] != reference:
            raise ValueError("not a relocatable object file for this host")
        header = self.unpack("16sHHIQQQIHHHHHH", 0)
        shoff, shentsize, shnum, shstrndx = header[6], header[11], header[12], header[13]
        if header[1] != ET_REL or shentsize != 64 or not 0 < shnum or not shstrndx < shnum:
            raise ValueError("the object file's header describes no valid section table")
        self.sections = [self.unpack("IIQQQQIIQQ", shoff + 64 * i) for i in range(shnum)]
        for index, section in enumerate(self.sections):
            if section[1] != SHT_NOBITS and section[4] + section[5] > len(self.data):
                raise ValueError(f"section {index} runs past the end of the object file")
            alignment = section[8]
            if alignment & (alignment - 1) or alignment > MAX_ALIGNMENT or section[2] & SHF_TLS:
                raise ValueError(f"section {index} has an alignment or flags graphc never emits")
        names = self.strings(shstrndx)
        for index, section in enumerate(self.sections):
            if section[0] >= len(names):
                raise ValueError(f"section {index}'s name lies outside the section name table")
            if names[section[0]:].startswith(b".eh_frame\0") and not section[2] & SHF_ALLOC:
                raise ValueError("the unwind tables are not loaded with the code")
            if section[1] == SHT_SYMTAB:
                self.check_symbols(index)
            elif section[1] in (SHT_RELA, SHT_REL):
                self.check_relocations(section)

    def strings(self, index: int) -> bytes:
        """The string table in section ``index`` (which must be one, and end its last string)."""
        if not index < len(self.sections) or self.sections[index][1] != SHT_STRTAB:
            raise ValueError(f"section {index} is not a string table")
        offset, size = self.sections[index][4:6]
        table = self.data[offset:offset + size]
        if not table.endswith(b"\0"):
            raise ValueError(f"string table {index} does not end its last string")
        return table

    def symbols(self, index: int) -> list[tuple]:
        if not index < len(self.sections) or self.sections[index][1] != SHT_SYMTAB:
            raise ValueError(f"section {index} is not a symbol table")
        return self.table("IBBHQQ", self.sections[index])

    def check_symbols(self, index: int) -> None:
        names = self.strings(self.sections[index][6])
        for name, info, _, shndx, value, _ in self.symbols(index):
            if name >= len(names):
                raise ValueError("a symbol's name lies outside its string table")
            if info & 0xF in (STT_COMMON, STT_TLS) or shndx == SHN_COMMON:
                raise ValueError("a common or thread-local symbol, which graphc never emits")
            if 0 < shndx < SHN_LORESERVE and (shndx >= len(self.sections) or value > self.sections[shndx][5]):
                raise ValueError("a symbol lies outside the section that defines it")

    def check_relocations(self, section: tuple) -> None:
        count = len(self.symbols(section[6]))
        if not section[7] < len(self.sections):
            raise ValueError(f"relocations refer to section {section[7]}, which does not exist")
        patched_size = self.sections[section[7]][5]
        for entry in self.table("QQq" if section[1] == SHT_RELA else "QQ", section):
            if entry[0] + _RELOCATED_BYTES > patched_size or entry[1] >> 32 >= count:
                raise ValueError("a relocation lies outside its section or names no symbol")
