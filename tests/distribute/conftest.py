"""One local Ray instance for the whole distributed suite (2 CPUs: the machine's two cores), and a
strategy per test whose workers are stopped after it."""
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the distributed tests need Ray: pip install -e '.[distributed]'")


@pytest.fixture(scope="session")
def ray_instance():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024 * 1024)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def make_strategy(ray_instance):
    """``make_strategy(**options)``: a ``RayStrategy`` of 2 workers; their workers stop after the test
    module (a strategy is reused across a module's tests: starting workers costs seconds)."""
    import graphc as gc

    made = []

    def make(**options):
        for previous in made:  # one strategy's workers at a time: they take both CPUs
            previous.shutdown()
        strategy = gc.distribute.RayStrategy(**{"num_workers": 2, **options})
        made.append(strategy)
        return strategy

    yield make
    for strategy in made:
        strategy.shutdown()


@pytest.fixture(scope="module")
def strategy(make_strategy):
    """The module's shared strategy: 2 workers checking after every step that the replicas are
    bit-identical."""
    return make_strategy(check_sync=True)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits (1797 images, bundled: no download), pixels in [0, 1]."""
    datasets = pytest.importorskip("sklearn.datasets", reason="the digits need scikit-learn (the test extra)")
    data = datasets.load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)
