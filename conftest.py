"""Session set-up: hypothesis profiles, and the trained models every test shares (trained once per run)."""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter, before any import

import pytest  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

# dev: quick local runs. ci: 200 examples per property (the issue asks ≥ 100), derandomized so CI is reproducible.
# flakes: dev with no example database, so each `make flakes` run starts from its own random seed only.
# mutants: derandomized, no database — a failing example stored by one mutant must not "kill" the next one —, and
# no shrinking: a mutant is killed by any failing example, the smallest one is not needed (shrinking a failure
# that builds Keras models costs minutes per mutant).
# deadline=None: TensorFlow's first call in a process takes seconds.
QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=QUIET)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=QUIET)
settings.register_profile("flakes", max_examples=25, deadline=None, database=None, print_blob=True,
                          suppress_health_check=QUIET)
settings.register_profile("mutants", max_examples=50, deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption("--retrain", action="store_true", default=False,
                     help="train the homework models again even when the cache holds them (or HW5_RETRAIN=1)")
    parser.addoption("--hw5-user", action="append", default=[], metavar="NAME",
                     help="an author's name for the report's first page (repeatable; `hw5 report --user`)")
    parser.addoption("--hw5-handin-html", default=None, metavar="PATH",
                     help="also write the hand-in PDF's HTML (the graded items only) to PATH (`hw5 report` does)")
    parser.addoption("--bench", action="store_true", default=False,
                     help="run the pytest-benchmark timings (skipped by default; `make bench`, `make report`)")


def pytest_configure(config):
    # benchmarks are skipped unless --bench (or --benchmark-only) asks for them; runs before
    # pytest-benchmark's own (trylast) pytest_configure reads the option
    if not config.getoption("--bench") and not config.getoption("benchmark_only", False):
        config.option.benchmark_skip = True


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables: the summary is the last thing printed
def pytest_terminal_summary(terminalreporter, config):
    from tests.helpers import BENCH_SUMMARY

    summary = config.stash.get(BENCH_SUMMARY, None)
    if summary is None:
        return
    from hw5.deliver.bench import format_table

    terminalreporter.section("hw5 benchmark summary")
    terminalreporter.write_line(format_table(summary["rows"], summary["peak_gflops"]))
    for t in summary["targets"]:
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        value = "–" if t["value"] is None else f"{t['value']:.3g}"
        terminalreporter.write_line(f"target {t['target']}: {value} {t['op']} {t['bound']}: {mark}")


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


@pytest.fixture(scope="session")
def tiny_trained(fashion, progress):
    """tests.helpers.tiny_cnn(0) trained 2 seeded epochs on the downsampled images (the MILP readers' and
    `hw5 verify`'s CNN: one training a session)."""
    import keras

    from hw5.homework.data import preprocess
    from hw5.homework.training import make_deterministic
    from tests.helpers import downsample, tiny_cnn

    (x_train, y_train), _ = fashion
    progress("training the 8×8 CNN for the verifiers (2 epochs, seeded)")
    make_deterministic(0)
    model = tiny_cnn(0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(downsample(preprocess(x_train)), y_train, batch_size=256, epochs=2, shuffle=True, verbose=0)
    return model


def _trained(part, pytestconfig):
    from hw5.deliver.cache import train_part
    from hw5.deliver.report import TIMINGS
    from tests import early

    retrain = True if pytestconfig.getoption("--retrain") else None  # None: HW5_RETRAIN decides
    say = _progress(pytestconfig)

    def progress(message: str) -> None:
        if message.startswith(f"part {part}: training"):   # a cache miss: the training time goes in the report,
            early.pause("training")                        # so no subprocess check runs beside it
        say(message)

    try:
        trained = train_part(part, retrain=retrain, progress=progress)
    finally:
        early.resume("training")
    ends = [e["train_seconds"] for e in trained.log.epochs]   # per epoch: a stalled epoch shows here
    epochs = ", ".join(f"{b - a:.0f}" for a, b in zip([0.0, *ends], ends, strict=False))
    TIMINGS[f"training, Part {part}"] = (f"loaded from the cache (trained in {trained.log.train_seconds:.0f} s; "
                                         f"epochs {epochs} s)" if trained.from_cache else
                                         f"{trained.log.train_seconds:.1f} s (epochs {epochs} s)")
    return trained


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
def part2_tf_probs(part2, test_images):
    # TF's softmax on all 10,000 test images (float32), as the script computes it: the accuracy and the choice of
    # Part 2 (5)'s image read it. Computed once a run, by the cache's check on load or after training
    assert part2.test_probs.shape == (len(test_images[1]), 10)
    return part2.test_probs


@pytest.fixture(scope="session")
def part2_all_images(part2, part2_net, test_images, progress):
    # TF and the NumPy network (dense W) on all 10,000 test images in float32, computed once per run:
    # the comparison test asserts on it, the benchmark summary reads its time
    from hw5.compare import agreement

    progress("comparing TF and NumPy on all 10,000 test images (float32)")
    return agreement(part2.model, part2_net, test_images[0])


@pytest.fixture(scope="session")
def part2_image(part2_tf_probs, test_images):
    # Part 2 (5)'s test image, by the hand-in script's rule: the correctly classified one whose softmax has the
    # highest entropy (the model is right but unsure)
    from hw5.compare import unsure_image

    return unsure_image(part2_tf_probs, test_images[1])


@pytest.fixture(scope="session")
def part2_f64(part2):
    # the same trained weights, widened exactly, in a float64 Keras model and a float64 NumPy net
    from hw5.compare import float64_twin
    from hw5.numpy_net import from_keras

    model = float64_twin(part2.model)
    return model, from_keras(model)


@pytest.fixture(scope="session")
def part1_net(part1):
    # our Part-1 CNN as a NumPy fully-connected net (BatchNorm folded), conv matrices multiplied band by band
    from hw5.numpy_net import banded, from_keras

    return banded(from_keras(part1.model))


@pytest.fixture(scope="session")
def part1_f64(part1):
    # the same trained weights, widened exactly, in a float64 Keras twin and its float64 NumPy net
    from hw5.compare import float64_twin
    from hw5.numpy_net import banded, from_keras

    model = float64_twin(part1.model)
    return model, banded(from_keras(model))


# ---- subprocess checks started early (tests/early.py): they run on the second core -------------------

def pytest_collection_finish(session):
    from tests import early

    early.plan(session.items)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    value = yield
    from tests import early

    early.fixture_ready(fixturedef.argname)   # e.g. the trained models: the quick report may start now
    return value


def pytest_runtest_setup(item):
    if item.config.getoption("--bench") and "benchmark" in getattr(item, "fixturenames", ()):
        from tests import early

        early.wait_all()   # timings must not share the machine with a running job


def pytest_sessionfinish(session):
    from tests import early

    early.stop_all()


# ---- the report: order, title, environment, summary ----------------------------------------------

# Tests run (and the report reads) in the order of the homework and of the data flow.
MODULE_ORDER = ["test_helpers", "test_structure", "test_docs", "test_data", "test_training", "test_cli", "test_models",
                "test_weights", "test_toeplitz", "test_numpy_net", "test_layers", "test_linear_maps", "test_translate",
                "test_variables", "test_conv_variants", "test_activations", "test_merges", "test_graph",
                "test_layouts", "test_fold", "test_registry", "test_rules", "test_determinism", "test_compare",
                "test_compare_layers", "test_relu_only", "test_export", "test_onnx_in", "test_onnx_peer",
                "test_keras_peer", "test_milp", "test_verify", "test_bounds", "test_bigm", "test_verify_cmd",
                "test_verify_cifar", "test_convert_cmd", "test_estimate", "test_architectures", "test_known_issues",
                "test_kernels", "test_bench", "test_handin", "test_evidence", "test_report"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(MODULE_ORDER)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: keeps order inside a module
    for item in items:  # `-m property`: every hypothesis test (make flakes runs them under many seeds)
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


def pytest_sessionstart(session):
    from hw5.deliver import evidence

    evidence.start_run()   # the run's records emptied, its start noted (evidence.STARTED)


def pytest_runtest_logreport(report):
    from hw5.deliver.report import record_test

    record_test(report)


def _users(config) -> list[str]:
    return config.getoption("--hw5-user") or []


def pytest_html_report_title(report):
    report.title = "CS/DS 541 Homework 5 — evidence report"


def pytest_metadata(metadata, config):
    # pytest-html's environment table is hidden; the report's "Environment" section has the facts
    if config.getoption("htmlpath", None):
        metadata.clear()


def pytest_html_duration_format(duration):
    return f"{duration:.2f} s"  # one format for every row (pytest-html mixes "562 ms" and "00:00:02")


def pytest_html_results_table_row(report, cells):
    # show test ids as written: pytest escapes backslashes and non-ASCII in parametrized ids
    cells[1] = cells[1].encode("ascii", "backslashreplace").decode("unicode_escape")


def pytest_html_results_summary(prefix, summary, postfix, session):
    from hw5.deliver.evidence import STARTED
    from hw5.deliver.report import TIMINGS, document
    from tests import early
    from tests.helpers import EXAMPLES

    if early.FINISHED:
        TIMINGS["subprocess checks beside the suite (tests/early.py), inside the run"] = (
            f"{len(early.FINISHED)} processes, {sum(early.FINISHED.values()):.1f} s of their own wall time")

    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
    meta = [f" · training seed 0 · hypothesis profile {profile}: {sum(EXAMPLES.values()):,} examples over "
            f"{len(EXAMPLES)} properties"] if EXAMPLES else []
    prefix.append(document(_users(session.config), meta, time.perf_counter() - STARTED["clock"]))
    if session.config.getoption("--hw5-handin-html"):   # the same run's graded items, for the hand-in PDF
        from hw5.deliver import handin_view

        handin_view.write_html(session.config.getoption("--hw5-handin-html"), _users(session.config))
