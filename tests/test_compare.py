# The homework's claim: an image gets the same softmax from TensorFlow and from the NumPy network.
# Reference: the trained Keras model itself (keras conv_test style: compare with a reference).
# These tests also write Part 2's sections (1) training, (3) the NumPy network, (4) the conversion and
# (5) the comparison of the report.
import math

import numpy as np
import pytest

from hw5.compare import agreement
from hw5.data import CLASS_NAMES
from hw5.deliver import report
from hw5.homework.forward import part2_forward
from hw5.homework.run import epoch_lines, forward_lines, matrix_lines, neuron_lines, softmax_lines
from hw5.numpy_net import Dense, MaxPool, ReLU, Softmax, banded
from hw5.toeplitz import conv2d_as_dense_loop, toeplitz_indices
from hw5.weights import extract_weights
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, report_section

pytestmark = pytest.mark.training

# 3 epochs of the Part-2 net reach ~0.90; 0.85 catches broken training without depending on the seed.
PART2_MIN_ACCURACY = 0.85
FLOAT32_SENTENCE = (
    "In float32 the two differ only in the last digits, because TensorFlow (oneDNN) and NumPy (OpenBLAS) add the "
    "10,816 products of each dense neuron in different orders and float32 keeps about 7 significant digits; with "
    "the weights widened exactly to float64 they agree to ~1e-16.")


def agreement_table(summary, bound):
    return report.table(
        ["images", "dtype", "max |TF − NumPy|", "tolerance", "argmax agreement", "TF s", "NumPy s"],
        [(f"{summary.n_images:,}", summary.dtype, f"{summary.max_abs_diff:.3e}", f"{bound:.0e}",
          f"{summary.argmax_agreement:.2%}", f"{summary.tf_seconds:.2f}", f"{summary.numpy_seconds:.2f}")])


def test_part2_trained_and_accuracy_recorded(part2, part2_tf_probs, test_images):
    x_test, y_test = test_images
    accuracy = part2.log.test_accuracy   # model.evaluate's, as the script prints it; checked against predict below
    report_section("p2-1", report.console(
        [*epoch_lines(part2.log), f"Part 2 test accuracy {accuracy:.4f} on {len(y_test):,} test images "
                                  f"(model.evaluate)"], "Trained as the script trains it, which prints"),
        handin=True)
    report_section("p2-1", report.section(
        f"Trained {len(part2.log.epochs)} epochs: test accuracy {part2.log.test_accuracy:.4f}",
        report.paragraph(f"batch {part2.config['batch_size']}, Adam {part2.config['learning_rate']:g}, seed "
                         f"{part2.config['seed']} "
                         f"({'loaded from the cache' if part2.from_cache else 'trained in this run'})"),
        report.epoch_table(part2.log)))
    print(f"Part 2: {len(part2.log.epochs)} epochs, test accuracy {part2.log.test_accuracy:.4f}"
          f" ({'cache' if part2.from_cache else 'trained now'})")
    assert part2.log.test_accuracy >= PART2_MIN_ACCURACY
    predicted = part2_tf_probs.argmax(1)
    assert (predicted == y_test).mean() == pytest.approx(part2.log.test_accuracy, abs=tol.ACCURACY_COUNTS)


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
        report.table(["layer", "computes", "neurons out"],
                     [(layer.name, describe_layer(layer), f"{math.prod(layer.out_shape):,}  {layer.out_shape}")
                      for layer in layers], "the same network built for any model by hw5.numpy_net.from_keras "
                                            "(the registry): one matrix multiply plus bias per weight layer"),
        key=f"{len(layers)} layers, {sum(isinstance(layer, Dense) for layer in layers)} matmuls, no conv")
    assert [type(layer) for layer in layers] == [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax]
    assert [layer.W.shape for layer in layers if isinstance(layer, Dense)] == [(784, 43264), (10816, 1024), (1024, 10)]


def test_part2_forward_written_out_equals_the_general_network(part2, part2_net, test_images):
    # Part 2 (3) by hand (part2_forward, the conv matrix from the plain loop) and the registry-built network
    # are the same computation: the same products in the same order, so the same floats, bit for bit
    x = test_images[0][:64]
    weights = extract_weights(part2.model)
    outs = part2_forward(x, weights)
    general = part2_net.forward(x)
    report_section(
        "p2-3",
        report.paragraph("<code>part2_forward</code> is the Part-2 net as a fully-connected NumPy network, written "
                         "out: a matrix multiply plus bias per layer (the conv layer as its 784 × 43,264 matrix, Part "
                         "2 (4)), the 2×2 max-pool as a loop over windows, ReLU and softmax. No convolution function "
                         "is called anywhere (a test checks the code's calls)."),
        report.console(forward_lines(outs, part2_net.layers[0].W)), handin=True)
    assert list(outs) == ["conv", "pool", "relu", "flatten", "dense", "output"]
    pairs = [("conv", 0), ("pool", 1), ("relu", 2), ("dense", 4), ("output", 6)]
    for name, index in pairs:
        assert_exact(outs[name].reshape(len(x), -1), general[index], f"part2_forward's {name} vs the network's")


def test_part2_conv_layer_as_fully_connected_layer(part2, part2_net, part2_image, test_images):
    # the trained kernel's matrix by the plain loop (what the script builds), the neuron counts derived step by
    # step, and their agreement with the forward pass, the registry-built network and Keras' own shapes
    conv = part2.model.get_layer("conv").get_config()
    weights = extract_weights(part2.model)
    kernel, bias = weights["conv/kernel"], weights["conv/bias"]
    W, b = conv2d_as_dense_loop(kernel, bias, (28, 28, 1), conv["strides"], conv["padding"])
    outs = part2_forward(test_images[0][part2_image:part2_image + 1], weights, (W, b))
    lines = neuron_lines(part2.model, outs)
    rows, _, _, _ = toeplitz_indices(kernel.shape, (28, 28, 1), conv["strides"], conv["padding"])
    nnz = int((W != 0).sum())
    report_section(
        "p2-4",
        report.paragraph("Each output neuron (i, j, k) of the conv layer is one column of a 784 × 43,264 matrix W: "
                         "it holds filter k's 9 weights at the rows of the 9 pixels its window covers, and 0 "
                         "elsewhere, so <code>x.reshape(N, 784) @ W + b == conv(x).reshape(N, 43264)</code> "
                         "(flattened channels-last, Keras' Flatten order). <code>conv2d_as_dense_loop</code> builds "
                         "it by a plain loop over output position, kernel tap and channel; each layer's neuron count "
                         "is derived from kernel, stride and padding and checked against the forward pass."),
        report.console([*lines, *matrix_lines(W, b)]),
        report.toeplitz_figure(kernel, W),
        key=f"W {W.shape[0]} × {W.shape[1]:,}, {nnz:,} non-zeros", handin=True)
    report_section("p2-4", report.table(
        ["W shape", "b shape", "non-zeros", "density", "non-zeros per column"],
        [(W.shape, b.shape, f"{nnz:,}", f"{nnz / W.size:.4%}", int((W[:, 0] != 0).sum()))],
        "the trained kernel's matrix; the vectorized builder (conv2d_as_dense, below) gives the same W bit for bit"))
    assert "    neurons: 26 · 26 · 64 = 43,264" in lines and "    neurons: 13 · 13 · 64 = 10,816" in lines
    assert W.shape == (784, 43264) and len(rows) == nnz == 26 * 26 * 64 * 9
    assert_exact(W, part2_net.layers[0].W, "the loop's matrix is the vectorized builder's, in the NumPy network")
    assert_exact(b, part2_net.layers[0].b, "the conv layer's bias, tiled")
    counts = {name: shape for name, shape, _ in part2_net.neuron_counts()}
    assert counts["conv"] == tuple(part2.model.get_layer("conv").output.shape[1:]) == outs["conv"].shape[1:]
    assert counts["pool"] == tuple(part2.model.get_layer("pool").output.shape[1:]) == outs["pool"].shape[1:]


def test_chosen_image_is_correct_and_unsure(part2_image, part2_tf_probs, test_images):
    # Part 2 (5)'s image, by the script's rule: correctly classified, and no correct image has a softmax of
    # higher entropy; not a trivial one-hot distribution
    tf_probs = part2_tf_probs
    labels = test_images[1]
    p = tf_probs.astype(np.float64)
    entropy = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1)
    correct = p.argmax(1) == labels
    assert correct[part2_image] and entropy[part2_image] == entropy[correct].max()
    top2 = np.sort(p[part2_image])[::-1][:2]
    assert top2[0] < 0.9 and top2[1] > 0.05, top2     # the model is unsure: the softmax is worth comparing


def test_one_image_same_softmax(part2, part2_f64, part2_image, test_images):
    # the script's Part 2 (5): TF's softmax beside part2_forward's, float32; float64 twin as well
    x_test, y_test = test_images
    index, image = part2_image, x_test[part2_image:part2_image + 1]
    weights = extract_weights(part2.model)
    conv = conv2d_as_dense_loop(weights["conv/kernel"], weights["conv/bias"], (28, 28, 1))
    tf_probs, np_probs, summary = agreement(part2.model, lambda x: part2_forward(x, weights, conv)["output"], image)
    tf64, np64, summary64 = agreement(part2_f64[0], part2_f64[1], image.astype(np.float64))
    label, top = CLASS_NAMES[y_test[index]], np.argsort(tf_probs[0])[::-1][:2]
    report_section(
        "p2-5",
        '<div class="hw5-row">', report.image_figure(image, f"#{index}: {label}"),
        report.paragraph(
            f"Test image #{index} (true label {label}) is the correctly classified test image on which the model is "
            f"least sure (the highest entropy of its softmax): {CLASS_NAMES[top[0]]} {tf_probs[0, top[0]]:.4f}, "
            f"{CLASS_NAMES[top[1]]} {tf_probs[0, top[1]]:.4f}, so every class's probability matters. Through the "
            f"trained Keras model and through <code>part2_forward</code> (Part 2 (3)–(4)) it gets the same softmax: "
            f"max |difference| {summary.max_abs_diff:.1e}, <code>np.allclose</code> true. {FLOAT32_SENTENCE}"),
        "</div>",
        report.console([f"test image {index} (label {label})", *softmax_lines(tf_probs[0], np_probs[0]),
                        f"max |TensorFlow - NumPy| = {summary.max_abs_diff:.2e}; np.allclose(TF, NumPy, rtol=1e-5, "
                        f"atol=1e-6): {np.allclose(tf_probs, np_probs, rtol=1e-5, atol=1e-6)}"]),
        key=f"#{index}: max |diff| {summary.max_abs_diff:.1e}", handin=True)
    report_section("p2-5", report.table(
        ["class", "TF float64", "NumPy float64", "|diff|"],
        [(name, f"{p64:.15e}", f"{q64:.15e}", f"{abs(p64 - q64):.1e}")
         for name, p64, q64 in zip(CLASS_NAMES, tf64[0], np64[0], strict=True)],
        f"the same weights widened exactly to float64: max |diff| {summary64.max_abs_diff:.1e}", cls="hw5-softmax"))
    print("\n".join(softmax_lines(tf_probs[0], np_probs[0])))
    assert np_probs.dtype == np.float32 and np64.dtype == np.float64
    assert_within(np_probs, tf_probs, tol.SOFTMAX_F32_ONE_IMAGE, f"softmax of test image {index}")
    assert_within(np64, tf64, tol.SOFTMAX_F64_ALL_IMAGES, f"float64 softmax of test image {index}")
    assert np_probs.argmax() == tf_probs.argmax() == y_test[index]
    assert abs(float(np_probs.sum()) - 1) < tol.SOFTMAX_F32_ONE_IMAGE


@pytest.mark.full   # all 10,000 test images: `make test-full` and the report, not the quick tier
def test_all_test_images_same_softmax_float32(part2_all_images):
    tf_probs, np_probs, summary = part2_all_images    # computed once per run (conftest), x @ W with dense W
    print(summary)
    report_section("p2-5", report.section("All 10,000 test images, float32", agreement_table(
        summary, tol.SOFTMAX_F32_ALL_IMAGES)), handin=True)
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


@pytest.mark.full   # all 10,000 test images: `make test-full` and the report, not the quick tier
def test_all_test_images_same_softmax_float64(part2_f64, test_images, progress):
    model64, net64 = part2_f64
    x_test, _ = test_images
    progress("comparing TF and NumPy on all 10,000 test images (float64)")
    tf_probs, np_probs, summary = agreement(model64, banded(net64), x_test.astype(np.float64))
    print(summary)
    report_section("p2-5", report.section(
        "All 10,000 test images, float64 (the same weights, widened exactly)",
        agreement_table(summary, tol.SOFTMAX_F64_ALL_IMAGES)), handin=True)
    report_section("p2-5", report.paragraph(
        "The float64 network multiplies the conv layer's W band by band (hw5.numpy_net.banded skips the blocks of W "
        "that are all zero; a test shows it gives the dense product's softmax)."))
    assert tf_probs.dtype == np_probs.dtype == np.float64
    assert_within(np_probs, tf_probs, tol.SOFTMAX_F64_ALL_IMAGES, "float64 softmax, all test images")
    assert summary.argmax_agreement == 1.0


def test_trained_neuron_counts_equal_keras_shapes(part2, part2_net):
    derived = [(name, shape) for name, shape, _ in part2_net.neuron_counts() if "." not in name]
    keras_shapes = [(layer.name, tuple(layer.output.shape[1:])) for layer in part2.model.layers
                    if layer.name != "flatten"]
    assert derived == keras_shapes
