# hw5 verify on CIFAR-sized (32×32×3) CNNs, seeded (hw5.deliver.cifar_nets): a chain (two stride-2 convs) and
# a residual one (a stride-2 stem, conv → ReLU → conv plus the shortcut, Add, ReLU, Dense). HiGHS (the big-M
# MILP of hw5.convert.bigm) and Marabou give the same answer at a radius where the image is robust and one where
# it is not; the counterexample lies in the ball and in [0, 1] exactly and Keras gives it another class. Then
# the item-4 measurements (Dense+ReLU width and depth, every export's size, each engine's time to its answer)
# for the Part-1 CNN and both nets, as the report's section "hw5 verify on CIFAR-sized CNNs".
import numpy as np
import pytest

from hw5.convert import engines, robustness
from tests.helpers import keras_outputs, report_section

# (robust, not robust) radii in pixels of [0, 1], margin 0: the chain's image wins by 0.22 in logits, the
# residual's by 0.28 (clear_image); 0.004 (≈ 1/255) is the measurements' radius for every net
EPSILONS = {"chain": (0.004, 0.012), "residual": (0.001, 0.004)}
TABLE_EPSILON = 0.004
TIMEOUT = 900          # seconds for one verdict's queries: Marabou took 293 s on the residual net at 0.004 here
VERDICTS: dict = {}    # (net, engine, ε) → Verdict, for the measurements
MEASURED: dict = {}    # "machine", "rows"


@pytest.fixture(scope="module")
def cifar():
    from hw5.deliver import cifar_nets

    out = {}
    for name in EPSILONS:
        model = cifar_nets.NETS[name](0)
        out[name] = (model, cifar_nets.clear_image(model)[1])
    return out


def need(engine: str) -> None:
    why = engines.missing(engine)
    if why:
        pytest.skip(why)


@pytest.mark.heavy
@pytest.mark.parametrize("name", EPSILONS)
def test_cifar_cnn_highs_and_marabou_agree_and_the_counterexample_replays(cifar, name):
    need("highs")
    need("marabou")
    model, x = cifar[name]
    answers = {}
    for engine in ("highs", "marabou"):
        for epsilon in EPSILONS[name]:
            v = robustness.robustness(model, x, epsilon, engine=engine, timeout=TIMEOUT)
            VERDICTS[(name, engine, epsilon)] = v
            answers[(engine, epsilon)] = v.answer
            if v.answer == "not robust":
                found = v.counterexample
                distance = float(np.abs(found.astype(np.float64) - x.astype(np.float64)).max())
                assert found.dtype == x.dtype and distance <= epsilon, (engine, distance)
                assert found.min() >= 0 and found.max() <= 1
                replay = keras_outputs(model, found[None])[0]
                assert replay.argmax() != v.label, f"{engine}: Keras still says {v.label} on the counterexample"
    robust, fragile = EPSILONS[name]
    assert answers == {(e, robust): "robust" for e in ("highs", "marabou")} | {
        (e, fragile): "not robust" for e in ("highs", "marabou")}, answers


@pytest.mark.heavy
def test_verify_measurements_for_the_report(cifar, part1, test_images, tmp_path):
    # item 4: the Part-1 CNN (trained, from the cache) on test image 0 and both CIFAR-sized nets, every engine;
    # the answers the test above measured at TABLE_EPSILON are reused, not asked again
    from hw5.deliver.verify_table import ENGINES, machine, measure

    rows = [measure("Part-1 CNN (trained)", part1.model, test_images[0][0], TABLE_EPSILON, tmp_path)]
    for name, (model, x) in cifar.items():
        known = {engine: (v.answer, v.seconds, v.note) for (net, engine, eps), v in VERDICTS.items()
                 if net == name and eps == TABLE_EPSILON}
        rows.append(measure(f"CIFAR {name} (seeded)", model, x, TABLE_EPSILON, tmp_path, timeout=TIMEOUT,
                            known=known))
    MEASURED.update(machine=machine(), rows=rows)
    for row in rows:
        assert set(row["engines"]) == set(ENGINES) and all(size > 0 for size, _ in row["files"].values())
        assert row["width"] > 0 and row["depth"] >= 2 and 0 <= row["unstable"] <= row["relus"]
        answered = [a for a, _, _ in row["engines"].values() if a in ("robust", "not robust")]
        assert len(set(answered)) <= 1, f"{row['net']}: the engines disagree: {row['engines']}"
    for row in rows[1:]:
        assert row["engines"]["highs"][0] in ("robust", "not robust"), row["engines"]["highs"]


def test_report_verify_on_cifar_sized_cnns():
    # the report's section: the measured table, or (the heavy tier not run) how to measure it
    from hw5.deliver.figures import esc
    from hw5.deliver.verify_table import html

    if not MEASURED:
        report_section("verify", "<p>Not measured in this run: the heavy tier did not run (<code>make test-heavy"
                       "</code>, or <code>" + esc("python tools/verify_measurements.py") + "</code>).</p>", ran=False)
        return
    rows = MEASURED["rows"]
    notes = {}   # one line a net and reason (the engines' names stripped), naming the engines it holds for
    for row in rows:
        for engine, (answer, _, note) in row["engines"].items():
            if note:
                notes.setdefault((row["net"], answer, note.replace(f" {engine} ", " the engine ")), []).append(engine)
    notes = "".join(f"<li>{esc(net)}, {esc(', '.join(names))}: {esc(answer)}: {esc(note)}</li>"
                    for (net, answer, note), names in notes.items())
    answered = sum(a in ("robust", "not robust") for r in rows for a, _, _ in r["engines"].values())
    report_section("verify", f"<p>Measured on {esc(MEASURED['machine'])}. Time: from the call to the answer (the "
                   "conversion, the engine's model, the queries); ReLUs: in brackets those unstable on the ball "
                   "(interval bounds); ≈: a file estimated, not written.</p>",
                   html(rows, f"hw5 verify at ε = {TABLE_EPSILON:g} (L∞, margin 0)"),
                   f"<ul>{notes}</ul>" if notes else "",
                   key=f"{answered} answers")
    assert all(row["files"]["onnx"][0] > 0 for row in rows)
