"""graphc's optional dependencies (graphviz, matplotlib, tensorboard, onnx, Ray): one error for a
missing one, raised one way. ``import graphc`` needs none of them; a feature imports its package
when first used, inside ``optional_imports``."""
from __future__ import annotations

import contextlib

from graphc.ir.errors import GraphcError


class MissingDependencyError(GraphcError, ImportError):
    """A feature was used whose optional package is not installed; the message says what installs it."""


@contextlib.contextmanager
def optional_imports(purpose: str, install: str, error: type[MissingDependencyError] = MissingDependencyError):
    """Turns an ImportError raised in the block into ``error`` reading "<purpose>, which is not
    installed (<the import's message>): <install>"."""
    try:
        yield
    except ImportError as missing:
        raise error(f"{purpose}, which is not installed ({missing}): {install}") from None
