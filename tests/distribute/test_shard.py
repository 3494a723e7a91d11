"""Dataset.shard as tf.data's: element i goes to shard i % num_shards (reference: the indices)."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.errors import InvalidArgumentError


@pytest.mark.parametrize("size, num_shards", [(10, 3), (9, 3), (2, 3), (0, 2), (7, 1)])
def test_every_element_in_exactly_one_shard(size, num_shards):
    data = gc.data.Dataset.range(size)
    for index in range(num_shards):
        shard = data.shard(num_shards, index)
        expected = [i for i in range(size) if i % num_shards == index]
        assert [int(v) for v in shard.as_numpy_iterator()] == expected
        assert shard.cardinality() == len(expected)


def test_shard_keeps_infinite_and_unknown_cardinality():
    assert gc.data.Dataset.range(5).repeat().shard(2, 1).cardinality() == gc.data.INFINITE_CARDINALITY
    unknown = gc.data.Dataset.range(5).filter(lambda v: v > 1)
    assert unknown.shard(2, 0).cardinality() == gc.data.UNKNOWN_CARDINALITY
    assert [int(v) for v in unknown.shard(2, 0).as_numpy_iterator()] == [2, 4]


def test_shard_then_batch_gives_each_worker_its_batches():
    x = np.arange(12, dtype=np.float32)
    batches = list(gc.data.Dataset.from_tensor_slices(x).shard(2, 1).batch(4).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate(batches), x[1::2])


@pytest.mark.parametrize("num_shards, index, message", [
    (0, 0, "num_shards"), (2, 2, "index must be in"), (2, -1, "index"), (2.5, 0, "num_shards"),
])
def test_bad_arguments(num_shards, index, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gc.data.Dataset.range(4).shard(num_shards, index)
