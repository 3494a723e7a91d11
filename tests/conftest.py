"""Test-wide settings: the compile cache lives in a fresh temporary directory per test run."""
import os
import tempfile


def pytest_configure(config):
    os.environ.setdefault("GRAPHC_CACHE_DIR", tempfile.mkdtemp(prefix="graphc-test-cache-"))
