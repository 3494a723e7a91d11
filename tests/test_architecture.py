"""The shape of the code base, checked: what issue-free growth of the op set relies on.

- facts about ops live on their ``OpDef``: no pass or backend keeps a tuple or set of op names;
- every op runs on every backend (or the exception is listed here with its reason);
- the modules import each other without cycles, and ``ir`` imports neither ``graphc`` nor ``backends``;
- no source module passes 600 lines unless its docstring says why.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import graphc  # noqa: F401  (registers every op and both backends' implementations)
from graphc.backends.llvm import codegen  # noqa: F401  (registers the LLVM implementations)
from graphc.backends.llvm.lowering import lowering_of
from graphc.ir.ops.control import build_region
from graphc.ir.registry import OPS, REFERENCE
from graphc.ir.types import TensorType, float32

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"graphc": ROOT / "graphc", "graphc.ir": ROOT / "ir", "graphc.backends": ROOT / "backends"}
MAX_LINES = 600

# ops a backend does not run, with the reason
LLVM_EXCEPTIONS = {"call": "runs only eagerly: a trace inlines the functions it calls"}


def _modules() -> dict[str, Path]:
    """Every source module, by its dotted name."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _import_statements(tree: ast.AST, in_functions: bool):
    """The import statements run when the module loads (``in_functions=False``), or those inside
    functions, run when they are called (lazy imports)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not in_functions:
                yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if in_functions:
                yield from (n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
        else:
            yield from _import_statements(node, in_functions)


def _imports(name: str, tree: ast.Module, in_functions: bool = False) -> set[str]:
    """The graphc modules ``name`` imports when it loads (or, ``in_functions``, lazily)."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in _import_statements(tree, in_functions):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


TREES = _trees()


def _import_graph() -> nx.DiGraph:
    """Module -> the modules it imports when it loads. A package's ``__init__`` re-exports its
    modules: importing from it is not counted as depending on all of them."""
    graph = nx.DiGraph()
    for name, tree in TREES.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in _imports(name, tree) if not _is_package(target))
    return graph


IMPORT_GRAPH = _import_graph()


def test_the_modules_import_each_other_without_cycles():
    cycles = sorted(sorted(c) for c in nx.simple_cycles(IMPORT_GRAPH))
    assert not cycles, f"import cycles: {cycles}"


def test_a_lazy_import_breaks_a_cycle():
    """An import inside a function is there because the module imported needs the importer loaded:
    otherwise it belongs at the top, where readers look for a module's dependencies. (The LLVM
    backend is the exception: it loads llvmlite, so the rest of graphc loads it on first use; and in
    the backend, ``target`` starts LLVM and ``codegen`` and ``host_calls`` load llvmlite's IR builder,
    which running code found in the compile cache does without.)"""
    needless = []
    for name, tree in TREES.items():
        for target in _imports(name, tree, in_functions=True):
            deferred_backend = target.startswith("graphc.backends.llvm") and not name.startswith("graphc.backends.llvm")
            deferred_llvm = target in ("graphc.backends.llvm.target", "graphc.backends.llvm.codegen",
                                       "graphc.backends.llvm.host_calls")
            if not (_is_package(target) or deferred_backend or deferred_llvm or nx.has_path(IMPORT_GRAPH, target, name)):
                needless.append(f"{name} -> {target}")
    assert not needless, f"lazy imports that break no cycle (import at the top): {sorted(needless)}"


def test_ir_imports_neither_graphc_nor_backends():
    for name, tree in TREES.items():
        if name.startswith("graphc.ir"):
            wrong = {t for t in _imports(name, tree) if not t.startswith("graphc.ir")}
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_private_names_stay_in_their_module():
    """``from x import _name`` of a function, class or constant: what another module needs is public."""
    crossing = []
    for name, tree in TREES.items():
        package = name if _is_package(name) else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("graphc")):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                crossing += [f"{name}: {alias.name} from {base}" for alias in node.names
                             if alias.name.startswith("_") and not alias.name.startswith("__")
                             and f"{base}.{alias.name}" not in MODULES]
    assert not crossing, f"private names imported across modules: {crossing}"


def _op_name_collections(tree: ast.Module) -> list[tuple[int, list[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.Set, ast.List)) and len(node.elts) >= 2:
            strings = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(strings) == len(node.elts) and all(s in OPS for s in strings):
                found.append((node.lineno, strings))
    return found


# (the math library names its functions: exp, sqrt... are math functions there, not ops)
@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(("graphc.ir.passes", "graphc.backends"))
                                        and not n.startswith("graphc.backends.llvm.mathlib")))
def test_passes_and_backends_ask_the_op_instead_of_listing_op_names(name):
    found = _op_name_collections(TREES[name])
    assert not found, f"{name} lists op names (put the fact on the OpDef): {found}"


def test_the_op_name_check_finds_a_list():
    assert _op_name_collections(ast.parse('VIEWS = {"reshape", "squeeze"}\nx = ("a", "b")'))[0][0] == 1


def test_every_op_has_a_reference_implementation():
    missing = sorted(name for name, opdef in OPS.items() if REFERENCE not in opdef.implementations)
    assert not missing


def test_every_op_runs_natively_or_is_listed_with_a_reason():
    missing = {name for name, opdef in OPS.items() if lowering_of(opdef) is None}
    assert missing == set(LLVM_EXCEPTIONS), f"ops without LLVM code: {sorted(missing - set(LLVM_EXCEPTIONS))}"


@pytest.mark.parametrize("name", sorted(n for n, opdef in OPS.items() if opdef.decomposition))
def test_a_decomposition_is_written_with_ops_that_run_natively(name):
    """The LLVM backend compiles an op without element code from its decomposition: every op that
    decomposition uses needs code of its own."""
    opdef = OPS[name]
    arity = next(n for n in range(1, 4) if _accepts(opdef, [TensorType((), float32)] * n))
    graph = build_region(name, [TensorType((), float32)] * arity, lambda *xs: [opdef.decomposition(*xs)])
    assert graph.nodes
    without_code = {n.op for n in graph.nodes if lowering_of(n.opdef) is None or lowering_of(n.opdef).endswith("decomposition")}
    assert not without_code, f"{name}'s decomposition uses ops without LLVM code: {sorted(without_code)}"


def _accepts(opdef, types) -> bool:
    try:
        opdef.infer(types)
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small_or_say_why(name):
    lines = len(MODULES[name].read_text().splitlines())
    docstring = ast.get_docstring(TREES[name]) or ""
    assert lines <= MAX_LINES or f"longer than {MAX_LINES} lines" in docstring, (
        f"{name} has {lines} lines: split it along a seam, or say in its docstring why it is longer than {MAX_LINES} lines"
    )
