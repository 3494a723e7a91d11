"""``gc.custom_gradient``: a function whose gradient is given by the user, as ``tf.custom_gradient``.

The decorated function returns ``(results, grad_fn)``. Its results pass through a
``custom_gradient`` op (``ir/ops/custom.py``) whose reverse-mode rule calls ``grad_fn`` with the
results' cotangents: eagerly, in the trace being recorded (a ``GradientTape`` inside
``@gc.function``), or while the gradient function of a compiled call is built, where a tensor of the
traced function that ``grad_fn`` refers to stands for its copy in the gradient graph.
"""
from __future__ import annotations

import functools
import inspect

from graphc.ir import dispatch
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.ops import zeros_like
from graphc.ir.ops.call import traced_origin
from graphc.ir.types import TensorType

from . import nest
from .tensor import Tensor, TensorLike
from .tracing import TraceHandler
from .variables import Variable


def custom_gradient(f):
    """Decorates ``f(*x, **kwargs) -> (y, grad_fn)``; ``grad_fn(*dy)`` returns the gradient of each
    tensor argument in ``x`` (one per argument, None for none), or, when ``f`` reads trainable
    variables, ``grad_fn(*dy, variables=[...])`` returns ``(gradients of x, gradients of the
    variables)``. Gradients through ``f`` come from ``grad_fn`` only; forward mode is an error."""

    @functools.wraps(f)
    def decorated(*args, **kwargs):
        args = nest.map_structure(lambda a: a if isinstance(a, (Variable, Tensor)) or not _tensor_like(a)
                                  else dispatch.current_handler().lift(a), args)
        reads = _FirstReads(dispatch.current_handler())
        with dispatch.observer(reads):
            result, grad_fn = f(*args, **kwargs)
        if not callable(grad_fn):
            raise InvalidArgumentError(f"{f.__name__} must return (results, grad_fn) for gc.custom_gradient, got "
                                       f"{type(grad_fn).__name__} as grad_fn")
        results = [dispatch.current_handler().lift(y) for y in nest.flatten(result)]
        inputs = [a for a in nest.flatten(args) if isinstance(a, Tensor)]
        variables = [var for var, _ in reads.first.values()]
        if variables and not _takes_variables(grad_fn):
            raise TypeError(f"{f.__name__} reads variables {[v.name for v in variables]}, so its grad_fn must take a "
                            "keyword argument 'variables' and return (input gradients, variable gradients)")
        rule = GradientRule(grad_fn, f.__name__, len(results), inputs, variables)
        outputs = dispatch.bind("custom_gradient", *results, *inputs, *[v for _, v in reads.first.values()], rule=rule)
        return nest.pack_as(result, list(outputs))

    return decorated


class GradientRule:
    """``grad_fn`` of one call of a custom-gradient function: ``n_results`` results, then the
    tensor ``inputs`` and the ``variables`` read (as the op's inputs, in that order)."""

    def __init__(self, grad_fn, name: str, n_results: int, inputs: list, variables: list):
        self.grad_fn, self.name, self.n_results = grad_fn, name, n_results
        self.input_types = [x.type for x in inputs]
        self.variables = variables

    def __repr__(self) -> str:
        return f"<gradient of {self.name}>"

    def gradients(self, cts, results, inputs) -> list:
        """The cotangents of ``inputs`` (the function's tensors, then the variables' values)."""
        handler = dispatch.current_handler()
        if type(handler) is dispatch.GraphBuilder:  # building a compiled call's gradient function
            handler = _Translating(handler.graph, traced_origin())
        with dispatch.handler(handler):
            dys = [handler.lift(ct) if ct is not None else handler.lift(zeros_like(y)) for ct, y in zip(cts, results)]
            if self.variables:
                returned = self.grad_fn(*dys, variables=self.variables)
                if not (isinstance(returned, (list, tuple)) and len(returned) == 2):
                    raise InvalidArgumentError(f"the grad_fn of {self.name} takes variables, so it must return (input "
                                               f"gradients, variable gradients), got {type(returned).__name__}")
                grads = _listed(returned[0]) + _listed(returned[1])
            else:
                grads = _listed(self.grad_fn(*dys))
            expected = len(self.input_types) + len(self.variables)
            if len(grads) != expected:
                raise InvalidArgumentError(
                    f"the grad_fn of {self.name} returned {len(grads)} gradients for {len(self.input_types)} tensor "
                    f"inputs and {len(self.variables)} variables")
            wanted = self.input_types + [v.type for v in self.variables]
            grads = [None if g is None else handler.lift(g) for g in grads]
            for i, (g, t) in enumerate(zip(grads, wanted)):
                _check(self.name, i, g, t)
            return [g.ir_value if isinstance(g, Tensor) and type(handler) is _Translating else g for g in grads]


def _check(name: str, i: int, gradient, t: TensorType) -> None:
    if gradient is None:
        return
    got = gradient.type
    if len(got.shape) != len(t.shape) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                             for a, b in zip(got.shape, t.shape)):
        raise ShapeError(f"the grad_fn of {name} returned a gradient of shape {list(got.shape)} for input {i} of "
                         f"shape {list(t.shape)}")


class _Translating(TraceHandler):
    """Traces into a gradient graph; a tensor of the traced function stands for its copy there."""

    def __init__(self, graph, origin: dict):
        super().__init__(graph)
        self.origin = origin

    def to_value(self, x):
        if isinstance(x, Tensor) and x.is_symbolic and x.graph is not self.graph and x.ir_value in self.origin:
            return self.origin[x.ir_value]
        return super().to_value(x)


class _FirstReads:
    """The first value read from each trainable variable by ops bound under ``handler``."""

    def __init__(self, handler):
        self.handler = handler
        self.first: dict[int, tuple] = {}

    def record(self, opdef, inputs, outputs, attrs):
        if opdef.name == "read_variable" and dispatch.current_handler() is self.handler:
            var = attrs["var"]
            if var.trainable and var.dtype.is_floating and id(var) not in self.first:
                self.first[id(var)] = (var, outputs[0])


def _listed(gradients) -> list:
    return list(gradients) if isinstance(gradients, (list, tuple)) else [gradients]


def _tensor_like(a) -> bool:
    return isinstance(a, TensorLike) or hasattr(a, "__array__") or isinstance(a, (int, float))


def _takes_variables(fn) -> bool:
    params = inspect.signature(fn).parameters.values()
    return any(p.name == "variables" or p.kind is p.VAR_KEYWORD for p in params)
