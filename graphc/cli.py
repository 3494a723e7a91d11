"""The ``graphc`` command (also ``python -m graphc``): pictures, IR dumps and facts about this install.

    graphc viz model.py:train_step --arg f32[256,784] --arg i64[256] -o step.svg [--stage fused]
    graphc viz model.py:train_step --arg f32[256,784] --arg i64[256] -o stages.html
    graphc ir model.py:train_step --arg f32[256,784] --arg i64[256] [--stage fused | --llvm | --asm]
    graphc export model.py:predict --arg f32[None,784] -o model.onnx [--opset 18]
    graphc viz model.onnx -o model.svg          (an ONNX model, loaded into graphc; also graphc ir)
    graphc info

``FUNC`` names a ``gc.function`` or a plain Python function (compiled here) in ``FILE.py``; each
``--arg`` is one positional argument: a tensor type such as ``f32[256,784]`` (``None`` or ``?`` for a
size known only at run time, ``f32[]`` for a scalar) or a Python literal (``3``, ``True``).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from graphc.ir import environment
from graphc.ir.errors import GraphcError
from graphc.ir.text import format_graph
from graphc.ir.types import as_dtype

from .tracing import TensorSpec

USAGE_ERROR = 2
ERROR = 1

_TENSOR_TYPE = re.compile(r"(?P<dtype>[A-Za-z_][A-Za-z0-9_]*)\[(?P<dims>[^\[\]]*)\]")
_DTYPES = "f32, f64, i32, i64 or bool"


class CliError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""


# -- arguments ------------------------------------------------------------------------------------
def parse_arg(text: str):
    """One ``--arg``: a ``gc.TensorSpec`` for a tensor type, else the Python literal's value."""
    m = _TENSOR_TYPE.fullmatch(text.strip())
    if m:
        dims = [d.strip() for d in m.group("dims").split(",")] if m.group("dims").strip() else []
        if all(re.fullmatch(r"None|\?|-?[0-9]{1,4000}", d) for d in dims):
            try:
                return TensorSpec([None if d in ("None", "?") else int(d) for d in dims], as_dtype(m.group("dtype")))
            except GraphcError as error:
                raise CliError(f"bad --arg {text!r}: {error.message}") from None
    else:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            pass
    raise CliError(
        f"bad --arg {text!r}: expected a tensor type such as f32[256,784] (dtype {_DTYPES}; None or ? for a "
        "size known only at run time) or a Python literal such as 3 or True"
    )


def load_function(target: str):
    """The function named by ``FILE.py:FUNC`` (``FUNC`` may be dotted: ``Model.step``)."""
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise CliError(f"expected FILE.py:FUNC, got {target!r}")
    path = Path(file)
    if not path.is_file():
        raise CliError(f"no such file: {file}")
    module = _import_file(path)
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
            hint = f" (it defines: {', '.join(defined)})" if defined else ""
            raise CliError(f"{file} has no function {name!r}{hint}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CliError(f"{file}:{name} is not a function: it is {repr(obj)[:60]}")
    return obj


def _import_file(path: Path):
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = "_graphc_cli_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's module failed: say why in one line
        raise CliError(f"importing {path} failed: {type(error).__name__}: {error}") from None
    return module


def _concrete(args):
    from . import viz

    if args.target.lower().endswith(".onnx"):
        if args.arg:
            raise CliError("an ONNX model has its input types already: give no --arg")
        from . import onnx as graphc_onnx  # the onnx package loads with it, on first use

        return graphc_onnx.load(args.target)
    fn = load_function(args.target)
    return viz.concrete_function(fn, *[parse_arg(a) for a in args.arg])


# -- commands -------------------------------------------------------------------------------------
def cmd_viz(args) -> int:
    from . import viz

    concrete = _concrete(args)
    options = {
        "gradients": not args.no_gradients,
        "collapse_scopes": False if args.collapse_scopes is None else args.collapse_scopes or True,
        "expand_kernels": not args.no_expand_kernels,
        "rankdir": args.rankdir,
    }
    if args.edge_labels:
        options["edge_labels"] = True
    output = args.output or f"{concrete.function.name}.svg"
    if Path(output).suffix.lower() in (".html", ".htm"):
        written = viz.render_stages(concrete, path=output, **options)
    else:
        written = viz.render(concrete, path=output, stage=args.stage, **options)
    print(written)
    return 0


def cmd_ir(args) -> int:
    from graphc.ir.passes import format_stats

    from . import viz

    concrete = _concrete(args)
    if args.llvm or args.llvm_optimized:
        print(concrete.llvm_ir(optimized=args.llvm_optimized))
    elif args.asm:
        print(concrete.asm())
    elif args.stats:
        print(format_stats(viz.stage_graphs(concrete)[1]))
    elif args.stage == "traced":
        print(format_graph(concrete.graph))
    else:
        graphs = viz.stage_graphs(concrete)[0]
        stages = viz.STAGES if args.stage == "all" else (args.stage,)
        print("\n\n".join(format_graph(graphs[s]) for s in stages))
    return 0


def cmd_export(args) -> int:
    from . import onnx as graphc_onnx

    target = load_function(args.target)  # a function, or a model (models are callable)
    name = getattr(target, "name", None) or getattr(target, "__name__", "model")
    output = args.output or f"{name}.onnx"
    graphc_onnx.export(target, *[parse_arg(a) for a in args.arg], path=output, opset=args.opset)
    print(output)
    return 0


def cmd_info(args) -> int:
    import graphc as gc
    from graphc.backends.llvm import cache, target

    triple, cpu, features = target.host()
    entries, size = cache.size()
    enabled = [f[1:] for f in features.split(",") if f.startswith("+")]
    cache_state = "" if cache.enabled() else " (off: GRAPHC_CACHE=0)"
    lines = [
        f"graphc {gc.__version__} ({Path(gc.__file__).parent})",
        f"Python {platform.python_version()} ({sys.executable})",
        f"LLVM {target.llvm_version()}",
        f"host {triple}, CPU {cpu}",
        "CPU features " + textwrap.fill(" ".join(enabled), 96, subsequent_indent=" " * 13),
        f"backend {gc.config.get_backend()}",
        f"cache {cache.cache_dir()}: {entries} entries, {_bytes(size)}{cache_state}",
        f"dot {_dot_version()}",
        f"dump {environment.value('GRAPHC_DUMP_DIR') or '(GRAPHC_DUMP_DIR not set)'}",
        "environment (a bad value is reported and its default applies):",
        *_environment_lines(),
    ]
    print("\n".join(lines))
    return 0


def _environment_lines() -> list[str]:
    """Each GRAPHC_* variable with the value in effect, what it does and what it accepts."""
    lines = []
    for name, variable in environment.VARIABLES.items():
        lines.append("  " + environment.setting(name))
        lines.append(textwrap.fill(f"{variable.doc}; accepted: {variable.accepted}", 100,
                                   initial_indent=" " * 6, subsequent_indent=" " * 6))
    return lines


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _dot_version() -> str:
    dot = shutil.which("dot")
    if dot is None:
        return "not installed: pictures are written as .dot files (Debian: apt-get install graphviz)"
    try:
        result = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return dot
    return f"{dot} ({(result.stderr or result.stdout).strip()})"


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description="graphc: pictures and IR of compiled functions, ONNX export, and facts about this install.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    viz = commands.add_parser("viz", help="draw a function's graph (.svg, .png, .pdf, .dot, or .html for all stages)")
    _add_target(viz)
    viz.add_argument("-o", "--output", help="the file to write (default FUNC.svg); .html: every stage side by side")
    viz.add_argument("--stage", choices=("traced", "optimized", "fused"), default="traced")
    viz.add_argument("--no-gradients", action="store_true", help="draw the backward pass as one box")
    viz.add_argument("--collapse-scopes", nargs="*", metavar="SCOPE",
                     help="draw name scopes as single boxes (all outermost scopes, or the ones named)")
    viz.add_argument("--no-expand-kernels", action="store_true", help="draw each fused kernel as one box")
    viz.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom or left to right")
    viz.add_argument("--edge-labels", action="store_true", help="label every edge with its type")
    viz.set_defaults(run=cmd_viz)

    ir = commands.add_parser("ir", help="print a function's text IR, pass statistics, LLVM IR or assembly")
    _add_target(ir)
    what = ir.add_mutually_exclusive_group()
    what.add_argument("--stage", choices=("traced", "optimized", "fused", "all"), default="traced")
    what.add_argument("--llvm", action="store_true", help="the LLVM IR")
    what.add_argument("--llvm-optimized", action="store_true", help="the LLVM IR after LLVM's O3 pipeline")
    what.add_argument("--asm", action="store_true", help="the host assembly")
    what.add_argument("--stats", action="store_true", help="the per-pass statistics")
    ir.set_defaults(run=cmd_ir)

    export = commands.add_parser("export", help="write a function's or model's graph as an ONNX model")
    _add_target(export)
    export.add_argument("-o", "--output", help="the .onnx file to write (default FUNC.onnx)")
    export.add_argument("--opset", type=int, default=18, help="the ONNX opset (default 18)")
    export.set_defaults(run=cmd_export)

    info = commands.add_parser("info", help="graphc and LLVM versions, host CPU, compile cache, Graphviz")
    info.set_defaults(run=cmd_info)
    return parser


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="FILE.py:FUNC",
                        help="a gc.function, plain function or model in a Python file (viz, ir: or a MODEL.onnx)")
    parser.add_argument("--arg", action="append", default=[], metavar="SPEC",
                        help="one positional argument: f32[256,784], i64[None], or a Python literal; repeat in order")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CliError as error:
        print(f"graphc: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except GraphcError as error:
        print(f"graphc: error: {error}", file=sys.stderr)
        return ERROR
    except BrokenPipeError:  # the reader went away (graphc ir ... | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
