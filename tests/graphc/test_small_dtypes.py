"""uint8, int8, int16, uint16 and float16 end to end: wrap-around integer arithmetic, float16's one
rounding per op, gc.cast's documented rule at the edges, promotion errors, variables, checkpoints,
datasets and a uint8 MNIST-style model trained with ``fit`` — eagerly, on the interpreter and on the
LLVM backend alike.

References are Python integers (modular arithmetic), NumPy's own float16 conversions, or closed forms;
the values TensorFlow 2.21 gives on a CPU for the same inputs are quoted where they are the point.
"""
import math

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

INTS = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16, "uint16": np.uint16}
SMALL = ["float16", *INTS]
MODES = ["eager", "numpy", "llvm"]


def run(fn, *arrays, mode: str):
    """``fn`` on ``arrays``: op by op, or compiled for one backend."""
    if mode == "eager":
        result = fn(*(gc.constant(a) for a in arrays))
    else:
        result = gc.function(fn, backend=mode)(*arrays)
    return [r.numpy() for r in result] if isinstance(result, (list, tuple)) else result.numpy()


def wrapped(values, dtype) -> np.ndarray:
    """Python integers reduced into ``dtype``'s range modulo 2**bits (two's complement)."""
    bits = 8 * np.dtype(dtype).itemsize
    signed = np.dtype(dtype).kind == "i"
    out = [(v % 2**bits) - (2**bits if signed and v % 2**bits >= 2 ** (bits - 1) else 0) for v in values]
    return np.array(out, dtype)


# -- integers wrap around --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", INTS)
def test_add_subtract_multiply_wrap_around_at_the_extremes(name, mode):
    dtype = INTS[name]
    info = np.iinfo(dtype)
    a = np.array([info.max, info.min, info.max, 7, info.max // 2 + 1], dtype)
    b = wrapped([1, -1, int(info.max), 9, 3], dtype)
    got = run(lambda x, y: [x + y, x - y, x * y, -x, gc.square(x)], a, b, mode=mode)
    pa, pb = [int(v) for v in a], [int(v) for v in b]
    want = [wrapped([x + y for x, y in zip(pa, pb)], dtype), wrapped([x - y for x, y in zip(pa, pb)], dtype),
            wrapped([x * y for x, y in zip(pa, pb)], dtype), wrapped([-x for x in pa], dtype),
            wrapped([x * x for x in pa], dtype)]
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", INTS)
def test_floordiv_mod_comparisons_and_extrema_read_unsigned_bits_as_unsigned(name, mode):
    dtype = INTS[name]
    info = np.iinfo(dtype)
    a = wrapped([int(info.max), int(info.min), -7, 7, 0], dtype)
    b = np.array([3, 3, 2, 0, info.max], dtype)
    got = run(lambda x, y: [x // y, x % y, x < y, gc.maximum(x, y), gc.minimum(x, y), gc.abs(x), gc.sign(x),
                            gc.reduce_max(x), gc.reduce_min(x), gc.argmax(x), gc.argmin(x)], a, b, mode=mode)
    pa, pb = [int(v) for v in a], [int(v) for v in b]
    want = [[x // y if y else 0 for x, y in zip(pa, pb)], [x % y if y else 0 for x, y in zip(pa, pb)],
            [x < y for x, y in zip(pa, pb)], [max(x, y) for x, y in zip(pa, pb)], [min(x, y) for x, y in zip(pa, pb)],
            wrapped([abs(x) for x in pa], dtype), [(x > 0) - (x < 0) for x in pa], max(pa), min(pa),
            pa.index(max(pa)), pa.index(min(pa))]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w).astype(g.dtype))
        assert g.tolist() == np.asarray(w).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_uint8_sums_and_products_stay_uint8_and_wrap_as_tensorflows_do(mode):
    x = np.array([[200, 100, 7], [255, 255, 2]], np.uint8)
    total, rows, columns, product = run(
        lambda t: [gc.reduce_sum(t), gc.reduce_sum(t, 1), gc.reduce_sum(t, 0), gc.reduce_prod(t, 1)], x, mode=mode)
    assert total.dtype == rows.dtype == product.dtype == np.uint8
    assert total == sum(x.ravel().tolist()) % 256  # tf.reduce_sum([200, 100] as uint8) is 44
    assert rows.tolist() == [307 % 256, 512 % 256] and columns.tolist() == [455 % 256, 355 % 256, 9]
    assert product.tolist() == [140000 % 256, (255 * 255 * 2) % 256]


@pytest.mark.parametrize("mode", MODES)
def test_integer_powers_of_unsigned_exponents_never_count_as_negative(mode):
    base, exponent = np.array([3, 2, 0], np.uint8), np.array([200, 7, 0], np.uint8)
    got = run(lambda b, e: b ** e, base, exponent, mode=mode)
    assert got.tolist() == [pow(3, 200, 256), 128, 1]


# -- float16: computed in float32, every op's result rounded once ----------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_each_float16_op_rounds_its_result_even_inside_a_fused_kernel(mode):
    a = np.array([1 + 2**-10], np.float16)
    c = np.array([1 + 2**-9], np.float16)
    # a*a = 1 + 2**-9 + 2**-20 rounds to c in float16: unrounded, the difference would be 2**-20
    got = run(lambda x, y: x * x - y, a, c, mode=mode)
    assert got.dtype == np.float16 and got.tolist() == [0.0]  # TensorFlow: [0.]


@pytest.mark.parametrize("mode", MODES)
def test_float16_overflows_to_inf_and_keeps_subnormals(mode):
    big = np.array([65504, 65504, -65504, 2**-24, 3 * 2**-24, 2**-14], np.float16)
    times, halves, plus = run(lambda x: [x * 2.0, x / 2.0, x + 16.0], big, mode=mode)
    assert times.tolist()[:3] == [math.inf, math.inf, -math.inf]
    assert plus.tolist()[0] == math.inf  # 65520 is a tie with 65536: it rounds to even, past the largest float16
    assert halves.tolist()[3:] == [0.0, 2**-23, 2**-15]  # ties to even among the subnormals


@pytest.mark.parametrize("mode", MODES)
def test_float16_sums_accumulate_in_float32(mode):
    ones = np.ones(4096, np.float16)  # a float16 accumulator would stop at 2048
    got = run(lambda x: [gc.reduce_sum(x), gc.reduce_mean(x), gc.cumsum(x)[-1]], ones, mode=mode)
    assert got[0] == 4096 and got[1] == 1  # TensorFlow's reduce_sum gives 4096 too
    assert got[2] == 2048  # a scan rounds each partial result, as NumPy's float16 cumsum does


@pytest.mark.parametrize("mode", MODES)
def test_a_float16_mean_is_the_float32_mean_rounded_once(mode):
    x = np.full(100_000, 3.0, np.float16)  # the sum (300000) and the count exceed float16's range
    got = run(lambda t: [gc.reduce_mean(t), gc.reduce_sum(t)], x, mode=mode)
    assert got[0].dtype == np.float16 and got[0] == 3.0  # TensorFlow's reduce_mean gives 3 too
    assert got[1] == math.inf


@pytest.mark.parametrize("mode", ["numpy", "llvm"])
def test_float16_math_compiled_equals_eager(mode):
    x = np.linspace(-6, 6, 257).astype(np.float16)

    def fn(t):
        return [gc.exp(t), gc.tanh(t), gc.sigmoid(t), gc.sqrt(gc.abs(t)), gc.nn.softmax(t), gc.reshape(t, [1, -1]) @ gc.reshape(t, [-1, 1]) / 64.0,
                gc.cbrt(t), gc.reduce_logsumexp(t)]

    eager = run(fn, x, mode="eager")
    for e, c in zip(eager, run(fn, x, mode=mode)):
        assert c.dtype == e.dtype == np.float16
        np.testing.assert_allclose(c, e, rtol=1e-3, atol=1e-3)  # at most one float16 ulp


# -- casts ------------------------------------------------------------------------------------------
EDGES = np.array([np.nan, np.inf, -np.inf, -0.0, 300.7, -1.0, -129.9, 1e10, 65519.9, 2.5, -2.5], np.float32)
# tf.cast of EDGES on a CPU (TensorFlow 2.21): graphc's rule gives the same
TF_CASTS = {
    "uint8": [0, 0, 0, 0, 44, 255, 127, 0, 239, 2, 254], "int8": [0, 0, 0, 0, 44, -1, 127, 0, -17, 2, -2],
    "int16": [0, 0, 0, 0, 300, -1, -129, 0, -17, 2, -2],
    "uint16": [0, 0, 0, 0, 300, 65535, 65407, 0, 65519, 2, 65534],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", TF_CASTS)
def test_float_to_small_integer_casts_truncate_then_wrap_as_tensorflow_does(name, mode):
    got = run(lambda x: gc.cast(x, name), EDGES, mode=mode)
    assert got.dtype == INTS[name] and got.tolist() == TF_CASTS[name]
    # through float16: 300.7 and -129.9 keep their integer parts, 1e10 is inf, 65519.9 is 65504
    want = TF_CASTS[name][:8] + wrapped([65504], INTS[name]).tolist() + TF_CASTS[name][9:]
    assert run(lambda x: gc.cast(gc.cast(x, gc.float16), name), EDGES, mode=mode).tolist() == want


@pytest.mark.parametrize("mode", MODES)
def test_float64_to_float16_rounds_once(mode):
    # halfway between two float16 values plus 2**-40: rounding through float32 first would give 1.0
    # (TensorFlow's cast does: it gives 1.0 here); the nearest float16 is 1 + 2**-10
    x = np.array([1 + 2**-11 + 2**-40, 1 + 2**-11, 65519.99, 65520.0, 1.5 * 2**-24, -(2.0**-26), 1e300])
    got = run(lambda t: gc.cast(t, gc.float16), x, mode=mode)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    assert got.tolist() == want.tolist() == [1 + 2**-10, 1.0, 65504.0, math.inf, 2**-23, -0.0, math.inf]
    assert np.signbit(got[5])


@pytest.mark.parametrize("mode", MODES)
def test_integer_casts_wrap_or_extend_by_the_sources_signedness(mode):
    u8 = np.array([0, 127, 128, 255], np.uint8)
    i8 = np.array([-128, -1, 0, 127], np.int8)
    got = run(lambda a, b: [gc.cast(a, gc.int8), gc.cast(a, gc.int32), gc.cast(b, gc.uint16), gc.cast(b, gc.int64),
                            gc.cast(a, gc.float16), gc.cast(b, gc.float32), gc.cast(gc.cast(a, gc.int32) * 300, gc.uint8)],
              u8, i8, mode=mode)
    assert got[0].tolist() == [0, 127, -128, -1]
    assert got[1].tolist() == [0, 127, 128, 255]
    assert got[2].tolist() == [65408, 65535, 0, 127]
    assert got[3].tolist() == [-128, -1, 0, 127]
    assert got[4].tolist() == [0.0, 127.0, 128.0, 255.0] and got[5].tolist() == [-128.0, -1.0, 0.0, 127.0]
    assert got[6].tolist() == [v * 300 % 256 for v in (0, 127, 128, 255)]


@pytest.mark.parametrize("mode", MODES)
def test_indices_of_unsigned_dtypes_above_their_signed_range_select_the_right_rows(mode):
    table = np.arange(300 * 2, dtype=np.float32).reshape(300, 2)
    ids = np.array([200, 255, 0, 128], np.uint8)
    got = run(lambda t, i: [gc.gather(t, i), gc.gather_nd(t, gc.expand_dims(i, 1)),
                            gc.math.unsorted_segment_sum(gc.ones([4]), i, 256)], table, ids, mode=mode)
    np.testing.assert_array_equal(got[0], table[[200, 255, 0, 128]])
    np.testing.assert_array_equal(got[1], table[[200, 255, 0, 128]])
    assert np.flatnonzero(got[2]).tolist() == [0, 128, 200, 255]


def test_embedding_takes_uint8_ids():
    layer = gc.layers.Embedding(256, 3)
    ids = np.array([[200, 7]], np.uint8)
    np.testing.assert_array_equal(layer(ids).numpy(), layer.embeddings.numpy()[[200, 7]][None])


# -- promotion ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("other", ["float32", "int32", "int64", "float64", "bool", "int8", "float16"])
def test_a_small_dtype_meets_no_other_dtype_implicitly(name, other):
    if other == name:
        return
    x, y = gc.ones([2], name), gc.ones([2], other)
    for fn in (lambda: x + y, lambda: y * x, lambda: gc.maximum(x, y), lambda: gc.where(x > x, x, y)):
        with pytest.raises(gc.errors.DTypeError, match=f"{name}.*{other}|{other}.*{name}") as info:
            fn()
        assert "gc.cast" in str(info.value)
    with pytest.raises(gc.errors.DTypeError):
        gc.function(lambda a, b: a - b)(np.ones(2, name), np.ones(2, other))


def test_python_scalars_take_the_small_dtype_or_are_refused_out_of_its_range():
    x = gc.constant(np.array([250, 3], np.uint8))
    assert (x + 10).dtype == gc.uint8 and (x + 10).numpy().tolist() == [4, 13]
    assert (x * 0.5).dtype == gc.float32  # a Python float meets integers as float32
    assert (x / 255).dtype == gc.float32  # TensorFlow: uint8 / 255 is float32 too
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of the range of uint8"):
        x + 256
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of the range of uint8"):
        x - (-1)
    h = gc.constant(np.array([1.5], np.float16))
    assert (h * 3).dtype == gc.float16 and (2.0 - h).numpy().tolist() == [0.5]


@pytest.mark.parametrize("name", SMALL)
def test_numpy_arrays_and_dtype_names_enter_as_the_small_dtype(name):
    a = np.arange(4).astype(name)
    assert gc.zeros([4], name).numpy().dtype == np.dtype(name)
    for t in (gc.constant(a), gc.convert_to_tensor(a), gc.constant([0, 1, 2, 3], dtype=name),
              gc.cast(gc.range(4), name)):
        assert t.dtype == gc.ir.as_dtype(name) and t.numpy().dtype == np.dtype(name)
        np.testing.assert_array_equal(t.numpy(), a)
    assert gc.half is gc.float16 and repr(gc.ir.as_dtype(name)) == f"gc.{name}"


@pytest.mark.filterwarnings("ignore::graphc.RetracingWarning")
def test_one_trace_per_small_dtype():
    f = gc.function(lambda a: a + 1)
    results = [f(np.array([255]).astype(name)) for name in ("uint8", "int8", "uint16", "int16", "float16")]
    assert [r.dtype.name for r in results] == ["uint8", "int8", "uint16", "int16", "float16"]
    assert [r.numpy().tolist() for r in results] == [[0], [0], [256], [256], [256.0]]  # int8: 255 is -1
    assert f.trace_count == 5
    f(np.array([7], np.uint8))
    assert f.trace_count == 5


# -- variables, gradients, checkpoints, datasets -----------------------------------------------------------
@pytest.mark.parametrize("compiled", [False, True])
def test_uint8_variables_wrap_on_assign_add_as_tensorflow_variables_do(compiled):
    v = gc.Variable(np.array([250, 5], np.uint8))
    step = gc.function(lambda: v.assign_add(gc.constant(np.array([10, 10], np.uint8)))) if compiled else (
        lambda: v.assign_add(np.array([10, 10], np.uint8)))
    step()
    assert v.dtype == gc.uint8 and v.numpy().tolist() == [4, 15]
    with pytest.raises(gc.errors.DTypeError, match="float64 to variable .* u8.*another kind of number"):
        v.assign(np.array([1.5, 2.0]))


@pytest.mark.parametrize("compiled", [False, True])
def test_gradients_of_float16_variables_are_float16(compiled):
    w = gc.Variable(np.array([0.5, -2.0, 3.0], np.float16))

    def grad():
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(w * w * 3.0)
        return tape.gradient(loss, w)

    g = (gc.function(grad) if compiled else grad)()
    assert g.dtype == gc.float16 and g.numpy().tolist() == [3.0, -12.0, 18.0]


def test_a_float16_layer_initializes_computes_and_trains_in_float16():
    layer = gc.layers.Dense(3, dtype="float16")
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)  # float inputs take the layer's dtype
    y = layer(x)
    assert layer.kernel.dtype == layer.bias.dtype == y.dtype == gc.float16
    np.testing.assert_allclose(y.numpy(), x.astype(np.float16) @ layer.kernel.numpy(), rtol=2e-3, atol=2e-3)
    before = layer.kernel.numpy()
    with gc.GradientTape() as tape:
        loss = gc.reduce_sum(layer(x))
    gc.optimizers.Adam(0.01).apply_gradients(zip(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables))
    assert layer.kernel.dtype == gc.float16 and not np.array_equal(layer.kernel.numpy(), before)
    assert gc.random.normal([2], np.float32(1.0), 2.0, dtype=gc.float16, seed=2).dtype == gc.float16


def test_checkpoints_keep_every_small_dtype(tmp_path):
    values = {name: np.array([1, 2, 120], name) for name in SMALL}
    values["float16"] = np.array([0.1, -65504, 2**-24], np.float16)
    module = gc.Module()
    module.vars = {name: gc.Variable(v) for name, v in values.items()}
    path = gc.train.Checkpoint(m=module).write(tmp_path / "ckpt")
    fresh = gc.Module()
    fresh.vars = {name: gc.Variable(np.zeros(3, name)) for name in values}
    gc.train.Checkpoint(m=fresh).read(path)
    for name, v in values.items():
        restored = fresh.vars[name].numpy()
        assert restored.dtype == np.dtype(name)
        np.testing.assert_array_equal(restored, v)


def test_datasets_keep_uint8_images_and_labels():
    images = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4) * 10
    labels = np.array([0, 1, 2, 0, 1, 255], np.uint8)
    data = gc.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    (x, y), (x2, y2) = list(data)
    assert x.dtype == y.dtype == gc.uint8 and x.shape == (4, 4)
    np.testing.assert_array_equal(np.concatenate([x.numpy(), x2.numpy()]), images)
    scaled = data.map(lambda a, b: (gc.cast(a, gc.float32) / 255.0, b))
    (first, first_labels), _ = list(scaled)
    assert first.dtype == gc.float32 and first_labels.dtype == gc.uint8
    np.testing.assert_allclose(first.numpy(), images[:4] / np.float32(255), rtol=1e-7)


# -- an MNIST-style model: uint8 pixels and labels, scaled inside the model --------------------------
def _mnist_style_data(n=240, seed=0):
    """Two-class 6x6 uint8 images: a bright row (class 0) or a bright column (class 1), with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 6, 6))
    where = rng.integers(0, 6, n)
    for i, (label, k) in enumerate(zip(labels, where)):
        if label:
            images[i, :, k] += 190
        else:
            images[i, k, :] += 190
    return images.astype(np.uint8), labels


class Scaled(gc.Model):
    """A subclassed model that takes uint8 pixels and scales them itself."""

    def __init__(self):
        super().__init__()
        self.flatten = gc.layers.Flatten()
        self.hidden = gc.layers.Dense(16, activation="relu")
        self.out = gc.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(self.flatten(gc.cast(x, gc.float32) / 255.0)))


def _sequential():
    return gc.Sequential([gc.Input(shape=(6, 6), dtype="uint8"), gc.layers.Lambda(lambda x: x / 255),
                          gc.layers.Flatten(), gc.layers.Dense(16, activation="relu"), gc.layers.Dense(2)])


@pytest.mark.parametrize("make_model", [Scaled, _sequential], ids=["subclassed", "sequential"])
def test_uint8_images_and_labels_train_through_a_dataset_and_fit(make_model):
    images, labels = _mnist_style_data()
    losses = {}
    for eager in (False, True):
        data = gc.data.Dataset.from_tensor_slices((images, labels)).shuffle(240, seed=1).batch(24)
        gc.random.set_seed(0)
        model = make_model()
        model.compile(gc.optimizers.Adam(0.02), gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy", gc.metrics.SparseCategoricalAccuracy(name="sparse")], run_eagerly=eager)
        history = model.fit(data, epochs=6, verbose=0)
        losses[eager] = history.history["loss"]
        result = model.evaluate(images, labels, batch_size=60, verbose=0, return_dict=True)
        assert result["accuracy"] >= 0.95 and result["sparse"] == result["accuracy"]
        assert model.predict(images[:5], verbose=0).dtype == np.float32
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)  # eager and compiled train alike
    assert losses[False][-1] < losses[False][0] / 3


def test_sparse_losses_and_metrics_take_uint8_labels_as_tensorflow_does():
    logits = np.array([[0.0, 2.0], [1.0, 0.0]], np.float32)
    for labels in (np.array([1, 0], np.uint8), np.array([1, 0], np.int16), np.array([1, 0], np.uint16)):
        loss = gc.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        want = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))])  # TensorFlow: 0.22009486
        np.testing.assert_allclose(loss.numpy(), want, rtol=1e-6)
        metric = gc.metrics.SparseCategoricalAccuracy()
        metric.update_state(labels, logits)
        assert metric.result().numpy() == 1.0
