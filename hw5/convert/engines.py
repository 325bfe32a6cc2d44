"""The engines that answer one L∞ query about a Dense+ReLU chain on a box (hw5.convert.robustness drives them).

A query, for the box B = [lo, hi] (the ball ∩ the input bounds, flat channels-last inputs), the image's class c,
another class j and a margin m ≥ 0: is there an x' in B with y_j(x') − y_c(x') ≥ −m?

Every engine gets a `Problem`: the chain without its always-inactive neurons (hw5.convert.bounds.pruned, the
same function on B), the box, and per hidden layer which neurons are always active on B.

- `highs`: the big-M MILP written from the chain's non-zeros and its interval bounds, only the unstable ReLUs
  binary (hw5.convert.bigm), solved by HiGHS (highspy). The `milp` extra.
- `omlt`: OMLT's big-M MILP (ReluBigMFormulation) of the chain's ONNX file, its always-active ReLUs' binaries
  fixed to 1, solved by HiGHS through pyomo's appsi interface. OMLT writes a term for every dense weight, zero
  or not (41 s to build for 2.5 M of them here). The `milp` extra.
- `gurobi`: gurobi-machinelearning's MILP of the ONNX file, solved by Gurobi (pip's size-limited licence:
  ~2,000 variables and constraints; past it the engine refuses, TooLarge). The `milp` extra.
- `marabou`: Marabou's complete search for a point with y_c − y_j ≤ m on the ONNX file (maraboupy, the
  `test` extra); the file is read once, each query's bounds and inequality are its property.

Each `query(c, j, margin, seconds)` returns a `Query`: "unsat" (no such x': the MILP's bound on max y_j − y_c
is < −m, or Marabou's unsat), "sat" with the engine's x' (flat, float64, as the engine gave it: the caller
clips and replays it), or "unknown" (out of time, or the solver stopped otherwise; `note` says why).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EXTRA = {"highs": "milp", "omlt": "milp", "gurobi": "milp", "marabou": "test"}
MODULES = {"highs": ("highspy",), "omlt": ("pyomo", "highspy", "omlt", "onnx"),
           "gurobi": ("gurobipy", "gurobi_ml", "onnx"), "marabou": ("maraboupy", "onnx")}
# gurobipy's pip licence: a model of at most this many variables and as many linear constraints
GUROBI_LICENCE = 2000


class TooLarge(ValueError):
    """The query is past what the engine is asked to answer here (the message gives the figures)."""


@dataclass
class Problem:
    """What every engine is given: `net` the Dense+ReLU chain (always-inactive neurons dropped), the box
    [lo, hi] (flat float64), `active[k]` the always-active neurons of hidden layer k (boolean), and a folder
    where `onnx()` writes the chain's ONNX file once, for the engines that read one."""
    net: object
    lo: np.ndarray
    hi: np.ndarray
    active: list
    folder: Path
    files: dict = field(default_factory=dict)

    def onnx(self) -> Path:
        if "onnx" not in self.files:
            from hw5.convert.export import to_onnx

            self.files["onnx"] = to_onnx(self.net, Path(self.folder) / "net.onnx")
        return self.files["onnx"]


@dataclass(frozen=True)
class Query:
    answer: str                        # "sat", "unsat" or "unknown"
    point: np.ndarray | None = None    # the engine's x' (flat) when sat
    value: float | None = None         # y_j − y_c at that point (the engine's arithmetic), or the bound if unsat
    note: str = ""                     # why unknown (the solver's status)


def missing(engine: str) -> str | None:
    """None if the engine's modules import, else a one-line way to install them."""
    import importlib

    for name in MODULES[engine]:
        try:
            importlib.import_module(name)
        except ImportError:
            return (f"engine {engine!r} needs the Python module {name!r}: install the `{EXTRA[engine]}` extra "
                    f"(pip install -e '.[{EXTRA[engine]}]')")
    return None


@contextmanager
def quiet_pyomo():
    """OMLT starts every input at 0, which pyomo logs (W1002) once per input outside its bounds."""
    logger = logging.getLogger("pyomo.core")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class OmltEngine:
    def __init__(self, problem: Problem):
        import onnx
        import pyomo.environ as pyo
        from omlt import OmltBlock
        from omlt.io import load_onnx_neural_network
        from omlt.neuralnet import ReluBigMFormulation
        from pyomo.contrib.appsi.solvers import Highs

        lo, hi = problem.lo, problem.hi
        bounds = {k: (float(a), float(b)) for k, (a, b) in enumerate(zip(lo, hi, strict=True))}
        with quiet_pyomo():
            definition = load_onnx_neural_network(onnx.load(str(problem.onnx())), None, bounds)
            self.model = pyo.ConcreteModel()
            self.model.nn = OmltBlock()
            self.model.nn.build_formulation(ReluBigMFormulation(definition))
        relu_blocks = [self.model.nn.layer[id(layer)] for layer in definition.layers]
        relu_blocks = [block for block in relu_blocks if hasattr(block, "q_relu")]
        for block, active in zip(relu_blocks, problem.active, strict=True):   # q = 1: z = ẑ, a linear equation
            for index, on in zip(block.q_relu, active, strict=True):
                if on:
                    block.q_relu[index].fix(1)
        self.pyo, self.n, self.solver = pyo, len(lo), Highs()
        self.solver.config.load_solution = False

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        from pyomo.common.tee import capture_output

        pyo, out = self.pyo, self.model.nn.outputs
        if hasattr(self.model, "objective"):
            self.model.del_component(self.model.objective)
        self.model.objective = pyo.Objective(expr=out[j] - out[c], sense=pyo.maximize)
        self.solver.config.time_limit = max(seconds, 0.01)
        with quiet_pyomo(), capture_output(capture_fd=True):   # HiGHS' C++ warnings on a changed objective
            result = self.solver.solve(self.model)
        best, bound = result.best_feasible_objective, result.best_objective_bound
        if best is not None and best >= -margin:
            result.solution_loader.load_vars()
            point = np.array([pyo.value(self.model.nn.inputs[k]) for k in range(self.n)])
            return Query("sat", point, float(best))
        if bound is not None and bound < -margin:
            return Query("unsat", value=float(bound))
        return Query("unknown", note=f"HiGHS (OMLT): {result.termination_condition.name}"
                     + (f", bound {bound:.4g} ≥ −{margin:g}" if bound is not None else ""))

    def close(self) -> None:
        pass


def gurobi_size(net, inputs: int) -> tuple[int, int]:
    """(variables, linear constraints) of gurobi-machinelearning's model of a Dense+ReLU chain: the inputs, per
    hidden neuron its affine value and its ReLU (a max general constraint), the outputs; a linear constraint
    per neuron. What the licence counts, known before the model is built."""
    from hw5.convert.bounds import dense_layers

    widths = [int(layer.W.shape[1]) for layer in dense_layers(net)]
    return inputs + 2 * sum(widths[:-1]) + widths[-1], sum(widths)


class GurobiEngine:
    def __init__(self, problem: Problem):
        import gurobipy as gp
        import onnx
        from gurobi_ml import add_predictor_constr

        lo, hi = problem.lo, problem.hi
        variables, constraints = gurobi_size(problem.net, len(lo))
        if max(variables, constraints) > GUROBI_LICENCE:
            raise TooLarge(f"gurobi: its model of this net would have {variables:,} variables and {constraints:,} "
                           f"constraints ({len(lo):,} inputs, 2 per hidden neuron), past the {GUROBI_LICENCE:,} of "
                           f"gurobipy's size-limited pip licence; use --engine highs (open source)")
        self.env = gp.Env(empty=True)
        self.env.setParam("OutputFlag", 0)
        self.env.start()
        self.gp, self.model = gp, gp.Model(env=self.env)
        self.x = self.model.addMVar((1, len(lo)), lb=np.asarray(lo)[None], ub=np.asarray(hi)[None], name="x")
        predictor = onnx.load(str(problem.onnx()))
        outputs = predictor.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
        self.y = self.model.addMVar((1, outputs), lb=-gp.GRB.INFINITY, name="y")
        add_predictor_constr(self.model, predictor, self.x, self.y)

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        grb = self.gp.GRB
        self.model.setObjective(self.y[0, j] - self.y[0, c], grb.MAXIMIZE)
        self.model.setParam("TimeLimit", max(seconds, 0.01))
        self.model.optimize()
        if self.model.SolCount and self.model.ObjVal >= -margin:
            return Query("sat", np.asarray(self.x.X[0], np.float64), float(self.model.ObjVal))
        if self.model.Status in (grb.OPTIMAL, grb.TIME_LIMIT) and self.model.ObjBound < -margin:
            return Query("unsat", value=float(self.model.ObjBound))
        return Query("unknown", note=f"Gurobi status {self.model.Status}")

    def close(self) -> None:
        self.model.dispose()
        self.env.dispose()


class MarabouEngine:
    def __init__(self, problem: Problem):
        from hw5.convert.verify import read_network

        self.net, self.lo, self.hi = read_network(problem.onnx()), problem.lo, problem.hi

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        from hw5.convert.verify import marabou_options

        if seconds <= 0:
            return Query("unknown", note="Marabou: no time left")
        net = self.net
        net.clearProperty()
        inputs, outputs = np.asarray(net.inputVars[0]).ravel(), np.asarray(net.outputVars[0]).ravel()
        for var, a, b in zip(inputs, self.lo, self.hi, strict=True):
            net.setLowerBound(int(var), float(a))
            net.setUpperBound(int(var), float(b))
        net.addInequality([int(outputs[c]), int(outputs[j])], [1.0, -1.0], float(margin),   # y_c − y_j ≤ m
                          isProperty=True)
        code, values, _ = net.solve(verbose=False, options=marabou_options(seconds))
        if code == "sat":
            point = np.array([values[int(v)] for v in inputs])
            return Query("sat", point, float(values[int(outputs[j])] - values[int(outputs[c])]))
        if code == "unsat":
            return Query("unsat")
        return Query("unknown", note=f"Marabou: {code}")

    def close(self) -> None:
        pass


class HighsEngine:
    def __init__(self, problem: Problem):
        from hw5.convert.bigm import BigMHighs

        self.milp = BigMHighs(problem.net, problem.lo, problem.hi)

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        status, best, bound, point = self.milp.maximise(c, j, seconds, target=-float(margin))
        if best is not None and best >= -margin:
            return Query("sat", point, best)
        if bound is not None and np.isfinite(bound) and bound < -margin:
            return Query("unsat", value=bound)
        return Query("unknown", note=f"HiGHS: {status}"
                     + (f", bound {bound:.4g} ≥ −{margin:g} > best {best:.4g}" if best is not None else ""))

    def close(self) -> None:
        pass


ENGINES = {"highs": HighsEngine, "omlt": OmltEngine, "gurobi": GurobiEngine, "marabou": MarabouEngine}
