"""gc.Module: variables and sub-modules found through attributes, lists and dicts; name scopes;
compiled methods."""
import numpy as np
import pytest

import graphc as gc


class Dense(gc.Module):
    def __init__(self, n_in, n_out, name=None):
        super().__init__(name)
        self.w = gc.Variable(np.ones((n_in, n_out), np.float32), name="w")
        self.b = gc.Variable(np.zeros(n_out, np.float32), name="b")

    def __call__(self, x):
        return gc.nn.relu(gc.matmul(x, self.w) + self.b)


class MLP(gc.Module):
    def __init__(self):
        super().__init__()
        self.layers = [Dense(3, 4, name="first"), Dense(4, 2, name="second")]
        self.extra = {"scale": gc.Variable(2.0, trainable=False, name="scale")}
        self.shared = self.layers[0].w  # the same variable again: listed once

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x * self.extra["scale"]


def test_variables_and_submodules_are_found_recursively_once_in_attribute_order():
    mlp = MLP()
    first, second = mlp.layers
    assert [v.name for v in mlp.variables] == ["w", "b", "w", "b", "scale"]
    assert mlp.variables[0] is first.w and mlp.variables[2] is second.w
    assert [v.name for v in mlp.trainable_variables] == ["w", "b", "w", "b"]
    assert [v.name for v in mlp.non_trainable_variables] == ["scale"]
    assert mlp.submodules == [first, second]
    assert mlp.name == "mlp" and first.name == "first"


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_bad_names_are_rejected(name):
    with pytest.raises(ValueError, match="module name"):
        gc.Module(name=name)


def test_calls_run_in_the_module_name_scope_and_nest():
    mlp = MLP()
    graph = gc.function(lambda x: mlp(x)).get_concrete_function(np.ones((2, 3), np.float32)).graph
    scopes = {node.op: set() for node in graph.nodes}
    for node in graph.nodes:
        scopes[node.op].add(node.scope)
    assert scopes["matmul"] == {"mlp/first", "mlp/second"}
    assert "mlp" in scopes["multiply"]


def test_with_name_scope_decorates_other_methods():
    class Scaler(gc.Module):
        @gc.Module.with_name_scope
        def scale(self, x):
            return x * 3.0

    scaler = Scaler(name="scaler")
    graph = gc.function(lambda x: scaler.scale(x)).get_concrete_function(np.ones(2, np.float32)).graph
    assert [n.scope for n in graph.nodes if n.op == "multiply"] == ["scaler"]


def test_compiled_methods_have_traces_per_instance_and_see_assignments():
    class Counter(gc.Module):
        def __init__(self):
            super().__init__()
            self.count = gc.Variable(0, name="count")

        @gc.function
        def __call__(self, step):
            self.count.assign_add(step)
            return self.count.read_value()

    a, b = Counter(), Counter()
    assert int(a(np.int32(2))) == 2 and int(a(np.int32(3))) == 5
    assert int(b(np.int32(1))) == 1
    graph = gc.function(lambda step: a(step)).get_concrete_function(np.int32(1)).graph
    assert {n.scope for n in graph.nodes} == {"counter"}


def test_equal_results_eagerly_and_compiled():
    mlp = MLP()
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    compiled = gc.function(lambda x: mlp(x))
    with gc.config.run_functions_eagerly(True):
        eager = compiled(x).numpy()
    np.testing.assert_allclose(compiled(x).numpy(), eager)
    np.testing.assert_allclose(eager, np.maximum(np.maximum(x @ np.ones((3, 4)), 0) @ np.ones((4, 2)), 0) * 2)
