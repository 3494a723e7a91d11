"""Bad int arguments — axes, sizes, counts, shapes — of every public op, layer, dataset method and fit:
each a precise error (``ArgumentTypeError``, a TypeError, for a wrong type; ``InvalidArgumentError`` or
``ShapeError``, ValueErrors, for a value out of range) naming the op, the argument, what it must be and
what it got, and the caller's line. One table of call sites, one table of bad values."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import errors as E
from graphc.ir.arguments import INT64_MAX, as_shape

F32 = np.float32
X = np.arange(6, dtype=F32).reshape(2, 3)
IMAGES = np.ones((1, 4, 4, 2), F32)
FILTERS = np.ones((2, 2, 2, 3), F32)

# kind -> (bad value, error class, text the message shows)
BAD = {
    "float": (2.5, E.ArgumentTypeError, "must be an int, got 2.5 (float)"),
    "integral-float": (2.0, E.ArgumentTypeError, "must be an int, got 2.0 (float)"),
    "numpy-float": (np.float32(1.0), E.ArgumentTypeError, "(float32)"),
    "bool": (True, E.ArgumentTypeError, "got True (bool)"),
    "numpy-bool": (np.True_, E.ArgumentTypeError, "got np.True_"),
    "string": ("3", E.ArgumentTypeError, "got '3' (str)"),
    "none": (None, E.ArgumentTypeError, "got None"),
    "negative": (-5, E.InvalidArgumentError, "got -5 (int)"),
    "huge": (2**64, E.InvalidArgumentError, "must be at most 2**63 - 1, got 18446744073709551616 (int)"),
    "enormous": (10**5000, E.InvalidArgumentError, "got about 10**5000 (int)"),
}
OUT_OF_RANGE = ("negative", "huge", "enormous")  # for an axis: a ShapeError naming the rank


def _model():
    model = gc.Sequential([gc.Input(shape=(3,)), gc.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


MODEL = _model()
XS, YS = np.ones((10, 3), F32), np.ones((10, 1), F32)
DS = gc.data.Dataset.range(6)

# site, argument as the message names it, call with the bad value, kinds the argument accepts
AXES = [
    *[(name, "axis", lambda v, f=getattr(gc, name): f(X, axis=v), {"none"}) for name in (
        "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_variance", "reduce_std",
        "reduce_logsumexp", "norm")],
    ("argmax", "axis", lambda v: gc.argmax(X, axis=v), set()),
    ("argmin", "axis", lambda v: gc.argmin(X, axis=v), set()),
    ("softmax", "axis", lambda v: gc.nn.softmax(X, axis=v), set()),
    ("log_softmax", "axis", lambda v: gc.nn.log_softmax(X, axis=v), set()),
    ("concat", "axis", lambda v: gc.concat([X, X], axis=v), set()),
    ("stack", "axis", lambda v: gc.stack([X, X], axis=v), set()),
    ("unstack", "axis", lambda v: gc.unstack(X, axis=v), set()),
    ("expand_dims", "axis", lambda v: gc.expand_dims(X, v), set()),
    ("squeeze", "axis", lambda v: gc.squeeze(X[:1], v), {"none"}),
    ("gather", "axis", lambda v: gc.gather(X, [0], axis=v), {"none"}),  # None: batch_dims, as tf.gather
    ("one_hot", "axis", lambda v: gc.one_hot([0, 1], 3, axis=v), set()),
    ("split", "axis", lambda v: gc.split(X, 1, axis=v), set()),
]
AXIS_LISTS = [  # the bad value as the second entry of a list of axes
    ("reduce_sum", "axis[1]", lambda v: gc.reduce_sum(X, axis=[0, v])),
    ("reduce_mean", "axis[1]", lambda v: gc.reduce_mean(X, axis=[0, v])),
    ("expand_dims", "axis[1]", lambda v: gc.expand_dims(X, [0, v])),
    ("squeeze", "axis[1]", lambda v: gc.squeeze(X[:1, :1], [0, v])),
    ("transpose", "perm[1]", lambda v: gc.transpose(X, [0, v])),
]
SHAPES = [  # called with a whole shape; the element cases put the bad value second: [2, bad]
    ("zeros", "shape", lambda s: gc.zeros(s), set()),
    ("ones", "shape", lambda s: gc.ones(s), set()),
    ("fill", "shape", lambda s: gc.fill(s, 1.0), set()),
    ("constant", "shape", lambda s: gc.constant(1.0, shape=s), set()),
    ("reshape", "shape", lambda s: gc.reshape(X, s), set()),
    ("broadcast_to", "shape", lambda s: gc.broadcast_to(X[0], s), set()),
    ("random_uniform", "shape", lambda s: gc.random.uniform(s), set()),
    ("random_uniform", "shape", lambda s: gc.random.stateless_uniform(s, seed=[1, 2]), set()),
    ("random_normal", "shape", lambda s: gc.random.normal(s), set()),
    ("TensorSpec", "shape", lambda s: gc.TensorSpec(s), {"none"}),
    ("InputLayer", "shape", lambda s: gc.Input(shape=s), {"none"}),
    ("Dense", "input_shape", lambda s: gc.layers.Dense(2, input_shape=s), {"none"}),
    ("Reshape", "target_shape", lambda s: gc.layers.Reshape(s), set()),
]
INFERRED = {"reshape", "Reshape"}  # shapes that may hold one -1
SIZES = [
    ("eye", "num_rows", lambda v: gc.eye(v), set()),
    ("eye", "num_columns", lambda v: gc.eye(2, v), {"none"}),
    ("one_hot", "depth", lambda v: gc.one_hot([0, 1], v), set()),
    ("split", "num_or_size_splits", lambda v: gc.split(X, v, axis=1), set()),
    ("split", "num_or_size_splits[1]", lambda v: gc.split(X, [1, v], axis=1), set()),
    ("conv2d", "strides", lambda v: gc.nn.conv2d(IMAGES, FILTERS, strides=v), set()),
    ("max_pool2d", "pool_size", lambda v: gc.nn.max_pool2d(IMAGES, v), set()),
    ("avg_pool2d", "strides[0]", lambda v: gc.nn.avg_pool2d(IMAGES, 2, strides=(v, 1)), {"none"}),
    ("Dense", "units", lambda v: gc.layers.Dense(v), set()),
    ("Dense", "input_dim", lambda v: gc.layers.Dense(2, input_dim=v), {"none"}),
    ("Conv2D", "filters", lambda v: gc.layers.Conv2D(v, 2), set()),
    ("Conv2D", "kernel_size", lambda v: gc.layers.Conv2D(2, v), set()),
    ("Conv2D", "strides[1]", lambda v: gc.layers.Conv2D(2, 2, strides=(1, v)), set()),
    ("MaxPool2D", "pool_size", lambda v: gc.layers.MaxPool2D(v), set()),
    ("BatchNormalization", "axis", lambda v: gc.layers.BatchNormalization(axis=v), {"negative"}),
    ("InputLayer", "batch_size", lambda v: gc.Input(shape=(3,), batch_size=v), {"none"}),
    ("Dataset.batch", "batch_size", lambda v: DS.batch(v), set()),
    ("Dataset.take", "count", lambda v: DS.take(v), set()),
    ("Dataset.skip", "count", lambda v: DS.skip(v), set()),
    ("Dataset.repeat", "count", lambda v: DS.repeat(v), {"none", "negative"}),
    ("Dataset.shuffle", "buffer_size", lambda v: DS.shuffle(v), set()),
    ("Dataset.prefetch", "buffer_size", lambda v: DS.prefetch(v), set()),
    ("Dataset.enumerate", "start", lambda v: DS.enumerate(v), {"negative"}),
    ("Dataset.range", "stop", lambda v: gc.data.Dataset.range(v), {"negative"}),
    ("Dataset.range", "step", lambda v: gc.data.Dataset.range(0, 4, v), {"negative"}),
    ("fit", "batch_size", lambda v: MODEL.fit(XS, YS, batch_size=v, verbose=0), {"none"}),
    ("fit", "epochs", lambda v: MODEL.fit(XS, YS, epochs=v, verbose=0), set()),
    ("fit", "initial_epoch", lambda v: MODEL.fit(XS, YS, initial_epoch=v, verbose=0), set()),
    ("fit", "steps_per_epoch", lambda v: MODEL.fit(XS, YS, steps_per_epoch=v, verbose=0), {"none"}),
    ("fit", "validation_freq", lambda v: MODEL.fit(XS, YS, validation_freq=v, verbose=0), set()),
    ("fit", "validation_batch_size",
     lambda v: MODEL.fit(XS, YS, validation_data=(XS, YS), validation_batch_size=v, verbose=0), {"none"}),
    ("fit", "verbose", lambda v: MODEL.fit(XS, YS, verbose=v), set()),
    ("evaluate", "batch_size", lambda v: MODEL.evaluate(XS, YS, batch_size=v, verbose=0), {"none"}),
    ("evaluate", "steps", lambda v: MODEL.evaluate(XS, YS, steps=v, verbose=0), {"none"}),
    ("predict", "batch_size", lambda v: MODEL.predict(XS, batch_size=v, verbose=0), {"none"}),
]
IR_OPS = {name for name, *_ in AXES + AXIS_LISTS + SHAPES + SIZES if name[0].islower() and "." not in name} - {
    "fit", "evaluate", "predict"}


def _cases(sites, kinds_for=lambda site: BAD):
    cases = []
    for site, argument, call, *accepted in sites:
        for kind in kinds_for(site):
            if kind not in (accepted[0] if accepted else set()):
                cases.append(pytest.param(site, argument, call, kind, id=f"{site}-{argument}-{kind}"))
    return cases


def _expected(site: str, argument: str, kind: str, axis: bool = False, none_allowed: bool = False):
    value, error_class, shown = BAD[kind]
    if axis and kind in OUT_OF_RANGE:
        return value, E.ShapeError, f"{argument} must be in [-"
    if kind == "negative" and (site in INFERRED or argument == "num_or_size_splits[1]"):
        return value, error_class, f"{argument} must be an int >= -1, got -5"
    if none_allowed:
        shown = shown.replace("must be an int,", "must be an int or None,")
    return value, error_class, f"{argument} {shown}" if shown.startswith("must") else shown


def _check(call, value, site: str, argument: str, error_class, shown: str) -> None:
    weights = MODEL.get_weights()
    with pytest.raises(E.GraphcError) as info:
        call(value)
    error = info.value
    assert type(error) is error_class, f"{type(error).__name__}: {error}"
    assert isinstance(error, TypeError if error_class is E.ArgumentTypeError else ValueError)
    message = str(error)
    assert message.startswith(f"{site}:") or message.startswith(f"{site}/"), message
    assert f"{argument} " in message and shown in message, message
    assert "\n" not in error.message and len(error.message) < 300
    assert error.location is not None and error.location.startswith(__file__), error.location
    assert all(np.array_equal(a, b) for a, b in zip(weights, MODEL.get_weights())), "fit changed the model"


def _traced(call):
    """``call`` made inside a traced function (arguments are checked while tracing)."""
    return lambda value: gc.function(lambda: call(value), backend="numpy")()


# -- axes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("site,argument,call,kind", _cases(AXES) + _cases([(*s, set()) for s in AXIS_LISTS]))
def test_bad_axes_name_the_op_and_the_axis(site, argument, call, kind):
    value, error_class, shown = _expected(site, argument, kind, axis=True)
    _check(call, value, site, argument, error_class, shown)
    _check(_traced(call), value, site, argument, error_class, shown)


@pytest.mark.parametrize("call", [lambda: gc.reduce_sum(X, axis=[0, 0]), lambda: gc.reduce_sum(X, axis=[1, -1]),
                                  lambda: gc.transpose(X, [0, 0])], ids=["same", "same-from-the-end", "perm"])
def test_an_axis_named_twice_is_a_shape_error(call):
    with pytest.raises(E.ShapeError):
        call()


def test_a_scalar_has_no_axes():
    with pytest.raises(E.ShapeError, match="reduce_sum: a scalar has no axes, got axis 0"):
        gc.reduce_sum(gc.constant(1.0), axis=0)


# -- shapes and sizes ------------------------------------------------------------------------------
@pytest.mark.parametrize("site,argument,call,kind", _cases(SHAPES))
def test_bad_shape_entries_name_the_op_and_the_entry(site, argument, call, kind):
    accepted = next(s[3] for s in SHAPES if s[0] == site and s[1] == argument)
    value, error_class, shown = _expected(site, f"{argument}[1]", kind, none_allowed="none" in accepted)
    call_with_entry = lambda v: call([2, v])  # noqa: E731
    _check(call_with_entry, value, site, f"{argument}[1]", error_class, shown)
    if site in IR_OPS:
        _check(_traced(call_with_entry), value, site, f"{argument}[1]", error_class, shown)


@pytest.mark.parametrize("whole,error_class,shown", [
    ("abc", E.ArgumentTypeError, "list or tuple of ints, got 'abc' (str)"),
    ({2: 3}, E.ArgumentTypeError, "list or tuple of ints, got {2: 3} (dict)"),
    (np.ones((2, 2), np.int64), E.ArgumentTypeError, "list or tuple of ints, got array([[1, 1], [1, 1]]) (ndarray)"),
    ([2**62, 4], E.ShapeError, "has more than 2**63 - 1 elements"),
], ids=["string", "dict", "2-d-array", "too-many-elements"])
@pytest.mark.parametrize("site,argument,call,accepted", SHAPES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SHAPES)])
def test_bad_whole_shapes_name_the_op_and_the_shape(site, argument, call, accepted, whole, error_class, shown):
    _check(call, whole, site, argument, error_class, shown)


@pytest.mark.parametrize("site,argument,call,kind", _cases(SIZES))
def test_bad_sizes_and_counts_name_the_op_and_the_argument(site, argument, call, kind):
    value, error_class, shown = _expected(site, argument, kind)
    if site == "fit" and argument == "verbose" and kind == "huge":
        shown = "must be at most 2, got"
    _check(call, value, site, argument, error_class, shown)
    if site in IR_OPS:
        _check(_traced(call), value, site, argument, error_class, shown)


def test_ints_of_every_kind_are_accepted():
    for three in (3, np.int64(3), np.int32(3), np.uint8(3), gc.constant(3)):
        assert gc.zeros([2, three]).shape == (2, 3)
        assert gc.reduce_sum(X, axis=three - 2).shape == (2,)
        assert gc.layers.Dense(three).units == 3
        assert gc.TensorSpec([None, three]).shape == (None, 3)
        assert len(list(DS.batch(three))) == 2
    assert gc.reshape(X, np.array([3, -1])).shape == (3, 2)


ANYTHING = st.one_of(
    st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=5),
    st.integers(-3, 3).map(np.int64), st.floats(-3, 3).map(np.float32), st.just(np.True_),
)


@settings(max_examples=400, deadline=None)
@given(shape=st.one_of(ANYTHING, st.lists(ANYTHING, max_size=4), st.tuples(ANYTHING, ANYTHING)))
def test_a_shape_is_sizes_that_fit_int64_or_an_argument_error(shape):
    """Whatever the value: a tuple of ints from 0 with an element count that fits int64, or a GraphcError."""
    try:
        dims = as_shape(shape, one_int=True)
    except (E.ArgumentTypeError, E.InvalidArgumentError) as error:
        assert "\n" not in str(error) and str(error).startswith("shape")
        return
    assert all(type(d) is int and 0 <= d <= INT64_MAX for d in dims)
    assert np.prod([float(d) for d in dims]) <= 2.0**63


# -- one_hot indices, fit data ----------------------------------------------------------------------
@pytest.mark.parametrize("indices,got", [
    (np.array([0.0, 1.0], F32), "float32"), ([0.0, 1.5], "Python floats"), (1.0, "Python floats"),
    (np.array([True, False]), "bool"), (gc.constant([0.5]), "float32"),
], ids=["float32", "float-list", "python-float", "bool", "tensor"])
def test_one_hot_needs_integer_indices(indices, got):
    with pytest.raises(E.DTypeError, match=f"one_hot: indices must be integers, got {got}"):
        gc.one_hot(indices, 3)


@pytest.mark.parametrize("arguments,message", [
    ({"y": YS[:8]}, "x has 10 examples but y has 8"),
    ({"sample_weight": np.ones(7, F32)}, "x has 10 examples but sample_weight has 7"),
    ({"y": YS[:9], "validation_split": 0.2}, "x has 10 examples but y has 9"),
    ({"validation_data": (XS, YS[:3])}, "x has 10 examples but y has 3"),
    ({"x": {"a": XS, "b": XS[:4]}}, "the parts of x disagree on the number of examples: [4, 10]"),
    ({"x": np.float32(1.0)}, "x needs a first axis of examples, got a scalar"),
], ids=["y", "sample_weight", "validation_split", "validation_data", "x-parts", "scalar-x"])
def test_fit_data_of_different_lengths_is_an_error_before_training(arguments, message):
    weights = MODEL.get_weights()
    with pytest.raises(E.InvalidArgumentError) as info:
        MODEL.fit(**({"x": XS, "y": YS, "verbose": 0} | arguments))
    assert str(info.value).startswith(f"fit: {message}")
    assert all(np.array_equal(a, b) for a, b in zip(weights, MODEL.get_weights()))


# -- dataset counts: -1 and negative repeats as tf.data ------------------------------------------------
def _elements(ds) -> list:
    return [int(e) for e in ds.as_numpy_iterator()]


@pytest.mark.parametrize("count", [None, -1, -2, np.int64(-7), -(2**70)])
def test_repeat_with_no_or_a_negative_count_repeats_forever(count):
    ds = DS.take(2).repeat(count)
    assert ds.cardinality() == gc.data.INFINITE_CARDINALITY
    assert _elements(ds.take(7)) == [0, 1, 0, 1, 0, 1, 0]


def test_take_and_skip_minus_one_mean_all():
    assert _elements(DS.take(-1)) == list(range(6))
    assert _elements(DS.skip(-1)) == [] and DS.skip(-1).cardinality() == 0
    assert _elements(DS.take(2**63 - 1)) == list(range(6)) and _elements(DS.skip(2**63 - 1)) == []


EMPTY_SOURCES = {
    "empty-slices": lambda: gc.data.Dataset.from_tensor_slices(np.zeros((0, 3), F32)),
    "empty-range": lambda: gc.data.Dataset.range(0),
    "filtered-out": lambda: DS.filter(lambda v: v > 100),
    "empty-generator": lambda: gc.data.Dataset.from_generator(lambda: iter(())),
    "skipped": lambda: DS.skip(10),
}


@pytest.mark.parametrize("count", [None, -1, 10**18])
@pytest.mark.parametrize("source", EMPTY_SOURCES, ids=list(EMPTY_SOURCES))
def test_repeating_an_empty_dataset_ends(source, count):
    """As tf.data: a pass that yields nothing ends the repeat, instead of spinning forever."""
    ds = EMPTY_SOURCES[source]().repeat(count)
    assert _elements(ds.take(5)) == []
    assert _elements(ds.batch(2)) == []


# -- arguments of the function transformations and loops ---------------------------------------------
BAD_ARGNUMS = [
    (0.5, E.ArgumentTypeError, "argnums must be an int, got 0.5 (float)"),
    (True, E.ArgumentTypeError, "argnums must be an int, got True (bool)"),
    ("0", E.ArgumentTypeError, "argnums must be an int, got '0' (str)"),
    (None, E.ArgumentTypeError, "argnums must be an int, got None"),
]


@pytest.mark.parametrize("bad,error_class,shown", BAD_ARGNUMS, ids=["float", "bool", "string", "none"])
@pytest.mark.parametrize("site", ["gc.value_and_grad", "gc.hessian"])
def test_bad_argnums_are_refused_where_the_transformation_is_made(site, bad, error_class, shown):
    make = {"gc.value_and_grad": lambda a: gc.value_and_grad(gc.reduce_sum, a),
            "gc.hessian": lambda a: gc.hessian(gc.reduce_sum, a)}[site]
    with pytest.raises(error_class) as info:
        make(bad)  # the line the error names
    assert str(info.value).startswith(f"{site}: {shown}"), str(info.value)
    assert f"{__file__}:" in str(info.value)


def test_bad_argnums_in_a_list_name_their_position_and_grad_refuses_them_too():
    with pytest.raises(E.ArgumentTypeError, match=r"argnums\[1\] must be an int, got 1.5"):
        gc.grad(lambda x, y: gc.reduce_sum(x * y), [0, 1.5])
    with pytest.raises(E.InvalidArgumentError, match="out of range"):
        gc.grad(gc.reduce_sum, 3)(X)


@pytest.mark.parametrize("bad,error_class,shown", [
    (2.5, E.ArgumentTypeError, "must be an int, got 2.5 (float)"),
    (True, E.ArgumentTypeError, "must be an int, got True (bool)"),
    ("3", E.ArgumentTypeError, "must be an int, got '3' (str)"),
    (-1, E.InvalidArgumentError, "must be an int >= 0, got -1"),
], ids=["float", "bool", "string", "negative"])
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_while_loop_maximum_iterations_must_be_a_count(traced, bad, error_class, shown):
    def loop(x):
        return gc.while_loop(lambda v: v < 10.0, lambda v: v + 1.0, x, maximum_iterations=bad)

    with pytest.raises(error_class) as info:
        (gc.function(loop) if traced else loop)(gc.constant(0.0))
    assert str(info.value).startswith(f"gc.while_loop: maximum_iterations {shown}"), str(info.value)


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_while_loop_maximum_iterations_bounds_the_loop(traced):
    def loop(x):
        return gc.while_loop(lambda v: v < 10.0, lambda v: v + 1.0, x, maximum_iterations=np.int64(3))

    assert float((gc.function(loop) if traced else loop)(gc.constant(0.0))) == 3.0
