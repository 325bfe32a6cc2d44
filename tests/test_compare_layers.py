# Layer by layer (hw5.compare.layer_by_layer) and the Part-1 proof: our own trained Part-1 CNN — batch
# normalisation, 'same' padding, dropout — is a fully-connected NumPy network too, on all 10,000 test images.
# References: the trained Keras models, their float64 twins, and each Keras layer's own output.
import math

import keras
import numpy as np
import pytest

from hw5.compare import agreement, float64_twin, format_layer_diffs, layer_by_layer
from hw5.convert.inspect import LayerDiff
from hw5.convert.layers import BandedDense, Dense, Scale
from hw5.deliver import report
from hw5.numpy_net import banded, from_keras, layer_table
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_matches_keras, assert_within, report_section
from tests.strategies import CnnCase

SMALL = CnnCase(np.random.default_rng(0).normal(size=(2, 6, 5, 1)), (
    ("Conv2D", dict(filters=3, kernel_size=3, strides=(1, 2), padding="same", use_bias=False)),
    ("BatchNormalization", dict(epsilon=0.01)), ("ReLU", {}), ("MaxPooling2D", dict(pool_size=2, padding="same")),
    ("Flatten", {}), ("Dropout", dict(rate=0.5)), ("Dense", dict(units=3, activation="softmax"))), seed=11)


def test_layer_by_layer_rows_follow_the_keras_layers():
    # one row per Keras layer with a NumPy output of its own: the conv is folded into its BatchNorm
    model = SMALL.build("float64")
    rows, first = layer_by_layer(model, from_keras(model), SMALL.x, rtol=tol.LAYER_F64_RTOL)
    assert [(r.layer, r.numpy_layer) for r in rows] == [
        ("batchnormalization_1", "conv2d_0+batchnormalization_1"), ("relu_2", "relu_2"),
        ("maxpooling2d_3", "maxpooling2d_3"), ("flatten_4", "= maxpooling2d_3"), ("dropout_5", "= maxpooling2d_3"),
        ("dense_6", "dense_6.softmax")]
    assert first is None and all(r.within for r in rows)
    assert rows[0].shape == (6, 3, 3) and rows[-1].shape == (3,)


def test_layer_by_layer_names_the_first_wrong_layer():
    # a 1 % error planted in the conv matrix shows from the first row on; one planted in the last Dense
    # leaves every row before it within tolerance
    model = SMALL.build("float64")
    net = from_keras(model)
    net.layers[-2].W = net.layers[-2].W * 1.01
    rows, first = layer_by_layer(model, net, SMALL.x, rtol=tol.LAYER_F64_RTOL)
    assert first.layer == "dense_6" and all(r.within for r in rows[:-1])
    assert "NO" in format_layer_diffs(rows).splitlines()[-1]
    net = from_keras(model)
    net.layers[0].W = net.layers[0].W * 1.01
    assert layer_by_layer(model, net, SMALL.x, rtol=tol.LAYER_F64_RTOL)[1].layer == "batchnormalization_1"


def test_layer_by_layer_row_of_a_layer_that_passes_the_input_on():
    # Dropout first: its output is the input itself (no NumPy step has run), the row says "input"; each row's
    # scale is the Keras output's max |·| (a softmax's is below 1) and its bound atol + rtol·scale
    keras.utils.set_random_seed(12)
    model = keras.Sequential([keras.Input((3, 2, 1), dtype="float64"),
                              keras.layers.Dropout(0.5, dtype="float64", name="dropout"),
                              keras.layers.Flatten(dtype="float64", name="flatten"),
                              keras.layers.Dense(4, activation="softmax", dtype="float64", name="dense")])
    x = np.random.default_rng(13).normal(size=(2, 3, 2, 1))
    rows, first = layer_by_layer(model, from_keras(model), x, atol=1e-3, rtol=0.5)
    assert [(r.layer, r.numpy_layer, r.shape) for r in rows] == [
        ("dropout", "input", (3, 2, 1)), ("flatten", "input", (6,)), ("dense", "dense.softmax", (4,))]
    assert rows[0].max_abs_diff == 0.0 and rows[0].scale == np.abs(x).max() and first is None
    probabilities = np.asarray(model(x))
    assert rows[2].scale == probabilities.max() < 1
    assert [r.bound for r in rows] == [1e-3 + 0.5 * r.scale for r in rows]


def test_format_layer_diffs_is_a_fixed_width_table():
    # the header, one row per layer, columns as wide as their longest entry, numbers in 3 digits, yes/NO
    rows = [LayerDiff("conv_with_a_long_name", "conv_with_a_long_name", (5, 4, 3), 1.5e-7, 2.25, 2.25e-4),
            LayerDiff("dense", "= pool", (10,), 0.125, 1.0, 1e-4)]
    assert format_layer_diffs(rows).split("\n") == [
        "Keras layer           NumPy layer           grid      max |diff|  max |out|      bound  within",
        "conv_with_a_long_name conv_with_a_long_name (5, 4, 3)  1.500e-07  2.250e+00  2.250e-04  yes",
        "dense                 = pool                (10,)      1.250e-01  1.000e+00  1.000e-04  NO"]


def test_float64_twin_is_the_same_model_widened():
    model = SMALL.build("float32")
    twin = float64_twin(model)
    assert {layer.compute_dtype for layer in twin.layers} == {"float64"}
    for w32, w64 in zip(model.get_weights(), twin.get_weights(), strict=True):   # BN statistics included
        assert_exact(w64, w32.astype(np.float64), "twin weight")
    x = SMALL.x.astype(np.float32)
    assert_within(np.asarray(twin(x.astype(np.float64), training=False)), np.asarray(model(x, training=False)),
                  tol.SOFTMAX_F32_ONE_IMAGE, "twin vs float32 model")


def precision_model(dtype: str, **extra):
    """Conv2D → UpSampling2D → Dense in `dtype`; extra: the conv's activation, the upsampling's interpolation, or
    lora=True (LoRA on the Dense layer, its factors N(0, 1))."""
    lora = extra.pop("lora", False)
    layers = keras.layers
    model = keras.Sequential([keras.Input((4, 4, 2), dtype=dtype), layers.Conv2D(
        3, 3, activation=extra.get("activation"), dtype=dtype, name="conv"), layers.UpSampling2D(
        interpolation=extra.get("interpolation", "nearest"), dtype=dtype, name="up"), layers.Dense(
        2, dtype=dtype, name="dense")])
    if lora:
        model.layers[-1].enable_lora(2)
    rng = np.random.default_rng(14)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape))
    return model


@pytest.mark.parametrize("model_dtype, net_dtype, extra, rtol", [
    ("float32", "float32", {}, tol.LAYER_F32_RTOL),
    ("float64", "float64", {}, tol.LAYER_F64_RTOL),
    ("float32", "float64", {}, tol.LAYER_F32_RTOL),     # Keras' float32 rounding, however wide the net
    ("float64", "float32", {}, tol.LAYER_F32_RTOL),
    ("float64", "float64", dict(activation="gelu"), tol.LAYER_F32_RTOL),          # Keras computes these
    ("float64", "float64", dict(interpolation="bilinear"), tol.LAYER_F32_RTOL),   # in float32 inside a float64
    ("float64", "float64", dict(lora=True), tol.LAYER_F32_RTOL),                  # model
    *[("float64", "float64", dict(interpolation=kind), tol.LAYER_F32_RTOL)          # TF resizes in float32 with
      for kind in ("bicubic", "lanczos3", "lanczos5", "area")],                     # every kernel but nearest
], ids=["f32", "f64", "f32 model, f64 net", "f64 model, f32 net", "f64 gelu", "f64 bilinear", "f64 LoRA",
        "f64 bicubic", "f64 lanczos3", "f64 lanczos5", "f64 area"])
def test_self_check_tolerance_is_the_less_precise_dtypes(model_dtype, net_dtype, extra, rtol):
    # from_keras's self-check compares at LAYER_RTOL of the less precise of the net's dtype and the one Keras
    # computes the model in: at the net's alone, a float64 net of a float32 model (~1e-7 apart) would never pass;
    # the conversion passes its check in each case
    from hw5.convert.inspect import check_rtol

    model = precision_model(model_dtype, **extra)
    net = from_keras(model, dtype=net_dtype)
    assert check_rtol(model, net) == rtol


def test_self_check_refuses_to_check_a_half_precision_model():
    # a mixed_float16 model's own rounding (eps 1e-3) is beyond any tolerance that still sees a wrong
    # translation: from_keras says so instead of passing or failing it; check=False converts it
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, dtype="mixed_float16"),
                              keras.layers.Flatten(dtype="mixed_float16")])
    with pytest.raises(ValueError, match=r"^from_keras: the Keras model computes in float16 .*check=False$"):
        from_keras(model, dtype="float32")
    assert from_keras(model, dtype="float32", check=False).dtype == np.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda m, n: layer_by_layer(m, object(), SMALL.x), TypeError, "net must be a NumpyNet made by .*, got object$"),
    (lambda m, n: layer_by_layer(m, n, SMALL.x, rtol=-1.0), ValueError, "rtol must be a number >= 0"),
    (lambda m, n: layer_by_layer(m, n, SMALL.x, atol="0"), ValueError, "atol must be a number >= 0"),
    (lambda m, n: float64_twin(n), TypeError, "model must be a Keras model, got NumpyNet$"),
])
def test_compare_rejects_bad_input(call, error, match):
    model = SMALL.build("float64")
    with pytest.raises(error, match=match):
        call(model, from_keras(model))


@pytest.mark.training
def test_part2_chosen_image_layer_by_layer(part2, part2_net, part2_image, test_images):
    # Part 2 (5)'s image through both networks, every Keras layer's output beside the NumPy layer's
    x_test, _ = test_images
    image = x_test[part2_image:part2_image + 1]
    rows, first = layer_by_layer(part2.model, part2_net, image, rtol=tol.LAYER_F32_RTOL)
    report_section("p2-5", report.section(
        f"Layer by layer: test image {part2_image} through Keras and through the NumPy network (float32)",
        report.table(["Keras layer", "NumPy layer", "output grid", "max |Keras − NumPy|", "max |output|",
                      "tolerance", "within"],
                     [(r.layer, r.numpy_layer, r.shape, f"{r.max_abs_diff:.3e}", f"{r.scale:.3e}", f"{r.bound:.1e}",
                       "yes" if r.within else "NO") for r in rows],
                     f"tolerance = {tol.LAYER_F32_RTOL:.0e} × the layer's largest output (tests/tolerances.py); "
                     f"first layer beyond it: {first.layer if first else 'none'}")))
    print(format_layer_diffs(rows))
    assert [r.layer for r in rows] == ["conv", "pool", "relu", "flatten", "dense", "output"]
    # Flatten has no NumPy step of its own: its row says whose output it shares, not a pairing with ReLU
    assert [r.numpy_layer for r in rows] == ["conv", "pool", "relu", "= relu", "dense.relu", "output.softmax"]
    assert first is None, format_layer_diffs(rows)


@pytest.mark.training
def test_part1_layer_table_neurons_derived_equal_keras(part1, part1_net):
    # per layer: the matrix, its non-zeros, the neuron grid we derive vs the one Keras reports
    rows = layer_table(part1_net, part1.model)
    report_section("p1-fc", report.section(
        "Part 1's network, layer by layer: every linear map an explicit matrix, BatchNorm folded in",
        report.table(["NumPy layer", "type", "matrix", "non-zeros", "neurons (derived)", "Keras output", "same"],
                     [(r["layer"], r["kind"].replace("BandedDense", "Dense"), r["matrix"],
                       "—" if r["nonzeros"] is None else f"{r['nonzeros']:,}", f"{r['derived']} = {r['neurons']:,}",
                       r["keras"], "yes" if r["same"] else "NO") for r in rows],
                     "conv/BatchNorm pairs are one matrix W·diag(γ/√(σ²+ε)) with bias (b − μ)·γ/√(σ²+ε) + β; "
                     "Dropout and Flatten are identities at inference")))
    assert all(r["same"] for r in rows), rows
    # every linear Keras layer is one matrix (input neurons × output neurons), every BatchNorm folded into one
    kinds = [type(layer).__name__ for layer in part1.model.layers]
    dense_rows = [r for r in rows if r["kind"] in ("Dense", "BandedDense")]
    assert len(dense_rows) == kinds.count("Conv2D") + kinds.count("Dense")
    assert not any(isinstance(layer, Scale) for layer in part1_net.layers)
    folded = {name.split("+")[1] for name in (r["layer"] for r in dense_rows) if "+" in name}
    assert folded == {layer.name for layer in part1.model.layers if type(layer).__name__ == "BatchNormalization"}
    size = math.prod(part1_net.input_shape)
    for layer in part1_net.layers:
        if isinstance(layer, Dense):
            assert layer.W.shape == (size, math.prod(layer.out_shape)), layer.name
        size = math.prod(layer.out_shape)
    # each conv output neuron sees at most kh·kw·C_in inputs: the Toeplitz columns' non-zeros
    for conv in (layer for layer in part1.model.layers if type(layer).__name__ == "Conv2D"):
        matrix = next(layer.W for layer in part1_net.layers if layer.name.split("+")[0] == conv.name)
        assert (matrix != 0).sum(axis=0).max() == math.prod(conv.kernel.shape[:3])


@pytest.mark.training
def test_banded_product_is_the_dense_product(part1_f64, test_images):
    # banded() skips only exact zeros of the same matrices: float64 results agree to rounding
    model64, _ = part1_f64
    x = test_images[0][:16].astype(np.float64)
    plain = from_keras(model64)
    net = banded(plain)
    assert all(a.W is b.W for a, b in zip(net.layers, plain.layers, strict=True) if isinstance(a, Dense))
    assert_within(net.predict(x), plain.predict(x), tol.SOFTMAX_F64_ALL_IMAGES, "banded vs plain x @ W")
    # the bands really skip: each block of a conv matrix reads only some rows of the input
    for layer in net.layers:
        if isinstance(layer, BandedDense):
            assert max(r1 - r0 for _, _, r0, r1, _ in layer.bands) < layer.W.shape[0]


def agreement_row(summary, bound) -> tuple:
    return (summary.dtype, f"{summary.n_images:,}", f"{summary.max_abs_diff:.3e}", f"{bound:.0e}",
            f"{summary.argmax_agreement:.2%}", f"{summary.tf_seconds:.1f}", f"{summary.numpy_seconds:.1f}")


AGREEMENT_HEADER = ["dtype", "images", "max |TF − NumPy| softmax", "tolerance", "argmax agreement", "Keras s",
                    "NumPy s"]


@pytest.mark.training
@pytest.mark.full   # all 10,000 test images: `make test-full` and the report, not the quick tier
def test_part1_as_fc_all_test_images_float32(part1, part1_net, test_images, progress):
    x_test, _ = test_images
    progress("Part 1 as a fully-connected network: all 10,000 test images (float32)")
    tf_probs, np_probs, summary = agreement(part1.model, part1_net, x_test)
    print(summary)
    report_section("p1-fc", report.section(
        "Part 1: Keras vs the NumPy fully-connected network, all 10,000 test images",
        report.table(AGREEMENT_HEADER, [agreement_row(summary, tol.PART1_SOFTMAX_F32_ALL_IMAGES)],
                     "float32: the trained model as is; BatchNorm folded into the matrices")),
        key=f"{summary.max_abs_diff:.1e} (float32), {summary.argmax_agreement:.0%} same class")
    assert summary.n_images == 10_000 and np_probs.dtype == np.float32
    assert_matches_keras(part1.model, part1_net, x_test, np_probs, tf_probs, tol.PART1_SOFTMAX_F32_ALL_IMAGES,
                         "Part 1, float32 softmax, all test images", tol.LAYER_F32_RTOL)
    assert summary.argmax_agreement == 1.0


@pytest.mark.training
@pytest.mark.full   # all 10,000 test images: `make test-full` and the report, not the quick tier
def test_part1_as_fc_all_test_images_float64(part1_f64, test_images, progress):
    model64, net64 = part1_f64
    x_test = test_images[0].astype(np.float64)
    progress("Part 1 as a fully-connected network: all 10,000 test images (float64 twin)")
    tf_probs, np_probs, summary = agreement(model64, net64, x_test)
    print(summary)
    report_section("p1-fc", report.section(
        "Part 1, float64 twin (same weights, widened exactly), all 10,000 test images",
        report.table(AGREEMENT_HEADER, [agreement_row(summary, tol.SOFTMAX_F64_ALL_IMAGES)])))
    assert tf_probs.dtype == np_probs.dtype == np.float64
    assert_matches_keras(model64, net64, x_test, np_probs, tf_probs, tol.SOFTMAX_F64_ALL_IMAGES,
                         "Part 1, float64 softmax, all test images", tol.LAYER_F64_RTOL)
    assert summary.argmax_agreement == 1.0
