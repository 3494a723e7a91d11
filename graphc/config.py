"""Global settings, each also readable from the environment at import:

- ``GRAPHC_RUN_EAGERLY=1``: decorated functions run their Python body op by op;
- ``GRAPHC_BACKEND=numpy``: the backend compiled functions run on;
- ``GRAPHC_LOG=trace,...``: print graphc's log messages of those topics to stderr.
"""
from __future__ import annotations

import logging
import os
import sys

_BACKENDS = ("numpy",)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


_settings = {
    "run_eagerly": _env_flag("GRAPHC_RUN_EAGERLY"),
    "backend": os.environ.get("GRAPHC_BACKEND", "numpy"),
}


class _Setting:
    """Applies a setting at once; used in ``with``, restores the previous value on exit."""

    def __init__(self, key: str, value):
        self._key, self._previous = key, _settings[key]
        _settings[key] = value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _settings[self._key] = self._previous


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
    """Selects the default backend of compiled functions (``"numpy"``)."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_BACKENDS)}")
    return _Setting("backend", name)


def get_backend() -> str:
    return _settings["backend"]


def log_topics() -> set[str]:
    return {t.strip() for t in os.environ.get("GRAPHC_LOG", "").split(",") if t.strip()}


def _configure_logging() -> None:
    topics = log_topics()
    for topic in topics:
        logger = logging.getLogger(f"graphc.{topic}")
        logger.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("graphc %(name)s: %(message)s"))
        logger.addHandler(handler)


_configure_logging()
