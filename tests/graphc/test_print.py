"""gc.print: TensorFlow's tf.print text (the expected strings were printed by tf.print 2.21 with the
same arguments), eagerly and on every call of a compiled function on both backends, in order with
variable assignments; output streams; bad arguments."""
from __future__ import annotations

import io
import logging
import sys
import threading
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.compiler import BackendFallbackWarning
from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError

BACKENDS = ["llvm", "numpy"]

# name -> (arguments, keyword arguments) built with graphc, and what tf.print printed for them
CASES = {
    "int_vector": (lambda: [gc.constant([1, 2, 3])], {}, "[1 2 3]\n"),
    "int_matrix": (lambda: [gc.constant([[1, 2], [3, 4]])], {}, "[[1 2]\n [3 4]]\n"),
    "float_vector": (lambda: [gc.constant([0.5, 1.25, -3.0])], {}, "[0.5 1.25 -3]\n"),
    "float_scalar": (lambda: [gc.constant(1.5)], {}, "1.5\n"),
    "float32_third": (lambda: [gc.constant(1 / 3, gc.float32)], {}, "0.333333343\n"),
    "float64_third": (lambda: [gc.constant(1 / 3, gc.float64)], {}, "0.33333333333333331\n"),
    "float_small_large": (lambda: [gc.constant([1e-8, 1e10, 123456789.0, 0.1])], {}, "[1e-08 1e+10 123456792 0.1]\n"),
    "float_special": (lambda: [gc.constant([np.nan, np.inf, -np.inf, -0.0])], {}, "[nan inf -inf -0]\n"),
    "float64_values": (lambda: [gc.constant([0.1, 2.5, 1e20, 1e-5], gc.float64)], {}, "[0.1 2.5 1e+20 1e-05]\n"),
    "whole_floats": (lambda: [gc.constant([1.0, 2.0, 100.0])], {}, "[1 2 100]\n"),
    "elided_vector": (lambda: [gc.range(10)], {}, "[0 1 2 ... 7 8 9]\n"),
    "elided_matrix": (lambda: [gc.reshape(gc.range(100), [10, 10])], {},
                      "[[0 1 2 ... 7 8 9]\n [10 11 12 ... 17 18 19]\n [20 21 22 ... 27 28 29]\n ...\n"
                      " [70 71 72 ... 77 78 79]\n [80 81 82 ... 87 88 89]\n [90 91 92 ... 97 98 99]]\n"),
    "elided_3d": (lambda: [gc.reshape(gc.range(5 * 6 * 7), [5, 6, 7])], {},
                  "[[[0 1 2 ... 4 5 6]\n  [7 8 9 ... 11 12 13]\n  [14 15 16 ... 18 19 20]\n  [21 22 23 ... 25 26 27]\n"
                  "  [28 29 30 ... 32 33 34]\n  [35 36 37 ... 39 40 41]]\n\n [[42 43 44 ... 46 47 48]\n"
                  "  [49 50 51 ... 53 54 55]\n  [56 57 58 ... 60 61 62]\n  [63 64 65 ... 67 68 69]\n"
                  "  [70 71 72 ... 74 75 76]\n  [77 78 79 ... 81 82 83]]\n\n [[84 85 86 ... 88 89 90]\n"
                  "  [91 92 93 ... 95 96 97]\n  [98 99 100 ... 102 103 104]\n  [105 106 107 ... 109 110 111]\n"
                  "  [112 113 114 ... 116 117 118]\n  [119 120 121 ... 123 124 125]]\n\n"
                  " [[126 127 128 ... 130 131 132]\n  [133 134 135 ... 137 138 139]\n  [140 141 142 ... 144 145 146]\n"
                  "  [147 148 149 ... 151 152 153]\n  [154 155 156 ... 158 159 160]\n  [161 162 163 ... 165 166 167]]\n\n"
                  " [[168 169 170 ... 172 173 174]\n  [175 176 177 ... 179 180 181]\n  [182 183 184 ... 186 187 188]\n"
                  "  [189 190 191 ... 193 194 195]\n  [196 197 198 ... 200 201 202]\n  [203 204 205 ... 207 208 209]]]\n"),
    "summarize_2": (lambda: [gc.range(10)], {"summarize": 2}, "[0 1 ... 8 9]\n"),
    "summarize_all": (lambda: [gc.range(10)], {"summarize": -1}, "[0 1 2 3 4 5 6 7 8 9]\n"),
    "summarize_exact": (lambda: [gc.range(6)], {}, "[0 1 2 3 4 5]\n"),
    "summarize_7": (lambda: [gc.range(7)], {}, "[0 1 2 ... 4 5 6]\n"),
    "matrix_3x4": (lambda: [gc.reshape(gc.range(12), [3, 4])], {}, "[[0 1 2 3]\n [4 5 6 7]\n [8 9 10 11]]\n"),
    "3d_small": (lambda: [gc.reshape(gc.range(8), [2, 2, 2])], {}, "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]\n"),
    "strings_and_tensors": (lambda: ["x =", gc.constant([1, 2]), "done"], {}, "x = [1 2] done\n"),
    "sep_end": (lambda: ["a", gc.constant(1), "b"], {"sep": ", ", "end": "!\n"}, "a, 1, b!\n"),
    "bools": (lambda: [gc.constant([True, False])], {}, "[1 0]\n"),
    "empty": (lambda: [gc.zeros([0])], {}, "[]\n"),
    "empty_2d": (lambda: [gc.zeros([2, 0])], {}, "[\n ...]\n"),
    "python_numbers": (lambda: [1, 2.5, True, None], {}, "1 2.5 True None\n"),
    "nested_list": (lambda: [[gc.constant(1), gc.constant([2, 3])]], {}, "[1, [2 3]]\n"),
    "nested_dict": (lambda: [{"b": gc.constant([1, 2]), "a": 2.5}], {}, "{'a': 2.5, 'b': [1 2]}\n"),
    "tuple": (lambda: [(1, gc.constant(2.0))], {}, "(1, 2)\n"),
    "int64": (lambda: [gc.constant([2**40, -7], gc.int64)], {}, "[1099511627776 -7]\n"),
    "column": (lambda: [gc.constant([[1.5], [2.5]])], {}, "[[1.5]\n [2.5]]\n"),
    "neg_matrix": (lambda: [gc.constant([[-1, 20], [300, -4000]])], {}, "[[-1 20]\n [300 -4000]]\n"),
    "float_matrix": (lambda: [gc.constant([[0.1, -2.25], [3.0, 1e-3]])], {}, "[[0.1 -2.25]\n [3 0.001]]\n"),
    "no_args": (lambda: [], {}, "\n"),
    "multiline_string": (lambda: ["line1\nline2"], {}, "line1\nline2\n"),
}


@pytest.fixture(autouse=True)
def no_fallback():
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)
        yield


def printed(tmp_path, run) -> str:
    """What ``run(output_stream)`` prints to a file."""
    path = tmp_path / "printed.txt"
    run(f"file://{path}")
    return path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_text_is_tf_prints(name, tmp_path):
    make, kwargs, expected = CASES[name]
    assert printed(tmp_path, lambda stream: gc.print(*make(), output_stream=stream, **kwargs)) == expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["elided_3d", "float_special", "nested_dict", "sep_end", "float64_third", "empty_2d"])
def test_compiled_text_is_tf_prints(name, backend, tmp_path):
    make, kwargs, expected = CASES[name]
    path = tmp_path / "printed.txt"
    f = gc.function(lambda: gc.print(*make(), output_stream=f"file://{path}", **kwargs), backend=backend)
    f()
    f()
    assert path.read_text() == expected * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_prints_on_every_call_in_order_with_assignments(backend, capsys):
    v = gc.Variable([1.0, 2.0])

    @gc.function(backend=backend)
    def step(x):
        gc.print("before:", v, output_stream=sys.stdout)
        v.assign(v * x)
        gc.print("after:", v, output_stream=sys.stdout)
        return v.read_value()

    step(gc.constant(2.0))
    step(gc.constant(3.0))
    assert capsys.readouterr().out == (
        "before: [1 2]\nafter: [2 4]\n"
        "before: [2 4]\nafter: [6 12]\n"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_prints_traced_inputs_with_their_run_time_sizes(backend, capsys):
    f = gc.function(lambda x: gc.print("x:", x, summarize=2), backend=backend,
                    input_signature=[gc.TensorSpec([None], gc.int64)])
    f(np.arange(3))
    f(np.arange(6))
    assert capsys.readouterr().err == "x: [0 1 2]\nx: [0 1 ... 4 5]\n"


def test_tf_print_in_a_function_reference(tmp_path):
    """tf.function printed 'in graph [1.5 2]' for this."""
    path = tmp_path / "out.txt"
    gc.function(lambda x: gc.print("in graph", x, output_stream=f"file://{path}"))(gc.constant([1.5, 2.0]))
    assert path.read_text() == "in graph [1.5 2]\n"


def test_streams(capsys, tmp_path, caplog):
    gc.print("to stdout", gc.constant(1), output_stream=sys.stdout)
    gc.print("to stderr", gc.constant(2))
    captured = capsys.readouterr()
    assert captured.out == "to stdout 1\n" and captured.err == "to stderr 2\n"
    buffer = io.StringIO()
    gc.print("x", gc.constant([1, 2]), output_stream=buffer, end="")
    assert buffer.getvalue() == "x [1 2]"
    logger = logging.getLogger("graphc-test-print")
    with caplog.at_level(logging.INFO, logger="graphc-test-print"):
        gc.print("logged", gc.constant(3.5), output_stream=logger)
        gc.function(lambda: gc.print("in graph", gc.constant(4), output_stream=logger))()
    assert [r.getMessage() for r in caplog.records] == ["logged 3.5", "in graph 4"]
    path = tmp_path / "log.txt"
    gc.print("one", output_stream=f"file://{path}")
    gc.print("two", output_stream=f"file://{path}")
    assert path.read_text() == "one\ntwo\n"  # appended, as TensorFlow does


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_print_whole_lines(backend):
    buffer = io.StringIO()
    f = gc.function(lambda x: gc.print("value", x, output_stream=buffer), backend=backend)
    f(gc.constant(0))
    threads = [threading.Thread(target=lambda k=k: [f(gc.constant(k)) for _ in range(50)]) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = buffer.getvalue().splitlines()
    assert sorted(lines) == ["value 0"] + ["value 1"] * 50 + ["value 2"] * 50


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="summarize must be an int >= -1 or None"):
        gc.print(gc.constant(1), summarize=-2)
    with pytest.raises(InvalidArgumentError, match="summarize must be an int"):
        gc.print(gc.constant(1), summarize=1.5)
    buffer = io.StringIO()
    gc.print(gc.range(10), summarize=None, output_stream=buffer)  # None: TensorFlow's default, 3
    assert buffer.getvalue() == "[0 1 2 ... 7 8 9]\n"
    with pytest.raises(ArgumentTypeError, match="sep must be a string"):
        gc.print(gc.constant(1), sep=1)
    with pytest.raises(InvalidArgumentError, match="output_stream must be sys.stdout, sys.stderr or 'file://PATH'"):
        gc.print(gc.constant(1), output_stream="stdout.txt")
    with pytest.raises(ArgumentTypeError, match="output_stream must be"):
        gc.print(gc.constant(1), output_stream=3)


def test_format_tensor_matches_numpy_for_every_shape_when_nothing_is_elided():
    """With summarize=-1, tf.print's layout is NumPy's (without NumPy's column padding)."""
    rng = np.random.default_rng(0)
    for shape in [(), (1,), (4,), (2, 3), (3, 1, 2), (2, 2, 2, 2)]:
        a = rng.integers(-50, 50, shape)
        expected = np.array2string(a, formatter={"int": str}, threshold=a.size + 1, max_line_width=10**6)
        assert gc.printing.format_tensor(a, -1) == expected
