"""Tensors and variables: constants, dtypes, reshape, broadcasting, indexing, and state updated by a
traced function.

    python examples/tensor_basics.py
"""
import re

import numpy as np

import graphc as gc


def show(label, tensor):
    value = re.sub(r"\n\s*", " ", np.array2string(np.asarray(tensor), separator=", "))
    print(f"{label:<28} {tensor.dtype.name:<8} shape={tensor.shape}  {value}")


def constants_and_dtypes():
    print("== constants and dtypes (Python floats are float32, ints int32, as in TensorFlow)")
    show("gc.constant(3.0)", gc.constant(3.0))
    show("gc.constant([1, 2, 3])", gc.constant([1, 2, 3]))
    show("gc.constant(.., gc.int64)", gc.constant([1, 2, 3], gc.int64))
    show("gc.constant([True, False])", gc.constant([True, False]))
    show("float64 NumPy array", gc.constant(np.array([0.5, 1.5])))
    show("gc.cast(int32 -> float64)", gc.cast(gc.constant([1, 2, 3]), gc.float64))
    x = gc.constant([1.0, 2.0, 3.0])
    show("f32 tensor * 2 (weak int)", x * 2)
    show("int32 tensor / 2", gc.constant([1, 2, 3]) / 2)
    show("gc.zeros((2, 2), int32)", gc.zeros((2, 2), gc.int32))
    show("gc.range(5)", gc.range(5))


def reshape_and_broadcast():
    print("\n== reshape and broadcasting")
    m = gc.reshape(gc.range(6, dtype=gc.float32), (2, 3))
    show("m = reshape(range(6), (2,3))", m)
    show("reshape(m, (3, -1))", gc.reshape(m, (3, -1)))
    show("transpose(m)", gc.transpose(m))
    show("m + [10, 20, 30]", m + gc.constant([10.0, 20.0, 30.0]))
    show("m * [[1], [-1]]", m * gc.constant([[1.0], [-1.0]]))
    show("expand_dims(m, 0)", gc.expand_dims(m, 0))
    show("reduce_sum(m, axis=1)", gc.reduce_sum(m, axis=1))
    show("reduce_mean(m)", gc.reduce_mean(m))


def indexing():
    print("\n== indexing: ints, slices, None (new axis) and Ellipsis")
    t = gc.reshape(gc.range(24, dtype=gc.float32), (2, 3, 4))
    print("t = reshape(range(24), (2, 3, 4))")
    show("t[1, 2]", t[1, 2])
    show("t[0, :, 1:3]", t[0, :, 1:3])
    show("t[..., -1]", t[..., -1])
    show("t[:, ::2, ::-1][0]", t[:, ::2, ::-1][0])
    show("t[None, 0, ..., 0]", t[None, 0, ..., 0])
    show("t[0, None, :, None, 0]", t[0, None, :, None, 0])


def variables():
    print("\n== variables: state that persists and can be assigned")
    v = gc.Variable([1.0, 2.0, 3.0], name="v")
    print(v)
    v.assign([10.0, 20.0, 30.0])
    print("after v.assign([10, 20, 30]):   ", v.numpy())
    v.assign_add([1.0, 1.0, 1.0])
    print("after v.assign_add([1, 1, 1]):  ", v.numpy())
    v.assign_sub(v * 0.5)
    print("after v.assign_sub(v * 0.5):    ", v.numpy())
    show("v + 1 (a tensor)", v + 1)


def traced_update():
    print("\n== a traced function that updates variables")
    total = gc.Variable(0.0, name="total")
    steps = gc.Variable(0, name="steps")

    @gc.function
    def accumulate(x):
        total.assign_add(gc.reduce_sum(x))
        steps.assign_add(1)
        return total / gc.cast(steps, gc.float32)

    for batch in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]):
        mean = accumulate(np.array(batch, np.float32))
        print(f"accumulate({batch}) -> running mean of batch sums {mean.numpy():.2f}; "
              f"total={total.numpy():.1f} steps={steps.numpy()}")
    if gc.config.functions_run_eagerly():
        print("ran eagerly (GRAPHC_RUN_EAGERLY), op by op; the variables kept every update")
        return
    print(f"traced {accumulate.trace_count} time(s); the variables kept every update. Its graph:")
    print(accumulate.get_concrete_function(np.zeros(2, np.float32)).graph)


def main():
    constants_and_dtypes()
    reshape_and_broadcast()
    indexing()
    variables()
    traced_update()


if __name__ == "__main__":
    main()
