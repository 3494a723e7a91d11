"""Test-wide settings: the compile cache lives in a fresh temporary directory per test run; the `tf`
fixture gives TensorFlow to the tests that compare with Keras (skipped without it)."""
import os
import tempfile

import pytest


def pytest_configure(config):
    os.environ.setdefault("GRAPHC_CACHE_DIR", tempfile.mkdtemp(prefix="graphc-test-cache-"))


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, for the tests that compare graphc with Keras itself; they are skipped where it
    is not installed (``pip install -e '.[bench]'`` adds it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[bench]')")
