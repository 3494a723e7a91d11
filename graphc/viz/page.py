"""The before/after page: every compile stage of a function side by side, as pictures with the text IR
under each, and the per-pass statistics."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path

from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.passes import PassStat
from graphc.ir.text import format_graph

from .dot import graph_to_dot
from .render import note_missing_dot, render_svg, reporting_write_errors
from .stages import STAGES, check_stage, signature_of, stage_graphs, stage_title, subject_of


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
        check_stage(stage)
    subject = subject_of(fn, example_args)
    graphs, stats = stage_graphs(subject)
    signature = signature_of(subject)
    columns, missing_dot = [], False
    for stage in stages:
        graph = graphs[stage]
        dot = graph_to_dot(
            graph, gradients=gradients, collapse_scopes=collapse_scopes, title=stage_title(signature, stage, graph),
            **options,
        )
        svg = render_svg(dot)
        missing_dot |= svg is None
        columns.append(_stage_column(stage, graph, svg))
    with reporting_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_PAGE.format(
            title=html.escape(signature), summary=html.escape(_summary(graphs, stages)), columns="\n".join(columns),
            stats=_stats_table(stats),
            note="<p class=note>Graphviz's <code>dot</code> is not installed: the text IR stands in for the pictures.</p>"
            if missing_dot else "",
        ))
    if missing_dot:
        note_missing_dot(f"{path} shows the text IR instead of pictures")
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
        counts = html.escape(" ".join(f"{name}={n}" for name, n in s.counts.items()))
        rows.append(
            f"<tr{changed}><td>{html.escape(s.stage)}</td><td>{html.escape(s.name)}</td><td>{s.nodes_before}</td>"
            f"<td>{s.nodes_after}</td><td>{delta:+d}</td><td>{1e3 * s.seconds:.2f}</td><td>{counts}</td></tr>"
        )
    return (
        "<table class=stats><thead><tr><th>stage</th><th>pass</th><th>nodes before</th><th>nodes after</th>"
        f"<th>change</th><th>ms</th><th>counts</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
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
table.stats td:nth-child(-n+2), table.stats th:nth-child(-n+2), table.stats td:nth-child(7) {{ text-align: left; }}
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
