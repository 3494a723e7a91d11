"""Global settings, each also readable from the environment at import:

- ``GRAPHC_RUN_EAGERLY=1``: decorated functions run their Python body op by op;
- ``GRAPHC_BACKEND=llvm|numpy``: the backend compiled functions run on (default llvm);
- ``GRAPHC_CHECK=1``: run native code and the NumPy interpreter side by side (``set_check_mode``);
- ``GRAPHC_CHECK_NUMERICS=1``: report the first NaN or Inf a compiled function produces;
- ``GRAPHC_DETERMINISTIC_OPS=1``: sums add in a fixed, split-invariant order (``enable_op_determinism``);
- ``GRAPHC_LOG=trace,passes,cache,dump``: print graphc's log messages of those topics to stderr.

``graphc.ir.environment`` declares every variable; a bad value warns once and the default applies.
"""
from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

from graphc.ir import dispatch, environment
from graphc.ir.errors import InvalidArgumentError

BACKENDS = ("llvm", "numpy")
_OPTIMIZER_OPTIONS = (
    "constant_folding", "arithmetic_optimization", "common_subgraph_elimination", "dead_code_elimination", "fusion",
)

__all__ = [
    "check_mode", "check_numerics_enabled", "disable_check_numerics", "disable_op_determinism",
    "enable_check_numerics", "enable_op_determinism", "experimental", "functions_run_eagerly", "get_backend",
    "get_optimizer_options", "op_determinism_enabled", "run_functions_eagerly", "set_backend", "set_check_mode",
    "set_optimizer_options",
]


_settings = {
    "run_eagerly": environment.value("GRAPHC_RUN_EAGERLY"),
    "backend": environment.value("GRAPHC_BACKEND"),
    "optimizer": {},
    "check": environment.value("GRAPHC_CHECK"),
    "check_numerics": environment.value("GRAPHC_CHECK_NUMERICS"),
    "determinism": environment.value("GRAPHC_DETERMINISTIC_OPS"),
}
dispatch.set_op_determinism(_settings["determinism"])


def _plain_calls() -> bool:
    return not (_settings["run_eagerly"] or _settings["check"] or _settings["check_numerics"]
                or _settings["determinism"])


# whether no setting changes how a compiled function's call runs (eager mode, check mode, check
# numerics) or which trace it runs (op determinism): the per-call fast path of ``gc.function``
# reads this one flag; kept by ``_Setting``
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
    dispatch.set_op_determinism(_settings["determinism"])


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


def enable_op_determinism() -> _Setting:
    """Makes every sum add its terms in a fixed order that depends only on their number and each
    term's index, as ``tf.config.experimental.enable_op_determinism`` makes runs repeatable
    (``GRAPHC_DETERMINISTIC_OPS=1``).

    Float ``reduce_sum`` (and what is built on it: means, losses, bias gradients) and ``matmul``'s
    contraction (dense layers, convolutions, their gradients) cut their terms into 2^k equal groups
    (2^k the largest power of two dividing the number of 8-term blocks) and add the group sums as a
    balanced binary tree. So the sum of a batch of 64 is, bit for bit, the sum of the sums of its
    halves: two replicas of ``gc.distribute.RayStrategy`` with 32 examples each train to the same
    weights as one process with batches of 64, in float64 as in float32. The summed axes' sizes
    must be known when tracing. It costs time and memory: a matmul keeps one partial product per
    group (an inner size of 512 has 64 groups, 784 has 2). Functions trace again when it changes.
    Also a context manager."""
    return _Setting("determinism", True)


def disable_op_determinism() -> _Setting:
    """Returns sums to each backend's fastest order (see ``enable_op_determinism``)."""
    return _Setting("determinism", False)


def op_determinism_enabled() -> bool:
    """Whether sums add in the fixed order of ``enable_op_determinism``."""
    return _settings["determinism"]


# TensorFlow's spelling: ``tf.config.experimental.enable_op_determinism()``
experimental = SimpleNamespace(enable_op_determinism=enable_op_determinism)


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
