# Meta tests: the suite's own references, assertions and strategies must be right, or every test
# that leans on them proves nothing (array-api-tests' meta_tests, in small).
import sys
import time

import numpy as np
import pytest
from hypothesis import Phase, find, settings

from tests.helpers import assert_exact, assert_within
from tests.strategies import conv_cases, pool_cases
from tests.test_toeplitz import conv2d_loop


def test_conv2d_loop_reference_by_hand():
    # 3×3 image, 2×2 kernel, no flip (cross-correlation): out[0, 0] = 1·1 + 2·0 + 4·0 + 5·(−1) = −4
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    assert_exact(conv2d_loop(x, kernel)[0, :, :, 0], np.array([[-4.0, -4.0], [-4.0, -4.0]]), "valid")
    # 'same', stride 2 on 3×3: out 2×2, total pad (2−1)·2 + 2 − 3 = 1, all of it bottom/right
    assert_exact(conv2d_loop(x, kernel, strides=(2, 2), padding="same")[0, :, :, 0],
                 np.array([[1.0 - 5.0, 3.0 - 0.0], [7.0 - 0.0, 9.0]]), "same, stride 2")
    assert_exact(conv2d_loop(x, kernel, bias=np.array([0.5]))[0, 0, 0, 0], np.float64(-3.5), "bias")


def test_assert_within_reports_the_worst_place():
    expected = np.zeros((2, 3))
    actual = expected.copy()
    actual[1, 2] = 1e-3
    assert_within(actual, expected, 1e-3, "at the bound")  # inclusive
    with pytest.raises(AssertionError, match=r"demo: 1 of 6 elements out of tolerance; first at index \(1, 2\)"):
        assert_within(actual, expected, 1e-4, "demo")
    with pytest.raises(AssertionError, match="shape"):
        assert_within(actual[0], expected, 1.0, "shapes")
    with pytest.raises(AssertionError, match="out of tolerance"):
        assert_within(np.array([np.nan]), np.array([0.0]), 1.0, "NaN never passes")


def test_assert_exact_is_bitwise_and_dtype_strict():
    assert_exact(np.float32([1, 2]), np.float32([1, 2]), "same")
    with pytest.raises(AssertionError):
        assert_exact(np.float32([1, 2]), np.float64([1, 2]), "dtype differs")
    with pytest.raises(AssertionError):
        assert_exact(np.float32([1, 2]), np.float32([1, np.nextafter(np.float32(2), np.float32(3))]), "one ulp")


def test_conv_strategy_reaches_the_tricky_cases():
    # the classic bug lives in 'same' + stride 2 on an even side; strides 3, non-square inputs, no bias
    find(conv_cases(), lambda c: c.padding == "same" and c.strides[0] == 2 and c.x.shape[1] % 2 == 0)
    find(conv_cases(), lambda c: 3 in c.strides and c.x.shape[1] != c.x.shape[2] and c.bias is None)
    find(conv_cases(), lambda c: c.padding == "valid" and c.kernel.shape[0] == c.x.shape[1])  # kernel = input


def test_pool_strategy_reaches_ties_and_negatives():
    find(pool_cases(), lambda c: (c[0] < 0).all())
    find(pool_cases(), lambda c: len(np.unique(c[0])) < c[0].size)


@pytest.mark.full   # 2,000 draws that each build a Keras model: `make test-full` (CI) checks the strategy
def test_cnn_strategy_reaches_every_supported_layer_and_the_traps():
    # supporting a layer is one registry entry plus one strategy entry: every entry must be drawn
    import hw5.convert  # noqa: F401  (registers the converter's layers in the one registry)
    from hw5.convert.registry import MERGES, OPS, TRANSLATIONS
    from tests.strategies import cnn_cases, graph_cases

    # no shrinking (found is enough); derandomized: the same 2,000 draws every run, so a rare layer found once is
    # found every time (a random search once missed one, in a full local run)
    quick = settings(phases=[Phase.generate], max_examples=2000, database=None, derandomize=True)

    def reach(condition):
        find(cnn_cases(), condition, settings=quick)

    # the homework's and the first converter layers in Sequential CNNs, all of them in the graph CNNs
    sequential = {"Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "BatchNormalization",
                  "Flatten", "Reshape", "GlobalMaxPooling2D", "GlobalAveragePooling2D", "SpatialDropout2D",
                  "GaussianNoise", "Softmax", "ReLU", "Activation", "Dropout"}
    for name in sorted(sequential):
        reach(lambda c, name=name: any(cls == name for cls, _ in c.layers))
    ops = {"Add": "op+", "Multiply": "op*"}
    for name in sorted((set(TRANSLATIONS) | set(MERGES) | {f"op:{k}" for k in OPS})
                       - sequential - {"InputLayer", "op:Subtract", "op:TrueDivide"}):   # `-`, `/`: tests by name
        want = ops.get(name[3:]) if name.startswith("op:") else name
        find(graph_cases(), lambda c, want=want: any(cls == want for cls, _ in c.layers), settings=quick)

    def has(c, cls, **want):
        return any(k == cls and all(kw.get(key) == value for key, value in want.items()) for k, kw in c.layers)
    reach(lambda c: has(c, "Conv2D", padding="same", strides=(2, 2)))
    reach(lambda c: has(c, "Conv2D", dilation_rate=(2, 2)))
    reach(lambda c: has(c, "MaxPooling2D", padding="same") and (c.x < 0).any())
    reach(lambda c: has(c, "AveragePooling2D", padding="same", strides=(2, 2)))
    reach(lambda c: has(c, "BatchNormalization", epsilon=0.5))
    reach(lambda c: c.layers[-1][0] == "Conv2D")   # the output can be a grid, not a vector
    reach(lambda c: any(k == "Reshape" and -1 in kw["target_shape"] for k, kw in c.layers))
    reach(lambda c: has(c, "GlobalAveragePooling2D", keepdims=True))
    reach(lambda c: has(c, "GlobalMaxPooling2D", keepdims=True))


# tests/early.py: the subprocess jobs started ahead of their tests (a registry of its own per test)
@pytest.fixture
def jobs(monkeypatch):
    from tests import early

    monkeypatch.setattr(early, "JOBS", {})
    monkeypatch.setattr(early, "READY", set())
    monkeypatch.setattr(early, "_ROOT", [])
    monkeypatch.setattr(early, "PAUSED", [])
    monkeypatch.setattr(early, "FINISHED", {})
    yield early
    early.stop_all()


def python_job(code):
    return lambda workdir: ([sys.executable, "-c", code], workdir, {"HW5_EARLY_DEMO": workdir.name})


class Item:   # what early.plan reads of a collected test
    def __init__(self, *fixturenames):
        self.fixturenames = fixturenames


def test_early_job_starts_when_used_and_its_fixtures_are_ready(jobs):
    jobs.register("unused", fixture="nobody_uses_it", prepare=python_job("print(1)"))
    jobs.register("waits", fixture="f", prepare=python_job("import os; print(os.environ['HW5_EARLY_DEMO'])"),
                  needs=("model_a", "model_b"))
    assert jobs.plan([Item("f", "tmp_path")]) == ["waits"]
    jobs.fixture_ready("model_a")
    assert jobs.JOBS["waits"].process is None            # one prerequisite still missing
    jobs.fixture_ready("model_b")
    assert jobs.JOBS["waits"].process is not None
    workdir, done = jobs.result("waits")
    assert done.returncode == 0 and done.stdout == "waits\n" and workdir.name == "waits"
    assert list(jobs.FINISHED) == ["waits"] and jobs.FINISHED["waits"] > 0   # its time, for the report
    jobs.register("quick", fixture="q", prepare=python_job("pass"))
    before_start = time.perf_counter()
    jobs.plan([Item("q")])
    while jobs.JOBS["quick"].process.poll() is None:
        pass
    jobs.fixture_ready("tmp_path")   # a fixture set-up notices the end: the time read later does not count
    until_noticed = time.perf_counter() - before_start
    time.sleep(until_noticed + 0.2)   # result() below reads the clock later than twice the job's whole life
    assert jobs.result("quick")[1].returncode == 0
    assert 0 < jobs.FINISHED["quick"] <= until_noticed    # an ordering of clock readings, not a speed limit
    assert jobs.JOBS["unused"].process is None


def test_early_jobs_start_in_test_order_a_few_at_a_time_and_pause_for_benchmarks(jobs, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_RUNNING", 2)
    for name in ("c", "a", "b", "late"):
        jobs.register(name, fixture=f"use_{name}", prepare=python_job("import time; time.sleep(0.3)"))
    items = [Item("use_a"), Item("tmp_path", "use_b"), Item("use_c"), Item("use_a", "use_late")]
    assert jobs.plan(items) == ["a", "b", "c", "late"]
    started = lambda: {name for name, job in jobs.JOBS.items() if job.process is not None}  # noqa: E731
    assert started() == {"a", "b"}                      # the first two tests' jobs; c and late queue
    jobs.result("a")
    jobs.result("b")
    jobs.fixture_ready("tmp_path")                      # any fixture set-up gives a queued job its turn
    assert started() == {"a", "b", "c", "late"}
    jobs.stop_all()
    jobs.register("queued", fixture="f", prepare=python_job("print('ran')"), needs=("model",))
    jobs.plan([Item("f")])
    jobs.fixture_ready("model")
    jobs.wait_all()                                     # before benchmarks: run to the end, then start nothing
    assert jobs.JOBS["queued"].done.stdout == "ran\n"
    jobs.register("after", fixture="g", prepare=python_job("print(2)"))
    jobs.JOBS["after"].wanted = True
    jobs.fixture_ready("tmp_path")
    assert jobs.JOBS["after"].process is None


def test_early_jobs_wait_while_a_model_trains(jobs):
    # pause: the running job is finished first and nothing starts until resume; then the queue goes on
    jobs.register("running", fixture="f", prepare=python_job("import time; time.sleep(0.3)"))
    jobs.register("queued", fixture="g", prepare=python_job("print(1)"), needs=("model",))
    jobs.plan([Item("f"), Item("g")])
    jobs.pause("training")
    assert jobs.JOBS["running"].done is not None        # finished before training starts
    jobs.fixture_ready("model")
    assert jobs.JOBS["queued"].process is None          # not while training
    jobs.resume("training")
    assert jobs.JOBS["queued"].process is not None


def test_early_job_output_never_stalls_and_unstarted_jobs_run_on_demand(jobs):
    # 1 MB of output: a pipe nobody reads would block the child; a job never planned runs when asked
    jobs.register("loud", fixture="f", prepare=python_job("import sys; sys.stdout.write('x' * 1_000_000)"),
                  timeout=60)
    _, done = jobs.result("loud")
    assert done.returncode == 0 and len(done.stdout) == 1_000_000


def test_early_job_failures_reach_the_test_that_uses_it(jobs):
    def broken(workdir):
        raise OSError("no such script")

    jobs.register("broken", fixture="f", prepare=broken)
    jobs.plan([Item("f")])   # the hook that starts it must not raise
    with pytest.raises(RuntimeError, match="early job 'broken' could not start: OSError"):
        jobs.result("broken")
    jobs.register("slow", fixture="f", prepare=python_job("import time; time.sleep(30)"), timeout=0.5)
    with pytest.raises(TimeoutError, match="early job 'slow' ran longer than 0 s"):
        jobs.result("slow")
    with pytest.raises(TypeError, match="prepare must be callable"):
        jobs.register("bad", fixture="f", prepare="python -c 1")


def test_early_stop_all_kills_what_still_runs_and_cleans_up(jobs):
    jobs.register("sleeper", fixture="f", prepare=python_job("import time; time.sleep(60)"))
    jobs.plan([Item("f")])
    process, root = jobs.JOBS["sleeper"].process, jobs._ROOT[0]
    jobs.stop_all()
    assert process.poll() is not None and not root.exists() and jobs.JOBS["sleeper"].process is None
