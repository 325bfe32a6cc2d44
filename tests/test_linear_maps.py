# Average pooling, global average pooling and zero padding as explicit matrices; BatchNormalization as a
# diagonal; fusing affine maps. References: TensorFlow/Keras layers, np.pad, hand-computed values.
import math

import numpy as np
import pytest
from hypothesis import example, given

from hw5.convert.linear_maps import (
    avg_pool_as_dense,
    batch_norm_scale,
    compose,
    global_avg_pool_as_dense,
    window_indices,
    zero_padding_as_dense,
)
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, example_note
from tests.strategies import pool_cases_padded


def apply(matrix, bias, x, out_shape):
    return (x.reshape(len(x), -1) @ matrix + bias).reshape(len(x), *out_shape)


# The mean of 0 and the smallest normal float32 is subnormal: TF flushes it to 0, NumPy keeps 5.9e-39.
# Found by the ci profile (a flaky failure until tests/tolerances.sum_atol covered flush-to-zero).
SUBNORMAL_MEAN = (np.array([0, np.finfo(np.float32).tiny], np.float32).reshape(1, 1, 2, 1), (1, 2), (1, 1), "valid")


@given(pool_cases_padded())
@example(SUBNORMAL_MEAN)
def test_avg_pool_as_dense_matches_tf(case):
    import tensorflow as tf

    x, pool, strides, padding = case
    example_note(f"x {x.shape} {x.dtype}, pool {pool}, strides {strides}, padding {padding!r}")
    M, b = avg_pool_as_dense(x.shape[1:], pool, strides, padding, x.dtype)
    assert M.dtype == b.dtype == x.dtype
    expected = tf.nn.avg_pool2d(tf.constant(x), pool, strides, padding.upper()).numpy()
    scale = apply(np.abs(M.astype(np.float64)), 0, np.abs(x.astype(np.float64)), expected.shape[1:])
    assert_within(apply(M, b, x, expected.shape[1:]), expected,
                  tol.sum_atol(math.prod(pool), scale, np.finfo(x.dtype).eps, np.finfo(x.dtype).tiny),
                  f"avg-pool, {padding!r}")


def test_avg_pool_same_divides_by_the_real_inputs():
    # TF's rule (tensorflow/tensorflow#60509): 3×3 image, 2×2 windows, stride 2, 'same' → [[3, 4.5], [7.5, 9]]:
    # (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1 — not everything divided by 4
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    M, b = avg_pool_as_dense((3, 3, 1), 2, 2, "same")
    assert_exact(apply(M, b, x, (2, 2, 1))[0, :, :, 0], np.array([[3, 4.5], [7.5, 9]], np.float32), "by hand")
    rows, cols, counts, out = window_indices((3, 3, 1), 2, 2, "same")
    assert out == (2, 2, 1) and sorted(np.bincount(cols)) == [1, 2, 2, 4]
    assert (counts == np.bincount(cols)[cols]).all()


def test_global_avg_pool_as_dense_is_the_mean():
    x = np.random.default_rng(0).normal(size=(3, 5, 4, 2))
    M, b = global_avg_pool_as_dense((5, 4, 2), np.float64)
    assert M.shape == (40, 2) and set(np.unique(M)) == {0.0, 1 / 20}
    assert_within(apply(M, b, x, (2,)), x.mean(axis=(1, 2)),
                  tol.sum_atol(20, np.abs(x).mean(axis=(1, 2)), tol.EPS64), "global average")
    assert [a.dtype for a in global_avg_pool_as_dense((5, 4, 2))] == [np.float32, np.float32]   # the default


@pytest.mark.parametrize("padding, out_shape", [(1, (5, 6, 2)), ((2, 0), (7, 4, 2)), (((0, 1), (2, 3)), (4, 9, 2))])
def test_zero_padding_as_dense_is_a_selection(padding, out_shape):
    import keras

    x = np.random.default_rng(1).normal(size=(2, 3, 4, 2)).astype(np.float32)
    M, b, out = zero_padding_as_dense((3, 4, 2), padding, np.float32)
    assert out == out_shape
    assert set(np.unique(M)) == {0.0, 1.0} and (M.sum(axis=1) == 1).all()   # every input lands once
    # copies, no arithmetic: exactly Keras' layer and np.pad
    expected = np.asarray(keras.layers.ZeroPadding2D(padding)(x))
    assert_exact(apply(M, b, x, out), expected, f"zero padding {padding}")
    pads = keras.layers.ZeroPadding2D(padding).padding
    assert_exact(expected, np.pad(x, ((0, 0), *pads, (0, 0))), "Keras' layer is np.pad")


@pytest.mark.parametrize("axis, center, scale", [(-1, True, True), (-1, False, True), (-1, True, False),
                                                (1, True, True)])
def test_batch_norm_scale_matches_keras(axis, center, scale):
    # inference BatchNormalization is y·s + t, s = γ/√(σ² + ε), t = β − μ·s, along `axis`
    import keras

    rng = np.random.default_rng(2)
    y = rng.normal(size=(3, 4, 5, 2))
    layer = keras.layers.BatchNormalization(axis=axis, epsilon=0.3, center=center, scale=scale, dtype="float64")
    layer.build(y.shape)
    n = y.shape[axis]
    params = dict(gamma=rng.uniform(0.5, 2, n), beta=rng.normal(size=n), moving_mean=rng.normal(size=n),
                  moving_variance=rng.uniform(0.05, 2, n))
    for var in layer.weights:
        var.assign(params[var.path.split("/")[-1]])
    gamma, beta = params["gamma"] if scale else None, params["beta"] if center else None
    shape_axis = axis - 1 if axis > 0 else axis
    d, t = batch_norm_scale(gamma, beta, params["moving_mean"], params["moving_variance"], 0.3, shape_axis,
                            y.shape[1:], np.float64)
    expected = np.asarray(layer(y, training=False))
    flat = y.reshape(3, -1)
    ours = (flat * d + t).reshape(y.shape)
    # Keras rounds y·inv, β − μ·inv and their sum: the scale is |y·s| + |β| + |μ·s| (+ |out|), which is the
    # same map with magnitudes: γ → |γ|, β → |β|, μ → −|μ|
    d_abs, t_abs = batch_norm_scale(None if gamma is None else np.abs(gamma), None if beta is None else np.abs(beta),
                                    -np.abs(params["moving_mean"]), params["moving_variance"], 0.3, shape_axis,
                                    y.shape[1:], np.float64)
    magnitude = (np.abs(flat) * d_abs + t_abs + np.abs(flat * d + t)).reshape(y.shape)
    assert_within(ours, expected, tol.sum_atol(2, magnitude, tol.EPS64), f"BN axis {axis}")


@pytest.mark.parametrize("first, second", [("matrix", "matrix"), ("matrix", "diagonal"), ("diagonal", "matrix"),
                                           ("diagonal", "diagonal")])
def test_compose_is_applying_both(first, second):
    rng = np.random.default_rng(3)
    W1 = rng.normal(size=(5, 4)) if first == "matrix" else rng.normal(size=4)
    n = 4
    W2 = rng.normal(size=(n, 3)) if second == "matrix" else rng.normal(size=n)
    b1, b2 = rng.normal(size=n), rng.normal(size=W2.shape[-1])
    x = rng.normal(size=(2, 5 if first == "matrix" else 4))
    step = lambda v, W, b: (v @ W if W.ndim == 2 else v * W) + b  # noqa: E731
    W, b = compose(W1, b1, W2, b2)
    assert W.ndim == (1 if first == second == "diagonal" else 2)
    assert_within(step(x, W, b), step(step(x, W1, b1), W2, b2), 1e-14, f"{first} then {second}")


@pytest.mark.parametrize("dt1, dt2", [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)])
def test_compose_rounds_once_to_the_common_dtype(dt1, dt2):
    # documented: the products are formed in float64 and rounded once, to np.result_type(W₁, W₂) — a float32
    # net stays float32, and its fused matrix is the exact product rounded once (not a float32 matmul)
    rng = np.random.default_rng(4)
    W1, b1 = rng.normal(size=(20, 30)).astype(dt1), rng.normal(size=30).astype(dt1)
    W2, b2 = rng.normal(size=(30, 10)).astype(dt2), rng.normal(size=10).astype(dt2)
    W, b = compose(W1, b1, W2, b2)
    dt = np.result_type(dt1, dt2)
    assert W.dtype == b.dtype == dt
    wide = [a.astype(np.float64) for a in (W1, b1, W2, b2)]
    assert_exact(W, (wide[0] @ wide[2]).astype(dt), "W₁ W₂ rounded once")
    assert_exact(b, (wide[1] @ wide[2] + wide[3]).astype(dt), "b₁ W₂ + b₂ rounded once")


def test_batch_norm_scale_computes_in_float64():
    # float32 statistics (a float32 model's) are widened before σ² + ε and the square root: the float64 scale
    # is the one of the same numbers given as float64, bit for bit; ε = 0 is allowed when every σ² > 0
    rng = np.random.default_rng(5)
    stats = [rng.uniform(0.5, 1.5, 3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.05, 2, 3)]
    for epsilon in (1e-3, 0.0):
        d32, t32 = batch_norm_scale(*[a.astype(np.float32) for a in stats], epsilon, -1, (2, 3), np.float64)
        d64, t64 = batch_norm_scale(*[a.astype(np.float32).astype(np.float64) for a in stats], epsilon, -1, (2, 3),
                                    np.float64)
        assert_exact(d32, d64, f"scale from float32 statistics, epsilon {epsilon}")
        assert_exact(t32, t64, f"shift from float32 statistics, epsilon {epsilon}")


def test_pooling_defaults_to_the_pool_as_stride_and_valid():
    # AveragePooling2D's documented defaults: strides = pool_size, padding 'valid'
    rows, cols, counts, out = window_indices((5, 4, 1), 2)
    assert out == (2, 2, 1) and (counts == 4).all() and sorted(np.bincount(cols)) == [4, 4, 4, 4]
    assert_exact(avg_pool_as_dense((5, 4, 1), 2)[0], avg_pool_as_dense((5, 4, 1), 2, 2, "valid")[0], "defaults")


@pytest.mark.parametrize("call, error, match", [
    (lambda: avg_pool_as_dense((4, 4, 1), 0), ValueError, "pool_size must be >= 1"),
    (lambda: avg_pool_as_dense((4, 4, 1), 2, strides=(1, 0)), ValueError, "strides must be >= 1"),
    (lambda: avg_pool_as_dense((4, 2, 1), 3, padding="valid"), ValueError, "larger than the input width"),
    (lambda: zero_padding_as_dense((4, 4, 1), ((1, 2, 3), (0, 0))), ValueError, "padding must be an int"),
    (lambda: zero_padding_as_dense((4, 4, 1), ((1, -1), (0, 0))), ValueError, "padding must be an int"),
    (lambda: batch_norm_scale(None, None, np.zeros(2), np.ones(2), -0.5, -1, (3, 2)), ValueError,
     "epsilon must make every variance"),
    (lambda: batch_norm_scale(None, None, np.zeros(2), np.ones(2), "0.001", -1, (3, 2)), ValueError,
     "epsilon must make every variance"),
    (lambda: batch_norm_scale(None, None, np.zeros(2), np.ones(2), 1e-3, 2, (3, 2)), ValueError, "axis 2"),
    (lambda: avg_pool_as_dense((4, 4, 1), 2, dtype=np.int32), TypeError, "dtype must be float32 or float64"),
    (lambda: avg_pool_as_dense((2, 4, 1), 3), ValueError, "larger than the input height"),
    (lambda: zero_padding_as_dense((4, 4, 1), -1), ValueError, "padding must be an int"),
    (lambda: zero_padding_as_dense((4, 4), 1), ValueError, "input_shape must be"),
    (lambda: batch_norm_scale(None, None, np.zeros(2), np.zeros(2), 0.0, -1, (3, 2)), ValueError,
     "epsilon must make every variance"),
    (lambda: batch_norm_scale(None, None, np.zeros(2), np.ones(2), 1e-3, -1, (3, 4)), ValueError, "axis -1"),
    (lambda: compose(np.ones((2, 3)), np.zeros(3), np.ones((4, 1)), np.zeros(1)), ValueError, "cannot compose"),
])
def test_linear_maps_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
