"""gc.data.Dataset: sources, transformations and iteration, against plain Python lists."""
import numpy as np
import pytest

import graphc as gc
from graphc.data import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10)


def values(ds):
    """The elements as nested Python lists (via as_numpy_iterator)."""
    def plain(e):
        if isinstance(e, dict):
            return {k: plain(v) for k, v in e.items()}
        if isinstance(e, tuple):
            return tuple(plain(v) for v in e)
        return e.tolist()

    return [plain(e) for e in ds.as_numpy_iterator()]


# name, dataset, expected elements, expected cardinality
PIPELINES = [
    ("slices", Dataset.from_tensor_slices((X, Y)).take(2), [([0.0, 1.0], 0), ([2.0, 3.0], 1)], 2),
    ("dict_slices", Dataset.from_tensor_slices({"a": Y[:2], "b": X[:2]}), [{"a": 0, "b": [0.0, 1.0]}, {"a": 1, "b": [2.0, 3.0]}], 2),
    ("list_is_one_tensor", Dataset.from_tensor_slices([[1, 2], [3, 4]]), [[1, 2], [3, 4]], 2),
    ("batch", Dataset.range(7).batch(3), [[0, 1, 2], [3, 4, 5], [6]], 3),
    ("batch_drop", Dataset.range(7).batch(3, drop_remainder=True), [[0, 1, 2], [3, 4, 5]], 2),
    ("map_tuple", Dataset.from_tensor_slices((Y[:3], Y[:3])).map(lambda a, b: a * 10 + b), [0, 11, 22], 3),
    ("map_then_batch", Dataset.range(4).map(lambda x: (x, x * x)).batch(2), [([0, 1], [0, 1]), ([2, 3], [4, 9])], 2),
    ("filter", Dataset.range(10).filter(lambda x: x % 3 == 0), [0, 3, 6, 9], UNKNOWN_CARDINALITY),
    ("repeat", Dataset.range(2).repeat(3), [0, 1, 0, 1, 0, 1], 6),
    ("repeat_forever_take", Dataset.range(2).repeat().take(5), [0, 1, 0, 1, 0], 5),
    ("skip", Dataset.range(5).skip(3), [3, 4], 2),
    ("enumerate", Dataset.range(2, 4).enumerate(), [(0, 2), (1, 3)], 2),
    ("zip", Dataset.zip((Dataset.range(3), Dataset.range(10, 20))), [(0, 10), (1, 11), (2, 12)], 3),
    ("unbatch", Dataset.range(5).batch(2).unbatch(), [0, 1, 2, 3, 4], UNKNOWN_CARDINALITY),
    ("from_tensors", Dataset.from_tensors((Y[:2], 3.5)), [([0, 1], 3.5)], 1),
    ("generator", Dataset.from_generator(lambda: ((i, [i] * 2) for i in range(3))), [(0, [0, 0]), (1, [1, 1]), (2, [2, 2])],
     UNKNOWN_CARDINALITY),
    ("prefetch_cache", Dataset.range(3).cache().prefetch(gc.data.AUTOTUNE), [0, 1, 2], 3),
]


@pytest.mark.parametrize("name,ds,expected,cardinality", PIPELINES, ids=[p[0] for p in PIPELINES])
def test_pipelines_give_the_expected_elements_every_time(name, ds, expected, cardinality):
    assert values(ds) == expected
    assert values(ds) == expected  # datasets iterate again from the start
    assert ds.cardinality() == cardinality


def test_iteration_yields_tensors_with_graphc_dtypes():
    x, y = next(iter(Dataset.from_tensor_slices(([1.5, 2.5], [1, 2])).batch(2)))
    assert isinstance(x, gc.Tensor) and x.dtype == gc.float32 and y.dtype == gc.int32
    spec = Dataset.from_tensor_slices((X, Y)).batch(4).element_spec
    assert spec[0] == gc.TensorSpec([4, 2], gc.float32) and spec[1].dtype == gc.int64


def test_shuffle_permutes_reproducibly_and_reshuffles_each_epoch():
    ds = Dataset.range(50).shuffle(50, seed=4)
    first, second = values(ds), values(ds)
    assert sorted(first) == list(range(50)) and first != list(range(50)) and first != second
    assert values(Dataset.range(50).shuffle(50, seed=4)) == first
    fixed = Dataset.range(50).shuffle(50, seed=4, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    local = values(Dataset.range(50).shuffle(3, seed=1))  # the i-th element out is one of the first i + 3 in
    assert sorted(local) == list(range(50)) and all(v <= i + 2 for i, v in enumerate(local))


def test_shuffle_follows_the_global_seed():
    gc.random.set_seed(11)
    a = values(Dataset.range(20).shuffle(20))
    gc.random.set_seed(11)
    assert values(Dataset.range(20).shuffle(20)) == a


def test_from_generator_with_a_signature_converts_and_checks():
    signature = (gc.TensorSpec([2], gc.float32), gc.TensorSpec([], gc.int64))
    ds = Dataset.from_generator(lambda: iter([([1, 2], 0), ([3, 4], 1)]), output_signature=signature)
    x, y = next(iter(ds))
    assert x.dtype == gc.float32 and y.dtype == gc.int64
    bad = Dataset.from_generator(lambda: iter([([1, 2, 3], 0)]), output_signature=signature)
    with pytest.raises(gc.errors.InvalidArgumentError, match="expected f32\\[2\\]"):
        values(bad)


def test_errors_and_lengths():
    with pytest.raises(gc.errors.InvalidArgumentError, match="first dimension"):
        Dataset.from_tensor_slices((X, Y[:3]))
    assert len(Dataset.range(4).batch(3)) == 2
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.range(4).repeat())
    assert Dataset.range(4).repeat().cardinality() == INFINITE_CARDINALITY
