"""gc.random: the Philox op against its specification, generators fresh on every compiled call and
reproducible from a seed, distributions, and the stateless API."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy.ops_nn import philox4x32, random_words
from graphc.ir.ops import random as random_ops

# Known-answer vectors of Philox-4x32-10 from Random123 (kat_vectors): counter, key, result.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,expected", PHILOX_KAT)
def test_philox_matches_the_known_answers(counter, key, expected):
    got = philox4x32(tuple(np.uint64(c) for c in counter), key)
    assert tuple(int(w) for w in got) == expected


def test_the_word_stream_follows_the_spec():
    """Block b's counter words are (lo32 b, hi32 b, lo32 counter, hi32 counter) under key (lo32 seed, hi32 seed)."""
    seed, counter = (7 << 32) + 5, (3 << 32) + 9
    words = random_words(np.array([seed, counter], np.int64), 12)
    block2 = philox4x32(tuple(np.uint64(c) for c in (2, 0, 9, 3)), (5, 7))
    assert [int(w) for w in words[8:12]] == [int(w) for w in block2]


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64, gc.float16])
def test_uniform_values_are_the_specified_function_of_the_words(dtype):
    key = np.array([11, 4], np.int64)
    values = random_ops.random_uniform(key, [3, 2], dtype).numpy()
    if dtype == gc.float32:
        words = random_words(key, 6)
        expected = (words >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    elif dtype == gc.float16:  # the top 11 bits: exact in float16, below 1
        words = random_words(key, 6)
        expected = (words >> np.uint64(21)).astype(np.float64) * 2.0 ** -11
    else:
        words = random_words(key, 12).reshape(6, 2)
        expected = ((words[:, 0] >> np.uint64(5)) * 2.0 ** 26 + (words[:, 1] >> np.uint64(6))) * 2.0 ** -53
    assert values.dtype == dtype.numpy and values.shape == (3, 2)
    np.testing.assert_array_equal(values.ravel(), expected.astype(dtype.numpy))


# distribution, draw(generator), expected mean, expected variance, bounds
DISTRIBUTIONS = [
    ("uniform", lambda g: g.uniform([40000]), 0.5, 1 / 12, (0.0, 1.0)),
    ("uniform_range", lambda g: g.uniform([40000], -2.0, 6.0), 2.0, 64 / 12, (-2.0, 6.0)),
    ("uniform_f64", lambda g: g.uniform([40000], dtype=gc.float64), 0.5, 1 / 12, (0.0, 1.0)),
    ("uniform_f16", lambda g: g.uniform([40000], dtype=gc.float16), 0.5, 1 / 12, (0.0, 1.0 - 2.0**-11)),
    ("normal_f16", lambda g: g.normal([40000], dtype=gc.float16), 0.0, 1.0, None),
    ("uniform_int", lambda g: g.uniform([40000], 3, 9, dtype=gc.int32), 5.5, (36 - 1) / 12, (3, 8)),
    ("normal", lambda g: g.normal([40000]), 0.0, 1.0, None),
    ("normal_scaled", lambda g: g.normal([200, 200], mean=3.0, stddev=0.5), 3.0, 0.25, None),
]


@pytest.mark.parametrize("name,draw,mean,variance,bounds", DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_distributions_have_the_right_moments(name, draw, mean, variance, bounds):
    values = draw(gc.random.Generator.from_seed(123)).numpy().astype(np.float64)
    assert abs(values.mean() - mean) < 5 * np.sqrt(variance / values.size)
    assert abs(values.var() / variance - 1) < 0.05
    if bounds is not None:
        assert values.min() >= bounds[0] and values.max() <= bounds[1]
        if name == "uniform_int":
            assert set(np.unique(values)) == set(range(3, 9))


@pytest.mark.parametrize("name,draw", [(d[0], d[1]) for d in DISTRIBUTIONS], ids=[d[0] for d in DISTRIBUTIONS])
def test_a_compiled_generator_draws_fresh_numbers_each_call_and_matches_eager(name, draw):
    def draws(run_eagerly):
        generator = gc.random.Generator.from_seed(5)
        step = gc.function(lambda: draw(generator))
        with gc.config.run_functions_eagerly(run_eagerly):
            return [step().numpy() for _ in range(3)], step.trace_count

    (compiled, traces), (eager, _) = draws(False), draws(True)
    assert traces == 1
    assert not np.array_equal(compiled[0], compiled[1]) and not np.array_equal(compiled[1], compiled[2])
    for c, e in zip(compiled, eager):
        # the same bits; native log/cos/sqrt (Box-Muller) round within a few ulp of NumPy's
        tolerance = 1e-3 if c.dtype == np.float16 else 2e-6  # float16: one ulp
        np.testing.assert_allclose(c, e, rtol=tolerance, atol=tolerance / 20)


def test_generators_are_reproducible_from_a_seed_and_differ_across_seeds():
    a, b, c = (gc.random.Generator.from_seed(s) for s in (1, 1, 2))
    first = [a.normal([4]).numpy() for _ in range(2)]
    np.testing.assert_array_equal(first, [b.normal([4]).numpy() for _ in range(2)])
    assert not np.array_equal(first[0], c.normal([4]).numpy())
    a.reset_from_seed(1)
    np.testing.assert_array_equal(a.normal([4]).numpy(), first[0])
    np.testing.assert_array_equal(a.state.numpy(), [1, 1])


def test_set_seed_makes_global_draws_and_op_seeds_reproducible():
    def run():
        gc.random.set_seed(42)
        return [gc.random.uniform([3]).numpy(), gc.random.normal([2], seed=7).numpy(),
                gc.random.normal([2], seed=7).numpy(), gc.initializers.GlorotUniform()((3, 2)).numpy()]

    first, second = run(), run()
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[1], first[2])  # an op seed gives a sequence, not one value


@pytest.mark.parametrize("fn", [gc.random.stateless_uniform, gc.random.stateless_normal])
def test_stateless_ops_depend_on_the_seed_only(fn):
    np.testing.assert_array_equal(fn([2, 3], seed=[1, 2]).numpy(), fn([2, 3], seed=[1, 2]).numpy())
    assert not np.array_equal(fn([2, 3], seed=[1, 2]).numpy(), fn([2, 3], seed=[1, 3]).numpy())
    compiled = gc.function(lambda seed: fn([2, 3], seed=seed))
    np.testing.assert_array_equal(compiled(np.array([1, 2], np.int64)).numpy(), fn([2, 3], seed=[1, 2]).numpy())


def test_uniform_like_takes_a_shape_known_only_at_run_time():
    generator = gc.random.Generator.from_seed(3)
    masked = gc.function(lambda x: generator.uniform_like(x), input_signature=[gc.TensorSpec([None, 3])])
    assert masked(np.zeros((2, 3), np.float32)).shape == (2, 3)
    assert masked(np.zeros((5, 3), np.float32)).shape == (5, 3)
    assert masked.trace_count == 1


def test_split_and_make_seeds_give_independent_generators():
    parent = gc.random.Generator.from_seed(9)
    seeds = parent.make_seeds(3).numpy()
    assert seeds.shape == (2, 3) and seeds.dtype == np.int64 and len(set(seeds[0])) == 3
    children = parent.split(2)
    assert not np.array_equal(children[0].uniform([4]).numpy(), children[1].uniform([4]).numpy())


# bad call, error type, message fragment
BAD_CALLS = [
    (lambda: random_ops.random_uniform(np.array([1, 2, 3], np.int64), [2]), gc.errors.ShapeError, "int64[2]"),
    (lambda: random_ops.random_uniform(np.array([1, 2], np.int64), [2], gc.int32), gc.errors.DTypeError, "float32 or float64"),
    (lambda: gc.random.Generator.from_seed(1).uniform([2], dtype=gc.int32), gc.errors.InvalidArgumentError, "maxval"),
    (lambda: gc.random.Generator.from_seed(1.5), gc.errors.InvalidArgumentError, "seed must be an int"),
]


@pytest.mark.parametrize("call,error,fragment", BAD_CALLS)
def test_bad_arguments_are_clear_errors(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        call()
