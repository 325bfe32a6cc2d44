"""Is a Keras model's class constant on an L∞ ball around an image? One function, three engines.

`robustness(model, x, epsilon, margin=0.0, engine="highs", timeout=None)` first says what it will cost, from the
Keras model alone (hw5.convert.estimate.verify_estimate: the Dense+ReLU form's width, depth, ReLUs, non-zeros; the
conversion's and the engine's peak memory) and refuses (TooLarge) past MEMORY_SHARE of MemAvailable or, for
gurobi, past its licence's variables. Then it converts the model to its Dense+ReLU form (hw5.convert.fold.from_keras,
sparse; hw5.convert.relu_only), bounds every ReLU's input on the ball by interval arithmetic
(hw5.convert.bounds), refuses past MAX_UNSTABLE[engine] unstable ReLUs (the ones a binary or a case split is for),
drops the always-inactive ones, and for the class c Keras gives x and every other class j asks the engine
(hw5.convert.engines), the classes in the order of Keras' logits at x (the likeliest counterexample first):

    is there an x' with |x' − x|∞ ≤ ε and lower ≤ x' ≤ upper such that logit_j(x') − logit_c(x') ≥ −margin?

The bounds [lower, upper] default to [0, 1], the range of the images the homework's models take
(hw5.data.preprocess: uint8 / 255). margin = 0 is the plain question: "no" for every j proves the class cannot
change anywhere in the ball, and a tie (logit_j = logit_c) counts against robustness. margin m > 0 asks more:
"robust" then means c beats every other class by more than m on the whole ball.

"yes" for some j: the engine's x' is moved into the ball and the bounds exactly (hw5.convert.verify.into_ball:
clip, then ulp steps, in x's dtype) and replayed through the Keras model; it is a counterexample only if Keras
there has logit_j − logit_c ≥ −margin (for margin 0: another class wins or ties). A point that loses that in the
clipping or in Keras' float32 arithmetic leaves the answer "unknown", said in `note`. The answer: "robust"
(every query "no"), "not robust" (a replayed counterexample; the remaining queries are not asked), "unknown"
(out of time, or a point that did not replay). `timeout` is for all the queries together (not the conversion).
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw5.convert.bounds import interval_bounds, pruned
from hw5.convert.engines import ENGINES, GUROBI_LICENCE, Problem, TooLarge, missing
from hw5.convert.verify import into_ball

# Unstable ReLUs (interval bounds on the ball straddle 0) above which an engine is refused before its model is
# built: each is a binary variable of the MILP (a case split for Marabou), and the search grows exponentially
# with them; the stable ones are linear equations. Measured here (tests/test_verify_cifar.py, docs/exports.md):
# HiGHS answered the CIFAR chain's 78 unstable ReLUs in 0.4–4 s a query and found the residual net's counterexample
# among 352 in 15 s; the 16/32-channel CNN's 4,285 ran past 400 s without an answer. 2,000 is between the two.
# Marabou took 118 s (78 unstable, robust) and 293 s (352, not robust) on the residual net: half that, 1,000.
MAX_UNSTABLE = {"highs": 2000, "omlt": 2000, "gurobi": 2000, "marabou": 1000}


class EngineMissing(RuntimeError):
    """The engine's Python modules are not installed (the message names the pip extra)."""


@dataclass
class QueryLine:
    target: int          # class j
    answer: str          # "sat", "unsat", "unknown"
    seconds: float
    value: float | None  # the engine's y_j − y_c at its point (sat) or its bound (unsat), when it gives one


@dataclass
class Verdict:
    answer: str                         # "robust", "not robust" or "unknown"
    label: int                          # the class c Keras gives x
    epsilon: float
    margin: float
    engine: str
    relus: int                          # ReLUs of the Dense+ReLU form
    unstable: int                       # of them, those whose interval bounds on the ball straddle 0
    seconds: float                      # everything: conversion, building the engine's model, the queries
    queries: list[QueryLine] = field(default_factory=list)
    target: int | None = None           # the class j of the counterexample
    counterexample: np.ndarray | None = None   # x' inside the ball and bounds, shaped and typed like x
    keras_logits: np.ndarray | None = None     # Keras' logits at x'
    note: str = ""                      # why unknown


def keras_logits(model, x: np.ndarray) -> np.ndarray:
    """The Keras model's outputs for one image x (H, W, C), float64 (the logits of `logits_model(model)`; a
    channels-first model's through its channels-last twin: hw5.convert.reference)."""
    from hw5.convert.reference import keras_reference

    return keras_reference(model, x[None])[0].astype(np.float64)


def dense_relu(model):
    """(Dense+ReLU net, ReLU count) of a Keras model, its matrices sparse (the conversion checks itself against
    Keras)."""
    from hw5.convert import from_keras
    from hw5.convert.relu_only import relu_only

    net = relu_only(from_keras(model, sparse=True))
    relus = sum(int(layer.W.shape[1]) for layer in net.layers[0::2][:-1])
    return net, relus


def sizes_first(model, engine: str, say, available: int | None = None) -> None:
    """Print hw5.convert.estimate.verify_estimate's table; TooLarge (one line, the figures, a way out) when a
    peak is past MEMORY_SHARE of MemAvailable, or for gurobi when the inputs and outputs alone are past its
    licence."""
    from hw5.convert.estimate import available_memory, keras_dense_relu, refusal, table, verify_estimate

    rows = verify_estimate(model, engine)
    say("sizes before any work (from the Keras model):\n" + table(rows))
    why = refusal(rows, available_memory() if available is None else available)
    if why:
        raise TooLarge(why.replace("; nothing written", "; nothing converted"))
    s = keras_dense_relu(model)
    if engine == "gurobi" and s["inputs"] + s["outputs"] > GUROBI_LICENCE:
        raise TooLarge(f"gurobi: {s['inputs']:,} input and {s['outputs']} output variables alone are past the "
                       f"{GUROBI_LICENCE:,} variables of gurobipy's size-limited pip licence; use --engine highs "
                       f"(open source) or a smaller input")


def robustness(model, x, epsilon: float, margin: float = 0.0, engine: str = "highs", timeout: float | None = None,
               lower: float = 0.0, upper: float = 1.0, max_unstable: int | None = None,
               say: Callable[[str], None] | None = None, available: int | None = None) -> Verdict:
    """The module's question for image x (H, W, C) of the Keras `model`, radius `epsilon` (L∞), `margin` ≥ 0.
    `available`: the bytes of memory to plan with (default: MemAvailable).

    Raises ValueError for a bad argument, EngineMissing, TooLarge (before any solving)."""

    say = say or (lambda msg: None)
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if not (np.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    x = np.asarray(x)
    if x.shape != tuple(model.input_shape[1:]):
        raise ValueError(f"image shape {x.shape} is not the model's input shape {tuple(model.input_shape[1:])}")
    if not (np.all(np.isfinite(x)) and x.min() >= lower and x.max() <= upper):
        raise ValueError(f"image values must lie in the input bounds [{lower:g}, {upper:g}]")
    why = missing(engine)
    if why:
        raise EngineMissing(why)
    from hw5.convert.relu_only import logits_model

    started = time.perf_counter()
    x = x.astype(model.inputs[0].dtype)
    model = logits_model(model)   # a last softmax left out: the margin is in logits, as the engines' outputs are
    sizes_first(model, engine, say, available)
    logits = keras_logits(model, x)
    c = int(logits.argmax())
    net, relus = dense_relu(model)
    from hw5.convert.relu_only import width_and_depth

    width, depth = width_and_depth(net)
    x64 = x.astype(np.float64).ravel()
    lo, hi = np.maximum(x64 - epsilon, lower), np.minimum(x64 + epsilon, upper)
    bounds = interval_bounds(net, lo, hi)
    say(f"Dense+ReLU form: {depth} Dense layers, width {width:,}, {relus:,} ReLUs, {x.size:,} inputs, "
        f"{logits.size} classes; Keras' class {c} (logit {logits[c]:.4f}); converted in "
        f"{time.perf_counter() - started:.1f} s")
    say(f"interval bounds on the ball: {bounds.summary()}")
    limit = MAX_UNSTABLE[engine] if max_unstable is None else max_unstable
    if bounds.unstable > limit:
        raise TooLarge(f"{bounds.unstable:,} unstable ReLUs on the ball (of {relus:,}; interval bounds), more than "
                       f"the {limit:,} that {engine} is asked to answer here (each a binary variable or a case "
                       f"split); try a smaller --epsilon, a smaller input or model")
    small, active = pruned(net, bounds)
    verdict = Verdict("robust", c, float(epsilon), float(margin), engine, relus, bounds.unstable, 0.0)

    def remaining() -> float:   # seconds left for the queries (1e9: no timeout)
        return 1e9 if timeout is None else timeout - (time.perf_counter() - asking)
    with tempfile.TemporaryDirectory(prefix="hw5-verify-") as folder:
        solver = ENGINES[engine](Problem(small, lo, hi, active, Path(folder)))
        say(f"{engine}: the model of the net built, {time.perf_counter() - started:.1f} s since the start")
        asking = time.perf_counter()   # the timeout counts from here: the queries, not the conversion
        try:
            for j in (j for j in np.argsort(-logits, kind="stable") if j != c):   # the runners-up first
                j = int(j)
                t0 = time.perf_counter()
                q = solver.query(c, j, float(margin), remaining())
                line = QueryLine(j, q.answer, time.perf_counter() - t0, q.value)
                verdict.queries.append(line)
                say(f"class {j}: {q.answer}{figure(q, j, c)}, {line.seconds:.2f} s" + (f" — {q.note}" * bool(q.note)))
                if q.answer == "unknown":
                    verdict.answer, verdict.note = "unknown", q.note
                    break
                if q.answer == "sat" and not replay(verdict, model, x, j, q.point, (lower, upper), say):
                    # a point on the boundary (Marabou gives any point, a MILP its maximiser): ask once more
                    # for one beating the margin by 1e-3 of the logits' scale, which survives float32 and clipping
                    stricter = margin - 1e-3 * max(1.0, float(np.abs(logits).max()))
                    q = solver.query(c, j, stricter, remaining())
                    say(f"class {j} again, asking y_{j} − y_{c} ≥ {-stricter:.4g}: {q.answer}")
                    if q.answer == "sat" and replay(verdict, model, x, j, q.point, (lower, upper), say):
                        break
                elif q.answer == "sat":
                    break
        finally:
            solver.close()
    verdict.seconds = time.perf_counter() - started
    return verdict


def figure(q, j: int, c: int) -> str:
    """The query's figure for its progress line: the maximum's bound (unsat) or the point's value (sat)."""
    if q.value is None:
        return ""
    return f" (max y_{j} − y_{c} ≤ {q.value:.4f})" if q.answer == "unsat" else f" (y_{j} − y_{c} = {q.value:.4f})"


def replay(verdict: Verdict, model, x: np.ndarray, j: int, point: np.ndarray, bounds: tuple, say) -> bool:
    """Move the engine's point into the ball and replay it in Keras; True (verdict "not robust") if Keras there
    has logit_j − logit_c ≥ −margin, else the verdict becomes "unknown" with a note and the search goes on."""
    c = verdict.label
    found = into_ball(point.reshape(x.shape), x, verdict.epsilon, *bounds, dtype=x.dtype)
    theirs = keras_logits(model, found)
    if theirs[j] - theirs[c] >= -verdict.margin:
        verdict.answer, verdict.target, verdict.counterexample, verdict.keras_logits = "not robust", j, found, theirs
        verdict.note = ""
        return True
    verdict.answer = "unknown"
    verdict.note = (f"the engine's point for class {j}, clipped into the ball, does not replay in Keras "
                    f"(logit_{j} − logit_{c} = {theirs[j] - theirs[c]:.3g} < −{verdict.margin:g})")
    say(verdict.note)
    return False
