"""Seeing the graph: pictures of each compile stage, a before/after page, a dump directory and
notebook display.

    gc.viz.render(train_step, x, labels, path="step.svg", stage="fused")
    gc.viz.render_stages(train_step, x, labels, path="stages.html")
    GRAPHC_DUMP_DIR=dump python train.py   # every compiled function's stages, pictures, LLVM IR, assembly

Pictures need Graphviz's ``dot`` program; without it graphc writes the ``.dot`` file instead and says
in one line how to render it. The picture itself is ``Graph.to_dot`` (options: ``graphc.ir.dot.to_dot``).
"""
from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import shutil
import sys
import weakref
from pathlib import Path

import graphviz

from graphc.backends.numpy.kernels import run_kernel
from graphc.ir import environment
from graphc.ir.dot import mimebundle as _graph_mimebundle, render_svg
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.passes import PassStat, compile_stages
from graphc.ir.text import format_graph

from . import config
from .function import ConcreteFunction, Function, function

__all__ = ["STAGES", "concrete_function", "dot_available", "dump", "render", "render_stages", "stage_graphs", "to_dot", "write"]

log = logging.getLogger("graphc.dump")

STAGES = ("traced", "optimized", "fused")
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}


# -- which graph ----------------------------------------------------------------------------------
def concrete_function(fn, *example_args, **example_kwargs) -> ConcreteFunction:
    """The concrete function of ``fn`` (a ``gc.function``, a concrete function or a plain Python
    function, compiled here) for the example arguments (arrays, tensors or ``gc.TensorSpec``)."""
    if isinstance(fn, ConcreteFunction):
        if example_args or example_kwargs:
            raise InvalidArgumentError("gc.viz: a concrete function takes no example arguments")
        return fn
    if not isinstance(fn, Function):
        if not callable(fn):
            raise InvalidArgumentError(f"gc.viz: expected a function or a graph, got {type(fn).__name__}")
        fn = function(fn)
    return fn.get_concrete_function(*example_args, **example_kwargs)


def _subject(fn, example_args) -> Graph | ConcreteFunction:
    if isinstance(fn, Graph):
        if example_args:
            raise InvalidArgumentError("gc.viz: a graph takes no example arguments")
        return fn
    return concrete_function(fn, *example_args)


def stage_graphs(fn, *example_args) -> tuple[dict[str, Graph], list[PassStat]]:
    """Every stage of ``fn``'s graph and the per-pass statistics. Runs the graph passes only (no
    native code) unless the function was already compiled."""
    subject = _subject(fn, example_args)
    if isinstance(subject, ConcreteFunction):
        if subject._compiled is not None:
            return subject.graphs, subject.pass_stats
        subject = subject.graph
    return compile_stages(subject, run_kernel, config.get_optimizer_options())


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise InvalidArgumentError(f"gc.viz: unknown stage {stage!r}; choose one of {', '.join(STAGES)}")


def _signature(subject: Graph | ConcreteFunction) -> str:
    if isinstance(subject, Graph):
        return subject.name
    specs = ", ".join(f"{path}: {spec}" for path, spec in subject.structured_input_signature)
    return f"{subject.function.name}({specs})"


def _title(signature: str, stage: str, graph: Graph) -> str:
    kernels = f", {len(graph.kernels)} kernels" if graph.kernels else ""
    return f"{signature} · {stage} · {len(graph.nodes)} nodes{kernels}"


# -- pictures -------------------------------------------------------------------------------------
def to_dot(fn, *example_args, stage: str = "traced", **options) -> graphviz.Digraph:
    """The picture of one stage of ``fn``'s graph as a ``graphviz.Digraph``; ``options`` go to
    ``Graph.to_dot`` (gradients, collapse_scopes, expand_kernels, edge_labels, rankdir, ...)."""
    _check_stage(stage)
    subject = _subject(fn, example_args)
    if stage == "traced":
        graph = subject if isinstance(subject, Graph) else subject.graph
    else:
        graph = stage_graphs(subject)[0][stage]
    options.setdefault("title", _title(_signature(subject), stage, graph))
    return graph.to_dot(**options)


def render(
    fn, *example_args, path: str | os.PathLike = "graph.svg", stage: str = "traced", gradients: bool = True,
    collapse_scopes=False, **options,
) -> str:
    """Draws one stage of ``fn``'s graph into ``path``: ``.svg``, ``.png``, ``.pdf`` or ``.dot`` by its
    suffix. ``fn`` is a ``gc.function``, a concrete function, a plain function or a graph; the example
    arguments (arrays or ``gc.TensorSpec``) pick the trace. Returns the path written: without
    Graphviz's ``dot`` program that is the ``.dot`` file, and one line says how to render it."""
    _format(path)  # a bad suffix fails before any tracing
    dot = to_dot(fn, *example_args, stage=stage, gradients=gradients, collapse_scopes=collapse_scopes, **options)
    return write(dot, path)


def _format(path) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidArgumentError(
            f"gc.viz: cannot write {os.fspath(path)!r}: the file name must end in .svg, .png, .pdf or .dot"
        )
    return FORMATS[suffix]


def write(dot: graphviz.Digraph, path: str | os.PathLike) -> str:
    """Writes the picture to ``path`` (format by suffix); without ``dot``, the ``.dot`` file instead."""
    fmt, path = _format(path), Path(path)
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt is None:
            path.write_text(dot.source)
            return str(path)
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            dot_path = path.with_suffix(".dot")
            dot_path.write_text(dot.source)
            _note_missing_dot(f"wrote {dot_path} instead of {path}; render it with: dot -T{fmt} {dot_path} -o {path}")
            return str(dot_path)
        path.write_bytes(data)
        return str(path)


@contextlib.contextmanager
def _writing(path: Path):
    """An OSError while writing ``path`` (a file in the way, a read-only directory) as one clear error."""
    try:
        yield
    except OSError as error:
        if isinstance(error, FileExistsError):  # mkdir met a file where a directory belongs
            reason = f"{error.filename} is a file, not a directory"
        else:
            reason = f"{error.strerror}: {error.filename}" if error.strerror and error.filename else str(error)
        raise InvalidArgumentError(f"gc.viz: cannot write {str(path)!r}: {reason}") from None


def _note_missing_dot(what: str) -> None:
    print(f"graphc: Graphviz's dot program is not installed (Debian: apt-get install graphviz); {what}", file=sys.stderr)


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


# -- before and after -----------------------------------------------------------------------------
def render_stages(
    fn, *example_args, path: str | os.PathLike = "stages.html", stages=STAGES, gradients: bool = True,
    collapse_scopes=False, **options,
) -> str:
    """One HTML page showing the stages of ``fn``'s graph side by side (inline SVG pictures, the text
    IR of each under a fold) and the per-pass statistics table. Without ``dot`` the page shows the text
    IR in place of the pictures. Returns the path written."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InvalidArgumentError(f"gc.viz.render_stages: cannot write {str(path)!r}: the file name must end in .html")
    for stage in stages:
        _check_stage(stage)
    subject = _subject(fn, example_args)
    graphs, stats = stage_graphs(subject)
    signature = _signature(subject)
    columns, missing_dot = [], False
    for stage in stages:
        graph = graphs[stage]
        dot = graph.to_dot(
            gradients=gradients, collapse_scopes=collapse_scopes, title=_title(signature, stage, graph), **options
        )
        svg = render_svg(dot)
        missing_dot |= svg is None
        columns.append(_stage_column(stage, graph, svg))
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_PAGE.format(
            title=html.escape(signature), summary=html.escape(_summary(graphs, stages)), columns="\n".join(columns),
            stats=_stats_table(stats),
            note="<p class=note>Graphviz's <code>dot</code> is not installed: the text IR stands in for the pictures.</p>"
            if missing_dot else "",
        ))
    if missing_dot:
        _note_missing_dot(f"{path} shows the text IR instead of pictures")
    return str(path)


def _summary(graphs: dict[str, Graph], stages) -> str:
    parts = [f"{stage} {len(graphs[stage].nodes)} nodes" for stage in stages]
    fused = graphs["fused"]
    return " → ".join(parts) + (f" ({len(fused.kernels)} fused kernels)" if "fused" in stages else "")


def _stage_column(stage: str, graph: Graph, svg: str | None) -> str:
    text = html.escape(format_graph(graph))
    picture = _inline_svg(svg) if svg is not None else f"<pre>{text}</pre>"
    return (
        f'<section class=stage id="{stage}"><h2>{stage} <small>{len(graph.nodes)} nodes</small></h2>'
        f"<div class=picture>{picture}</div>"
        f"<details><summary>text IR</summary><pre>{text}</pre></details></section>"
    )


def _inline_svg(svg: str) -> str:
    """The SVG without its XML prologue, scaled to the column's width."""
    svg = svg[svg.index("<svg"):]
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg width="100%"', svg, count=1)


def _stats_table(stats: list[PassStat]) -> str:
    rows = []
    for s in stats:
        changed = " class=changed" if s.nodes_after != s.nodes_before else ""
        delta = s.nodes_after - s.nodes_before
        rows.append(
            f"<tr{changed}><td>{html.escape(s.stage)}</td><td>{html.escape(s.name)}</td><td>{s.nodes_before}</td>"
            f"<td>{s.nodes_after}</td><td>{delta:+d}</td><td>{1e3 * s.seconds:.2f}</td></tr>"
        )
    return (
        "<table class=stats><thead><tr><th>stage</th><th>pass</th><th>nodes before</th><th>nodes after</th>"
        f"<th>change</th><th>ms</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: compile stages</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #0f172a; }}
.stages {{ display: flex; gap: 1em; align-items: flex-start; }}
.stage {{ flex: 1 1 0; min-width: 0; border: 1px solid #cbd5e1; border-radius: 6px; padding: 0.5em; }}
.stage h2 {{ margin: 0 0 0.3em 0; font-size: 1.1em; }} .stage h2 small {{ color: #64748b; font-weight: normal; }}
.picture {{ overflow: auto; max-height: 85vh; }}
pre {{ font-size: 11px; overflow: auto; background: #f8fafc; padding: 0.5em; }}
table.stats {{ border-collapse: collapse; margin-top: 1em; font-size: 13px; }}
table.stats td, table.stats th {{ border: 1px solid #cbd5e1; padding: 2px 8px; text-align: right; }}
table.stats td:nth-child(-n+2), table.stats th:nth-child(-n+2) {{ text-align: left; }}
tr.changed {{ background: #ecfdf5; }} .note {{ color: #b45309; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
{note}
<div class=stages>
{columns}
</div>
<h2>Passes</h2>
{stats}
</body></html>
"""


# -- the dump directory ---------------------------------------------------------------------------
_claimed: dict[str, weakref.ref] = {}  # dump path prefix -> the concrete function writing there
_noted: set[str] = set()  # one-line notes already printed


def dump_if_requested(cf: ConcreteFunction) -> None:
    """Dumps ``cf`` into ``$GRAPHC_DUMP_DIR`` when it is set (called when a function compiles)."""
    directory = environment.value("GRAPHC_DUMP_DIR")
    if directory:
        dump(cf, directory)


def dump(cf: ConcreteFunction, directory: str | os.PathLike) -> list[str]:
    """Writes into ``directory``, each file named ``FUNCTION.SIGNATURE.*``: the text IR of every stage
    (``.traced.txt`` ...), its picture (``.traced.dot`` and ``.traced.svg``), the pass statistics
    (``.passes.txt``), the LLVM IR (``.ll``, after LLVM's optimiser ``.opt.ll``) and the assembly
    (``.s``). Returns the paths written; a directory that cannot be written is reported, not raised."""
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

    signature = _signature(cf)
    for stage in STAGES:
        graph = compiled.stages[stage]
        put(f"{stage}.txt", format_graph(graph) + "\n")
        dot = graph.to_dot(title=_title(signature, stage, graph))
        put(f"{stage}.dot", dot.source)
        svg = render_svg(dot)
        if svg is not None:
            put(f"{stage}.svg", svg)
        elif "dot" not in _noted:
            _noted.add("dot")
            _note_missing_dot(f"the dump in {directory} has .dot files but no .svg pictures")
    _dump_native(compiled, put)
    put("passes.txt", compiled.pass_table() + "\n")
    return written


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


# -- notebooks ------------------------------------------------------------------------------------
def mimebundle(cf: ConcreteFunction) -> dict[str, str]:
    """Notebook display of a concrete function: its traced graph as SVG (the text IR without ``dot``)."""
    graph = cf.graph
    return _graph_mimebundle(graph, title=_title(_signature(cf), "traced", graph))
