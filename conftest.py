"""Session set-up: hypothesis profiles, and the trained models every test shares (trained once per run)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, before any import

from hypothesis import HealthCheck, settings

# dev: quick local runs. ci: ≥ 100 examples per property, derandomized so CI is reproducible.
# deadline=None: TensorFlow's first call in a process takes seconds.
settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


import pytest


def pytest_addoption(parser):
    parser.addoption("--retrain", action="store_true", default=False,
                     help="train the homework models again even when the cache holds them (or HW5_RETRAIN=1)")


def _progress(config):
    # Long steps say what they are doing on the terminal, past pytest's output capture.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(msg: str) -> None:
        if reporter is None or capture is None:
            return print(f"[hw5] {msg}", flush=True)
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(f"[hw5] {msg}")

    return say


@pytest.fixture(scope="session")
def progress(pytestconfig):
    return _progress(pytestconfig)


@pytest.fixture(scope="session")
def fashion():
    from hw5.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture(scope="session")
def test_images(fashion):
    from hw5.data import preprocess

    (_, _), (x_test, y_test) = fashion
    return preprocess(x_test), y_test


def _trained(part, pytestconfig):
    from hw5.cache import train_part

    retrain = True if pytestconfig.getoption("--retrain") else None  # None: HW5_RETRAIN decides
    return train_part(part, retrain=retrain, progress=_progress(pytestconfig))


@pytest.fixture(scope="session")
def part1(pytestconfig):
    # our Part-1 CNN, trained once per run (or loaded from the cache)
    return _trained(1, pytestconfig)


@pytest.fixture(scope="session")
def part2(pytestconfig):
    # the exact homework Part-2 net, trained once per run (or loaded from the cache)
    return _trained(2, pytestconfig)


@pytest.fixture(scope="session")
def part2_net(part2):
    from hw5.numpy_net import from_keras

    return from_keras(part2.model)


@pytest.fixture(scope="session")
def part2_f64(part2):
    # the same trained weights, widened exactly, in a float64 Keras model and a float64 NumPy net
    from hw5.models import as_float64
    from hw5.numpy_net import from_keras

    model = as_float64(part2.model)
    return model, from_keras(model)
