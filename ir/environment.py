"""Every ``GRAPHC_*`` environment variable graphc reads, declared once: its parser, default, the values
it accepts and a line of documentation (``graphc info`` lists them with their values).

One policy for all of them: unset, empty or blank means the default. A value the parser rejects is
reported once per process in one warning line on the ``graphc.environment`` logger, naming the
variable, the value, what is accepted and the default used; the default applies. A number beyond its
limit (a thread count) is clamped to the limit, with one such line. Reading a variable never raises,
so no value in the environment can break ``import graphc``.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("graphc.environment")

THREADS_PER_CORE = 4  # GRAPHC_NUM_THREADS is clamped to this many threads per core
LOG_TOPICS = {
    "trace": "each trace of a function and the reason for a retrace",
    "passes": "each graph pass and compile stage, with its statistics",
    "cache": "compile-cache hits and misses, and why",
    "dump": "the files GRAPHC_DUMP_DIR receives",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SHOWN_LENGTH = 60


class Clamped(ValueError):
    """Raised by a parser for a number beyond its limit: ``value`` is the nearest one allowed."""

    def __init__(self, value, reason: str):
        super().__init__(reason)
        self.value = value


@dataclass(frozen=True)
class Variable:
    """One environment variable: ``parse`` turns its stripped text into a value or raises ValueError."""

    name: str
    parse: Callable[[str], object]
    default: Callable[[], object]
    accepted: str
    doc: str


# -- parsers ----------------------------------------------------------------------------------------
def parse_flag(text: str) -> bool:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(text)


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(text)
        return text.lower()

    return parse


def parse_topics(text: str) -> frozenset[str]:
    topics = frozenset(t.strip().lower() for t in text.split(",") if t.strip())
    if not topics <= LOG_TOPICS.keys():
        raise ValueError(text)
    return topics


def whole_number(low: int, high: Callable[[], int], clamp_reason: str | None = None) -> Callable[[str], int]:
    """ASCII digits giving a number from ``low`` to ``high()``; above it, clamped when ``clamp_reason``
    says why, otherwise rejected."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError(text)
        number = int(text)
        if number < low:
            raise ValueError(text)
        if number > high():
            if clamp_reason is None:
                raise ValueError(text)
            raise Clamped(high(), clamp_reason)
        return number

    return parse


def parse_path(text: str) -> str:
    return os.path.expanduser(text)


def parse_blas(text: str) -> str:
    """``auto``, ``scipy``, ``mkl`` or the path of an existing shared library."""
    choice = text.strip()
    if choice.lower() in ("auto", "scipy", "mkl"):
        return choice.lower()
    path = os.path.expanduser(choice)
    if not os.path.isfile(path):
        raise ValueError(f"neither auto, scipy, mkl nor an existing file: {choice!r}")
    return path


def cores() -> int:
    return os.cpu_count() or 1


def max_threads() -> int:
    return THREADS_PER_CORE * cores()


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc")


_FLAG = "1, true, yes, on or 0, false, no, off (any case)"
VARIABLES = {v.name: v for v in (
    Variable("GRAPHC_RUN_EAGERLY", parse_flag, lambda: False, _FLAG,
             "run every @gc.function's Python body op by op (print and pdb work)"),
    Variable("GRAPHC_BACKEND", one_of("llvm", "numpy"), lambda: "llvm", "llvm or numpy",
             "the backend compiled functions run on: native code or the NumPy reference interpreter"),
    Variable("GRAPHC_CHECK", parse_flag, lambda: False, _FLAG,
             "check mode: run native code and the NumPy interpreter side by side, raise where they differ"),
    Variable("GRAPHC_CHECK_NUMERICS", parse_flag, lambda: False, _FLAG,
             "report the first NaN or Inf a compiled function produces, with the op and source line"),
    Variable("GRAPHC_DETERMINISTIC_OPS", parse_flag, lambda: False, _FLAG,
             "float sums add in an order fixed by the terms' number and indices (gc.config.enable_op_determinism)"),
    Variable("GRAPHC_LOG", parse_topics, frozenset, "a comma-separated list of " + ", ".join(LOG_TOPICS),
             "print log messages of these topics to stderr: "
             + "; ".join(f"{topic}: {what}" for topic, what in LOG_TOPICS.items())),
    Variable("GRAPHC_NUM_THREADS", whole_number(1, max_threads, f"more than {THREADS_PER_CORE} threads per core"),
             cores, f"a whole number from 1 to {max_threads()}, {THREADS_PER_CORE} per core; more are clamped",
             "worker threads for large graphs on the native backend (default: one per core); compiling a "
             "large module takes at most this many threads, one per core"),
    Variable("GRAPHC_BLAS", parse_blas, lambda: "auto", "auto, scipy, mkl or the path of a BLAS library",
             "the BLAS whose sgemm and dgemm compiled matmuls call: auto (MKL when graphc[mkl] is installed, "
             "else SciPy's OpenBLAS), scipy, mkl, or a library exporting LP64 sgemm_ and dgemm_"),
    Variable("GRAPHC_CACHE", parse_flag, lambda: True, _FLAG,
             "keep compiled object code in the on-disk cache and load it instead of compiling again"),
    Variable("GRAPHC_CACHE_DIR", parse_path, default_cache_dir, "a directory path",
             "the compile cache's directory (default: $XDG_CACHE_HOME/graphc or ~/.cache/graphc)"),
    Variable("GRAPHC_DUMP_DIR", parse_path, lambda: None, "a directory path",
             "write every compiled function's stages, pictures, LLVM IR and assembly into this directory"),
    Variable("GRAPHC_FUZZ_EXAMPLES", whole_number(1, lambda: 10**9), lambda: 500, "a whole number from 1 to 10**9",
             "how many random programs the differential fuzz tests run (make fuzz sets it high)"),
)}

_outcomes: dict[tuple[str, str], tuple[bool, object]] = {}
_lock = threading.Lock()


def value(name: str):
    """The value of the variable ``name`` in the environment now; see the module doc for bad values."""
    variable = VARIABLES[name]
    accepted, parsed = _outcome(variable)
    return parsed if accepted else variable.default()


def setting(name: str) -> str:
    """``NAME=value`` as in effect, saying where the value came from: for ``graphc info``."""
    variable = VARIABLES[name]
    accepted, _ = _outcome(variable)
    raw = os.environ.get(name, "")
    origin = "" if accepted else " (default)" if not raw.strip() else f" (the default: {_quoted(raw)} is not accepted)"
    return f"{name}={shown(value(name))}{origin}"


def _outcome(variable: Variable) -> tuple[bool, object]:
    """(True, value) for a value set and accepted, else (False, None); parses each text once."""
    raw = os.environ.get(variable.name, "")
    if not raw.strip():
        return False, None
    with _lock:
        if (variable.name, raw) not in _outcomes:
            _outcomes[variable.name, raw] = _parsed(variable, raw)
        return _outcomes[variable.name, raw]


def _parsed(variable: Variable, raw: str) -> tuple[bool, object]:
    """Parses ``raw``, warning in one line when it is not accepted as it is."""
    try:
        return True, variable.parse(raw.strip())
    except Clamped as limit:
        log.warning("graphc: %s=%s is %s; using %s (accepted: %s)", variable.name, _quoted(raw), limit,
                    shown(limit.value), variable.accepted)
        return True, limit.value
    except ValueError:
        log.warning("graphc: ignoring %s=%s: expected %s; using the default, %s", variable.name, _quoted(raw),
                    variable.accepted, shown(variable.default()))
        return False, None


def shown(value) -> str:
    """A value in effect as a short word: on/off, a comma list (or none), 'not set' for None."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) or "none"
    return str(value)


def _quoted(raw: str) -> str:
    """The text of a variable on one line, escaped and shortened."""
    text = repr(raw)
    return text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH - 4] + "...'"
