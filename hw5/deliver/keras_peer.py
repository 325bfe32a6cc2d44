"""Keras' own layer tests as a peer suite of from_keras: each case converted, measured, counted by test file.

    python -m hw5.deliver.keras_peer [FILE ...]     FILE relative to keras/src/layers (all of keras_cases.FILES
                                                    by default); prints the outcome table, then every crash, wrong
                                                    case and unreadable reason

The cases come from hw5.deliver.keras_cases (the installed wheel's test modules, read with `ast`). run_case builds
the case's layer alone in a model — keras.Sequential([keras.Input(shape[1:]), X(*args, **kwargs)]), or for a merge
of two inputs keras.Model(x, X([x, ReLU()(x)])) (from_keras takes one input; the second operand differs from the
first where x < 0) — under keras.config.floatx and dtype_policy = the dtype, so the reference is Keras in that
dtype; a None (dynamic) axis of the test's input gets DYNAMIC. keras.utils.set_random_seed(0), then every float
weight is replaced by seeded values: a variance U(0.5, 1.5), everything else N(0, 0.5²) (biases,
BatchNormalization's moving mean, gamma, beta: none trivial). Then from_keras(model, dtype=dtype), and on INPUTS
seeded N(0, 1) inputs max |net.predict(x) − keras_reference(model, x)| ≤ OUTPUT_RTOL[dt] · max |keras_reference(
model, x)| (Keras; for a channels-first model its channels-last twin, hw5.convert.reference), dt the less precise
of the dtype and the one Keras computes the model in (hw5.convert.inspect.keras_precision: a float64 model's LoRA
kernel, resize (any interpolation but nearest) and gelu are float32 inside Keras).

Outcomes: ok; refused (a ValueError raised by hw5's code: its message's first line without the list of supported
layers a "has no NumPy translation" refusal ends with — that list names 3-D layers, so REASONS would read every
such refusal as one; reason(message) is the name of REASONS' first matching regex, else "no translation: <type>",
else "other: …"); wrong (beyond the bound, or from_keras'
own self-check saying its network is not the model); crashed (any other exception from from_keras or predict, a
library's ValueError escaping hw5 included); not a layer case (Keras raised building or calling the model — the
test was of Keras' own argument checks — or a raises-block's layer, never called on data, that Keras accepts).
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from hw5.deliver.keras_cases import FILES, KERAS_LAYERS, Case, all_cases

INPUTS = 2      # seeded inputs a case is compared on
DYNAMIC = 4     # the size given to a None (dynamic) non-batch axis of a test's input
SEED = 0
# reason -> a regex of from_keras' refusal message (first match wins)
REASONS = {
    "no feature axis (a 1-D test input: input shape (None,))": r"input shape \(None,\)",
    "Softmax over a non-last axis": r"softmax over axis",
    "Dot (a product of tensors)": r"\bDot\b",
    "3-D layer": r"of type \w+3D(Transpose)?\b|3-D",
    "an axis of size 0 (an empty input)": r"an axis of size 0",
    "Keras cannot run the model (no reference)": r"Keras itself cannot run the model",
}
NO_TRANSLATION = r"of type (\w+) has no NumPy translation"   # a layer type refused by name: "no translation: X"
SUPPORTED = "; supported: "   # where a no-translation refusal starts listing every supported layer (not its reason)
SELF_CHECK_WRONG = r"the network it built is not the Keras model"
ORDER = ("crashed", "wrong", "refused", "not a layer case", "ok")   # the worse outcome of the two dtypes is the case's


def reason(message: str) -> str:
    """The short reason of a from_keras refusal: REASONS' first match, else 'no translation: <type>' for a layer
    type refused by name, else 'other: ' + the message's start. Only the part before the list of supported layers
    is read (the list names GlobalAveragePooling3D: it is no reason)."""
    message = message.split(SUPPORTED)[0]
    found = next((name for name, pattern in REASONS.items() if re.search(pattern, message)), None)
    untranslated = re.search(NO_TRANSLATION, message)
    if found is None and untranslated:
        found = f"no translation: {untranslated[1]}"
    return found or "other: " + message.strip().splitlines()[0][:90]


class _NoInput(Exception):
    """A case without an input shape whose layer Keras builds: no model to convert (not a layer case)."""


def _raiser(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def _raised_by_hw5(exc: BaseException) -> bool:
    """Was the exception raised by hw5's own code (a refusal), not by a library it called?"""
    return f"{Path(__file__).parents[1]}" in _raiser(exc)


def _input_shape(shape: tuple) -> tuple:
    return tuple(DYNAMIC if d is None else int(d) for d in shape[1:])


def build(case: Case, dtype):
    """The case's layer alone in a Keras model in `dtype`, weights seeded (see the module)."""
    import keras

    keras.utils.set_random_seed(SEED)
    cls = getattr(keras.layers, case.layer)
    old = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(np.dtype(dtype).name)   # floatx alone: the global policy, once made, keeps its dtype
    keras.config.set_dtype_policy(np.dtype(dtype).name)
    try:
        layer = cls(*case.args, **case.kwargs)
        if case.shape is None:   # a raises-block's layer, never called, which Keras accepts: nothing to convert
            raise _NoInput(f"{case.layer}{case.args or ''} {case.kwargs}: built in a raises-block, never called on "
                           f"data, and Keras accepts the arguments")
        if isinstance(case.shape[0], tuple):
            x = keras.Input(_input_shape(case.shape[0]))
            model = keras.Model(x, layer([x, keras.layers.ReLU()(x)]))
        else:
            model = keras.Sequential([keras.Input(_input_shape(case.shape)), layer])
    finally:
        keras.config.set_floatx(old[0])
        keras.config.set_dtype_policy(old[1])
    rng = np.random.default_rng(SEED)
    for w in model.weights:
        if not np.issubdtype(np.dtype(w.dtype), np.floating):
            continue
        shape = tuple(w.shape)
        value = rng.uniform(0.5, 1.5, shape) if "variance" in w.path else rng.normal(0, 0.5, shape)
        w.assign(value.astype(w.dtype))
    return model


def run_case(case: Case, dtype) -> tuple[str, str]:
    """(outcome, detail) of one case in one dtype; outcome one of ORDER (see the module)."""
    from hw5.convert import from_keras
    from hw5.convert.inspect import keras_precision
    from hw5.convert.reference import OUTPUT_RTOL, keras_reference

    try:
        model = build(case, dtype)
        shape = _input_shape(case.shape[0] if isinstance(case.shape[0], tuple) else case.shape)
        x = np.random.default_rng(SEED + 1).standard_normal((INPUTS, *shape)).astype(dtype)
        expected = keras_reference(model, x)
    except _NoInput as exc:
        return "not a layer case", str(exc)
    except Exception as exc:   # noqa: BLE001 — Keras' own refusal of the arguments: not a layer case
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return "not a layer case", f"Keras raises {type(exc).__name__}: {first}"
    try:
        net = from_keras(model, dtype=dtype)
        got = net.predict(x)
    except ValueError as exc:
        message = str(exc)
        if not _raised_by_hw5(exc):   # a library's ValueError (NumPy's) escaping the converter: no refusal
            return "crashed", f"ValueError raised in {_raiser(exc)}: {message.strip()[:200]}"
        if re.search(SELF_CHECK_WRONG, message):
            return "wrong", message.splitlines()[0][:200]
        return "refused", message.strip().splitlines()[0].split(SUPPORTED)[0]   # reason(message): its short reason
    except Exception as exc:   # noqa: BLE001 — what we measure: any other exception is a crash
        return "crashed", f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    # the bound of the less precise of the net's dtype and Keras' own (a float64 model's LoRA product, resize
    # and gelu constant are float32 in Keras: inspect.keras_precision, the self-check's rule)
    rtol = max(OUTPUT_RTOL[np.dtype(dtype)], OUTPUT_RTOL[keras_precision(model)])
    bound = rtol * float(np.abs(expected).max())
    if got.size != expected.size:
        return "wrong", f"output shape {got.shape}, Keras' {expected.shape}"
    diff = float(np.abs(got.reshape(expected.shape).astype(np.float64) - expected).max())
    if not diff <= bound:
        return "wrong", f"max |ours − Keras| = {diff:.3e} > {bound:.3e}"
    return "ok", ""


def outcome(case: Case) -> tuple[str, str, dict]:
    """The case's outcome over float32 and float64 (the worse of the two), its detail, and both."""
    both = {np.dtype(dt).name: run_case(case, dt) for dt in (np.float32, np.float64)}
    worst = min(both.values(), key=lambda od: ORDER.index(od[0]))
    return worst[0], worst[1], both


HEADER = ("test file", "cases", "ok", "refused (by reason)", "not a layer case", "wrong", "crashed", "unreadable")


def rows(results: list, unreadable: list) -> list[tuple]:
    """One row a test file (HEADER's columns), then the totals ("all"); results [(case, outcome, detail, …)]."""
    files = list(dict.fromkeys([c.file for c, *_ in results] + [u.file for u in unreadable]))
    out, total = [], Counter()
    for name in files:
        mine = [(what, detail) for c, what, detail, *_ in results if c.file == name]
        n = Counter(what for what, _ in mine)
        reasons = Counter(reason(detail) for what, detail in mine if what == "refused")
        cells = [len(mine), n["ok"], n["refused"], n["not a layer case"], n["wrong"], n["crashed"],
                 sum(u.file == name for u in unreadable)]
        total.update(dict(enumerate(cells)))
        why = ", ".join(f"{r}: {k}" for r, k in reasons.most_common())
        out.append((name, cells[0], cells[1], f"{cells[2]}{' (' + why + ')' if why else ''}", *cells[3:]))
    return out + [("all", *(total[k] for k in range(7)))]


def table(results: list, unreadable: list) -> str:
    """rows() as Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows(results, unreadable)])


def main(argv=None) -> None:
    import time

    files = tuple(argv if argv is not None else sys.argv[1:]) or FILES
    cases, unreadable = all_cases(files)
    print(f"{len(cases)} cases, {len(unreadable)} unreadable, from {len(files)} test files in {KERAS_LAYERS}",
          flush=True)
    results, start = [], time.perf_counter()
    for case in cases:   # one line a case as it runs (its seconds for both dtypes), then the table
        t = time.perf_counter()
        results.append((case, *outcome(case)))
        print(f"{time.perf_counter() - t:6.2f} s  {case.id} {case.layer}: "
              f"{results[-1][1]} {(reason(results[-1][2]) if results[-1][1] == 'refused' else results[-1][2])[:120]}",
              flush=True)
    print(table(results, unreadable))
    print(f"\n{time.perf_counter() - start:.0f} s for {len(cases)} cases × 2 dtypes")
    for case, what, _, both in results:
        if what in ("wrong", "crashed"):
            print(f"{what}: {case.id} {case.layer}{case.args or ''} {case.kwargs} "
                  f"input {case.shape}: {both}")
    print("\nunreadable, by reason:")
    for (name, why), k in Counter((u.file, u.reason) for u in unreadable).most_common():
        print(f"  {k:3d}  {name}: {why}")


if __name__ == "__main__":
    main()
