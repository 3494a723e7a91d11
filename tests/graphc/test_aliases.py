"""The names TF users type: gc.*_initializer, gc.regularizers.l1/l2/l1_l2, gc.utils.to_categorical;
and every public callable of graphc's namespaces has a docstring (help(gc.X) shows it)."""
import inspect
import types

import numpy as np
import pytest

import graphc as gc


def test_tensorflow_initializer_aliases_are_the_keras_classes():
    assert gc.zeros_initializer is gc.initializers.Zeros and gc.ones_initializer is gc.initializers.Ones
    assert gc.random_normal_initializer is gc.initializers.RandomNormal
    assert gc.random_uniform_initializer is gc.initializers.RandomUniform
    np.testing.assert_array_equal(gc.constant_initializer(3.0)((2,), gc.float32).numpy(), [3.0, 3.0])
    values = gc.random_normal_initializer(stddev=2.0, seed=1)((1000,), gc.float32).numpy()
    assert 1.8 < values.std() < 2.2


def test_regularizer_functions_are_keras_forms():
    x = gc.constant([1.0, -2.0])
    assert gc.regularizers.l1(0.5)(x).numpy() == pytest.approx(1.5)
    assert gc.regularizers.l2(0.5)(x).numpy() == pytest.approx(2.5)
    assert gc.regularizers.l1_l2()(x).numpy() == pytest.approx(0.01 * 3 + 0.01 * 5)
    dense = gc.layers.Dense(2, kernel_regularizer=gc.regularizers.l2(0.1))
    dense(np.ones((1, 3), np.float32))
    assert len(dense.losses) == 1


def test_to_categorical():
    np.testing.assert_array_equal(gc.utils.to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert gc.utils.to_categorical(np.array([[1], [3]]), num_classes=5).shape == (2, 5)
    assert gc.utils.to_categorical(np.zeros((2, 3), np.int32), 2, dtype="int32").dtype == np.int32
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"labels must be in \[0, 3\), got values from 0 to 3"):
        gc.utils.to_categorical([0, 3], 3)
    with pytest.raises(gc.errors.InvalidArgumentError, match="needs integer labels"):
        gc.utils.to_categorical([0.5])


NAMESPACES = ["", "nn", "math", "linalg", "layers", "losses", "metrics", "optimizers", "random", "config",
              "initializers", "activations", "regularizers", "train", "data", "utils", "callbacks", "errors"]


def _public_callables():
    for namespace in NAMESPACES:
        module = getattr(gc, namespace) if namespace else gc
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name)
            if not name.startswith("_") and callable(obj) and not isinstance(obj, types.ModuleType):
                yield f"gc.{namespace + '.' if namespace else ''}{name}", obj


def test_every_public_callable_has_a_docstring():
    missing = [name for name, obj in _public_callables() if not (inspect.getdoc(obj) or "").strip()]
    assert not missing, f"no docstring (help() shows nothing useful): {missing}"
