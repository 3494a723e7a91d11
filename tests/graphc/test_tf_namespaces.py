"""``gc.math`` and ``gc.linalg`` mirror TensorFlow 2's ``tf.math`` and ``tf.linalg``: every name they hold
is a callable TensorFlow has under that name, they load on first use, and the top level holds the
new math ops where TensorFlow 2 (or NumPy) has them."""
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

# tf.math and tf.linalg of TensorFlow 2 (2.16), written out: graphc may hold a part of each, nothing else.
TF_MATH = set("""
abs accumulate_n acos acosh add add_n angle approx_max_k approx_min_k argmax argmin asin asinh atan atan2 atanh
bessel_i0 bessel_i0e bessel_i1 bessel_i1e betainc bincount ceil confusion_matrix conj cos cosh count_nonzero cumprod
cumsum cumulative_logsumexp digamma divide divide_no_nan equal erf erfc erfcinv erfinv exp expm1 floor floordiv
floormod greater greater_equal igamma igammac imag in_top_k invert_permutation is_finite is_inf is_nan
is_non_decreasing is_strictly_increasing l2_normalize lbeta less less_equal lgamma log log1p log_sigmoid log_softmax
logical_and logical_not logical_or logical_xor maximum minimum mod multiply multiply_no_nan ndtri negative nextafter
not_equal polygamma polyval pow real reciprocal reciprocal_no_nan reduce_all reduce_any reduce_euclidean_norm
reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_std reduce_sum reduce_variance rint round rsqrt
scalar_mul segment_max segment_mean segment_min segment_prod segment_sum sigmoid sign sin sinh sobol_sample softmax
softplus softsign sqrt square squared_difference subtract tan tanh top_k truediv unsorted_segment_max
unsorted_segment_mean unsorted_segment_min unsorted_segment_prod unsorted_segment_sqrt_n unsorted_segment_sum xdivy
xlog1py xlogy zero_fraction zeta
""".split())
TF_LINALG = set("""
adjoint band_part cholesky cholesky_solve cross det diag diag_part eig eigh eigvals eigvalsh einsum expm eye
global_norm inv l2_normalize logdet logm lstsq lu lu_matrix_inverse lu_reconstruct lu_solve matmul matrix_rank
matrix_transpose matvec norm normalize pinv qr set_diag slogdet solve sqrtm svd tensor_diag tensor_diag_part
tensordot trace triangular_solve tridiagonal_matmul tridiagonal_solve
""".split())
# the new ops TensorFlow 2 also has at its top level (tf.round, tf.atan2, tf.cumsum ...)
TF_TOP_LEVEL = ["round", "floor", "asin", "acos", "atan", "asinh", "acosh", "atanh", "atan2", "cumsum"]
# at graphc's top level as NumPy has them (np.ceil, np.cumprod), though tf.ceil and tf.cumprod are TF 1 only
NUMPY_STYLE = ["ceil", "cumprod"]


def _public(module) -> list[str]:
    return [name for name in dir(module) if not name.startswith("_")]


@pytest.mark.parametrize("namespace,tf_names", [("math", TF_MATH), ("linalg", TF_LINALG)])
def test_every_name_is_a_tensorflow_callable_of_that_namespace(namespace, tf_names):
    module = getattr(gc, namespace)
    names = _public(module)
    assert len(names) >= (60 if namespace == "math" else 4)
    assert not set(names) - tf_names, f"not in tf.{namespace}: {sorted(set(names) - tf_names)}"
    for name in names:
        fn = getattr(module, name)
        assert callable(fn) and fn.__doc__, f"gc.{namespace}.{name}"


def test_namespaces_hold_the_new_ops_and_the_existing_ones():
    for name in ["round", "floor", "ceil", "is_nan", "is_inf", "is_finite", "atan2", "asin", "acos", "atan", "asinh",
                 "acosh", "atanh", "cumsum", "cumprod", "add", "reduce_logsumexp", "argmax", "floormod", "mod",
                 "logical_not", "softplus", "reciprocal", "pow"]:
        assert callable(getattr(gc.math, name)), name
    assert gc.math.floormod is gc.math.mod is gc.mod
    assert gc.math.pow is gc.pow
    assert sorted(_public(gc.linalg)) == ["cholesky", "einsum", "eye", "inv", "matmul", "matrix_transpose", "norm",
                                          "solve", "triangular_solve"]


@pytest.mark.parametrize("name", TF_TOP_LEVEL + NUMPY_STYLE)
def test_new_ops_at_the_top_level_are_the_namespace_ones(name):
    assert getattr(gc, name) is getattr(gc.math, name)


def test_import_graphc_loads_the_namespaces_on_first_use():
    code = ("import sys, graphc as gc; assert 'graphc.math' not in sys.modules and 'graphc.linalg' not in sys.modules;"
            " gc.math.atan2, gc.linalg.norm; assert 'graphc.math' in sys.modules and 'graphc.linalg' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_atan2_takes_y_first_by_keyword_too():
    y, x = np.array([1.0, -1.0]), np.array([-1.0, -1.0])
    np.testing.assert_allclose(gc.math.atan2(x=x, y=y).numpy(), np.arctan2(y, x))


def test_linalg_norm_matrix_norms_are_tensorflows():
    """ord=1 is the largest absolute column sum and inf the largest row sum over the pair of axes."""
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    assert gc.linalg.norm(x, ord=1, axis=[0, 1]).numpy() == 9.0
    assert gc.linalg.norm(x, ord=np.inf, axis=[0, 1]).numpy() == 15.0
    assert gc.linalg.norm(x, ord=1, axis=[1, 0]).numpy() == 15.0     # rows and columns swapped
    np.testing.assert_allclose(gc.linalg.norm(x, axis=[0, 1]).numpy(), np.sqrt(91.0))
