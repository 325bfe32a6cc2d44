"""`hw5 verify MODEL (--image FILE.npy | --test-index K) --epsilon E [--margin M]
[--engine highs|omlt|marabou|gurobi] [--timeout S] [--out DIR]`: is the class the Keras model gives an image
constant on the L∞ ball of radius E?

Sizes are estimated and printed first; the model is converted to its Dense+ReLU form, its ReLUs bounded on the
ball, and every other class j asked, one query each, by a complete engine: is there an x' with |x' − x|∞ ≤ E
and 0 ≤ x' ≤ 1 where logit_j(x') − logit_c(x') ≥ −M?
(hw5.convert.robustness.robustness does the same in Python.)
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from hw5.deliver.arguments import Refused, fail, writable_directory

EPILOG = """\
the question: c is the class Keras gives the image x; for each other class j the engine is asked whether some
  x' with |x' − x|∞ ≤ E and 0 ≤ x' ≤ 1 has logit_j(x') − logit_c(x') ≥ −M. The bounds [0, 1] are the images'
  range (hw5.data.preprocess: uint8 / 255); the image must lie in them.
  --margin 0 (the default) is the plain question: "no" for every j proves the class cannot change in the
  ball, and a tie counts against robustness. M > 0 asks that c win by more than M everywhere.
a counterexample: the engine's x' clipped into [x − E, x + E] ∩ [0, 1] (then ulp steps, so that
  |x' − x|∞ ≤ E holds exactly in float64), replayed through the Keras model, written to DIR/counterexample.npy
  only if Keras there still has logit_j − logit_c ≥ −M; else the answer is unknown, and why is printed.
sizes first: before converting, the Dense+ReLU form's width, depth, ReLUs and non-zeros are estimated from the
  Keras model with the conversion's and the engine's peak memory (hw5.convert.estimate.verify_estimate) and
  printed; past 75% of MemAvailable, or for gurobi past its licence's 2,000 variables, refused (exit 2), nothing
  converted or written. Then every ReLU's input is bounded on the ball (interval arithmetic): only the unstable
  ones (bounds straddling 0) cost a binary variable or a case split; past 2,000 of them (1,000 for marabou:
  hw5.convert.robustness.MAX_UNSTABLE) refused (exit 2) with the figures; the always-inactive ones are dropped.
engines: highs (the big-M MILP from the non-zeros and the bounds, HiGHS; open source), omlt (OMLT's big-M of the
  ONNX file, HiGHS through pyomo: a term per dense weight, slow past ~1 M) and gurobi (gurobi-machinelearning;
  pip's size-limited licence) need the `milp` extra, marabou (maraboupy) the `test` extra.
exit codes:
  0  robust: every query answered "no"
  1  not robust: a counterexample, replayed in Keras, written to DIR/counterexample.npy
  3  unknown: out of time (--timeout), or the engine's point did not replay
  2  a bad argument or file, a missing engine, a net past memory, a licence or the unstable ReLUs: one line on
     stderr"""


def finite(kind: str, minimum: float, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"expected a finite {kind} {'>' if strict else '>='} {minimum:g}, "
                                             f"got {text!r}")
        return value
    return parse


def index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a test image index 0..9999, got {text!r}") from None
    if not 0 <= value < 10000:
        raise argparse.ArgumentTypeError(f"expected a test image index 0..9999, got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="is a Keras model's class constant on an L∞ ball around an image? "
                       "(Dense+ReLU form; HiGHS, Marabou or Gurobi)", description=__doc__.split("\n\n")[1],
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .keras/.h5 file, or part1/part2 (the homework's trained models)")
    image = p.add_mutually_exclusive_group(required=True)
    image.add_argument("--image", metavar="FILE.npy", type=Path,
                       help="the image, a .npy array of the model's input shape (H, W, C) or (1, H, W, C), in [0, 1]")
    image.add_argument("--test-index", metavar="K", type=index,
                       help="Fashion-MNIST's test image K (hw5.homework.data), for a model taking 28×28×1 images")
    p.add_argument("--epsilon", metavar="E", type=finite("radius", 0, True), required=True,
                   help="the L∞ radius, in the image's units (pixels in [0, 1]), E > 0")
    p.add_argument("--margin", metavar="M", type=finite("margin", 0, False), default=0.0,
                   help="M >= 0, in logits: robust means c beats every other class by more than M on the ball "
                        "(default 0: the class cannot change, ties count against)")
    p.add_argument("--engine", choices=("highs", "omlt", "marabou", "gurobi"), default="highs",
                   help="the complete engine (default highs: the big-M MILP in HiGHS, open source, the `milp` extra)")
    p.add_argument("--timeout", metavar="S", type=finite("number of seconds", 0, True), default=None,
                   help="seconds for all the queries together (not the conversion); past it the answer is "
                        "unknown (default: none)")
    p.add_argument("--out", metavar="DIR", type=writable_directory, default=Path("."),
                   help="where counterexample.npy goes, made if missing (default: the current directory)")


def _say(msg: str) -> None:
    print(f"[hw5] {msg}", flush=True)


def read_image(args, model) -> tuple[np.ndarray, str]:
    shape = tuple(model.input_shape[1:])
    if args.test_index is not None:
        if shape != (28, 28, 1):
            raise Refused(f"--test-index: Fashion-MNIST images are 28×28×1, the model takes {shape}; use --image")
        from hw5.homework.data import load_fashion_mnist, preprocess

        (_, _), (x_test, y_test) = load_fashion_mnist()
        k = args.test_index
        return preprocess(x_test[k:k + 1])[0], f"Fashion-MNIST test image {k} (label {int(y_test[k])})"
    name = str(args.image)
    if args.image.suffix != ".npy":
        raise Refused(f"--image {name!r}: not a .npy file name")
    try:
        x = np.load(args.image, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise Refused(f"--image {name!r} cannot be read as a .npy array: {exc}") from None
    if x.shape == (1, *shape):
        x = x[0]
    if x.shape != shape:
        raise Refused(f"--image {name!r}: shape {x.shape}, the model takes {shape} (or (1, *that))")
    if x.dtype.kind not in "fiu" or not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise Refused(f"--image {name!r}: values must be finite numbers in [0, 1] (images as uint8 / 255)")
    return x, f"{name}"


def main(args) -> int:
    from hw5.convert.robustness import EngineMissing, TooLarge, robustness
    from hw5.deliver.convert_cmd import load_model

    prog = "hw5 verify"
    try:
        from hw5.convert.engines import missing

        why = missing(args.engine)
        if why:
            raise Refused(why)
        model, _ = load_model(args.model)
        x, what = read_image(args, model)
        _say(f"{args.model}: {what}; ε = {args.epsilon:g} (L∞), margin {args.margin:g}, inputs in [0, 1], "
             f"engine {args.engine}" + (f", timeout {args.timeout:g} s" if args.timeout else ""))
        verdict = robustness(model, x, args.epsilon, args.margin, args.engine, args.timeout, say=_say)
    except (Refused, EngineMissing, TooLarge, ValueError) as exc:
        return fail(prog, str(exc))
    asked = len(verdict.queries)
    asked = f"{asked} {'query' if asked == 1 else 'queries'}"
    print(f"answer: {verdict.answer} — class {verdict.label} at ε = {verdict.epsilon:g}, margin {verdict.margin:g} "
          f"({asked}, {sum(q.seconds for q in verdict.queries):.2f} s solving, {verdict.seconds:.2f} s "
          f"in all, {verdict.engine})", flush=True)
    if verdict.answer == "not robust":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "counterexample.npy"
        np.save(path, verdict.counterexample)
        found, c, j = verdict.counterexample, verdict.label, verdict.target
        distance = float(np.abs(found.astype(np.float64) - x.astype(np.float64)).max())
        logits = verdict.keras_logits
        print(f"counterexample: {path} (|x' − x|∞ = {distance:.9g} ≤ {verdict.epsilon:g}, values in "
              f"[{float(found.min()):.4g}, {float(found.max()):.4g}])")
        print(f"Keras on it: class {int(logits.argmax())} (was {c}); logits "
              + " ".join(f"{v:.4f}" for v in logits) + f"; logit_{j} − logit_{c} = {logits[j] - logits[c]:.4f}")
        if int(logits.argmax()) == c:   # margin M > 0: c still wins there, by no more than M
            print(f"the class is kept at x' but within the margin: logit_{c} − logit_{j} ≤ {verdict.margin:g}")
        return 1
    if verdict.answer == "unknown":
        print(f"unknown: {verdict.note}")
        return 3
    return 0
