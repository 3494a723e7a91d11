"""A plain, non-editable ``pip install .`` into a fresh virtualenv gives a working ``graphc``.

The package is built from a clean copy of the source tree (so no stale ``build/`` can hide a
missing subpackage) and installed with ``--no-deps`` into a new virtualenv without system site
packages. Its declared dependencies, and only those (resolved from the built wheel's metadata,
transitively), are then made importable from this test's own environment through a directory of
symlinks named in a ``.pth`` file: graphc itself is never on that path, and an undeclared import in
graphc fails here. Installing numpy, scipy and llvmlite afresh would take most of a minute.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = {".git", ".venv", "build", "dist", "out", ".pytest_cache", ".hypothesis", "__pycache__"}


def _copy_source(dst: Path) -> Path:
    def ignore(folder, names):
        return [n for n in names if n in NOT_SOURCE or n.endswith((".egg-info", ".pyc"))]

    return Path(shutil.copytree(ROOT, dst, ignore=ignore))


def _clean_env() -> dict:
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("GRAPHC_")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, env=_clean_env(), timeout=300, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run([python, "-c", code]).stdout.strip())


def _requirements(dist_info: Path) -> list[Requirement]:
    """The Requires-Dist lines of an installed distribution's METADATA that apply without extras."""
    lines = (dist_info / "METADATA").read_text().splitlines()
    reqs = [Requirement(line.split(":", 1)[1]) for line in lines if line.startswith("Requires-Dist:")]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _dependency_closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The distributions of this environment that satisfy ``requirements``, transitively."""
    found, todo = {}, list(requirements)
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if name in found:
            continue
        dist = metadata.distribution(req.name)
        assert req.specifier.contains(dist.version, prereleases=True), (
            f"graphc requires {req}, the test environment has {dist.version}"
        )
        found[name] = dist
        extra_free = [Requirement(r) for r in dist.requires or []]
        todo += [r for r in extra_free if r.marker is None or r.marker.evaluate({"extra": ""})]
    return found


def _link_distributions(dists, into: Path) -> None:
    """Symlinks every top-level file and folder of ``dists`` into ``into``."""
    into.mkdir()
    for dist in dists:
        site = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if not top.endswith(".pth") and not (into / top).exists():
                (into / top).symlink_to(site / top)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """graphc pip-installed into a fresh virtualenv; what the installation added and where."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = _copy_source(tmp / "source")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    site = _site_packages(python)
    before = set(os.listdir(site))
    _run([python, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--quiet", "."], cwd=source)
    added = set(os.listdir(site)) - before - {"__pycache__"}
    dist_info = [site / n for n in added if n.startswith("graphc-") and n.endswith(".dist-info")]
    assert len(dist_info) == 1, f"expected one graphc-*.dist-info, the install added {sorted(added)}"
    deps = _dependency_closure(_requirements(dist_info[0]))
    _link_distributions(deps.values(), tmp / "deps")
    (site / "graphc_test_dependencies.pth").write_text(f"{tmp / 'deps'}\n")
    return {"python": python, "site": site, "source": source, "added": added,
            "dist_info": dist_info[0], "deps": tmp / "deps", "workdir": tmp}


def test_installs_one_top_level_package(installed):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert installed["added"] == {"graphc", f"graphc-{version}.dist-info"}
    assert not {"ir", "backends", "graphc.ir", "graphc.backends"} & set(os.listdir(installed["site"]))
    top_level = installed["dist_info"] / "top_level.txt"
    if top_level.exists():
        assert top_level.read_text().split() == ["graphc"]
    record = (installed["dist_info"] / "RECORD").read_text().splitlines()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    allowed = ("graphc/", installed["dist_info"].name + "/", *(f"../../../bin/{name}," for name in scripts))
    outside = [line for line in record if not line.startswith(allowed)]
    assert not outside, f"files installed outside graphc/ (and the console scripts): {outside}"


def test_dependency_path_holds_no_graphc(installed):
    names = set(os.listdir(installed["deps"]))
    assert "numpy" in names
    assert not {"graphc", "ir", "backends"} & names
    assert not any(n.startswith("__editable__") or n.endswith(".pth") for n in names)


def test_every_source_module_is_installed(installed):
    """Each .py file under a mapped package folder lands at its place in graphc/ (a subpackage
    missing from pyproject's package list would silently be left out)."""
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    missing = []
    for package, folder in package_dirs.items():
        source_root = installed["source"] / folder
        for path in source_root.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            target = installed["site"].joinpath(*package.split("."), path.relative_to(source_root))
            if not target.is_file():
                missing.append(f"{folder}/{path.relative_to(source_root)}")
    assert not missing, f"source modules missing from the installed package: {missing}"


IMPORT_AND_RUN = textwrap.dedent("""
    import importlib.util, json
    import numpy as np
    import graphc as gc
    import graphc.ir, graphc.backends

    @gc.function
    def f(x, w):
        return gc.nn.relu(gc.matmul(x, w)) * 2.0

    w = gc.Variable(np.array([[1.0], [-1.0]], np.float32), name="w")
    y = f(np.array([[3.0, 1.0], [1.0, 3.0]], np.float32), w)
    print(json.dumps({
        "graphc": gc.__file__, "ir": graphc.ir.__file__, "backends": graphc.backends.__file__,
        "numpy": np.__file__, "result": y.numpy().tolist(), "traces": f.trace_count,
        "graph": str(f.concrete_functions[0].graph),
        "toplevel_ir": importlib.util.find_spec("ir") is not None,
        "toplevel_backends": importlib.util.find_spec("backends") is not None,
    }))
""")


def test_installed_graphc_imports_and_runs_a_function(installed):
    # -I: isolated mode, so neither the working directory nor PYTHON* variables reach sys.path
    out = _run([installed["python"], "-I", "-c", IMPORT_AND_RUN], cwd=installed["workdir"]).stdout
    report = json.loads(out)
    site = str(installed["site"])
    for module in ("graphc", "ir", "backends"):
        assert report[module].startswith(site + os.sep), f"{module} imported from {report[module]}"
    assert report["ir"].endswith(os.path.join("graphc", "ir", "__init__.py"))
    assert report["backends"].endswith(os.path.join("graphc", "backends", "__init__.py"))
    assert report["numpy"].startswith(str(installed["deps"]))
    assert report["result"] == [[4.0], [0.0]] and report["traces"] == 1
    assert "matmul" in report["graph"] and "relu" in report["graph"]
    assert not report["toplevel_ir"] and not report["toplevel_backends"]
