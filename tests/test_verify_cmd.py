# `hw5 verify` and hw5.convert.robustness: on the 8×8 CNN of tests/test_milp.py (270 ReLUs, trained 2 epochs,
# seeded) the three engines (HiGHS through OMLT, Marabou, Gurobi through gurobi-ml) give the same answer at a
# radius where the image is robust and one where it is not; every counterexample lies in the ball and in [0, 1]
# exactly (no tolerance) and Keras gives it another class; the command's exits 0/1 on the real engine and 3 on
# a stand-in engine (out of time; a point that does not replay); a table of bad invocations, each one line on
# stderr and exit 2. The engine tests are heavy: they need the `milp` extra (`make test-heavy` installs it).
import numpy as np
import pytest

from hw5.convert import engines, robustness
from hw5.convert.verify import into_ball
from hw5.deliver.cli import main
from tests.helpers import downsample, keras_outputs, tiny_cnn

ROBUST_EPSILON, FRAGILE_EPSILON = 0.001, 0.05   # pixels in [0, 1]; margin 0 (the plain question)
IMAGE = 0                                       # Fashion-MNIST test image 0, 8×8: Keras' class 7 (its label 9)
ENGINES = ("highs", "omlt", "marabou", "gurobi")


def ball_distance(found, x) -> float:
    # |x' − x|∞ in float64: exact for two float32 arrays in [0, 1]
    return float(np.abs(np.asarray(found, np.float64) - np.asarray(x, np.float64)).max())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    # an untrained seeded 8×8 CNN, its image and a few bad files: enough for the argument checks
    folder = tmp_path_factory.mktemp("verify_cmd")
    tiny_cnn(0).save(folder / "tiny.keras")
    x = np.random.default_rng(0).random((8, 8, 1), dtype=np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "wide.npy", np.zeros((9, 8, 1), np.float32))
    np.save(folder / "bright.npy", x * 2)
    (folder / "x.txt").write_text("0")
    (folder / "corrupt.keras").write_bytes(b"not a zip")
    return folder


@pytest.fixture(scope="module")
def trained(fashion, tiny_trained, tmp_path_factory):
    from hw5.homework.data import preprocess

    _, (x_test, _) = fashion
    model = tiny_trained
    folder = tmp_path_factory.mktemp("verify_trained")
    model.save(folder / "tiny.keras")
    x = downsample(preprocess(x_test[IMAGE:IMAGE + 1]))[0]
    np.save(folder / "x.npy", x)
    return model, x, folder


def need(engine: str) -> None:
    why = engines.missing(engine)
    if why:
        pytest.skip(why)


def assert_counterexample(model, x, verdict, epsilon) -> None:
    __tracebackhide__ = True
    found = verdict.counterexample
    assert found.shape == x.shape and found.dtype == x.dtype, (found.shape, found.dtype)
    assert ball_distance(found, x) <= epsilon, f"|x' − x|∞ = {ball_distance(found, x)!r} > {epsilon}"
    assert found.min() >= 0 and found.max() <= 1, "x' outside [0, 1]"
    replay = keras_outputs(model, found[None])[0]
    assert replay.argmax() != verdict.label, f"Keras still says class {verdict.label}: {replay}"


def test_into_ball_is_exact():
    # points just outside the ball (by ε·1e-7, the solvers' feasibility slack) and outside [0, 1] land inside
    # exactly, in float32, and a point already inside is unchanged
    rng = np.random.default_rng(0)
    x = rng.random((500,), dtype=np.float32)
    for epsilon in (0.05, 0.01, 1 / 3):
        outside = x.astype(np.float64) + rng.choice([-1, 1], x.shape) * epsilon * (1 + 1e-7)
        found = into_ball(outside, x, epsilon)
        assert found.dtype == np.float32
        assert ball_distance(found, x) <= epsilon and found.min() >= 0 and found.max() <= 1
    inside = np.clip(x + np.float32(0.001), 0, 1)
    np.testing.assert_array_equal(into_ball(inside, x, 0.01), inside)


@pytest.mark.heavy
@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_robust_then_not_robust(trained, engine):
    # the same two answers from each engine; at the larger radius a counterexample inside the ball that Keras
    # classifies otherwise
    need(engine)
    model, x, _ = trained
    robust = robustness.robustness(model, x, ROBUST_EPSILON, engine=engine, timeout=300)
    fragile = robustness.robustness(model, x, FRAGILE_EPSILON, engine=engine, timeout=300)
    assert (robust.answer, fragile.answer) == ("robust", "not robust"), (robust.note, fragile.note)
    assert robust.relus == 270 and len(robust.queries) == 9
    assert_counterexample(model, x, fragile, FRAGILE_EPSILON)


@pytest.mark.heavy
def test_verify_command_exits_0_robust_and_1_with_the_counterexample(trained, tmp_path, capsys):
    need("highs")
    model, x, folder = trained
    base = ["verify", str(folder / "tiny.keras"), "--image", str(folder / "x.npy"), "--out", str(tmp_path)]
    assert main([*base, "--epsilon", str(ROBUST_EPSILON)]) == 0
    out = capsys.readouterr().out
    assert "270 ReLUs" in out and out.count(": unsat") == 9 and "answer: robust" in out
    assert not (tmp_path / "counterexample.npy").exists()
    assert main([*base, "--epsilon", str(FRAGILE_EPSILON)]) == 1
    out = capsys.readouterr().out
    assert "answer: not robust" in out and "Keras on it: class" in out
    found = np.load(tmp_path / "counterexample.npy")
    assert ball_distance(found, x) <= FRAGILE_EPSILON and found.min() >= 0 and found.max() <= 1
    assert keras_outputs(model, found[None])[0].argmax() != keras_outputs(model, x[None])[0].argmax()


class OutOfTime:
    # a stand-in engine: every query runs out of time
    def __init__(self, problem):
        pass

    def query(self, c, j, margin, seconds):
        return engines.Query("unknown", note="stand-in: time limit reached")

    def close(self):
        pass


class BoundaryPoint(OutOfTime):
    # a stand-in engine whose "sat" point is the image itself, where Keras' own class wins: it cannot replay
    def __init__(self, problem):
        self.x = (problem.lo + problem.hi) / 2

    def query(self, c, j, margin, seconds):
        return engines.Query("sat", self.x, 0.0)


@pytest.mark.parametrize("engine, says", [(OutOfTime, "stand-in: time limit reached"),
                                          (BoundaryPoint, "does not replay in Keras")])
def test_verify_command_exits_3_when_unknown(saved, tmp_path, monkeypatch, capsys, engine, says):
    monkeypatch.setitem(engines.ENGINES, "highs", engine)
    monkeypatch.setattr(engines, "missing", lambda name: None)
    monkeypatch.setattr(robustness, "missing", lambda name: None)
    x = np.full((8, 8, 1), 0.5, np.float32)
    np.save(tmp_path / "x.npy", x)
    args = ["verify", str(saved / "tiny.keras"), "--image", str(tmp_path / "x.npy"), "--epsilon", "1e-6",
            "--out", str(tmp_path / "out")]
    assert main(args) == 3
    out = capsys.readouterr().out
    assert "answer: unknown" in out and says in out
    assert not (tmp_path / "out" / "counterexample.npy").exists()


IMG = ["--image", "{dir}/x.npy"]
BAD = [   # (MODEL, the rest, what the one line says)
    ("tiny", IMG, "the following arguments are required: --epsilon"),
    ("tiny", ["--epsilon", "0.1"], "one of the arguments --image --test-index is required"),
    ("tiny", [*IMG, "--epsilon", "0"], "expected a finite radius > 0"),
    ("tiny", [*IMG, "--epsilon", "nan"], "expected a finite radius > 0"),
    ("tiny", [*IMG, "--epsilon", "0.1", "--margin", "-1"], "expected a finite margin >= 0"),
    ("tiny", [*IMG, "--epsilon", "0.1", "--timeout", "0"], "expected a finite number of seconds > 0"),
    ("tiny", [*IMG, "--epsilon", "0.1", "--engine", "z3"], "invalid choice: 'z3'"),
    ("tiny", [*IMG, "--epsilon", "0.1", "--test-index", "3"], "not allowed with argument --image"),
    ("tiny", ["--epsilon", "0.1", "--test-index", "10000"], "expected a test image index 0..9999"),
    ("tiny", ["--epsilon", "0.1", "--image", "{dir}/wide.npy"], "shape (9, 8, 1), the model takes (8, 8, 1)"),
    ("tiny", ["--epsilon", "0.1", "--image", "{dir}/bright.npy"], "values must be finite numbers in [0, 1]"),
    ("tiny", ["--epsilon", "0.1", "--image", "{dir}/missing.npy"], "cannot be read as a .npy array"),
    ("tiny", ["--epsilon", "0.1", "--image", "{dir}/x.txt"], "not a .npy file name"),
    ("tiny", [*IMG, "--epsilon", "0.1", "--out", "{dir}/x.npy/sub"], "is a file, not a directory"),
    ("no", [*IMG, "--epsilon", "0.1"], "no such file"),
    ("corrupt", [*IMG, "--epsilon", "0.1"], "is corrupt"),
]


@pytest.mark.parametrize("model, rest, message", BAD)
def test_verify_command_refuses_bad_input_in_one_line(saved, tmp_path, capsys, monkeypatch, model, rest, message):
    monkeypatch.setattr(engines, "missing", lambda name: None)
    out = ["--out", str(tmp_path)]                # a row's own --out comes later and wins
    try:
        code = main(["verify", str(saved / f"{model}.keras"), *out, *[a.format(dir=saved) for a in rest]])
    except SystemExit as exc:                    # argparse's refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_verify_command_refuses_test_index_for_another_shape(saved, capsys, monkeypatch):
    monkeypatch.setattr(engines, "missing", lambda name: None)
    assert main(["verify", str(saved / "tiny.keras"), "--test-index", "3", "--epsilon", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST images are 28×28×1, the model takes (8, 8, 1)" in err and err.count("\n") == 1


def test_verify_command_refuses_a_missing_engine_and_a_net_too_large(saved, tmp_path, capsys, monkeypatch):
    args = ["verify", str(saved / "tiny.keras"), "--image", str(saved / "x.npy"), "--epsilon", "0.1", "--out",
            str(tmp_path)]
    monkeypatch.setattr(engines, "missing", lambda name: f"engine {name!r} needs ... install the `milp` extra")
    assert main(args) == 2
    assert "install the `milp` extra" in capsys.readouterr().err
    monkeypatch.setattr(engines, "missing", lambda name: None)
    monkeypatch.setattr(robustness, "missing", lambda name: None)
    monkeypatch.setitem(robustness.MAX_UNSTABLE, "highs", 0)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "unstable ReLUs on the ball (of 270; interval bounds), more than the 0" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir()), "a refusal wrote something"


# ---- sizes before any work: the estimates, a refusal past memory, gurobi's licence, the unstable ReLUs -------
WIDE_SECONDS = 60   # the 16/32-channel CNN's refusal: a sparse conversion and one bound pass (5 s here), ×12


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    # the CIFAR-sized nets of hw5.deliver.cifar_nets (seeded), saved, and an image each classifies clearly (the
    # wide net's logits are all close: any image)
    from hw5.deliver import cifar_nets

    folder = tmp_path_factory.mktemp("cifar")
    for name, build in cifar_nets.NETS.items():
        model = build(0)
        model.save(folder / f"{name}.keras")
        np.save(folder / f"{name}.npy", cifar_nets.image(0) if name == "wide" else cifar_nets.clear_image(model)[1])
    return folder


def verify(folder, name, out, *rest) -> list:
    return ["verify", str(folder / f"{name}.keras"), "--image", str(folder / f"{name}.npy"), "--out", str(out), *rest]


def test_verify_command_says_sizes_first_and_refuses_past_memory(cifar, tmp_path, capsys, monkeypatch):
    from hw5.convert import estimate

    monkeypatch.setattr(engines, "missing", lambda name: None)
    monkeypatch.setattr(robustness, "missing", lambda name: None)
    monkeypatch.setattr(estimate, "available_memory", lambda: 8 * estimate.MiB)
    assert main(verify(cifar, "chain", tmp_path, "--epsilon", "0.004")) == 2
    out, err = capsys.readouterr()
    assert "sizes before any work" in out and "1,536 ReLUs" in out and "3,072 inputs" in out
    assert "Dense+ReLU form:" not in out, "converted before refusing"
    assert "would need ~" in err and "MemAvailable 8.0 MiB" in err and "nothing converted" in err, err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())


def test_verify_command_refuses_gurobi_past_its_licence_before_converting(cifar, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engines, "missing", lambda name: None)
    monkeypatch.setattr(robustness, "missing", lambda name: None)
    assert main(verify(cifar, "chain", tmp_path, "--epsilon", "0.004", "--engine", "gurobi")) == 2
    out, err = capsys.readouterr()
    assert "3,072 input and 10 output variables alone are past the 2,000 variables of gurobipy's" in err, err
    assert "--engine highs" in err and err.count("\n") == 1 and "Dense+ReLU form:" not in out


def test_verify_command_refuses_the_16_32_channel_cnn_by_its_unstable_relus(cifar, tmp_path, capsys, monkeypatch):
    # the 32×32×3 CNN (16 and 32 channels): refused in seconds with its figures, never killed
    import time

    monkeypatch.setattr(engines, "missing", lambda name: None)
    monkeypatch.setattr(robustness, "missing", lambda name: None)
    started = time.perf_counter()
    assert main(verify(cifar, "wide", tmp_path, "--epsilon", "0.004")) == 2
    seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    relus = 32 * 32 * (16 + 32)
    assert f"{relus:,} ReLUs" in out and f"unstable ReLUs on the ball (of {relus:,}; interval bounds)" in err, err
    assert f"more than the {robustness.MAX_UNSTABLE['highs']:,}" in err and "--epsilon" in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir()) and seconds < WIDE_SECONDS, seconds


@pytest.mark.heavy
def test_gurobi_size_is_gurobi_mls_model_and_past_the_licence_refused(trained, tmp_path, monkeypatch):
    # the figures the gurobi engine refuses by, before building, are those of gurobi-machinelearning's model
    from hw5.convert import bounds
    from hw5.convert.relu_only import logits_model

    need("gurobi")
    model, x, _ = trained
    net, _ = robustness.dense_relu(logits_model(model))
    lo, hi = np.clip(x.ravel() - FRAGILE_EPSILON, 0, 1), np.clip(x.ravel() + FRAGILE_EPSILON, 0, 1)
    small, active = bounds.pruned(net, bounds.interval_bounds(net, lo, hi))
    problem = engines.Problem(small, lo, hi, active, tmp_path)
    engine = engines.GurobiEngine(problem)
    engine.model.update()
    built = (engine.model.NumVars, engine.model.NumConstrs)
    engine.close()
    assert built == engines.gurobi_size(small, lo.size), built
    monkeypatch.setattr(engines, "GUROBI_LICENCE", built[0] - 1)
    with pytest.raises(engines.TooLarge, match=f"{built[0]:,} variables and {built[1]:,} constraints"):
        engines.GurobiEngine(problem)
