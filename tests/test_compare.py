# The homework's claim: an image gets the same softmax from TensorFlow and from the NumPy network.
# Reference: the trained Keras model itself (keras conv_test style: compare with a reference).
# These tests also write Part 2's sections (1) training, (3) the NumPy network, (4) the conversion and
# (5) the comparison of the report.
import math

import numpy as np
import pytest

from hw5.compare import IMAGE_INDEX, agreement
from hw5.data import CLASS_NAMES
from hw5.deliver import report
from hw5.numpy_net import Dense, MaxPool, ReLU, Softmax, banded
from hw5.toeplitz import conv2d_as_dense, derive_output_shape, toeplitz_indices
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, report_section

pytestmark = pytest.mark.training

# 3 epochs of the Part-2 net reach ~0.90; 0.85 catches broken training without depending on the seed.
PART2_MIN_ACCURACY = 0.85
FLOAT32_SENTENCE = (
    "The float32 columns differ in the last digits, and only there: TensorFlow (oneDNN) and NumPy (OpenBLAS) "
    "add the 10,816 products of each dense-layer neuron in different orders, and float32 keeps about 7 "
    "significant digits, so each order rounds differently. With the same weights widened exactly to float64 "
    "both agree to ~1e-16.")


def agreement_table(summary, bound):
    return report.table(
        ["images", "dtype", "max |TF − NumPy|", "tolerance", "argmax agreement", "TF s", "NumPy s"],
        [(f"{summary.n_images:,}", summary.dtype, f"{summary.max_abs_diff:.3e}", f"{bound:.0e}",
          f"{summary.argmax_agreement:.2%}", f"{summary.tf_seconds:.2f}", f"{summary.numpy_seconds:.2f}")])


def test_part2_trained_and_accuracy_recorded(part2, test_images):
    x_test, y_test = test_images
    report_section("p2-1", report.section(
        f"Trained {len(part2.log.epochs)} epochs: test accuracy {part2.log.test_accuracy:.4f}",
        report.paragraph(f"batch {part2.config['batch_size']}, Adam {part2.config['learning_rate']:g}, seed "
                         f"{part2.config['seed']} "
                         f"({'loaded from the cache' if part2.from_cache else 'trained in this run'})"),
        report.epoch_table(part2.log)))
    print(f"Part 2: {len(part2.log.epochs)} epochs, test accuracy {part2.log.test_accuracy:.4f}"
          f" ({'cache' if part2.from_cache else 'trained now'})")
    assert part2.log.test_accuracy >= PART2_MIN_ACCURACY
    predicted = part2.model.predict(x_test, batch_size=1000, verbose=0).argmax(1)
    assert (predicted == y_test).mean() == pytest.approx(part2.log.test_accuracy, abs=1e-6)


def describe_layer(layer) -> str:
    # what each layer of the NumPy network computes, in the homework's fully-connected terms
    if isinstance(layer, Dense):
        return f"x @ W + b,  W {layer.W.shape[0]:,} × {layer.W.shape[1]:,}"
    if isinstance(layer, MaxPool):
        return f"max over {layer.pool_size[0]}×{layer.pool_size[1]} windows, stride {layer.strides[0]} (a loop)"
    return {ReLU: "max(x, 0)", Softmax: "exp(x − max) / Σ exp(x − max)"}[type(layer)]


def test_part2_numpy_network_is_fully_connected(part2_net):
    layers = part2_net.layers
    report_section(
        "p2-3",
        report.paragraph("The NumPy network <code>hw5.numpy_net.from_keras(model)</code> works on flat vectors, "
                         "one matrix multiply plus bias per weight layer, like a homework-4 fully-connected net; the "
                         "max-pool un-flattens, loops over the 2×2 windows and flattens again. No convolution "
                         "function is called anywhere (a test checks the code's calls)."),
        report.table(["layer", "computes", "neurons out"],
                     [(layer.name, describe_layer(layer), f"{math.prod(layer.out_shape):,}  {layer.out_shape}")
                      for layer in layers]),
        key=f"{len(layers)} layers, {sum(isinstance(layer, Dense) for layer in layers)} matmuls, no conv")
    assert [type(layer) for layer in layers] == [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax]
    assert [layer.W.shape for layer in layers if isinstance(layer, Dense)] == [(784, 43264), (10816, 1024), (1024, 10)]


def test_part2_conv_layer_as_fully_connected_layer(part2, part2_net):
    # the trained kernel's Toeplitz matrix, the neuron counts derived step by step, and their agreement
    # with Keras' own shapes
    conv, pool = part2.model.get_layer("conv").get_config(), part2.model.get_layer("pool").get_config()
    kernel, bias = (v.numpy() for v in part2.model.get_layer("conv").trainable_variables)
    W, b = conv2d_as_dense(kernel, bias, (28, 28, 1), conv["strides"], conv["padding"])
    conv_steps = derive_output_shape((28, 28, 1), conv["kernel_size"], conv["strides"], conv["padding"],
                                     conv["filters"])
    pool_steps = derive_output_shape((26, 26, 64), pool["pool_size"], pool["strides"], pool["padding"], 64)
    derivation = "\n".join(
        ["conv 3×3, stride 1, 'valid' (no padding), 64 filters, on 28×28×1:", *("  " + s for s in conv_steps),
         "max-pool 2×2, stride 2, 'valid', on 26×26×64:", *("  " + s for s in pool_steps),
         "ReLU: same neurons, 13·13·64 = 10,816;  Flatten: 10,816 (h, w, c order)",
         "dense: 1,024 units;  output: 10 units, softmax"])
    rows, _, _, _ = toeplitz_indices(kernel.shape, (28, 28, 1), conv["strides"], conv["padding"])
    nnz = int((W != 0).sum())
    report_section(
        "p2-4",
        report.paragraph("Each output neuron (i, j, c) of the conv layer is one column of a 784 × 43,264 matrix W: "
                         "it holds filter c's 9 weights at the rows of the 9 pixels its window covers, and 0 "
                         "elsewhere, so <code>x.reshape(N, 784) @ W + b == conv(x).reshape(N, 43264)</code> "
                         "(flattened channels-last, Keras' Flatten order)."),
        report.pre(derivation, "hw5-derivation"),
        report.table(["W shape", "b shape", "non-zeros", "density", "non-zeros per column"],
                     [(W.shape, b.shape, f"{nnz:,}", f"{nnz / W.size:.4%}", int((W[:, 0] != 0).sum()))],
                     "the trained kernel's matrix"),
        report.toeplitz_figure(kernel, W),
        key=f"W {W.shape[0]} × {W.shape[1]:,}, {nnz:,} non-zeros")
    assert conv_steps[-1] == "neurons: 26 · 26 · 64 = 43,264" and pool_steps[-1] == "neurons: 13 · 13 · 64 = 10,816"
    assert W.shape == (784, 43264) and len(rows) == 26 * 26 * 64 * 9
    assert_exact(W, part2_net.layers[0].W, "the NumPy network's first matrix is the trained kernel's")
    counts = {name: shape for name, shape, _ in part2_net.neuron_counts()}
    assert counts["conv"] == tuple(part2.model.get_layer("conv").output.shape[1:])
    assert counts["pool"] == tuple(part2.model.get_layer("pool").output.shape[1:])


def test_one_image_same_softmax(part2, part2_net, part2_f64, test_images):
    x_test, y_test = test_images
    image = x_test[IMAGE_INDEX:IMAGE_INDEX + 1]
    tf_probs, np_probs, summary = agreement(part2.model, part2_net, image)
    tf64, np64, summary64 = agreement(part2_f64[0], part2_f64[1], image.astype(np.float64))
    label = CLASS_NAMES[y_test[IMAGE_INDEX]]
    report_section(
        "p2-5",
        '<div class="hw5-row">', report.image_figure(image, f"#{IMAGE_INDEX}: {label}"),
        report.paragraph(
            f"Test image #{IMAGE_INDEX} (true label {label}) through the trained Keras model and through the "
            "fully-connected NumPy network of Part 2 (3)–(4): Dense 784→43,264 (the conv layer's Toeplitz matrix) "
            "→ max-pool loop → ReLU → Dense 10,816→1,024 → ReLU → Dense 1,024→10 → softmax. "
            f"{FLOAT32_SENTENCE}"), "</div>",
        report.table(["class", "TF float32", "NumPy float32", "|diff|", "TF float64", "NumPy float64", "|diff|"],
                     [(name, f"{p:.8e}", f"{q:.8e}", f"{abs(float(p) - float(q)):.1e}", f"{p64:.8e}", f"{q64:.8e}",
                       f"{abs(p64 - q64):.1e}")
                      for name, p, q, p64, q64 in zip(CLASS_NAMES, tf_probs[0], np_probs[0], tf64[0], np64[0],
                                                      strict=True)],
                     f"softmax, 9 significant digits; both predict {CLASS_NAMES[tf_probs.argmax()]} / "
                     f"{CLASS_NAMES[np_probs.argmax()]}; max |diff| {summary.max_abs_diff:.1e} (float32), "
                     f"{summary64.max_abs_diff:.1e} (float64)", cls="hw5-softmax"))
    print(f"test image {IMAGE_INDEX}, label {y_test[IMAGE_INDEX]} ({CLASS_NAMES[y_test[IMAGE_INDEX]]})")
    print(f"{'class':>12} {'TensorFlow':>14} {'NumPy':>14} {'|diff|':>10}")
    for name, p, q in zip(CLASS_NAMES, tf_probs[0], np_probs[0], strict=True):
        print(f"{name:>12} {p:14.9f} {q:14.9f} {abs(float(p) - float(q)):10.2e}")
    assert np_probs.dtype == np.float32 and np64.dtype == np.float64
    assert_within(np_probs, tf_probs, tol.SOFTMAX_F32_ONE_IMAGE, f"softmax of test image {IMAGE_INDEX}")
    assert_within(np64, tf64, tol.SOFTMAX_F64_ALL_IMAGES, f"float64 softmax of test image {IMAGE_INDEX}")
    assert np_probs.argmax() == tf_probs.argmax()
    assert abs(float(np_probs.sum()) - 1) < tol.SOFTMAX_F32_ONE_IMAGE


def test_all_test_images_same_softmax_float32(part2_all_images):
    tf_probs, np_probs, summary = part2_all_images    # computed once per run (conftest), x @ W with dense W
    print(summary)
    report_section("p2-5", report.section("All 10,000 test images, float32", agreement_table(
        summary, tol.SOFTMAX_F32_ALL_IMAGES)), key=f"{summary.max_abs_diff:.1e} on all 10,000 images, "
                                                   f"{summary.argmax_agreement:.0%} same class")
    assert summary.n_images == 10_000
    assert_within(np_probs, tf_probs, tol.SOFTMAX_F32_ALL_IMAGES, "float32 softmax, all test images")
    assert summary.argmax_agreement == 1.0


def test_banded_product_equals_dense_product_part2(part2_f64, test_images):
    # the float64 check below multiplies the same W band by band (rows a block of output columns cannot
    # reach are all zero): on these images both products must give the same softmax to float64 rounding
    _, net64 = part2_f64
    x = test_images[0][:64].astype(np.float64)
    fast = banded(net64)
    assert fast.layers[0].W is net64.layers[0].W and type(fast.layers[0]).__name__ == "BandedDense"
    assert_within(fast.predict(x), net64.predict(x), tol.SOFTMAX_F64_ALL_IMAGES, "banded vs dense x @ W, Part 2")


def test_all_test_images_same_softmax_float64(part2_f64, test_images, progress):
    model64, net64 = part2_f64
    x_test, _ = test_images
    progress("comparing TF and NumPy on all 10,000 test images (float64)")
    tf_probs, np_probs, summary = agreement(model64, banded(net64), x_test.astype(np.float64))
    print(summary)
    report_section("p2-5", report.section(
        "All 10,000 test images, float64 (the same weights, widened exactly)",
        agreement_table(summary, tol.SOFTMAX_F64_ALL_IMAGES),
        report.paragraph("The conv layer's W is multiplied band by band here (hw5.numpy_net.banded skips the "
                         "blocks of W that are all zero; a test shows it gives the dense product's softmax).")))
    assert tf_probs.dtype == np_probs.dtype == np.float64
    assert_within(np_probs, tf_probs, tol.SOFTMAX_F64_ALL_IMAGES, "float64 softmax, all test images")
    assert summary.argmax_agreement == 1.0


def test_trained_neuron_counts_equal_keras_shapes(part2, part2_net):
    derived = [(name, shape) for name, shape, _ in part2_net.neuron_counts() if "." not in name]
    keras_shapes = [(layer.name, tuple(layer.output.shape[1:])) for layer in part2.model.layers
                    if layer.name != "flatten"]
    assert derived == keras_shapes
