"""Control flow on tensors: gc.cond, gc.while_loop, gc.range, and Python if/while/for converted by
autograph — eagerly, in graphs run by the interpreter and by native code, and differentiated."""
import inspect
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.autograph import AutoGraphWarning
from graphc.errors import DTypeError, InvalidArgumentError, OperatorNotAllowedInGraphError
from graphc.test_util import check_grads

F32, F64 = np.float32, np.float64
BACKENDS = ("numpy", "llvm")
pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")  # native, not interpreted


def line_of(fn, text: str) -> int:
    """The source line of ``fn`` holding ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def ops_of(graph) -> set[str]:
    """Every op of ``graph`` and of the graphs its nodes hold."""
    found = set()
    for node in graph.nodes:
        found.add(node.op)
        for region in (a for a in node.attrs.values() if isinstance(a, gc.ir.Graph)):
            found |= ops_of(region)
    return found


# -- the seed example: dc/da == c/a ---------------------------------------------------------------------
def seed(a):
    b = a * 2
    while gc.norm(b) < 1000:
        b = b * 2
    if gc.reduce_sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


def seed_with_gradient(a):
    with gc.GradientTape() as tape:
        tape.watch(a)
        c = seed(a)
    return c, tape.gradient(c, a)


@pytest.mark.parametrize("mode", ["eager", "numpy", "llvm"])
@pytest.mark.parametrize("a", [[1.0, 2.0, 3.0], [-1.0, -2.0, -1.5], [300.0, -1.0, 2.0]])
def test_seed_example_gradient_is_c_over_a(mode, a):
    run = seed_with_gradient if mode == "eager" else gc.function(seed_with_gradient, backend=mode)
    a = np.array(a, F32)
    c, dc = run(gc.constant(a))
    np.testing.assert_allclose(dc.numpy(), c.numpy() / a, rtol=1e-6)


def test_seed_example_builds_one_loop_and_one_cond():
    graph = gc.function(seed).get_concrete_function(np.ones(3, F32)).graph
    ops = [n.op for n in graph.nodes]
    assert ops.count("while_loop") == 1 and ops.count("cond") == 1


# -- converted Python control flow against plain Python -----------------------------------------
def if_elif_else(x):
    s = gc.reduce_sum(x)
    if s > 10:
        y = x * 2
    elif s > 0:
        y = x + 1
    else:
        y = -x
    return y


def nested_loops(x, n):
    total = gc.zeros_like(x)
    i = 0
    while i < n:
        j = 0
        while j < i:
            if gc.reduce_sum(total) > 50:
                total = total - x
            else:
                total = total + x * j
            j += 1
        i += 1
    return total, i


def for_tensor_range(x, n):
    acc = x
    for i in gc.range(n):
        acc = acc * 0.5 + gc.cast(i, acc.dtype)
    return acc


def break_and_continue(x, n):
    total = 0.0
    for i in range(n):
        if x[i] < 0:
            continue
        if total > 4:
            break
        total += x[i]
    return total


def tensor_break_and_continue(x, n):
    total = gc.zeros((), x.dtype)
    count = 0
    for i in gc.range(n):
        if gc.gather(x, i) < 0:
            continue
        if total > 4:
            break
        total += gc.gather(x, i)
        count += 1
    return total, count


def early_return(x):
    for i in gc.range(gc.cast(gc.reduce_sum(gc.abs(x)), gc.int32)):
        if gc.reduce_max(x) > 20:
            return x
        x = x * 2
    if gc.reduce_sum(x) < 0:
        return -x
    return x + 1


def zero_iterations(x, n):
    while n > 0 and x[0] < 1000:
        x = x * 3
        n = n - 1
    for _ in gc.range(n, 0):
        x = x + 1
    return x


def python_conditions(x, flag, repeats):
    if flag:
        x = x * 2
    for _ in range(repeats):
        x = x + 1
    return x


def conditional_expression(x):
    return x * 2 if gc.reduce_sum(x) > 0 and not gc.reduce_max(x) > 5 else -x


def loop_over_rows(x):
    total = gc.zeros(x.shape[1:], x.dtype)
    for row in x:
        if gc.reduce_sum(row) > 0:
            total += row
    return total


def python_range_of_a_tensor(x, n):
    for i in range(n):
        x = x + gc.cast(i, x.dtype)
    return x


CONVERTED = [
    ("if_elif_else", if_elif_else, [[[[1.0, 2.0], [3.0, 4.0]]], [[[1.0, 2.0], [3.0, 9.0]]], [[[-1.0, 0.0], [0.0, 0.0]]]]),
    ("nested_loops", nested_loops, [[[1.0, 2.0], np.int32(5)], [[3.0, -1.0], np.int32(0)], [[0.5, 0.5], np.int32(9)]]),
    ("for_tensor_range", for_tensor_range, [[[4.0, 8.0], np.int32(3)], [[4.0, 8.0], np.int32(0)]]),
    ("break_and_continue", break_and_continue, [[[1.0, -2.0, 3.0, 4.0], 4], [[5.0, 1.0], 2]]),
    ("tensor_break_and_continue", tensor_break_and_continue, [[[1.0, -2.0, 3.0, 4.0], np.int32(4)],
     [[-1.0, -2.0], np.int32(2)], [[1.0, 1.0, 1.0], np.int32(0)]]),
    ("early_return", early_return, [[[1.0, 2.0]], [[30.0, 2.0]], [[-1.0, -3.0]], [[0.0, 0.0]]]),
    ("zero_iterations", zero_iterations, [[[2.0, 3.0], np.int32(0)], [[2.0, 3.0], np.int32(2)], [[2000.0, 3.0], np.int32(4)]]),
    ("python_conditions", python_conditions, [[[1.0, 2.0], True, 3], [[1.0, 2.0], False, 0]]),
    ("conditional_expression", conditional_expression, [[[1.0, 2.0]], [[1.0, 9.0]], [[-1.0, 0.5]]]),
    ("loop_over_rows", loop_over_rows, [[[[1.0, 2.0], [-3.0, 1.0], [0.5, 0.5]]]]),
    ("python_range_of_a_tensor", python_range_of_a_tensor, [[[1.0], np.int32(4)], [[1.0], np.int32(-2)]]),
]


def _arguments(raw):
    return [np.asarray(a, F32) if isinstance(a, list) else a for a in raw]


def _numpy(results):
    results = results if isinstance(results, (list, tuple)) else [results]
    return [np.asarray(r.numpy() if isinstance(r, gc.Tensor) else r) for r in results]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, fn, calls", CONVERTED, ids=[c[0] for c in CONVERTED])
def test_converted_control_flow_matches_python(backend, name, fn, calls):
    compiled = gc.function(fn, backend=backend)
    for raw in calls:
        expected = _numpy(fn(*[gc.constant(a) if isinstance(a, np.ndarray) else a for a in _arguments(raw)]))
        got = _numpy(compiled(*_arguments(raw)))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-6, err_msg=f"{name}{raw}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_iterating_over_a_tensor_of_unknown_length(backend):
    f = gc.function(loop_over_rows, input_signature=[gc.TensorSpec([None, 2])], backend=backend)
    for rows in ([[1.0, 2.0], [-3.0, 1.0], [0.5, 0.5]], np.zeros((0, 2))):
        x = np.asarray(rows, F32).reshape(-1, 2)
        np.testing.assert_allclose(f(x).numpy(), loop_over_rows(gc.constant(x)).numpy())
    assert "while_loop" in ops_of(f.get_concrete_function().graph)


def test_tensor_conditions_become_region_ops_and_python_ones_stay_python():
    table = [
        (if_elif_else, [np.ones((2, 2), F32)], {"cond"}, {"while_loop"}),
        (nested_loops, [np.ones(2, F32), np.int32(3)], {"while_loop", "cond"}, set()),
        (break_and_continue, [np.ones(4, F32), 4], {"cond"}, {"while_loop"}),
        (python_conditions, [np.ones(2, F32), True, 3], set(), {"cond", "while_loop"}),
        (for_tensor_range, [np.ones(2, F32), np.int32(2)], {"while_loop"}, {"cond"}),
    ]
    for fn, args, present, absent in table:
        ops = ops_of(gc.function(fn).get_concrete_function(*args).graph)
        assert present <= ops and not (absent & ops), (fn.__name__, ops)


def test_python_branch_is_chosen_while_tracing():
    calls = []

    def f(x, flag):
        if flag:
            calls.append("true")
            return x + 1
        calls.append("false")
        return x - 1

    compiled = gc.function(f, backend="numpy")
    assert float(compiled(np.float32(1), True)) == 2 and float(compiled(np.float32(1), True)) == 2
    assert float(compiled(np.float32(1), False)) == 0
    assert calls == ["true", "false"]  # traced once per Python value, no cond node


def test_autograph_false_leaves_python_control_flow_alone():
    with pytest.raises(OperatorNotAllowedInGraphError):
        gc.function(if_elif_else, autograph=False)(np.ones((2, 2), F32))


def test_nested_gc_function_and_helpers_are_converted():
    @gc.function
    def inner(x):
        if gc.reduce_sum(x) > 0:
            return x
        return -x

    def helper(x):
        while gc.reduce_sum(x) < 10:
            x = x + 1
        return x

    @gc.function(backend="numpy")
    def outer(x):
        return helper(inner(x))

    np.testing.assert_allclose(outer(np.array([-1.0, -2.0], F32)).numpy(), [5.0, 6.0])


def test_methods_are_converted():
    class Clipper:
        def __init__(self, limit):
            self.limit = limit

        @gc.function(backend="numpy")
        def __call__(self, x):
            while gc.reduce_max(x) > self.limit:
                x = x / 2
            return x

    np.testing.assert_allclose(Clipper(3.0)(np.array([8.0, 1.0], F32)).numpy(), [2.0, 0.25])


class _Base:
    def scale(self, x):
        return x * 2


class _Model(_Base):
    @gc.function(backend="numpy")
    def __call__(self, x):
        class Local:
            def go(self, y):
                if y:
                    return 1.0
                return 2.0

        def helper(v):
            if gc.reduce_sum(v) > 0:
                return v
            return -v

        total = 0.0
        for i in range(3):
            total += Local().go(i)
        return super().scale(helper(x)) + total


_counter = 0


@gc.function(backend="numpy")
def _uses_a_global(x):
    global _counter
    if gc.reduce_sum(x) > 0:
        _counter += 1  # a Python side effect: runs once, while the branch is traced
        x = x + 1
    return x


def test_super_nested_functions_local_classes_and_globals():
    model = _Model()
    np.testing.assert_allclose(model(np.array([-1.0, 2.0], F32)).numpy(), [2.0, 8.0])
    np.testing.assert_allclose(model(np.array([-3.0, 2.0], F32)).numpy(), [10.0, 0.0])
    np.testing.assert_allclose(_uses_a_global(np.ones(2, F32)).numpy(), [2.0, 2.0])
    np.testing.assert_allclose(_uses_a_global(-np.ones(2, F32)).numpy(), [-1.0, -1.0])
    assert _counter == 1


# -- gc.cond, gc.while_loop, gc.range ---------------------------------------------------------------
def api_cond(x):
    return gc.cond(gc.reduce_sum(x) > 0, lambda: (x * 2, x + 1), lambda: (x, -x))


def api_while(x):
    def body(i, acc):
        return i + 1, acc * 1.5

    return gc.while_loop(lambda i, acc: gc.reduce_sum(acc) < 100, body, [0, x])


def api_maximum_iterations(x, limit):
    return gc.while_loop(lambda v: gc.reduce_sum(v) > -1, lambda v: v + 1, x, maximum_iterations=limit)


API = [
    ("cond", api_cond, [[[1.0, 2.0]], [[-3.0, 1.0]]]),
    ("while", api_while, [[[1.0, 2.0]], [[200.0, 1.0]]]),
    ("maximum_iterations_int", lambda x: api_maximum_iterations(x, 3), [[[1.0]]]),
    ("maximum_iterations_tensor", api_maximum_iterations, [[[1.0], np.int32(4)], [[1.0], np.int32(0)]]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, fn, calls", API, ids=[c[0] for c in API])
def test_api_matches_eager(backend, name, fn, calls):
    compiled = gc.function(fn, backend=backend)
    for raw in calls:
        args = _arguments(raw)
        expected = _numpy(fn(*[gc.constant(a) if isinstance(a, np.ndarray) else a for a in args]))
        for g, e in zip(_numpy(compiled(*args)), expected):
            np.testing.assert_allclose(g, e, rtol=1e-6)


def test_range_with_tensor_bounds():
    assert gc.range(gc.constant(4)).numpy().tolist() == [0, 1, 2, 3]  # eagerly: an ordinary range

    @gc.function(autograph=False)
    def iterate(n):
        return [i for i in gc.range(n)]

    with pytest.raises(OperatorNotAllowedInGraphError, match="autograph"):
        iterate(np.int32(3))


# -- variables inside regions ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_variables_assigned_in_branches_and_loops(backend):
    v = gc.Variable(np.zeros(2, F32))
    count = gc.Variable(0)

    @gc.function(backend=backend)
    def step(x):
        if gc.reduce_sum(x) > 0:
            v.assign_add(x)
        else:
            v.assign(v * 0.5)
        for _ in gc.range(gc.cast(gc.reduce_max(gc.abs(x)), gc.int32)):
            count.assign_add(1)
        return v.read_value() + 0

    np.testing.assert_allclose(step(np.array([1.0, 2.0], F32)).numpy(), [1.0, 2.0])
    np.testing.assert_allclose(step(np.array([-4.0, 2.0], F32)).numpy(), [0.5, 1.0])
    np.testing.assert_allclose(v.numpy(), [0.5, 1.0])
    assert int(count.numpy()) == 2 + 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_training_loop_inside_a_compiled_function(backend):
    w = gc.Variable(np.zeros(2, F32))

    def loss(x, y):
        return gc.reduce_mean(gc.square(gc.matmul(x, gc.reshape(w, [2, 1])) - y))

    @gc.function(backend=backend)
    def train(x, y, steps):
        for _ in gc.range(steps):
            with gc.GradientTape() as tape:
                value = loss(x, y)
            w.assign_sub(0.1 * tape.gradient(value, w))
        return loss(x, y)

    x = np.random.default_rng(0).standard_normal((32, 2)).astype(F32)
    assert float(train(x, x @ np.array([[1.5], [-2.0]], F32), np.int32(100))) < 1e-6
    np.testing.assert_allclose(w.numpy(), [1.5, -2.0], atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_inside_a_loop_leaves_variables_unchanged(backend):
    v = gc.Variable(np.zeros(3, F32))

    @gc.function(backend=backend)
    def step(x, index):
        v.assign(x)
        for _ in gc.range(3):
            x = x + gc.gather(x, index)
        return x

    np.testing.assert_allclose(step(np.ones(3, F32), np.array([0, 1, 2], np.int32)).numpy(), [8.0, 8.0, 8.0])
    with pytest.raises(InvalidArgumentError, match="index out of range|out of bounds"):
        step(np.full(3, 5.0, F32), np.array([0, 7, 2], np.int32))
    np.testing.assert_allclose(v.numpy(), [1.0, 1.0, 1.0])


# -- errors -------------------------------------------------------------------------------------
def one_branch_variable(x):
    if gc.reduce_sum(x) > 0:
        y = x * 2
    return y


def dtype_change(x):
    i = gc.constant(0)
    while gc.reduce_sum(x) < 10:
        x = x + 1
        i = i + 0.5
    return x, i


def shape_change(x):
    while gc.reduce_sum(x) < 10:
        x = gc.concat([x, x], 0)
    return x


def python_value_changes(x):
    mode = "a"
    while gc.reduce_sum(x) < 10:
        x = x + 1
        mode = "b"
    return x, mode


def undefined_before_loop(x):
    while gc.reduce_sum(x) < 10:
        x = x + 1
        last = x
    return last


ERRORS = [
    (one_branch_variable, InvalidArgumentError, "'y' is assigned in the true branch", "if gc.reduce_sum"),
    (dtype_change, DTypeError, "'i' is i32\\[\\] before the while loop", "while gc.reduce_sum"),
    (shape_change, DTypeError, "'x' is f32\\[2\\] before the while loop", "while gc.reduce_sum"),
    (python_value_changes, InvalidArgumentError, "'mode' is the Python value 'a'", "while gc.reduce_sum"),
    (undefined_before_loop, InvalidArgumentError, "'last' is used after the while loop", "while gc.reduce_sum"),
]


@pytest.mark.parametrize("fn, kind, message, line", ERRORS, ids=[e[0].__name__ for e in ERRORS])
def test_conversion_errors_name_the_variable_and_the_line(fn, kind, message, line):
    with pytest.raises(kind, match=message) as info:
        gc.function(fn)(np.ones(2, F32))
    assert info.value.location.endswith(f"test_control_flow.py:{line_of(fn, line)}")


def test_weakly_typed_python_numbers_take_the_loop_dtype():
    @gc.function(backend="numpy")
    def total(x, n):
        s = 0
        for i in gc.range(n):
            s += gc.gather(x, i)
        return s

    result = total(np.array([1.5, 2.0, 4.0], F64), np.int32(3))
    assert result.dtype == gc.float64 and float(result) == 7.5


def test_op_errors_in_converted_code_point_at_the_users_line():
    def bad(x):
        if gc.reduce_sum(x) > 0:
            y = gc.reshape(x, [2, 2])
        else:
            y = x
        return y

    with pytest.raises(InvalidArgumentError) as info:
        gc.function(bad)(np.ones(3, F32))
    assert info.value.location.endswith(f":{line_of(bad, 'gc.reshape')}")


def test_functions_without_source_fall_back_with_a_warning():
    namespace = {"gc": gc}
    exec("def no_source(x, flag):\n    if flag:\n        return x + 1\n    return x - 1\n", namespace)
    with pytest.warns(AutoGraphWarning, match="no_source"):
        compiled = gc.function(namespace["no_source"], backend="numpy")
        assert float(compiled(np.float32(1), True)) == 2.0  # Python conditions still work
    tensor_lambda = eval("lambda x: x if gc.reduce_sum(x) > 0 else -x", namespace)
    with pytest.warns(AutoGraphWarning, match="lambda"):
        with pytest.raises(OperatorNotAllowedInGraphError):
            gc.function(tensor_lambda)(np.ones(2, F32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lambdas with source are converted, even two on a line
        pair = [lambda x: x * 2 if gc.reduce_sum(x) > 0 else -x, lambda x: -x if gc.reduce_sum(x) > 0 else x * 3]
        for fn, expected in zip(pair, [[1.0], [-3.0]]):
            np.testing.assert_allclose(gc.function(fn, backend="numpy")(np.array([-1.0], F32)).numpy(), expected)


# -- gradients ------------------------------------------------------------------------------------
def grad_cond(x):
    return gc.cond(gc.reduce_sum(x) > 0, lambda: gc.sin(x) * x, lambda: gc.exp(x))


def grad_data_dependent_loop(x):
    while gc.reduce_sum(x * x) < 20.0:
        x = x * 1.3 + gc.sin(x)
    return x


def grad_loop_with_captures(x, w):
    i = 0
    y = x
    while i < 3:
        y = gc.tanh(y * w) + x
        i += 1
    return y


def grad_nested(x):
    for _ in gc.range(2):
        if gc.reduce_sum(x) > 0:
            x = x * gc.cos(x)
        else:
            j = gc.constant(0)
            while j < 2:
                x = x * 1.5 - 0.1
                j += 1
    return x


GRADIENTS = [
    ("cond", grad_cond, [[[0.3, 0.8]], [[-0.3, -0.8]]]),
    ("data_dependent_loop", grad_data_dependent_loop, [[[0.9, 1.1]], [[2.0, 3.5]]]),
    ("loop_with_captures", grad_loop_with_captures, [[[0.4, -0.2], [0.7, 1.3]]]),
    ("nested", grad_nested, [[[0.5, 0.7]], [[-0.5, -0.2]]]),
]


@pytest.mark.parametrize("name, fn, points", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradients_against_finite_differences(name, fn, points):
    compiled = gc.function(fn, backend="numpy")
    for point in points:
        check_grads(compiled, [np.asarray(p, F64) for p in point], order=2, rtol=2e-4, atol=1e-6)


def test_gradient_of_a_loop_in_native_code():
    @gc.function(backend="llvm")
    def value_and_gradient(x):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = gc.reduce_sum(grad_data_dependent_loop(x))
        return y, tape.gradient(y, x)

    x = np.array([0.9, 1.1], F64)
    _, g = value_and_gradient(x)
    eps = 1e-6
    numeric = [(float(value_and_gradient(x + eps * e)[0]) - float(value_and_gradient(x - eps * e)[0])) / (2 * eps)
               for e in np.eye(2)]
    np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-5)


def test_a_custom_layers_call_is_converted_too():
    class Flip(gc.layers.Layer):
        def call(self, x):
            if gc.reduce_sum(x) > 0:
                y = x * 2.0
            else:
                y = -x
            return y

    layer = Flip()
    f = gc.function(lambda x: layer(x))
    np.testing.assert_array_equal(f(np.array([1.0, 2.0], np.float32)).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(f(np.array([-1.0, -2.0], np.float32)).numpy(), [1.0, 2.0])
    assert f.trace_count == 1  # one graph with a cond serves both signs


# -- values that stay behind in a loop body or branch ----------------------------------------------------
def _append_in_symbolic_loop(x, n):
    out = []
    for i in gc.range(n):
        out.append(x * gc.cast(i, gc.float32))
    return gc.stack(out)


def _dict_store_in_branch(x):
    found = {}
    if gc.reduce_sum(x) > 0:
        found["positive"] = x * 2.0
    return found["positive"]


class _Box:
    value = None


def _attribute_set_in_loop(x, n):
    box = _Box()
    for _ in gc.range(n):
        box.value = x + 1.0
    return box.value * 1.0


@pytest.mark.parametrize("fn, args", [
    (_append_in_symbolic_loop, (np.ones(3, np.float32), np.int32(4))),
    (_dict_store_in_branch, (np.ones(3, np.float32),)),
    (_attribute_set_in_loop, (np.ones(3, np.float32), np.int32(2))),
])
def test_a_value_left_in_a_loop_or_branch_by_mutation_is_a_clear_error(fn, args):
    with pytest.raises(InvalidArgumentError, match=r"inside a loop or branch on tensors.*gc.TensorArray") as info:
        gc.function(fn)(*args)
    assert f"{__file__}:" in str(info.value)  # the user's line


def test_a_python_list_grows_in_loops_with_bounds_known_when_traced():
    @gc.function
    def collect(x):
        out = []
        for i in gc.range(x.shape[0]):  # a static shape: the loop unrolls
            out.append(x[i] * gc.cast(i, gc.float32))
        for i in range(2):
            out.append(x[0] + float(i))
        return gc.stack(out)

    x = np.arange(1.0, 4.0, dtype=np.float32)
    np.testing.assert_array_equal(collect(x).numpy(), [0.0, 2.0, 6.0, 1.0, 2.0])


def test_a_tensor_array_collects_in_a_loop_over_a_symbolic_range():
    @gc.function
    def collect(x, n):
        out = gc.TensorArray(gc.float32, size=4, element_shape=[3])
        for i in gc.range(n):
            out = out.write(i, x * gc.cast(i, gc.float32))
        return out.stack()

    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(collect(x, np.int32(4)).numpy(), np.arange(4, dtype=np.float32)[:, None] * x)
