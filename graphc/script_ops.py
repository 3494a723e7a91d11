"""``gc.numpy_function`` and ``gc.py_function``: Python functions that a compiled graph calls on every run.

Inside ``@gc.function`` each becomes one op of the traced graph (``host_call``; ``pure_host_call`` for
``numpy_function(..., stateful=False)``, see ``graphc.ir.ops.host``). Stateful calls run on every call
of the compiled function, in program order with variable assignments and other calls, and are never
removed, even when nothing uses their results; both backends run them (the LLVM backend calls back
into Python from its native code). Outside a traced function they just call the function.

Shapes: a compiled graph needs every result's shape when it is traced. An output declared by a dtype
alone is a scalar; declare any other shape with a ``gc.TensorSpec`` in ``Tout`` (``py_function`` takes
specs in TensorFlow too). A result of another shape or dtype raises an error naming the function and
the line that called it. Eagerly, results take any shape (as in TensorFlow).

Differences from TensorFlow: an exception the function raises reaches the caller as it was raised
(its own type and traceback, a note naming the call's line), in compiled code too, where TensorFlow
wraps it in an ``InvalidArgumentError``; a compiled call that raises publishes none of the variable
assignments it made (graphc commits a call's assignments together when it succeeds); no gradient
flows through either function (``py_function``'s is not recorded); eagerly too, results must have
Tout's dtypes (TensorFlow's eager ``numpy_function`` returns what the function returned).

In ``gc.cond`` branches and loop bodies (``for i in gc.range(n)``, ``gc.while_loop``) a call runs
each time its branch or iteration does; the cond or loop then counts as a stateful call itself
(``Node.calls_host``): it keeps its place among the effects and is never removed.

Runs of a function: once per call; under a gradient tape the backward pass recomputes the forward
values it needs, so a function whose results it needs runs again (one whose results it does not
need, ``gc.print``, does not; in loops, once per recomputed iteration); check mode and check numerics run the graph a second time, on the
interpreter, and so the functions too.
"""
from __future__ import annotations

import contextlib
import functools

from graphc.ir import dispatch
from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError
from graphc.ir.location import user_line
from graphc.ir.ops.host import HostFunction, host_call, raised_as_it_was
from graphc.ir.types import TensorType, as_dtype

from .eager import to_array
from .tensor import Tensor
from .tracing import TensorSpec, current_trace


def numpy_function(func=None, inp=None, Tout=None, stateful=True, name=None):
    """Calls ``func`` on the NumPy values of the tensors ``inp`` and returns its results as tensors of
    the dtypes ``Tout`` (a dtype or ``gc.TensorSpec``, or a list of them; ``[]``: no result, and None is
    returned). In a compiled function it runs on every call; ``stateful=False`` lets graphc remove an
    unused call or merge identical ones. ``@gc.numpy_function(Tout=...)`` decorates a function instead
    (its arguments become ``inp``). See the module docstring for shapes and errors."""
    decorator = _decorator_or_none(numpy_function, "numpy_function", func, inp, Tout, stateful=stateful, name=name)
    return decorator or call_host("numpy_function", func, inp, Tout, stateful, name)


def py_function(func=None, inp=None, Tout=None, name=None):
    """``numpy_function`` whose ``func`` takes eager graphc tensors (and may return tensors): it can run
    graphc ops eagerly. Always stateful. With no result declared, returns an empty list (TensorFlow's)."""
    decorator = _decorator_or_none(py_function, "py_function", func, inp, Tout, name=name)
    return decorator or call_host("py_function", func, inp, Tout, True, name, wrap=Tensor)


def _decorator_or_none(api, kind: str, func, inp, Tout, **kwargs):
    """TensorFlow's checks of the three arguments; with ``func`` None, the decorator ``@api(Tout=...)``."""
    if Tout is None:
        raise ArgumentTypeError(f"{kind}: missing required argument 'Tout' (as a decorator: @gc.{kind}(Tout=...))")
    if func is None:
        if inp is not None:
            raise ArgumentTypeError(f"{kind}: don't set inp when using {kind} as a decorator (func=None)")

        def decorate(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return api(fn, inp=args, Tout=Tout, **kwargs)

            return wrapper

        return decorate
    if inp is None:
        raise ArgumentTypeError(f"{kind}: missing argument inp, the list of the function's arguments "
                                "(unless it decorates a function: func=None)")
    return None


def call_host(kind: str, func, inp, Tout, stateful: bool, name, wrap=None):
    """The host call of ``numpy_function`` (``kind`` names the API for messages): ``func`` called on
    ``inp`` (``wrap`` makes each input array what ``func`` takes); its results (None for no result
    but with ``py_function``, an empty list, as TensorFlow's)."""
    if not callable(func):
        raise ArgumentTypeError(f"{kind}: func must be callable, got {type(func).__name__}")
    if not isinstance(inp, (list, tuple)):
        raise ArgumentTypeError(f"{kind}: inp must be a list of tensors, got {type(inp).__name__}")
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"{kind}: name must be a string or None, got {type(name).__name__}")
    single = not isinstance(Tout, (list, tuple))
    types = [_output_type(kind, t) for t in ([Tout] if single else list(Tout))]
    function = HostFunction(func, types, kind=kind, single=single, wrap=wrap, unwrap=_unwrapped,
                            location=user_line())
    with dispatch.name_scope(name) if name else contextlib.nullcontext():
        if current_trace() is not None:
            results = list(host_call(function, *inp, stateful=stateful))
        else:
            with raised_as_it_was():
                values = function.call(*(to_array(x._as_tensor() if hasattr(x, "_as_tensor") else x) for x in inp))
            results = [Tensor(function.converted(i, r, check_shape=False)) for i, r in enumerate(values)]
    if single:
        return results[0]
    return results if results or kind == "py_function" else None


def _output_type(kind: str, t) -> TensorType:
    if isinstance(t, TensorSpec):
        if any(d is None for d in t.shape):
            raise InvalidArgumentError(
                f"{kind}: Tout's {t} has a dimension of unknown size: a compiled graph needs the shapes of "
                "a host function's results when it is traced; give every size"
            )
        return TensorType(tuple(t.shape), t.dtype)
    try:
        return TensorType((), as_dtype(t))
    except (TypeError, ValueError) as error:
        raise ArgumentTypeError(f"{kind}: Tout must hold dtypes or gc.TensorSpecs, got {t!r} ({error})") from None


def _unwrapped(result):
    """A result as NumPy takes it: an eager tensor's or variable's array."""
    if hasattr(result, "_as_tensor"):
        result = result._as_tensor()
    return result.numpy() if isinstance(result, Tensor) else result

