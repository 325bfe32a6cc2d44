"""Keras' own layer tests as a peer suite of from_keras (issue 33): every parameterized case of the installed wheel's
conv, pooling, reshaping, normalization, activation and merging tests (hw5.deliver.keras_cases reads them with
`ast`), each layer alone in a model, converted in float32 and float64 and compared with Keras
(hw5.deliver.keras_peer.run_case). A case is ok, refused for one of REFUSALS' documented reasons, or a test of
Keras' own argument checks (Keras raises building the model); never wrong, never crashed. The default tier runs
the cases of FAST (conv_test.py and the pooling tests' cases measured < 0.2 s for both dtypes); the rest are
`full`. `python -m hw5.deliver.keras_peer` prints the whole table.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hw5.deliver.keras_cases import FILES, all_cases, read_cases
from hw5.deliver.keras_peer import HEADER, ORDER, REASONS, reason, rows, run_case

CASES, UNREADABLE = all_cases()
IDS = [c.id for c in CASES]   # file::Class::method[case] (keras_cases.Case.id)
# tests/data/keras_peer_fast.txt: the ids of conv_test.py's and pooling/*'s cases that took < 0.2 s (both dtypes,
# 2 shared cores) in `python -m hw5.deliver.keras_peer` — the default tier's share, a few seconds in all
FAST = {line.strip() for line in (Path(__file__).parent / "data" / "keras_peer_fast.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")}

# reason -> a regex of from_keras' one-line refusal: what the user asked for and why the converter refuses it
REFUSALS = {
    # Masking zeroes a timestep equal to mask_value exactly (and hands on a mask): no fixed function we translate
    "a layer type with no translation, refused by name": r"of type Masking has no NumPy translation",
    "a 1-D test input (the batch axis alone): no features to map": r"input shape \(None,\)",
    "Softmax over an axis other than the last": r"softmax over axis",
    "Dot: a product of two tensors, not piecewise linear": r"\bDot\b",
    "3-D layers (Conv3D, Conv3DTranspose, pooling, padding; the global 3-D pools translate)":
        r"of type \w+3D(Transpose)?\b",
    "Keras itself cannot run the model (no reference for the self-check)": r"Keras itself cannot run the model",
    "an input with an axis of size 0: no values to map": r"an axis of size 0",
}


# id -> why: cases today's converter crashes on (found by this suite, not fixed here: issue 33); strict xfail,
# so a fix shows as XPASS and the entry goes
KNOWN_CRASHES: dict = {}   # (LayerNormalization on an empty (1, 0, 10) input was one: now refused by name)


RESULTS: dict = {}   # case id -> (case, the worse outcome of the two dtypes, its detail): the report's table


def _params(cases, fast):
    def marks(c):
        tier = () if c.id in fast else (pytest.mark.full,)
        known = c.id in KNOWN_CRASHES
        return tier + ((pytest.mark.xfail(strict=True, reason=KNOWN_CRASHES[c.id]),) if known else ())
    return [pytest.param(c, id=c.id, marks=marks(c)) for c in cases]


def test_the_reader_finds_the_peer_cases():
    # ≥ 300 cases across the listed files (1019 with keras 3.15.1); none silently lost: each unreadable has a reason
    assert len(CASES) >= 300, f"read {len(CASES)} cases from {len(FILES)} files"
    assert {c.file for c in CASES} >= {"convolutional/conv_test.py", "pooling/max_pooling_test.py",
                                       "merging/merging_test.py"}
    assert all(u.reason for u in UNREADABLE)
    # each case has its own id (file::Class::method[case]): two classes of one file (average_pooling_test.py's
    # basic and correctness tests) have methods of the same name, and the report's table is keyed by id
    assert len(set(IDS)) == len(CASES), [i for i in IDS if IDS.count(i) > 1][:3]


def test_the_fast_tier_and_the_known_crashes_name_real_cases():
    # a renamed Keras test would leave the default tier empty: every id of FAST is a case read today
    assert FAST and FAST <= set(IDS), sorted(FAST - set(IDS))[:5]
    assert set(KNOWN_CRASHES) <= set(IDS)


# Keras warns of a deprecated argument (LayerNormalization's rms_scaling) building and calling the layer: under
# filterwarnings=error that would make the case "not a layer case" (Keras raises) and leave it unconverted
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`, which is deprecated:UserWarning")
@pytest.mark.parametrize("case", _params(CASES, FAST))
def test_keras_case_is_ok_or_refused_for_a_documented_reason(case):
    both = {}
    for dtype in (np.float32, np.float64):
        outcome, detail = both[dtype] = run_case(case, dtype)
        RESULTS[case.id] = (case, *min(both.values(), key=lambda od: ORDER.index(od[0])))   # the worse
        where = f"{case.id} {case.layer} {case.kwargs} input {case.shape} ({np.dtype(dtype).name})"
        assert outcome in ("ok", "refused", "not a layer case"), f"{where}: {outcome}: {detail}"
        if outcome == "refused":
            assert "\n" not in detail, f"{where}: a refusal is one line, got {detail!r}"
            assert any(re.search(p, detail) for p in REFUSALS.values()), f"{where}: undocumented refusal: {detail}"


def test_refusal_reasons_are_classified():
    # keras_peer.reason names each documented refusal; anything else is "other: …" (the table shows it)
    assert reason("layer 'c' of type Conv3D has no NumPy translation; supported: ...") == "3-D layer"
    assert reason("layer 't' of type Conv3DTranspose has no NumPy translation; supported: ...") == "3-D layer"
    assert reason("layer 'd' of type Dot has no NumPy translation; supported: ...") == "Dot (a product of tensors)"
    assert reason("layer 'a' of type AdaptiveMaxPooling2D has no NumPy translation; supported: ...") == \
        "no translation: AdaptiveMaxPooling2D"
    assert reason("something new").startswith("other: ")
    # the list of supported layers a no-translation refusal ends with names 3-D layers: it is not the reason
    assert reason("layer 'm' of type Masking has no NumPy translation; supported: Conv2D, GlobalMaxPooling3D") == \
        "no translation: Masking"
    assert set(REASONS) >= {"3-D layer", "Dot (a product of tensors)"}


SMALL_TEST = '''
    import itertools

    import numpy as np
    from absl.testing import parameterized

    from keras.src import layers
    from keras.src import testing

    POOLS = [{"pool_size": p, "strides": s} for p, s in itertools.product((2, 3), (1, 2))]


    class SmallTest(testing.TestCase):
        @parameterized.named_parameters(("small", 2, (1, 4, 4, 3)), ("big", 3, (1, 6, 6, 2)))
        def test_conv(self, kernel_size, shape):
            layer = layers.Conv2D(filters=2, kernel_size=kernel_size)
            layer(np.zeros(shape))

        @parameterized.parameters(POOLS)
        def test_pool(self, pool_size, strides):
            self.run_layer_test(layers.MaxPooling2D, init_kwargs={"pool_size": pool_size, "strides": strides},
                                input_shape=(2, 6, 6, 1))

        @parameterized.product(padding=("valid", "same"), data_format=("channels_last",))
        def test_padding(self, padding, data_format):
            x = np.ones((1, 5, 5, 2))
            if data_format == "channels_last":
                layers.AveragePooling2D(padding=padding, data_format=data_format)(x)

        def test_loop(self):
            for interpolation in ["nearest", "bilinear"]:
                layers.UpSampling2D(interpolation=interpolation)(np.ones((1, 2, 2, 1)))

        def test_bad_arguments(self):
            with self.assertRaises(ValueError):
                layers.Conv2D(filters=0, kernel_size=2)

        def test_config(self):
            layers.Dense(3).get_config()

        @parameterized.parameters(NOT_DEFINED)
        def test_unknown(self, x):
            layers.ReLU()(x)
'''


def test_the_reader_reads_a_small_test_file(tmp_path):
    # named_parameters of tuples, parameters of a module-level comprehension over itertools.product, absl's
    # product, an if and a for in the body, a raises-block, a layer never called, a decorator that cannot be
    # evaluated
    path = tmp_path / "small_test.py"
    path.write_text(textwrap.dedent(SMALL_TEST))
    cases, unreadable = read_cases(path)
    got = [(c.method, c.case_id, c.layer, c.kwargs, c.shape, c.expects_error) for c in cases]
    pools = [{"pool_size": p, "strides": s} for p in (2, 3) for s in (1, 2)]
    assert got == [("test_conv", "small", "Conv2D", {"filters": 2, "kernel_size": 2}, (1, 4, 4, 3), False),
                   ("test_conv", "big", "Conv2D", {"filters": 2, "kernel_size": 3}, (1, 6, 6, 2), False)] + [
        ("test_pool", str(k), "MaxPooling2D", kw, (2, 6, 6, 1), False) for k, kw in enumerate(pools)] + [
        ("test_padding", f"padding={p}-data_format=channels_last", "AveragePooling2D",
         {"padding": p, "data_format": "channels_last"}, (1, 5, 5, 2), False) for p in ("valid", "same")] + [
        ("test_loop", f"-#{k}", "UpSampling2D", {"interpolation": i}, (1, 2, 2, 1), False)
        for k, i in enumerate(("nearest", "bilinear"))] + [
        ("test_bad_arguments", "-", "Conv2D", {"filters": 0, "kernel_size": 2}, None, True)]
    assert [(u.method, u.case_id) for u in unreadable] == [("test_config", "-"), ("test_unknown", "*")]
    assert "no input shape" in unreadable[0].reason and "NOT_DEFINED" in unreadable[1].reason


def test_the_outcome_table_by_file_goes_in_the_report():
    # after the cases (file order): the outcome of every case that ran, by Keras test file, into the report's
    # architectures section — all of them in a run of both tiers (make report), else said to be a part
    from hw5.deliver import report
    from tests.helpers import report_section

    if not RESULTS:
        pytest.skip("the peer cases were not run in this session")
    table = rows(list(RESULTS.values()), UNREADABLE)
    assert table[-1][0] == "all" and table[-1][1] == len(RESULTS)
    assert table[-1][5] == table[-1][6] == 0, table[-1]     # none wrong, none crashed (each failed above)
    every = len(RESULTS) == len(CASES)
    ok = table[-1][2]
    report_section("arch", report.section(
        "Keras' own layer tests as a peer suite: the outcome by test file",
        report.paragraph(
            f"Every <code>@parameterized</code> case of the installed keras wheel's layer tests ({len(CASES):,} cases "
            f"of {len({c.file for c in CASES})} files, read with <code>ast</code>, never imported), each layer alone "
            f"in a model with seeded weights, converted by <code>from_keras</code> in float32 and float64 and compared "
            f"with Keras (a channels-first model with its channels-last twin); a case's outcome is the worse of the "
            f"two dtypes. <i>not a layer case</i>: Keras itself refuses the arguments (a test of Keras' own checks). "
            + ("" if every else f"This run ran {len(RESULTS)} of the {len(CASES)} cases (the rest are the "
                                 f"<code>full</code> tier: <code>make test-full</code>, <code>make report</code>).")),
        report.table(list(HEADER), table)),
        key=f"{ok} of {len(RESULTS)} Keras cases ok, 0 wrong" if every else None, ran=every)
