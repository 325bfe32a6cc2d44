# The Dense+ReLU exports in the hands of the Dense-only MILP tools they are for: gurobi-machinelearning
# (add_predictor_constr, solved by Gurobi) and OMLT (load_onnx_neural_network, load_keras_sequential;
# ReluBigMFormulation, solved by HiGHS through pyomo's appsi_highs) load the ONNX and the Keras file of a small
# trained CNN (8×8 Fashion-MNIST images, conv 3×3×3 ReLU, max-pool 2, dense 10) as written. With the input
# fixed each MILP's outputs are Keras' logits of the CNN; and one L∞ robustness question, at a radius where the
# image is robust and one where it is not, gets the same answer from both MILPs and from Marabou, every
# counterexample replayed through the Keras CNN. The readers are the `milp` extra (`make test-heavy` installs it).
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hw5.convert.engines import quiet_pyomo
from hw5.convert.export import to_keras, to_onnx
from hw5.convert.export.onnx_graph import op_types
from hw5.convert.relu_only import relu_only
from hw5.numpy_net import from_keras
from tests.helpers import MILP_ROBUSTNESS, OTHERS, TINY_SIZE, assert_within, downsample, keras_outputs
from tests.tolerances import MILP_BALL_ATOL, MILP_EVAL_RTOL, MILP_OPTIMUM_RTOL

pytestmark = pytest.mark.heavy

ROBUST_EPSILON, FRAGILE_EPSILON, MARGIN = 0.01, 0.05, 0.01   # as tests/test_verify.py: pixels in [0, 1], logits
EXPECTED = {ROBUST_EPSILON: "robust", FRAGILE_EPSILON: "not robust"}
LICENCE_LIMIT = 2000                                 # gurobipy's pip licence: ≤ 2,000 variables, ≤ 2,000 constraints
MISSING = "install the `milp` extra (pip install -e '.[milp]'; `make test-heavy` does)"
READERS = [("gurobi-ml", "onnx"), ("gurobi-ml", "keras"), ("omlt", "onnx"), ("omlt", "keras")]
RUNTIMES = {"gurobi-ml": "gurobi-machinelearning + Gurobi", "omlt": "OMLT ReluBigM + HiGHS (appsi_highs)"}


@dataclass
class Tiny:
    model: object            # the Keras CNN (logits)
    x: np.ndarray            # test images (N, 8, 8, 1)
    y: np.ndarray
    image: int               # the first correctly classified one
    files: dict              # "onnx"/"keras" → the Dense+ReLU export's path
    answers: dict = field(default_factory=dict)   # (reader, fmt, ε) → Answer


@pytest.fixture(scope="module")
def tiny(fashion, tiny_trained, tmp_path_factory) -> Tiny:
    from hw5.homework.data import preprocess

    _, (x_test, y_test) = fashion
    model = tiny_trained
    x, y = downsample(preprocess(x_test[:50])), y_test[:50]
    image = int(np.flatnonzero(keras_outputs(model, x).argmax(1) == y)[0])
    folder = tmp_path_factory.mktemp("milp")
    net = relu_only(from_keras(model))
    return Tiny(model, x, y, image, {"onnx": to_onnx(net, folder / "tiny.onnx"),
                                     "keras": to_keras(net, folder / "tiny.keras")})


class GurobiMilp:
    # the export read by gurobi-machinelearning into a Gurobi model: inputs in [lo, hi], outputs free
    def __init__(self, fmt: str, path: Path, lo, hi):
        gp = pytest.importorskip("gurobipy", reason=MISSING)
        gurobi_ml = pytest.importorskip("gurobi_ml", reason=MISSING)
        import keras
        import onnx

        predictor = onnx.load(str(path)) if fmt == "onnx" else keras.saving.load_model(path)
        self.env = gp.Env(empty=True)
        self.env.setParam("OutputFlag", 0)
        self.env.start()
        self.gp, self.model = gp, gp.Model(env=self.env)
        self.x = self.model.addMVar((1, len(lo)), lb=lo[None], ub=hi[None], name="x")
        self.y = self.model.addMVar((1, 10), lb=-gp.GRB.INFINITY, name="y")
        gurobi_ml.add_predictor_constr(self.model, predictor, self.x, self.y)
        self.model.update()
        self.size = (self.model.NumVars, self.model.NumConstrs + self.model.NumGenConstrs)
        assert self.model.NumVars <= LICENCE_LIMIT and self.model.NumConstrs <= LICENCE_LIMIT, self.size

    def fix(self, x) -> None:
        self.x.lb = self.x.ub = np.asarray(x, np.float64)[None]

    def solve(self, j: int | None = None, c: int | None = None) -> tuple[float, float]:
        # maximise y_j − y_c (or find a feasible point): (best value, best bound)
        self.model.setObjective(0 if j is None else self.y[0, j] - self.y[0, c], self.gp.GRB.MAXIMIZE)
        self.model.optimize()
        assert self.model.Status == self.gp.GRB.OPTIMAL, f"Gurobi status {self.model.Status}"
        return (0.0, 0.0) if j is None else (self.model.ObjVal, self.model.ObjBound)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x.X[0], self.y.X[0]

    def close(self) -> None:
        self.model.dispose()
        self.env.dispose()


class OmltMilp:
    # the export read by OMLT (ONNX parser or Keras reader) into a pyomo block, ReLUs as big-M, solved by HiGHS
    def __init__(self, fmt: str, path: Path, lo, hi):
        pyo = pytest.importorskip("pyomo.environ", reason=MISSING)
        pytest.importorskip("highspy", reason=MISSING)
        omlt = pytest.importorskip("omlt", reason=MISSING)
        import keras
        import onnx
        from omlt.io import load_keras_sequential, load_onnx_neural_network
        from omlt.neuralnet import ReluBigMFormulation

        bounds = {k: (float(a), float(b)) for k, (a, b) in enumerate(zip(lo, hi, strict=True))}
        with quiet_pyomo():
            definition = (load_onnx_neural_network(onnx.load(str(path)), None, bounds) if fmt == "onnx" else
                          load_keras_sequential(keras.saving.load_model(path), None, bounds))
            self.model = pyo.ConcreteModel()
            self.model.nn = omlt.OmltBlock()
            self.model.nn.build_formulation(ReluBigMFormulation(definition))
        self.pyo, self.n = pyo, len(lo)
        self.solver = pyo.SolverFactory("appsi_highs")
        self.size = (self.model.nvariables(), self.model.nconstraints())

    def fix(self, x) -> None:
        for k, v in enumerate(np.asarray(x, np.float64)):
            self.model.nn.inputs[k].fix(float(v))

    def solve(self, j: int | None = None, c: int | None = None) -> tuple[float, float]:
        pyo, out = self.pyo, self.model.nn.outputs
        if hasattr(self.model, "objective"):
            self.model.del_component(self.model.objective)
        self.model.objective = pyo.Objective(expr=0 if j is None else out[j] - out[c], sense=pyo.maximize)
        with quiet_pyomo():
            result = self.solver.solve(self.model)
        condition = str(result.solver.termination_condition)
        assert condition == "optimal", f"HiGHS: {condition}"
        if j is None:
            return 0.0, 0.0
        return float(pyo.value(self.model.objective)), float(result.problem.upper_bound)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        value = self.pyo.value
        return (np.array([value(self.model.nn.inputs[k]) for k in range(self.n)]),
                np.array([value(self.model.nn.outputs[k]) for k in range(10)]))

    def close(self) -> None:
        pass


def build(reader: str, fmt: str, path: Path, lo, hi):
    return (GurobiMilp if reader == "gurobi-ml" else OmltMilp)(fmt, path, np.asarray(lo), np.asarray(hi))


@dataclass
class Answer:
    answer: str                    # "robust": every bound < MARGIN; "not robust": a value ≥ MARGIN; else "undecided"
    optima: dict                   # class j → max (y_j − y_c) over the ball
    target: int | None             # the class of the largest optimum when not robust
    counterexample: np.ndarray | None   # its maximiser x', shaped like the image
    seconds: float                 # all the queries, the model's building included
    size: tuple                    # (variables, constraints) of the MILP


def robustness(tiny: Tiny, reader: str, fmt: str, epsilon: float) -> Answer:
    # is the class c of image x constant on {x' : |x' − x|∞ ≤ ε, 0 ≤ x' ≤ 1}? max y_j − y_c for every j ≠ c
    key = (reader, fmt, epsilon)
    if key not in tiny.answers:
        x, c = tiny.x[tiny.image].ravel().astype(np.float64), int(tiny.y[tiny.image])
        started = time.perf_counter()
        milp = build(reader, fmt, tiny.files[fmt], np.maximum(x - epsilon, 0), np.minimum(x + epsilon, 1))
        optima, bounds, points = {}, {}, {}
        for j in (j for j in range(10) if j != c):
            optima[j], bounds[j] = milp.solve(j, c)
            points[j] = milp.values()[0].reshape(tiny.x.shape[1:])
        milp.close()
        j = max(optima, key=optima.get)
        answer = ("not robust" if optima[j] >= MARGIN else "robust" if max(bounds.values()) < MARGIN
                  else "undecided")
        tiny.answers[key] = Answer(answer, optima, j if answer == "not robust" else None,
                                   points[j] if answer == "not robust" else None, time.perf_counter() - started,
                                   milp.size)
        MILP_ROBUSTNESS[key] = tiny.answers[key]
    return tiny.answers[key]


def assert_counterexample(tiny: Tiny, found: np.ndarray, epsilon: float, who: str) -> None:
    # x' lies in the ball and the box (within MILP_BALL_ATOL), and Keras, replayed, gives another class
    __tracebackhide__ = True
    x, c = tiny.x[tiny.image], int(tiny.y[tiny.image])
    assert found.shape == x.shape, f"{who}: counterexample shape {found.shape} != {x.shape}"
    assert np.abs(found - x).max() <= epsilon + MILP_BALL_ATOL, f"{who}: |x' − x|∞ = {np.abs(found - x).max()}"
    assert found.min() >= -MILP_BALL_ATOL and found.max() <= 1 + MILP_BALL_ATOL, f"{who}: x' outside [0, 1]"
    replay = keras_outputs(tiny.model, found.astype(np.float32)[None])[0]
    assert replay.argmax() != c, f"{who}: Keras still says class {c} on the counterexample: {replay}"


def test_exports_are_flat_dense_relu(tiny):
    # what the readers need, as written: the ONNX graph Gemm/Relu only on a [N, 64] input, Gemm's attributes
    # explicit; the Keras file a flat Input and Dense layers only
    import keras
    import onnx

    graph = onnx.load(str(tiny.files["onnx"])).graph
    assert op_types(tiny.files["onnx"]) == ["Gemm", "Relu"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [0, TINY_SIZE * TINY_SIZE]
    assert all({a.name for a in node.attribute} == {"alpha", "beta", "transA", "transB"}
               for node in graph.node if node.op_type == "Gemm")
    loaded = keras.saving.load_model(tiny.files["keras"])
    assert loaded.input_shape == (None, TINY_SIZE * TINY_SIZE)
    assert {type(layer).__name__ for layer in loaded.layers} == {"Dense"}


@pytest.mark.parametrize("reader, fmt", READERS)
def test_milp_reads_the_export_and_gives_keras_logits(tiny, reader, fmt):
    # three test images, the MILP built once on the box [0, 1] and its inputs fixed to each image in turn
    x = tiny.x[:3]
    logits = keras_outputs(tiny.model, x)
    started = time.perf_counter()
    milp = build(reader, fmt, tiny.files[fmt], np.zeros(TINY_SIZE * TINY_SIZE), np.ones(TINY_SIZE * TINY_SIZE))
    theirs = []
    for image in x:
        milp.fix(image.ravel())
        milp.solve()
        theirs.append(milp.values()[1])
    milp.close()
    theirs = np.stack(theirs)
    ops = ", ".join(op_types(tiny.files[fmt])) if fmt == "onnx" else "Dense (relu, linear)"
    OTHERS[f"milp-{reader}-{fmt}"] = (
        RUNTIMES[reader], f"{'ONNX' if fmt == 'onnx' else 'Keras'}, Dense+ReLU (8×8 CNN; MILP {milp.size[0]:,} "
        f"variables, {milp.size[1]:,} constraints)", ops, len(x), float(np.abs(theirs - logits).max()),
        float((theirs.argmax(1) == logits.argmax(1)).mean()), time.perf_counter() - started)
    assert_within(theirs, logits, MILP_EVAL_RTOL * float(np.abs(logits).max()), f"{reader} on the {fmt} export")


def test_marabou_answers_the_robustness_question(tiny):
    # the verifier's answer at both radii on the same ONNX file (hw5.convert.verify, as tests/test_verify.py)
    pytest.importorskip("maraboupy", reason="maraboupy has wheels for CPython 3.11 on x86-64 Linux only")
    from hw5.convert.verify import local_robustness

    x, c = tiny.x[tiny.image], int(tiny.y[tiny.image])
    for epsilon, expected in EXPECTED.items():
        result = local_robustness(tiny.files["onnx"], x, c, epsilon, MARGIN, timeout=120)
        MILP_ROBUSTNESS[("Marabou", "onnx", epsilon)] = result
        assert result.answer == expected, f"Marabou at ε = {epsilon}: {result.answer}"
        if expected == "not robust":
            assert_counterexample(tiny, result.counterexample, epsilon, "Marabou")


@pytest.mark.parametrize("reader, fmt", READERS)
def test_milp_answers_the_robustness_question_as_marabou(tiny, reader, fmt):
    # robust at ROBUST_EPSILON (every max y_j − y_c bounded below MARGIN), not at FRAGILE_EPSILON (a maximiser
    # with y_j − y_c ≥ MARGIN, which Keras replays to another class): Marabou's answers (the test above)
    for epsilon, expected in EXPECTED.items():
        result = robustness(tiny, reader, fmt, epsilon)
        assert result.answer == expected, f"{reader} ({fmt}) at ε = {epsilon}: {result.answer}, optima {result.optima}"
        if expected == "not robust":
            assert_counterexample(tiny, result.counterexample, epsilon, f"{reader} ({fmt})")


def test_gurobi_and_highs_reach_the_same_optima(tiny):
    # the two MILPs are one network: every query's optimum agrees between Gurobi and HiGHS and between the
    # two files, within the solvers' MIP gap
    for epsilon in EXPECTED:
        optima = {(reader, fmt): robustness(tiny, reader, fmt, epsilon).optima for reader, fmt in READERS}
        reference = np.array(list(optima[READERS[0]].values()))
        for (reader, fmt), values in optima.items():
            assert_within(np.array(list(values.values())), reference, MILP_OPTIMUM_RTOL * np.maximum(
                np.abs(reference), 1), f"optima of {reader} ({fmt}) vs {READERS[0]} at ε = {epsilon}")
