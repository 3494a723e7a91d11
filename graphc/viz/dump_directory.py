"""The dump directory: with ``GRAPHC_DUMP_DIR`` set, every function that compiles writes its stages as
text and pictures, its pass statistics, LLVM IR and assembly there."""
from __future__ import annotations

import logging
import os
import re
import sys
import weakref
from pathlib import Path

from graphc.ir.graph import Graph
from graphc.ir.text import format_graph

from ..function import ConcreteFunction
from .dot import graph_to_dot
from .graphviz_package import GraphvizMissingError
from .render import note_missing_dot, render_svg
from .stages import STAGES, signature_of, stage_title

log = logging.getLogger("graphc.dump")

_claimed: dict[str, weakref.ref] = {}  # dump path prefix -> the concrete function writing there
_noted: set[str] = set()  # one-line notes already printed


def dump(cf: ConcreteFunction, directory: str | os.PathLike) -> list[str]:
    """Writes into ``directory``, each file named ``FUNCTION.SIGNATURE.*``: the text IR of every stage
    (``.traced.txt`` ...), its picture (``.traced.dot`` and ``.traced.svg``), the pass statistics
    (``.passes.txt``), the LLVM IR (``.ll``, after LLVM's optimiser ``.opt.ll``) and the assembly
    (``.s``). Returns the paths written; a directory that cannot be written is reported, not raised,
    and so are pictures that cannot be drawn here (no graphviz package, no ``dot`` program)."""
    try:
        return _dump(cf, Path(directory))
    except OSError as error:
        log.warning("cannot write the dump of %s into %s: %s", cf.function.name, directory, error)
        return []


def _dump(cf: ConcreteFunction, directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / _dump_name(cf, directory)
    compiled = cf.compiled()
    written = []

    def put(suffix: str, text: str) -> None:
        target = Path(f"{base}.{suffix}")
        target.write_text(text)
        written.append(str(target))

    signature = signature_of(cf)
    for stage in STAGES:
        graph = compiled.stages[stage]
        put(f"{stage}.txt", format_graph(graph) + "\n")
        _dump_picture(put, stage, graph, stage_title(signature, stage, graph), directory)
    _dump_native(compiled, put)
    put("passes.txt", compiled.pass_table() + "\n")
    return written


def _dump_picture(put, stage: str, graph: Graph, title: str, directory: Path) -> None:
    """``STAGE.dot`` and ``STAGE.svg``; what cannot be drawn is said once per process."""
    try:
        dot = graph_to_dot(graph, title=title)
    except GraphvizMissingError as missing:
        if "graphviz" not in _noted:
            _noted.add("graphviz")
            print(f"graphc: the dump in {directory} has no pictures: {missing}", file=sys.stderr)
        return
    put(f"{stage}.dot", dot.source)
    svg = render_svg(dot)
    if svg is not None:
        put(f"{stage}.svg", svg)
    elif "dot" not in _noted:
        _noted.add("dot")
        note_missing_dot(f"the dump in {directory} has .dot files but no .svg pictures")


def _dump_native(compiled, put) -> None:
    from graphc.backends.llvm.compiler import UnsupportedGraph

    try:
        native = compiled.native()
    except UnsupportedGraph as missing:
        put("llvm.txt", f"the LLVM backend cannot lower this graph: {missing}\n")
        return
    put("ll", native.llvm_ir())
    put("opt.ll", native.llvm_ir(optimized=True))
    put("s", native.asm())


def _dump_name(cf: ConcreteFunction, directory: Path) -> str:
    """``FUNCTION.SIGNATURE`` (``train_step.f32_256x784.i64_256``); another live concrete function
    with the same name and signature gets ``-2``, ``-3`` ..."""
    parts = [cf.function.name] + [_spec_name(spec) for _, spec in cf.structured_input_signature]
    stem = _file_safe(".".join(parts))[:120]
    name, n = stem, 1
    while True:
        key = str(directory.resolve() / name)
        owner = _claimed.get(key)
        if owner is None or owner() is None or owner() is cf:
            _claimed[key] = weakref.ref(cf)
            return name
        n += 1
        name = f"{stem}-{n}"


def _spec_name(spec) -> str:
    return f"{spec.dtype.short}_" + "x".join("N" if d is None else str(d) for d in spec.shape)


def _file_safe(text: str) -> str:
    return re.sub(r"[^\w.=-]+", "_", text)
