"""Seeing the graph: pictures of each compile stage, a before/after page, a dump directory and
notebook display.

    gc.viz.render(train_step, x, labels, path="step.svg", stage="fused")
    gc.viz.render_stages(train_step, x, labels, path="stages.html")
    GRAPHC_DUMP_DIR=dump python train.py   # every compiled function's stages, pictures, LLVM IR, assembly

Drawing needs the ``graphviz`` Python package (``pip install graphviz``; graphc imports without it and
says so when asked for a picture) and rendering Graphviz's ``dot`` program; without ``dot`` graphc
writes the ``.dot`` file instead and says in one line how to render it.

The modules, one job each: ``layout`` walks a graph into boxes, edges and clusters, ``collapse``
folds scopes and the backward pass, ``dot`` emits the ``graphviz.Digraph`` (``graph_to_dot`` and its
options), ``render`` runs ``dot``, ``stages`` picks the graph of a compile stage, ``page`` writes the
before/after page, ``dump_directory`` the ``GRAPHC_DUMP_DIR`` files, ``notebook`` Jupyter's display and
``history`` the plot of a training run (matplotlib).
"""
from .dump_directory import dump
from .history import plot_history
from .page import render_stages
from .render import dot_available, write
from .stages import STAGES, concrete_function, render, stage_graphs, to_dot

__all__ = ["STAGES", "concrete_function", "dot_available", "dump", "plot_history", "render", "render_stages", "stage_graphs", "to_dot", "write"]
