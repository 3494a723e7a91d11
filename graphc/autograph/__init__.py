"""AutoGraph: Python ``if``, ``while`` and ``for`` on tensors become ``cond`` and ``while_loop`` nodes.

``@gc.function`` traces ``convert(func)`` (unless ``autograph=False``): the function's source,
rewritten with Python's ``ast`` and compiled with the original file name and line numbers, so errors
and node locations point at the user's lines. The rewrite:

1. ``break`` and ``continue`` become flags (``break__1 = True``) with the rest of the loop body
   guarded by ``if not flag``, and the flag added to the loop's condition; a ``return`` inside a
   compound statement becomes ``do_return__ = True; retval__ = value`` the same way.
2. Each ``if``/``while``/``for`` becomes a call of the runtime (``ag__.if_stmt`` ...) with its
   branches or body as nested functions that read and write the enclosing variables
   (``nonlocal``), and ``get_state``/``set_state`` functions over the variables it may change that
   are used later (a liveness analysis). ``and``, ``or``, ``not`` and ``x if c else y`` become
   ``ag__.and_`` ... so they work on tensors too; ``range(...)`` in a ``for`` becomes ``ag__.range_``.

At run time (while tracing) each helper checks its condition: a Python value (or an eager tensor)
runs plain Python, a symbolic tensor builds the node (``graphc.control_flow``). Functions without
source (lambdas, the REPL) are traced as they are, with a one-line warning when they have branches.

The modules, in the order a conversion uses them: ``source`` (finding the ``def``), ``jumps``
(step 1), ``analysis`` (liveness), ``transform`` (step 2; ``syntax`` holds the AST builders they
share), ``conversion`` (compiling the result) and ``runtime`` (the ``ag__`` helpers).
"""
from .conversion import AutoGraphWarning, convert
from .runtime import Runtime
from .transform import transform

__all__ = ["AutoGraphWarning", "Runtime", "convert", "transform"]
