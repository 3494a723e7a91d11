"""The runtime of converted code: the helpers it calls (as ``ag__``) while tracing. Each checks its
condition: a Python value (or an eager tensor) runs plain Python, a symbolic tensor builds the
``cond`` or ``while_loop`` node through ``graphc.control_flow``."""
from __future__ import annotations

from graphc.ir import dispatch
from graphc.ir import ops as irops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import bool_, int32, weak_type_of

from .. import control_flow, nest
from ..tensor import Tensor
from ..tracing import current_trace
from ..variables import Variable
from .syntax import RETVAL


class Runtime:
    """The helpers converted code calls (as ``ag__``), for one source file; ``convert`` converts the
    user functions it calls."""

    def __init__(self, filename: str, convert):
        self.filename = filename
        self._convert = convert

    def site(self, kind: str, line: int) -> control_flow.Site:
        return control_flow.Site(kind, f"{self.filename}:{line}")

    # -- values
    @staticmethod
    def undefined(name: str) -> control_flow.Undefined:
        return control_flow.Undefined(name)

    @staticmethod
    def ld(value):
        """A variable's value; raises when it has none (Python's own UnboundLocalError)."""
        if isinstance(value, control_flow.Undefined):
            value.fail()
        return value

    @staticmethod
    def retval(value):
        return None if isinstance(value, control_flow.Undefined) else value

    def callee(self, func):
        """The function a call in converted code calls: converted too, when it is user code."""
        return self._convert(func)

    @staticmethod
    def range_(*args):
        return control_flow.python_range(*args)

    # -- expressions
    @staticmethod
    def not_(x):
        x = control_flow.as_condition(x)
        return irops.logical_not(x) if control_flow.is_symbolic(x) else not x

    @staticmethod
    def and_(first, *rest):
        return _short_circuit(first, rest, irops.logical_and, stop_when=False)

    @staticmethod
    def or_(first, *rest):
        return _short_circuit(first, rest, irops.logical_or, stop_when=True)

    def if_exp(self, cond, true_fn, false_fn, line: int):
        cond = control_flow.as_condition(cond)
        if not control_flow.is_symbolic(cond):
            return true_fn() if cond else false_fn()
        (value,) = control_flow.trace_cond(cond, [lambda: [true_fn()], lambda: [false_fn()]], ["the value"],
                                           self.site("the conditional expression", line))
        return value

    # -- statements
    def if_stmt(self, cond, true_fn, false_fn, get_state, set_state, names, line: int):
        cond = control_flow.as_condition(cond)
        if not control_flow.is_symbolic(cond):
            (true_fn if cond else false_fn)()
            return
        start = get_state()

        def branch(fn):
            def run():
                set_state(start)
                fn()
                return get_state()

            return run

        placeholders = [n for n in names if n == RETVAL]
        branches = [branch(true_fn), branch(false_fn)]
        set_state(tuple(control_flow.trace_cond(cond, branches, list(names), self.site("the if", line), placeholders)))

    def while_stmt(self, test, body, get_state, set_state, names, must_carry, line: int):
        while True:
            cond = control_flow.as_condition(test())
            if control_flow.is_symbolic(cond):
                loop = _Loop(self.site("the while loop", line), get_state, set_state, names, must_carry)
                loop.run(lambda hidden: test(), lambda hidden: (body(), [])[1], [], [])
                return
            if not cond:
                return
            body()

    def for_stmt(self, iterable, extra_test, body, get_state, set_state, names, must_carry, line: int):
        site = self.site("the for loop", line)
        if isinstance(iterable, Variable):
            iterable = iterable.read_value()
        if control_flow.is_symbolic(iterable) and iterable.type.shape and not isinstance(iterable.type.shape[0], int):
            tensor = iterable
            iterable = control_flow.SymbolicRange(0, irops.dim_size(tensor, [0], int32), 1, int32)
            item = lambda i: irops.gather(tensor, i, 0)  # noqa: E731
        else:
            item = lambda i: i  # noqa: E731
        if isinstance(iterable, control_flow.SymbolicRange):
            _Loop(site, get_state, set_state, names, must_carry).range(iterable, extra_test, lambda i: body(item(i)))
            return
        for value in iterable:
            if extra_test is not None:
                go = control_flow.as_condition(extra_test())
                if control_flow.is_symbolic(go):  # a break on a tensor: this and later iterations run under a cond
                    self.if_stmt(go, lambda: body(value), lambda: None, get_state, set_state, names, line)
                    continue
                if not go:
                    break
            body(value)


def _short_circuit(first, rest, combine, stop_when: bool):
    """``first and rest...`` (``stop_when`` False) or ``first or rest...`` (True), ``rest`` as
    functions: Python's short circuit while the values are Python values (or eager tensors), then
    ``combine`` (``logical_and``/``logical_or``) from the first symbolic one on."""
    value = first
    for next_value in rest:
        condition = control_flow.as_condition(value)
        if control_flow.is_symbolic(condition):
            value = combine(condition, control_flow.as_condition(_symbolic_or_constant(next_value())))
        elif bool(value) is stop_when:
            return value
        else:
            value = next_value()
    return value


def _symbolic_or_constant(x):
    return x if control_flow.is_symbolic(x) or isinstance(x, (Tensor, Variable)) else irops.constant(x, bool_)


class _Loop:
    """A loop on tensors over the state variables of converted code: the variables without a value yet
    are left out unless used after the loop (an error, but for a return value: zeros stand in)."""

    def __init__(self, site: control_flow.Site, get_state, set_state, names, must_carry):
        self.site, self.get_state, self.set_state = site, get_state, set_state
        self.names, self.must_carry = list(names), set(must_carry)

    def run(self, condition, step, hidden: list, hidden_names: list[str]) -> None:
        """``condition(hidden)`` and ``step(hidden) -> hidden`` (the body) over the state and the
        ``hidden`` loop variables (a counter)."""
        state = list(self.get_state())
        keep = [i for i, (n, v) in enumerate(zip(self.names, state))
                if not isinstance(v, control_flow.Undefined) or n in self.must_carry]
        for i in keep:
            if isinstance(state[i], control_flow.Undefined) and self.names[i] != RETVAL:
                raise self.site.error(
                    InvalidArgumentError,
                    f"{self.names[i]!r} is used after {self.site} (or in its condition) but has no value before it: "
                    "give it a value before the loop",
                )
        if any(isinstance(state[i], control_flow.Undefined) for i in keep):
            state = self._placeholders(state, keep, step, hidden)
        templates = [state[i] for i in keep]
        flat = [*hidden, *(leaf for t in templates for leaf in nest.flatten(t))]
        flat_names = [*hidden_names, *(f"{self.names[i]}{path}" for i in keep for path, _ in nest.flatten_with_paths(state[i]))]
        n_hidden = len(hidden)

        def put(values):
            current = list(state)
            leaves = iter(values[n_hidden:])
            for i, t in zip(keep, templates):
                current[i] = nest.map_structure(lambda _: next(leaves), t)
            self.set_state(tuple(current))

        def cond_fn(*values):
            put(values)
            return condition(list(values[:n_hidden]))

        def body_fn(*values):
            put(values)
            new_hidden = step(list(values[:n_hidden]))
            after = self.get_state()
            leaves = []
            for i, t in zip(keep, templates):
                if nest.structure_key(after[i]) != nest.structure_key(t):
                    raise self.site.error(
                        InvalidArgumentError,
                        f"{self.names[i]!r} changes its nesting in {self.site}: {t!r} before, {after[i]!r} after an iteration",
                    )
                leaves += nest.flatten(after[i])
            return [*new_hidden, *leaves]

        results = self._trace(cond_fn, body_fn, flat, flat_names)
        put(results)

    def _trace(self, cond_fn, body_fn, flat: list, flat_names: list[str]) -> list:
        """Traces the loop; a variable that starts as a Python number and becomes a tensor of another
        dtype (``total = 0`` then ``total += x``) starts as that dtype instead."""
        for attempt in (0, 1):
            try:
                return control_flow.trace_while(cond_fn, body_fn, flat, flat_names, self.site)
            except control_flow.LoopVariableTypeError as error:
                start = flat[error.index]
                if attempt or weak_type_of(start) is None or error.new_type.shape != ():
                    raise
                flat[error.index] = irops.constant(start, error.new_type.dtype)
        raise AssertionError("unreachable")

    def _placeholders(self, state: list, keep: list[int], step, hidden) -> list:
        """The state with zeros for the undefined return value, shaped like what an iteration gives it
        (one iteration traced into a region that is then dropped)."""
        parent = current_trace()
        probe = control_flow.RegionTracer("probe", parent, {})
        with dispatch.handler(probe):
            self.set_state(tuple(state))
            step(list(hidden))
            after = self.get_state()
        self.set_state(tuple(state))
        state = list(state)
        for i in keep:
            if isinstance(state[i], control_flow.Undefined):
                if isinstance(after[i], control_flow.Undefined):
                    raise self.site.error(InvalidArgumentError, f"{self.names[i]!r} has no value before or in {self.site}")
                state[i] = control_flow.zeros_like_value(after[i])
        return state

    def range(self, rng: control_flow.SymbolicRange, extra_test, body) -> None:
        """``for i in rng: body(i)`` (while ``extra_test()``, when given)."""
        delta = rng.delta

        def condition(hidden):
            (i,) = hidden
            if control_flow.is_symbolic(delta):
                go = irops.where(irops.greater(delta, 0), irops.less(i, rng.limit), irops.greater(i, rng.limit))
            else:
                go = irops.less(i, rng.limit) if delta > 0 else irops.greater(i, rng.limit)
            if extra_test is not None:
                go = irops.logical_and(go, control_flow.as_condition(_symbolic_or_constant(extra_test())))
            return go

        def step(hidden):
            (i,) = hidden
            body(i)
            return [irops.add(i, delta)]

        start = rng.start if isinstance(rng.start, Tensor) else irops.constant(rng.start, rng.dtype)
        self.run(condition, step, [start], ["the loop counter"])
