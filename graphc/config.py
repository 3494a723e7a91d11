"""Global settings, each also readable from the environment at import:

- ``GRAPHC_RUN_EAGERLY=1``: decorated functions run their Python body op by op;
- ``GRAPHC_BACKEND=llvm|numpy``: the backend compiled functions run on (default llvm);
- ``GRAPHC_CHECK=1``: run native code and the NumPy interpreter side by side (``set_check_mode``);
- ``GRAPHC_CHECK_NUMERICS=1``: report the first NaN or Inf a compiled function produces;
- ``GRAPHC_LOG=trace,passes,cache,dump``: print graphc's log messages of those topics to stderr.

``graphc.ir.environment`` declares every variable; a bad value warns once and the default applies.
"""
from __future__ import annotations

import logging
import sys

from graphc.ir import environment
from graphc.ir.errors import InvalidArgumentError

BACKENDS = ("llvm", "numpy")
_OPTIMIZER_OPTIONS = (
    "constant_folding", "arithmetic_optimization", "common_subgraph_elimination", "dead_code_elimination", "fusion",
)

__all__ = [
    "check_mode", "check_numerics_enabled", "disable_check_numerics", "enable_check_numerics",
    "functions_run_eagerly", "get_backend", "get_optimizer_options", "run_functions_eagerly", "set_backend",
    "set_check_mode", "set_optimizer_options",
]


_settings = {
    "run_eagerly": environment.value("GRAPHC_RUN_EAGERLY"),
    "backend": environment.value("GRAPHC_BACKEND"),
    "optimizer": {},
    "check": environment.value("GRAPHC_CHECK"),
    "check_numerics": environment.value("GRAPHC_CHECK_NUMERICS"),
}


def _plain_calls() -> bool:
    return not (_settings["run_eagerly"] or _settings["check"] or _settings["check_numerics"])


# whether no setting changes how a compiled function's call runs (eager mode, check mode, check
# numerics): the per-call fast path of ``gc.function`` reads this one flag; kept by ``_Setting``
plain_calls = _plain_calls()


class _Setting:
    """Applies a setting at once; used in ``with``, restores the previous value on exit."""

    def __init__(self, key: str, value):
        self._key, self._previous = key, _settings[key]
        _set(key, value)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._key, self._previous)


def _set(key: str, value) -> None:
    global plain_calls
    _settings[key] = value
    plain_calls = _plain_calls()


def run_functions_eagerly(run_eagerly: bool) -> _Setting:
    """Makes every ``@gc.function`` run its Python body eagerly (op by op, so print and pdb work);
    False returns to the traced graphs, which stay cached meanwhile. A function decorated with
    ``eager=True`` or ``eager=False`` ignores this switch.

    Also a context manager: ``with gc.config.run_functions_eagerly(True): ...`` restores on exit."""
    return _Setting("run_eagerly", bool(run_eagerly))


def functions_run_eagerly() -> bool:
    """Whether ``@gc.function`` bodies run eagerly (``run_functions_eagerly``, ``GRAPHC_RUN_EAGERLY``)."""
    return _settings["run_eagerly"]


def set_backend(name: str) -> _Setting:
    """Selects the default backend of compiled functions: ``"llvm"`` (native code, the default) or
    ``"numpy"`` (the reference interpreter). Also a context manager."""
    if name not in BACKENDS:
        raise InvalidArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _Setting("backend", name)


def get_backend() -> str:
    """The backend functions traced from now on compile for: ``"llvm"`` or ``"numpy"``."""
    return _settings["backend"]


def set_optimizer_options(options: dict | None = None, **more) -> _Setting:
    """Switches graph passes on or off, as ``tf.config.optimizer.set_experimental_options``:
    ``constant_folding``, ``arithmetic_optimization``, ``common_subgraph_elimination``,
    ``dead_code_elimination``, ``fusion`` (all True by default; with ``fusion`` off every op is a
    kernel of its own). Applies to functions traced later."""
    options = {**(options or {}), **more}
    unknown = sorted(set(options) - set(_OPTIMIZER_OPTIONS))
    if unknown:
        raise InvalidArgumentError(f"unknown optimizer options {unknown}; known: {', '.join(_OPTIMIZER_OPTIONS)}")
    return _Setting("optimizer", {**_settings["optimizer"], **{k: bool(v) for k, v in options.items()}})


def get_optimizer_options() -> dict:
    """Every graph pass's option and whether it is on (see ``set_optimizer_options``)."""
    return {name: _settings["optimizer"].get(name, True) for name in _OPTIMIZER_OPTIONS}


def set_check_mode(enabled: bool) -> _Setting:
    """Runs every compiled call on the native backend AND the NumPy interpreter and raises
    ``gc.errors.CheckError`` at the first kernel or node whose results differ (``GRAPHC_CHECK=1``)."""
    return _Setting("check", bool(enabled))


def check_mode() -> bool:
    """Whether compiled calls also run the interpreter and compare (see ``set_check_mode``)."""
    return _settings["check"]


def enable_check_numerics() -> _Setting:
    """Reports the first NaN or Inf a compiled function produces, forward or backward, with the op and
    the user's source line of the forward op (``GRAPHC_CHECK_NUMERICS=1``)."""
    return _Setting("check_numerics", True)


def disable_check_numerics() -> _Setting:
    """Stops checking every value for NaN and infinities (see ``enable_check_numerics``)."""
    return _Setting("check_numerics", False)


def check_numerics_enabled() -> bool:
    """Whether every value is checked for NaN and infinities."""
    return _settings["check_numerics"]


def log_topics() -> frozenset[str]:
    """The log topics ``GRAPHC_LOG`` switches on."""
    return environment.value("GRAPHC_LOG")


def _configure_logging() -> None:
    for topic in log_topics():
        logger = logging.getLogger(f"graphc.{topic}")
        logger.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("graphc %(name)s: %(message)s"))
        logger.addHandler(handler)


_configure_logging()
