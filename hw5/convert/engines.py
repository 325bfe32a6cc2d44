"""The three engines that answer one L∞ query about a Dense+ReLU ONNX file (hw5.convert.robustness drives them).

A query, for the box B = [lo, hi] (the ball ∩ the input bounds, flat channels-last inputs), the image's class c,
another class j and a margin m ≥ 0: is there an x' in B with y_j(x') − y_c(x') ≥ −m?

- `highs`: OMLT's big-M MILP (ReluBigMFormulation, bounds propagated from B) solved by HiGHS through pyomo's
  appsi interface, maximising y_j − y_c. Open source; the `milp` extra.
- `gurobi`: gurobi-machinelearning's MILP of the same file, maximising y_j − y_c with Gurobi (pip's size-limited
  licence: ~2,000 variables and constraints). The `milp` extra.
- `marabou`: Marabou's complete search for a point with y_c − y_j ≤ m (maraboupy, the `test` extra).

Each `query(c, j, margin, seconds)` returns a `Query`: "unsat" (no such x': the MILP's bound on max y_j − y_c
is < −m, or Marabou's unsat), "sat" with the engine's x' (flat, float64, as the engine gave it: the caller
clips and replays it), or "unknown" (out of time, or the solver stopped otherwise; `note` says why).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

EXTRA = {"highs": "milp", "gurobi": "milp", "marabou": "test"}
MODULES = {"highs": ("pyomo", "highspy", "omlt", "onnx"), "gurobi": ("gurobipy", "gurobi_ml", "onnx"),
           "marabou": ("maraboupy",)}


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


class HighsEngine:
    def __init__(self, path, lo, hi):
        import onnx
        import pyomo.environ as pyo
        from omlt import OmltBlock
        from omlt.io import load_onnx_neural_network
        from omlt.neuralnet import ReluBigMFormulation
        from pyomo.contrib.appsi.solvers import Highs

        bounds = {k: (float(a), float(b)) for k, (a, b) in enumerate(zip(lo, hi, strict=True))}
        with quiet_pyomo():
            definition = load_onnx_neural_network(onnx.load(str(path)), None, bounds)
            self.model = pyo.ConcreteModel()
            self.model.nn = OmltBlock()
            self.model.nn.build_formulation(ReluBigMFormulation(definition))
        self.pyo, self.n, self.solver = pyo, len(lo), Highs()
        self.solver.config.load_solution = False

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        from pyomo.common.tee import capture_output
        from pyomo.contrib.appsi.base import TerminationCondition as done

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
        if result.termination_condition == done.optimal or (bound is not None and bound < -margin):
            return Query("unsat", value=float(bound if bound is not None else best))
        return Query("unknown", note=f"HiGHS: {result.termination_condition.name}")

    def close(self) -> None:
        pass


class GurobiEngine:
    def __init__(self, path, lo, hi):
        import gurobipy as gp
        import onnx
        from gurobi_ml import add_predictor_constr

        self.env = gp.Env(empty=True)
        self.env.setParam("OutputFlag", 0)
        self.env.start()
        self.gp, self.model = gp, gp.Model(env=self.env)
        self.x = self.model.addMVar((1, len(lo)), lb=np.asarray(lo)[None], ub=np.asarray(hi)[None], name="x")
        predictor = onnx.load(str(path))
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
        if self.model.Status == grb.OPTIMAL or (self.model.SolCount and self.model.ObjBound < -margin):
            return Query("unsat", value=float(self.model.ObjBound))
        return Query("unknown", note=f"Gurobi status {self.model.Status}")

    def close(self) -> None:
        self.model.dispose()
        self.env.dispose()


class MarabouEngine:
    def __init__(self, path, lo, hi):
        self.path, self.lo, self.hi = path, lo, hi

    def query(self, c: int, j: int, margin: float, seconds: float) -> Query:
        from hw5.convert.verify import marabou_options, read_network

        if seconds <= 0:
            return Query("unknown", note="Marabou: no time left")
        net = read_network(self.path)
        inputs, outputs = np.asarray(net.inputVars[0]).ravel(), np.asarray(net.outputVars[0]).ravel()
        for var, a, b in zip(inputs, self.lo, self.hi, strict=True):
            net.setLowerBound(int(var), float(a))
            net.setUpperBound(int(var), float(b))
        net.addInequality([int(outputs[c]), int(outputs[j])], [1.0, -1.0], float(margin))   # y_c − y_j ≤ m
        code, values, _ = net.solve(verbose=False, options=marabou_options(seconds))
        if code == "sat":
            point = np.array([values[int(v)] for v in inputs])
            return Query("sat", point, float(values[int(outputs[j])] - values[int(outputs[c])]))
        if code == "unsat":
            return Query("unsat")
        return Query("unknown", note=f"Marabou: {code}")

    def close(self) -> None:
        pass


ENGINES = {"highs": HighsEngine, "gurobi": GurobiEngine, "marabou": MarabouEngine}
