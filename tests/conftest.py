"""Test-wide settings: the compile cache lives in a fresh temporary directory per test run; the `tf`
fixture gives TensorFlow to the tests that compare with Keras (skipped without it); `forks` ends
the scripts that check forked children."""
import os
import tempfile
import textwrap

import pytest


def pytest_configure(config):
    os.environ.setdefault("GRAPHC_CACHE_DIR", tempfile.mkdtemp(prefix="graphc-test-cache-"))


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, for the tests that compare graphc with Keras itself; they are skipped where it
    is not installed (``pip install -e '.[bench]'`` adds it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[bench]')")


FORKS = textwrap.dedent(
    """
    import multiprocessing, os, signal
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # a child waiting forever (for its parent's threads) is killed, not waited on
        os._exit(0 if right() else 1)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print("pool", sum(pool.map(right, range(4))))
    print("parent", right())
    """
)
FORKS_RIGHT = ["child", "0", "pool", "4", "parent", "True"]  # what a script ending in FORKS prints when all went right


@pytest.fixture(scope="session")
def forks():
    """(the end of a script, what it prints when all went right): after the script's compiled calls,
    a forked child and then a fork pool of two each check ``right(_=None)`` (the script's: whether a
    compiled call computes right), and so does the parent after them."""
    return FORKS, FORKS_RIGHT
