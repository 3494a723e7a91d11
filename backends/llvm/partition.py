"""A module cut into parts that LLVM compiles at once, each on a thread of its own (``target.compile_parts``).

LLVM's optimisation and code generation are most of a large graph's first call, and run on one core
(W3's training step: 255 of 380 ms). A part holds some of the graph's top-level kernel functions
(the first part also the entry points), everything they reach (internal helpers such as the
barrier, the math functions and their tables: copied into each part that reaches them) and
declarations of the kernels it calls in other parts. In a module of several parts the kernels are
external, so that the loaded parts link (``compiler.load_object``). Parts are balanced by an estimate
of LLVM's time on their functions (``_cost``).
"""
from __future__ import annotations

import re

from graphc.ir import environment
from llvmlite import ir

# A part's least cost (``_cost``): LLVM's fixed cost per module is about 4 ms, a part this large about 20 ms
MIN_PART_COST = 40_000
_REFERENCE = re.compile(r'@"([^"]*)"')  # llvmlite prints every global's name quoted
_INTERNAL = "define internal "


def part_count(cost: int) -> int:
    """How many parts a module of functions costing ``cost`` in all is compiled in: one per core
    that ``GRAPHC_NUM_THREADS`` allows, while each part gets ``MIN_PART_COST``."""
    threads = min(environment.value("GRAPHC_NUM_THREADS"), environment.cores())
    return max(1, min(threads, cost // MIN_PART_COST))


def _cost(text: str) -> int:
    """An estimate of LLVM's time on the function ``text``, in units of about half a microsecond: its loops,
    each vectorised with its checks and remainder, more than its straight code (fitted on the kernels
    of W3: 4-40 ms each, within 30%; a phi per loop, and one per input checked in ``graphc_call``)."""
    return 4_000 + len(text) + 6_000 * text.count(" = phi ")


def module_texts(module: ir.Module, kernels: list[ir.Function], entry_points: list[ir.Function],
                 printed: dict[str, str]) -> tuple[str, list[str]]:
    """(the text of ``module``, the texts of its parts): one part, the module itself, unless
    ``part_count`` gives more. ``kernels`` are the functions the entry points call in turn; every
    other function defined in ``module`` is reached from them. ``printed``: the text of some
    globals, by name (printed already)."""
    texts = {name: printed.get(name) or str(value) for name, value in module.globals.items()}
    head = [f'; ModuleID = "{module.name}"', f'target triple = "{module.triple}"',
            f'target datalayout = "{module.data_layout}"', ""]
    head += [t.get_declaration() for t in module.get_identified_types().values()]
    tail = module._get_metadata_lines()  # (llvmlite's own printer: the module's text is head, globals, tail)
    whole = "\n".join(head + list(texts.values()) + tail)
    costs = {name: _cost(text) for name, text in texts.items() if text.startswith("define")}
    count = min(part_count(sum(costs.values())), 1 + len(kernels))  # (no part without a kernel)
    if count == 1:
        return whole, [whole]
    groups = _balanced([[f.name for f in entry_points]] + [[] for _ in range(count - 1)],
                       sorted((f.name for f in kernels), key=lambda name: -costs[name]), costs)
    kernel_names = {f.name for f in kernels}
    for name in kernel_names:
        assert texts[name].startswith(_INTERNAL), name
        texts[name] = "define " + texts[name][len(_INTERNAL):]
    declarations = {f.name: _declaration(f) for f in kernels}
    parts = []
    for group in groups:
        reached = _reached(group, texts, kernel_names)
        body = [declarations[n] if n in kernel_names and n not in group else texts[n] for n in texts if n in reached]
        parts.append("\n".join(head + body + tail))
    return whole, parts


def _balanced(groups: list[list[str]], names: list[str], costs: dict[str, int]) -> list[list[str]]:
    """``groups`` with ``names`` (costliest first) added each to the group of the least cost so far."""
    sizes = [sum(costs[n] for n in group) for group in groups]
    for name in names:
        k = sizes.index(min(sizes))
        groups[k].append(name)
        sizes[k] += costs[name]
    return groups


def _reached(group: list[str], texts: dict[str, str], kernels: set[str]) -> set[str]:
    """The globals the functions of ``group`` refer to, directly or through functions they reach
    (a kernel of another part is reached, not what it refers to)."""
    reached, pending = set(group), list(group)
    while pending:
        for name in _REFERENCE.findall(texts[pending.pop()]):
            if name in texts and name not in reached:
                reached.add(name)
                if name not in kernels:
                    pending.append(name)
    return reached


def _declaration(fn: ir.Function) -> str:
    ty = fn.function_type
    return f"declare {ty.return_type} {fn.get_reference()}({', '.join(str(a) for a in ty.args)})"
