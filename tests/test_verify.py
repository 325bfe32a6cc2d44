# The reason for the fully-connected form: Marabou reads the Dense+ReLU export of a small trained CNN (conv,
# max-pool, ReLU) from ONNX and from NNet, evaluates it to Keras' logits, and answers an L∞ robustness
# question around a test image at two radii: unsat (proved robust) and sat, whose counterexample replayed
# through the Keras model really changes the class. Then the report's section "The network in others' hands".
import time

import numpy as np
import pytest

from hw5.convert.export import to_keras, to_nnet, to_npz, to_onnx
from hw5.convert.export.onnx_graph import op_types
from hw5.convert.relu_only import relu_only
from hw5.numpy_net import from_keras
from tests.helpers import MILP_ROBUSTNESS, OTHERS, assert_within, keras_outputs, report_section
from tests.tolerances import MARABOU_EVAL_RTOL

ROBUST_EPSILON, FRAGILE_EPSILON, MARGIN = 0.01, 0.05, 0.01   # radii on [0, 1] pixels; margin in logits
ROBUSTNESS: dict = {}


@pytest.fixture(scope="module")
def verified(fashion, test_images, tmp_path_factory, progress):
    from hw5.convert.verify import train_small_cnn
    from hw5.homework.data import preprocess

    (x_train, y_train), _ = fashion
    progress("training the small CNN for Marabou (2 epochs, seeded)")
    model = train_small_cnn(preprocess(x_train), y_train, seed=0)
    folder = tmp_path_factory.mktemp("verify")
    net = relu_only(from_keras(model))
    return model, net, to_onnx(net, folder / "small.onnx"), to_nnet(net, folder / "small.nnet")


@pytest.mark.heavy
def test_marabou_evaluates_both_files_to_keras_logits(verified, test_images):
    pytest.importorskip("maraboupy", reason="maraboupy has wheels for CPython 3.11 on x86-64 Linux only")
    from hw5.convert.verify import marabou_outputs

    model, _, onnx_path, nnet_path = verified
    x = test_images[0][:3]
    logits = keras_outputs(model, x)
    for path, fmt in ((onnx_path, "ONNX, Dense+ReLU (small CNN)"), (nnet_path, "NNet (small CNN)")):
        started = time.perf_counter()
        theirs = marabou_outputs(path, x)
        OTHERS[f"marabou-{path.suffix}"] = ("Marabou (solver, inputs fixed)", fmt, ", ".join(
            op_types(path)) if path.suffix == ".onnx" else "Dense+ReLU layers", len(x),
            float(np.abs(theirs - logits).max()), float((theirs.argmax(1) == logits.argmax(1)).mean()),
            time.perf_counter() - started)
        assert_within(theirs, logits, MARABOU_EVAL_RTOL * float(np.abs(logits).max()), f"Marabou on {path.name}")


@pytest.mark.heavy
def test_marabou_robustness_unsat_then_sat_replayed_in_keras(verified, test_images):
    pytest.importorskip("maraboupy", reason="maraboupy has wheels for CPython 3.11 on x86-64 Linux only")
    from hw5.convert.verify import local_robustness

    model, _, onnx_path, _ = verified
    x, y = test_images
    predicted = keras_outputs(model, x[:50]).argmax(1)
    i = int(np.flatnonzero(predicted == y[:50])[0])      # the first correctly classified test image
    robust = local_robustness(onnx_path, x[i], int(y[i]), ROBUST_EPSILON, MARGIN, timeout=120)
    fragile = local_robustness(onnx_path, x[i], int(y[i]), FRAGILE_EPSILON, MARGIN, timeout=120)
    ROBUSTNESS.update(image=i, label=int(y[i]), results=[robust, fragile])
    assert robust.answer == "robust" and robust.seconds <= 120
    assert fragile.answer == "not robust" and fragile.seconds <= 120
    box_lo, box_hi = np.maximum(x[i] - FRAGILE_EPSILON, 0), np.minimum(x[i] + FRAGILE_EPSILON, 1)
    assert np.all(fragile.counterexample >= box_lo - 1e-6) and np.all(fragile.counterexample <= box_hi + 1e-6)
    # inside the ball exactly (it was at 0.050000000000000044 for ε = 0.05 before hw5.convert.verify.into_ball)
    distance = np.abs(fragile.counterexample - x[i].astype(np.float64)).max()
    assert distance <= FRAGILE_EPSILON and fragile.counterexample.min() >= 0, distance
    replay = keras_outputs(model, np.clip(fragile.counterexample, box_lo, box_hi).astype(np.float32)[None])[0]
    assert replay.argmax() != y[i], f"Keras still says {y[i]} on Marabou's counterexample: {replay}"


@pytest.mark.heavy
def test_small_cnn_exports_read_back(verified, test_images):
    # the cheap runtimes, on 1,000 test images: the Keras Dense-only model and the .npz with NumPy alone
    import keras

    from hw5.convert.export import npz_predict

    model, net, _, _ = verified
    x = test_images[0][:1000]
    logits = model.predict(x, batch_size=500, verbose=0)   # no strided conv: batches are safe
    folder = verified[2].parent
    flat = x.reshape(len(x), -1)   # the Dense-only Keras file's input: the batch channels-last, flattened
    for fmt, write, read in (("Keras Sequential of Dense (.keras)", to_keras, lambda p: keras.saving.load_model(
            p).predict(flat, batch_size=500, verbose=0)), ("npz (NumPy alone)", to_npz, lambda p: npz_predict(p, x))):
        path = write(net, folder / ("small.keras" if "keras" in fmt else "small.npz"))
        started = time.perf_counter()
        theirs = read(path)
        OTHERS[fmt] = (fmt.split(" (")[0] if "npz" not in fmt else "NumPy", fmt + ", Dense+ReLU (small CNN)",
                       "Dense, ReLU", len(x), float(np.abs(theirs - logits).max()),
                       float((theirs.argmax(1) == logits.argmax(1)).mean()), time.perf_counter() - started)
        assert_within(theirs, logits, MARABOU_EVAL_RTOL * float(np.abs(logits).max()), fmt)


def test_report_the_network_in_others_hands():
    # the report's section: every runtime row measured in this run, and the robustness answers; when the heavy
    # tier measured none of them, only how to measure them (the badge says "not run", no "0 runtimes")
    from hw5.deliver.figures import esc, table

    heavy = "the heavy tier (onnxruntime on Part 2 and Part 1, Marabou, the MILP readers)"
    how = "<code>make test-heavy</code>, or <code>" + esc("hw5 report -m 'not slow'") + "</code>"
    if not OTHERS and not ROBUSTNESS and not MILP_ROBUSTNESS:
        report_section("others", f"<p>Not measured in this run: {heavy} did not run: {how}.</p>", ran=False)
        return
    rows = [(r[0], r[1], r[2], f"{r[3]:,}", f"{r[4]:.2e}", f"{r[5]:.2%}", f"{r[6]:.1f} s") for r in OTHERS.values()]
    missing = [] if "onnx-part2" in OTHERS else [f"{heavy} did not all run: {how}"]
    parts = []
    if rows:
        parts.append(table(["runtime", "format", "ops used", "images", "max |difference|", "same class", "time"], rows,
                           "each export re-read by another runtime, against the Keras model (logits for Dense+ReLU)"))
    if ROBUSTNESS:
        parts.append(table(["ε (L∞, pixels in [0, 1])", "Marabou's answer", "time"], [
            (f"{r.epsilon:g}", r.answer + (f" (class {r.target} reachable; Keras agrees on the counterexample)"
                                           if r.target is not None else " (every other class unsat)"),
             f"{r.seconds:.1f} s") for r in ROBUSTNESS["results"]],
            f"robustness of the small CNN around test image {ROBUSTNESS['image']} (class {ROBUSTNESS['label']}), "
            f"margin {MARGIN} in logits"))
    if MILP_ROBUSTNESS:   # tests/test_milp.py: (reader, file, ε) → its answer; Marabou's has no optima
        answers = sorted(MILP_ROBUSTNESS.items(), key=lambda kv: (kv[0][2], kv[0][:2]))
        milp_rows = [(reader, fmt, f"{eps:g}", r.answer + (f" (class {r.target})" if r.target is not None else ""),
                      f"{max(r.optima.values()):.4f}" if getattr(r, "optima", None) else "–", f"{r.seconds:.2f} s")
                     for (reader, fmt, eps), r in answers]
        parts.append(table(["reader", "file", "ε (L∞)", "answer", "max over j of max (y_j − y_c)", "time"], milp_rows,
                           "the 8×8 CNN's Dense+ReLU exports around a test image, loaded by gurobi-machinelearning "
                           f"(Gurobi) and OMLT (HiGHS) and by Marabou: the same answers; margin {MARGIN}"))
    parts += [f"<p>{m}</p>" for m in missing]
    report_section("others", *parts, key=f"{len(rows)} runtimes" if rows else None)
    assert all(r[5] == 1.0 for r in OTHERS.values()), "an export changed a class"
