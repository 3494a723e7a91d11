"""First calls of compiled functions made by many threads at once: tracing, AutoGraph's conversion
(which parses source files) and compiling must not fail or mix up functions."""
import threading

import numpy as np

import graphc as gc


def _make(k):
    def body(x):
        total = x * 0.0
        for i in gc.range(3):  # control flow on tensors: AutoGraph converts (and so parses) this source
            if gc.reduce_sum(x) > -1.0:
                total = total + x * float(k) + gc.cast(i, "float32")
        return total

    return body


def test_threads_making_first_calls_of_many_functions_at_once_all_get_their_results():
    x = np.ones(4, np.float32)
    for round_ in range(3):
        functions = [gc.function(_make(k)) for k in range(8)] + [gc.function(lambda x, k=k: x + float(k)) for k in range(8)]
        start = threading.Barrier(len(functions))
        results, errors = [None] * len(functions), []

        def call(i):
            start.wait()
            try:
                results[i] = functions[i](x).numpy()
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                errors.append(repr(error))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(functions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"round {round_}: {errors}"
        for k in range(8):
            np.testing.assert_array_equal(results[k], x * 3 * k + 3.0)  # 0 + 1 + 2 added over the loop
            np.testing.assert_array_equal(results[8 + k], x + k)
