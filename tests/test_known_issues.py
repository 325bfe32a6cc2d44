# docs/known-issues.md: TensorFlow 2.21's oneDNN convolution returns wrong values for a *batch* of single-channel
# images with strides (1, s > 1). A canary, run in fresh processes with oneDNN on and off (TF reads
# TF_ENABLE_ONEDNN_OPTS once, at import): while the bug is there the "on" test is an expected failure; the day a
# TensorFlow upgrade fixes it, that test passes, which strict xfail turns into a failure — the alert to drop
# the one-image-at-a-time workaround (tests/helpers.py keras_outputs, tests/test_toeplitz.py tf_conv) and the
# README entry. Reference: the same convolution, one image per call.
import json
import sys
from pathlib import Path

import pytest

from hw5.deliver import report
from tests import early
from tests.helpers import report_section

# Batched vs per-image tf.nn.conv2d on the shapes that trigger it (output width 1, kernel width 2, stride 3):
# a 2×2 and a 3×4 image, random values, three rounds each. Prints the worst |difference| as JSON.
REPRODUCER = """
import json, numpy as np, tensorflow as tf
rng, worst = np.random.default_rng(0), 0.0
for shape in [(2, 2, 2, 1), (4, 3, 4, 1)] * 3:
    x = rng.normal(size=shape).astype(np.float32)
    kernel = rng.normal(size=(1, 2, 1, 2)).astype(np.float32)
    conv = lambda images: tf.nn.conv2d(images, kernel, strides=(1, 1, 3, 1), padding="VALID").numpy()
    batched, single = conv(x), np.concatenate([conv(x[i:i + 1]) for i in range(len(x))])
    diff = np.abs(batched.astype(np.float64) - single)
    worst = max(worst, float(diff.max()) if np.isfinite(diff).all() else float("inf"))
print(json.dumps({"max_diff": worst, "tensorflow": tf.__version__}))
"""


def prepare_reproducer(flag):
    # TF reads TF_ENABLE_ONEDNN_OPTS once, at import: a fresh process per setting
    return lambda workdir: ([sys.executable, "-c", REPRODUCER], workdir,
                            {"TF_ENABLE_ONEDNN_OPTS": flag, "TF_CPP_MIN_LOG_LEVEL": "3"})


# both settings, started by conftest.py when the tests are collected (tests/early.py): they run beside the suite
for _flag in ("1", "0"):
    early.register(f"onednn-canary-{_flag}", fixture="canary", prepare=prepare_reproducer(_flag), timeout=300)


@pytest.fixture(scope="module")
def canary():
    # {"1": result with oneDNN, "0": without}
    results = {}
    for flag in ("1", "0"):
        _, run = early.result(f"onednn-canary-{flag}")
        if run.returncode != 0:
            raise RuntimeError(f"the reproducer failed with TF_ENABLE_ONEDNN_OPTS={flag}: {run.stderr[-2000:]}")
        results[flag] = json.loads(run.stdout.strip().splitlines()[-1])
    return results


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


# oneDNN picks its convolution kernel by the CPU's instruction set, and the bug lives in one of them: it reproduced
# on the machines where it was found and never on an AVX2-only AMD EPYC (no AVX-512), where batched and per-image
# results agree bit for bit. Expected where the CPU has AVX-512; elsewhere its appearance is a failure too.
BUG_EXPECTED = "avx512f" in cpu_flags()


def test_onednn_off_batched_conv_is_right(canary):
    # without oneDNN the batched call equals the per-image calls exactly: the reference is sound
    assert canary["0"]["max_diff"] == 0.0, canary


@pytest.mark.xfail(BUG_EXPECTED, strict=True, raises=AssertionError,
                   reason="TF 2.21 oneDNN (AVX-512 kernels): batched conv of 1-channel images, strides (1, s > 1), "
                          "is wrong (docs/known-issues.md)")
def test_onednn_batched_conv_canary(canary):
    on, off = canary["1"], canary["0"]
    reproduced = on["max_diff"] > 0
    report_section("env", report.section(
        "Known issue: TensorFlow's oneDNN convolution on batches of single-channel images",
        report.table(["TF_ENABLE_ONEDNN_OPTS", "max |batched − one image at a time|"],
                     [("1 (default)", f"{on['max_diff']:.3g}"), ("0", f"{off['max_diff']:.3g}")],
                     f"TensorFlow {on['tensorflow']}: tf.nn.conv2d of a batch, strides (1, 3), kernel 1×2, "
                     f"in a fresh process per setting (tests/test_known_issues.py)"),
        report.pre(f"reproduced in this run: {'yes' if reproduced else 'no'}; expected on this CPU (AVX-512): "
                   f"{'yes' if BUG_EXPECTED else 'no'}"
                   + (" — TensorFlow may have fixed it: drop the per-image workaround"
                      if BUG_EXPECTED and not reproduced else ""))))
    print(f"oneDNN on: {on['max_diff']:.3g}, off: {off['max_diff']:.3g}; reproduced: {reproduced}")
    assert on["max_diff"] == 0.0, f"reproduced: batched and per-image results differ by {on['max_diff']:.3g}"


# TensorFlow 2.21 runs a channels-first (NCHW) Conv2D on the CPU only in float32 with oneDNN, and there adds the bias
# along the width when the output's width equals the filter count (found by tests/test_layouts.py's channels-first
# CNN: a (4, 4, 4) input, 2 filters 3×3, output (2, 2, 2)). So a channels-first model's reference is its channels-last
# twin (hw5.convert.reference). This test passes while the bug is there; the day TensorFlow fixes it, it fails: the
# alert to let the reference trust Keras' own channels-first run again (docs/known-issues.md). Where TensorFlow has no
# NCHW kernel at all (AVX2-only CPUs, TF_ENABLE_ONEDNN_OPTS=0) it is skipped, saying so.
# the biases ±5 swapped along the width move half the outputs by 10, O(1) of the output's scale; rounding ~1e-7 of it
NCHW_BIAS_BUG_SHARE = 0.1


def test_tensorflows_nchw_conv_adds_its_bias_along_the_width_when_width_equals_filters():
    import keras
    import numpy as np

    L = keras.layers
    rng = np.random.default_rng(41)
    results = {}
    for shape in [(4, 4, 4), (4, 4, 5)]:                # output widths 2 (= the 2 filters) and 3
        first = keras.Sequential([keras.Input(shape), L.Conv2D(2, 3, data_format="channels_first")])
        last = keras.Sequential([keras.Input((*shape[1:], shape[0])), L.Conv2D(2, 3)])
        weights = [rng.normal(size=(3, 3, shape[0], 2)).astype(np.float32), np.array([-5, 5], np.float32)]
        first.set_weights(weights)
        last.set_weights(weights)
        x = rng.normal(size=(1, *shape)).astype(np.float32)
        try:
            ours = np.asarray(first(x))
        except Exception as error:   # noqa: BLE001 — no NCHW kernel: UnimplementedError
            pytest.skip(f"TensorFlow has no channels-first Conv2D kernel here ({type(error).__name__})")
        theirs = np.moveaxis(np.asarray(last(np.moveaxis(x, 1, -1))), -1, 1)
        results[shape] = float(np.abs(ours - theirs).max()) / float(np.abs(theirs).max())
    assert results[(4, 4, 5)] < 1e-6, results             # the bug needs width = filters
    assert results[(4, 4, 4)] > NCHW_BIAS_BUG_SHARE, (
        f"TensorFlow's NCHW Conv2D adds its bias right now ({results}): the channels-first reference may use Keras' "
        f"own run again (hw5.convert.reference, docs/known-issues.md)")
