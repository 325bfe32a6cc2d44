# Toeplitz conversion: a Conv2D layer *is* a dense layer, for any kernel, stride and padding.
# References: tf.nn.conv2d (float32) and a float64 loop convolution written below (keras conv_test style).
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hw5.toeplitz import (
    conv2d_as_dense,
    conv2d_as_dense_loop,
    conv2d_as_sparse,
    conv_output_shape,
    derive_output_shape,
    toeplitz_indices,
)
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, example_note
from tests.strategies import ConvCase, conv_cases


def conv2d_loop(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1)):
    # The textbook definition, one output element at a time, in float64. Keras' Conv2D is a
    # cross-correlation (no kernel flip); a dilated kernel's taps are `dilation` apart, spanning
    # (k-1)*d + 1; 'same' pads as TF: total max((out-1)*s + span - size, 0), the smaller half on top/left.
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "valid":
        out_h, out_w, top, left = (h - span_h) // sh + 1, (w - span_w) // sw + 1, 0, 0
    else:
        out_h, out_w = -(-h // sh), -(-w // sw)
        top = max((out_h - 1) * sh + span_h - h, 0) // 2
        left = max((out_w - 1) * sw + span_w - w, 0) // 2
    out = np.zeros((n, out_h, out_w, c_out))
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                for co in range(c_out):
                    total = 0.0 if bias is None else float(bias[co])
                    for di in range(kh):
                        for dj in range(kw):
                            r, c = i * sh + di * dh - top, j * sw + dj * dw - left
                            if 0 <= r < h and 0 <= c < w:
                                for ci in range(c_in):
                                    total += x[b, r, c, ci] * kernel[di, dj, ci, co]
                    out[b, i, j, co] = total
    return out


def dense_apply(case: ConvCase, dtype=None):
    # x.reshape(N, -1) @ W + b, un-flattened to (N, H_out, W_out, C_out); all in `dtype` (default: the case's)
    dtype = dtype or case.kernel.dtype
    bias = None if case.bias is None else case.bias.astype(dtype)
    W, b = conv2d_as_dense(case.kernel.astype(dtype), bias, case.input_shape, case.strides, case.padding,
                           case.dilation)
    out_shape = conv_output_shape(case.input_shape, case.kernel.shape[:2], case.strides, case.padding,
                                  case.kernel.shape[3], case.dilation)
    return (case.x.astype(dtype).reshape(len(case.x), -1) @ W + b).reshape(len(case.x), *out_shape)


def tf_conv(x, kernel, bias, strides, padding, dilation=(1, 1)):
    # One image per call: TF 2.21's oneDNN conv returns garbage for batches of single-channel
    # images with a row stride of 1 and a column stride > 1 (uninitialised memory: wrong values come
    # and go between runs, e.g. x=ones(2, 2, 2, 1), kernel=ones(1, 2, 1, 1), strides=(1, 3); README).
    import tensorflow as tf

    out = np.concatenate([tf.nn.conv2d(image[None], kernel, strides=(1, *strides, 1), padding=padding.upper(),
                                       dilations=(1, *dilation, 1)).numpy() for image in x])
    return out if bias is None else out + bias


# 'same' with stride 2 on even and odd sides: the odd extra pad row/column goes bottom/right.
SAME_STRIDE2 = ConvCase(np.arange(2 * 6 * 5 * 2, dtype=np.float32).reshape(2, 6, 5, 2) / 60,
                        np.linspace(-1, 1, 2 * 4 * 2 * 3, dtype=np.float32).reshape(2, 4, 2, 3),
                        None, (2, 2), "same")
# Every product 0.75·tiny is subnormal: oneDNN flushes it to 0, NumPy keeps it (1.76e-38 against 0).
# Found by the dev profile; the float32 bound has to cover flush-to-zero (tests/tolerances.py).
SUBNORMAL_PRODUCTS = ConvCase(np.full((1, 1, 1, 2), 0.75, np.float32),
                              np.full((1, 1, 2, 1), np.finfo(np.float32).tiny, np.float32), None, (1, 1), "valid")


@given(conv_cases(max_dilation=2))
@example(SAME_STRIDE2)
def test_conv2d_as_dense_matches_float64_loop(case):
    example_note(case.describe())
    expected = conv2d_loop(case.x, case.kernel, case.bias, case.strides, case.padding, case.dilation)
    actual = dense_apply(case, np.float64)
    assert_within(actual, expected, tol.CONV_F64_VS_LOOP, f"dense vs loop conv, {case.describe()}")


@given(conv_cases(dtype=np.float32, max_dilation=2))
@example(SAME_STRIDE2)
@example(SUBNORMAL_PRODUCTS)
def test_conv2d_as_dense_matches_tf_conv2d(case):
    example_note(case.describe())
    expected = tf_conv(case.x, case.kernel, case.bias, case.strides, case.padding, case.dilation)
    actual = dense_apply(case)
    assert actual.dtype == np.float32
    # error scale: the same convolution on |x| and |kernel| (and |bias|), in float64
    scale = conv2d_loop(np.abs(case.x), np.abs(case.kernel), None if case.bias is None else np.abs(case.bias),
                        case.strides, case.padding, case.dilation)
    n_terms = math.prod(case.kernel.shape[:3])
    assert_within(actual, expected, tol.conv_f32_atol(n_terms, scale), f"dense vs tf.nn.conv2d, {case.describe()}")


@given(conv_cases())
def test_conv2d_as_dense_entries_are_kernel_copies(case):
    # Row p of W is the convolution of the one-hot image e_p: every entry is exactly one kernel weight
    # times 1.0, or 0. So W must equal, bit for bit, the loop convolution of the identity basis.
    example_note(case.describe())
    W, b = conv2d_as_dense(case.kernel, None, case.input_shape, case.strides, case.padding)
    basis = np.eye(math.prod(case.input_shape)).reshape(-1, *case.input_shape)
    expected = conv2d_loop(basis, case.kernel, None, case.strides, case.padding).reshape(len(basis), -1)
    assert_exact(W, expected.astype(case.kernel.dtype), f"Toeplitz matrix, {case.describe()}")
    assert np.isin(W[W != 0], case.kernel).all()
    assert_exact(b, np.zeros(W.shape[1], case.kernel.dtype), "bias of a conv without bias")


def identity_basis_rows(kernel, input_shape, strides, padding, dilation=(1, 1)):
    # TensorFlow's conv of every one-hot image e_p (one image per call), flattened: row p of the matrix
    n = math.prod(input_shape)
    basis = np.eye(n, dtype=kernel.dtype).reshape(n, *input_shape)
    return tf_conv(basis, kernel, None, strides, padding, dilation).reshape(n, -1)


@given(conv_cases(max_side=6, max_channels=2, max_dilation=2))
@example(SAME_STRIDE2)
def test_conv2d_as_dense_equals_tf_on_the_identity_basis(case):
    # A third reference, independent of our loop: TF's own conv of the identity basis. Each entry is one
    # product with 1.0 (plus zeros), so the stacked outputs must be the matrix bit for bit.
    example_note(case.describe())
    W, _ = conv2d_as_dense(case.kernel, None, case.input_shape, case.strides, case.padding, case.dilation)
    assert_exact(identity_basis_rows(case.kernel, case.input_shape, case.strides, case.padding, case.dilation), W,
                 f"TF conv of the identity basis vs Toeplitz matrix, {case.describe()}")


@pytest.mark.training
def test_trained_homework_kernel_equals_tf_on_the_identity_basis(part2):
    # the trained Part-2 kernel: 784 one-hot images through tf.nn.conv2d give the 784 × 43264 matrix exactly
    conv = part2.model.get_layer("conv")
    kernel = np.asarray(conv.kernel)
    W, _ = conv2d_as_dense(kernel, None, (28, 28, 1))
    assert_exact(identity_basis_rows(kernel, (28, 28, 1), (1, 1), "valid"), W, "trained homework kernel")


@given(conv_cases(), st.sampled_from([0.5, 2.0, -4.0]))
def test_conv2d_as_dense_is_linear_in_kernel(case, a):
    # entries are copies, so W(a·K1 + K2) == a·W(K1) + W(K2) exactly (same elementwise arithmetic)
    example_note(case.describe())
    k2 = case.kernel[::-1, ::-1].copy()
    w1, _ = conv2d_as_dense(case.kernel, None, case.input_shape, case.strides, case.padding)
    w2, _ = conv2d_as_dense(k2, None, case.input_shape, case.strides, case.padding)
    w12, _ = conv2d_as_dense(a * case.kernel + k2, None, case.input_shape, case.strides, case.padding)
    assert_exact(w12, (a * w1 + w2).astype(case.kernel.dtype), f"linearity, {case.describe()}")


@given(conv_cases())
def test_conv2d_as_dense_shapes_and_dtype(case):
    example_note(case.describe())
    W, b = conv2d_as_dense(case.kernel, case.bias, case.input_shape, case.strides, case.padding)
    h_out, w_out, c_out = conv_output_shape(case.input_shape, case.kernel.shape[:2], case.strides, case.padding,
                                            case.kernel.shape[3])
    assert W.shape == (math.prod(case.input_shape), h_out * w_out * c_out)
    assert b.shape == (h_out * w_out * c_out,)
    assert W.dtype == b.dtype == case.kernel.dtype
    # every output neuron sees at most kh·kw·C_in inputs (exactly that many when nothing is padded)
    per_column = (W != 0).sum(axis=0)
    assert per_column.max(initial=0) <= math.prod(case.kernel.shape[:3])


@given(conv_cases())
def test_conv2d_as_dense_loop_equals_the_vectorized_builder(case):
    # Part 2 (4) as the grader reads it (a plain loop over output position, kernel tap and channel) and the
    # vectorized index arithmetic build the same matrix, bit for bit: 'same' and 'valid', strides 1-3, odd sizes
    example_note(case.describe())
    shape = case.input_shape
    W, b = conv2d_as_dense(case.kernel, case.bias, shape, case.strides, case.padding)
    W_loop, b_loop = conv2d_as_dense_loop(case.kernel, case.bias, shape, case.strides, case.padding)
    assert_exact(W_loop, W, "loop vs vectorized W")
    assert_exact(b_loop, b, "loop vs vectorized b")
    assert W_loop.dtype == case.kernel.dtype


@pytest.mark.training
def test_conv2d_as_dense_loop_on_the_trained_homework_kernel(part2):
    # the script's own conversion of the trained 3×3×1×64 kernel is the matrix of the NumPy network
    kernel, bias = (v.numpy() for v in part2.model.get_layer("conv").trainable_variables)
    assert_exact(conv2d_as_dense_loop(kernel, bias, (28, 28, 1))[0], conv2d_as_dense(kernel, bias, (28, 28, 1))[0],
                 "loop vs vectorized W, the trained homework kernel")


@given(conv_cases(max_dilation=2))
def test_conv2d_as_sparse_equals_dense(case):
    example_note(case.describe())
    args = (case.input_shape, case.strides, case.padding, case.dilation)
    dense_w, dense_b = conv2d_as_dense(case.kernel, case.bias, *args)
    sparse_w, sparse_b = conv2d_as_sparse(case.kernel, case.bias, *args)
    assert_exact(sparse_w.toarray(), dense_w, f"sparse Toeplitz, {case.describe()}")
    assert_exact(sparse_b, dense_b, "sparse bias")


@pytest.mark.parametrize("build", [conv2d_as_dense, conv2d_as_sparse, conv2d_as_dense_loop])
def test_conv_builders_need_the_input_shape(build):
    # no default input shape: a caller's own 32×32×3 conv must not be read as the homework's 28×28×1 images
    kernel = np.random.default_rng(3).standard_normal((3, 3, 3, 2))
    with pytest.raises(TypeError, match="input_shape"):
        build(kernel, None)


def test_conv2d_as_sparse_has_the_dense_defaults():
    # the documented defaults — stride 1, 'valid', no dilation — are the same for both builders; bias None is zeros
    kernel = np.random.default_rng(3).standard_normal((3, 3, 1, 2))
    dense_w, dense_b = conv2d_as_dense(kernel, None, (28, 28, 1))
    sparse_w, sparse_b = conv2d_as_sparse(kernel, None, (28, 28, 1))
    assert dense_w.shape == (784, 26 * 26 * 2)
    assert_exact(dense_b, np.zeros(26 * 26 * 2), "bias None, dense")
    assert_exact(sparse_w.toarray(), dense_w, "sparse Toeplitz, defaults")
    assert_exact(sparse_b, dense_b, "sparse bias, defaults")


@pytest.mark.parametrize("size, k, s, padding, expected", [
    (28, 3, 1, "valid", 26), (28, 3, 1, "same", 28), (6, 4, 2, "same", 3), (5, 4, 2, "same", 3),
    (7, 3, 3, "valid", 2), (3, 3, 1, "valid", 1), (1, 3, 2, "same", 1), (13, 2, 2, "valid", 6),
])
def test_conv_output_shape_known_values(size, k, s, padding, expected):
    # height varies; the width (kernel 1, stride 1) keeps its size under both paddings
    assert conv_output_shape((size, size + 1, 2), (k, 1), (s, 1), padding, 5) == (expected, size + 1, 5)


@pytest.mark.parametrize("kernel_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [None, [0.5, -1.0], np.array([0.5, -1.0], np.float64),
                                  np.array([0.5, -1], np.float32)])
def test_conv2d_as_dense_bias_comes_in_the_kernels_dtype(kernel_dtype, bias):
    # documented: W and b in the kernel's dtype whatever the bias was given as (None: zeros)
    kernel = np.ones((2, 2, 1, 2), kernel_dtype)
    for build in (conv2d_as_dense, conv2d_as_sparse):
        W, b = build(kernel, bias, (3, 3, 1))
        assert W.dtype == b.dtype == kernel_dtype, build.__name__
        assert_exact(b, np.tile(np.zeros(2) if bias is None else np.asarray(bias, np.float64), 4).astype(kernel_dtype),
                     f"{build.__name__} bias")


def test_padding_is_case_insensitive():
    # documented (Keras writes 'valid'/'same', TensorFlow 'VALID'/'SAME'): every builder takes either spelling
    from hw5.convert.linear_maps import avg_pool_as_dense
    from hw5.homework.forward import max_pool2d

    kernel = np.random.default_rng(6).standard_normal((2, 3, 1, 2))
    x = np.random.default_rng(7).standard_normal((1, 5, 6, 1))
    for padding in ("valid", "same"):
        W, b = conv2d_as_dense(kernel, None, (5, 6, 1), 2, padding)
        for spelled in (padding.upper(), padding.capitalize()):
            assert_exact(conv2d_as_dense(kernel, None, (5, 6, 1), 2, spelled)[0], W, f"conv2d_as_dense, {spelled!r}")
            assert conv_output_shape((5, 6, 1), (2, 3), 2, spelled, 2) == conv_output_shape((5, 6, 1), (2, 3), 2,
                                                                                             padding, 2)
            assert_exact(max_pool2d(x, 2, 2, spelled), max_pool2d(x, 2, 2, padding), f"max_pool2d, {spelled!r}")
            assert_exact(avg_pool_as_dense((5, 6, 1), 2, 2, spelled)[0],
                         avg_pool_as_dense((5, 6, 1), 2, 2, padding)[0], f"avg_pool_as_dense, {spelled!r}")


def test_conv_output_shape_and_indices_defaults():
    # the documented defaults: stride 1, 'valid', one filter, no dilation
    assert conv_output_shape((28, 27, 1), 3) == (26, 25, 1)
    rows, cols, taps, out = toeplitz_indices((3, 2, 1, 2), (5, 4, 1))
    explicit = toeplitz_indices((3, 2, 1, 2), (5, 4, 1), 1, "valid", 1)
    assert out == explicit[3] == (3, 3, 2)
    for got, want, what in zip((rows, cols, taps), explicit[:3], ("rows", "cols", "taps"), strict=True):
        assert_exact(got, want, f"toeplitz_indices {what}, defaults")


@pytest.mark.parametrize("args, kwargs, error, match", [
    (((28, 28, 1), 0), {}, ValueError, "kernel_size must be >= 1"),
    (((28, 28, 1), (3, 2.0)), {}, TypeError, "kernel_size must be an int or a pair"),
    (((28, 28, 1), 3), dict(strides=(0, 1)), ValueError, "strides must be >= 1"),
    (((28, 28, 1), 3), dict(strides=(1.0, 1)), TypeError, "strides must be an int or a pair"),
    (((28, 28, 1), 3), dict(dilation_rate=0), ValueError, "dilation_rate must be >= 1"),
    (((28, 28, 1), 3), dict(dilation_rate=(True, 1)), TypeError, "dilation_rate must be an int or a pair"),
    (((28, 28, 1), 3), dict(filters=0), ValueError, "filters must be a positive int, got 0"),
    (((28, 28, 1), 3), dict(filters=True), ValueError, "filters must be a positive int, got True"),
    (((28, 28, 1), 3), dict(filters=2.0), ValueError, "filters must be a positive int, got 2.0"),
    (((28, 4, 1), (3, 5)), {}, ValueError, "kernel width 5 is larger than the input width 4"),
    (((2, 28, 1), 3), {}, ValueError, "kernel height 3 is larger than the input height 2"),
    (((28, 28, 0), 3), {}, ValueError, "input_shape must be"),
])
def test_conv_output_shape_rejects_bad_input(args, kwargs, error, match):
    # the neuron-count maths refuses what Keras would refuse, naming the argument
    with pytest.raises(error, match=match):
        conv_output_shape(*args, **kwargs)


def test_homework_toeplitz_matrix_shape():
    # the homework layer: 28×28×1 → 26×26×64, a 784 × 43264 matrix; every output neuron sees 9 pixels
    kernel = np.random.default_rng(0).standard_normal((3, 3, 1, 64)).astype(np.float32)
    W, b = conv2d_as_dense(kernel, np.ones(64, np.float32), (28, 28, 1))
    nnz = int((W != 0).sum())
    assert W.shape == (784, 43264) and b.shape == (43264,)
    assert nnz == 26 * 26 * 64 * 9


# Bad input: a clear error naming the argument.
GOOD = np.ones((3, 3, 1, 4), np.float32)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(kernel=np.ones((3, 3, 4), np.float32)), ValueError, "kernel must be 4-D"),
    (dict(kernel=np.ones((3, 3, 1, 4), np.int64)), TypeError, "kernel must be float32 or float64"),
    (dict(input_shape=(28, 28, 3)), ValueError, "channels but the kernel expects C_in=1"),
    (dict(input_shape=(28, 28)), ValueError, "input_shape must be"),
    (dict(input_shape=(28.0, 28, 1)), ValueError, "input_shape must be"),
    (dict(input_shape=(28, 0, 1)), ValueError, "input_shape must be"),
    (dict(input_shape=(28, True, 1)), ValueError, "input_shape must be"),
    (dict(input_shape=(28, 2, 1)), ValueError, "kernel width 3 is larger than the input width 2"),
    (dict(dilation_rate=0), ValueError, "dilation_rate must be >= 1"),
    (dict(dilation_rate=(1, 1.5)), TypeError, "dilation_rate must be an int or a pair"),
    (dict(strides=0), ValueError, "strides must be >= 1"),
    (dict(strides=(1, -2)), ValueError, "strides must be >= 1"),
    (dict(strides=1.5), TypeError, "strides must be an int or a pair"),
    (dict(padding="full"), ValueError, "padding must be one of"),
    (dict(input_shape=(2, 8, 1)), ValueError, "kernel height 3 is larger than the input height 2"),
    (dict(kernel=np.full((3, 3, 1, 4), np.nan, np.float32)), ValueError, "kernel must be finite"),
    (dict(bias=np.ones(5, np.float32)), ValueError, r"bias must have shape \(4,\)"),
    (dict(bias=np.array([1, 2, np.inf, 4], np.float32)), ValueError, "bias must be finite"),
])
@pytest.mark.parametrize("build", [conv2d_as_dense, conv2d_as_dense_loop])
def test_conv2d_as_dense_rejects_bad_input(build, kwargs, error, match):
    # both builders check alike and name what is wrong (the loop has no dilation)
    if build is conv2d_as_dense_loop and "dilation_rate" in kwargs:
        return
    args = dict(kernel=GOOD, bias=None, input_shape=(28, 28, 1), strides=1, padding="valid") | kwargs
    with pytest.raises(error, match=match):
        build(**args)


def test_derive_output_shape_writes_out_the_rule():
    # the report's neuron-count derivation: the numbers of conv_output_shape, and TF's 'same' split
    # (an odd total pad puts the extra zero after: bottom/right)
    assert derive_output_shape((28, 28, 1), 3, 1, "valid", 64) == [
        "height: ⌊(28 − 3 + 2·0) / 1⌋ + 1 = 26", "width: ⌊(28 − 3 + 2·0) / 1⌋ + 1 = 26",
        "neurons: 26 · 26 · 64 = 43,264"]
    assert derive_output_shape((6, 5, 2), (4, 2), 2, "same", 3) == [
        "height: ⌈6 / 2⌉ = 3  ('same': 2 zero(s) added, 1 before, 1 after)",
        "width: ⌈5 / 2⌉ = 3  ('same': 1 zero(s) added, 0 before, 1 after)", "neurons: 3 · 3 · 3 = 27"]
    # defaults: stride 1, 'valid', one filter; 'same' that needs no padding says so (a stride larger than
    # the kernel can leave input rows unread, never a negative pad)
    assert derive_output_shape((5, 4, 1), (2, 3)) == [
        "height: ⌊(5 − 2 + 2·0) / 1⌋ + 1 = 4", "width: ⌊(4 − 3 + 2·0) / 1⌋ + 1 = 2", "neurons: 4 · 2 · 1 = 8"]
    assert derive_output_shape((6, 3, 1), 1, (2, 1), "same") == [
        "height: ⌈6 / 2⌉ = 3  ('same': 0 zero(s) added, 0 before, 0 after)",
        "width: ⌈3 / 1⌉ = 3  ('same': 0 zero(s) added, 0 before, 0 after)", "neurons: 3 · 3 · 1 = 9"]


@pytest.mark.parametrize("args, error, match", [
    (((28, 28, 1), 0), ValueError, "kernel_size must be >= 1"),
    (((28, 28, 1), (3, 1.5)), TypeError, "kernel_size must be an int or a pair"),
    (((28, 28, 1), 3, 0), ValueError, "strides must be >= 1"),
    (((28, 28, 1), 3, (1, True)), TypeError, "strides must be an int or a pair"),
    (((28, 28), 3), ValueError, "input_shape must be"),
    (((28, 28, 1), 3, 1, "full"), ValueError, "padding must be one of"),
    (((28, 28, 1), 3, 1, "valid", 0), ValueError, "filters must be a positive int"),
    (((2, 28, 1), 3), ValueError, "kernel height 3 is larger than the input height 2"),
    (((28, 2, 1), 3), ValueError, "kernel width 3 is larger than the input width 2"),
])
def test_derive_output_shape_rejects_bad_input(args, error, match):
    # the report's derivation refuses what conv_output_shape refuses, naming the argument
    with pytest.raises(error, match=match):
        derive_output_shape(*args)
