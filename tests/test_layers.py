# The NumPy layers of hw5.layers beyond the homework's (whose max-pool, ReLU and softmax tests are in
# test_numpy_net.py): 'same' max-pooling against TF, the softmax over a grid's last axis, saturating
# activations. References: tf.nn.max_pool2d, hand-computed windows.
import numpy as np
import pytest
from hypothesis import given

from hw5.convert.layers import Dense, MaxPool, Scale, Sigmoid, Softmax, Tanh, max_pool2d_vectorized
from hw5.homework.forward import max_pool2d
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, example_note
from tests.strategies import pool_cases_padded


@given(pool_cases_padded())
def test_max_pool2d_padded_matches_tf(case):
    import tensorflow as tf

    x, pool, strides, padding = case
    example_note(f"x {x.shape} {x.dtype}, pool {pool}, strides {strides}, padding {padding!r}")
    expected = tf.nn.max_pool2d(tf.constant(x), pool, strides, padding.upper()).numpy()
    # max picks one of the inputs (never a pad): no rounding, identical results
    assert_exact(max_pool2d(x, pool, strides, padding), expected, f"loop max-pool, {padding!r}")
    assert_exact(max_pool2d_vectorized(x, pool, strides, padding), expected, f"vectorized max-pool, {padding!r}")


def test_max_pool2d_vectorized_has_the_loop_defaults():
    # both pools default to the homework's 2×2 windows, stride 2, 'valid'
    x = np.random.default_rng(4).normal(size=(2, 7, 6, 3))
    assert_exact(max_pool2d_vectorized(x), max_pool2d(x, 2, 2, "valid"), "vectorized max-pool, defaults")
    assert max_pool2d(x).shape == (2, 3, 3, 3)


def test_max_pool2d_same_pads_minus_infinity_bottom_right():
    # 3×3 negative image, 2×2 windows, stride 2, 'same': out 2×2, the one pad row/column at the bottom/right;
    # a zero pad would return 0 in three of the four windows
    x = -np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    expected = np.array([[-1, -3], [-7, -9]], np.float32)
    assert_exact(max_pool2d(x, 2, 2, "same")[0, :, :, 0], expected, "'same' max-pool by hand")


def test_max_pool2d_same_needs_floats():
    with pytest.raises(TypeError, match="x must be floating point for 'same' max-pooling"):
        max_pool2d(np.zeros((1, 3, 3, 1), np.int64), 2, 2, "same")
    with pytest.raises(ValueError, match="padding must be one of"):
        max_pool2d(np.zeros((1, 3, 3, 1)), 2, 2, "full")


def test_max_pool_layer_keeps_its_padding():
    layer = MaxPool((3, 3, 1), (2, 2), (2, 2), "p", (2, 2, 1), "same")
    x = -np.arange(1, 10, dtype=np.float64).reshape(1, 9)
    assert_exact(layer(x), np.array([[-1.0, -3.0, -7.0, -9.0]]), "MaxPool layer, 'same'")


def test_softmax_normalizes_the_last_axis_of_the_grid():
    # Keras' softmax acts on the last axis: on a (2, 3, 4) grid, each of the 6 positions sums to 1 over 4 channels
    x = np.random.default_rng(0).normal(size=(2, 24))
    out = Softmax("s", (2, 3, 4))(x)
    grid = x.reshape(2, 6, 4)
    expected = np.exp(grid) / np.exp(grid).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(out.reshape(2, 6, 4), expected, rtol=1e-15)
    assert_exact(Softmax("s", (24,))(x).shape, (2, 24), "a flat softmax keeps the batch shape")


def test_softmax_survives_large_and_far_apart_logits():
    # exp(x − max), each row shifted by its own max: logits ≥ 100 overflow a naive float32 exp (e^89 is past
    # float32's max; pytest.ini makes the overflow warning an error), and a row 1000 below another, shifted by
    # the batch's max, would see every exp underflow to 0 and divide 0 by 0
    x = np.array([[100, 101, 102], [-1000, -1001, -1002]], np.float32)
    out = Softmax("s", (3,))(x)
    p = np.exp([-2.0, -1.0, 0.0])
    p /= p.sum()
    assert out.dtype == np.float32
    assert_within(out, np.array([p, p[::-1]]), tol.SOFTMAX_F32_VS_F64, "softmax of large and far-apart logits")


def test_saturating_activations_do_not_overflow():
    # ±1000 would overflow exp in a naive 1/(1 + exp(−x)); pytest.ini turns the RuntimeWarning into an error
    x = np.array([[-1000.0, 0.0, 1000.0]], np.float32)
    assert_exact(Sigmoid("s", (3,))(x), np.array([[0.0, 0.5, 1.0]], np.float32), "sigmoid")
    assert_exact(Tanh("t", (3,))(x), np.array([[-1.0, 0.0, 1.0]], np.float32), "tanh")


def test_dense_and_scale_return_new_arrays():
    # forward() keeps every layer's output: no layer may write into its input
    x = np.ones((2, 3))
    kept = x.copy()
    out = Dense(np.eye(3), np.ones(3), "d", (3,))(x)
    Scale(np.full(3, 2.0), np.ones(3), "s", (3,))(out)
    assert_exact(x, kept, "Dense input untouched")
    assert_exact(out, np.full((2, 3), 2.0), "Dense output untouched by the next layer")


def test_banded_dense_is_the_same_product():
    # BandedDense skips only the exact zeros of its matrix, block by block: x @ W + b to rounding
    from hw5.convert.layers import BandedDense
    from hw5.toeplitz import conv2d_as_dense

    rng = np.random.default_rng(1)
    W, b = conv2d_as_dense(rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3), (7, 6, 2), (2, 1), "same")
    W[:, :6 * 3] = 0                                          # a whole block of zeros: an empty band
    x = rng.normal(size=(4, 7 * 6 * 2))
    dense, banded = Dense(W, b, "d", (4, 6, 3)), BandedDense(W, b, "d", (4, 6, 3))
    assert len(banded.bands) == 4 and banded.bands[0][2:4] == (0, 0)
    assert all(r1 - r0 <= 3 * 6 * 2 for _, _, r0, r1, _ in banded.bands)   # a 3-row kernel reads ≤ 3 image rows
    assert_within(banded(x), dense(x), tol.CONV_F64_VS_LOOP, "banded vs dense product")


@pytest.mark.parametrize("x_dtype, w_dtype", [(np.float32, np.float32), (np.float64, np.float32),
                                               (np.float32, np.float64), (np.float64, np.float64)])
def test_banded_dense_keeps_dense_dtype_and_flat_layers(x_dtype, w_dtype):
    # a drop-in for Dense: the same result dtype (NumPy's promotion of x and W) for images and for a flat
    # layer (out_shape (k,): one block, every row of W)
    from hw5.convert.layers import BandedDense

    rng = np.random.default_rng(2)
    for W, out_shape in ((rng.normal(size=(12, 12)), (2, 2, 3)), (rng.normal(size=(12, 5)), (5,))):
        W, b = W.astype(w_dtype), rng.normal(size=W.shape[1]).astype(w_dtype)
        x = rng.normal(size=(3, 12)).astype(x_dtype)
        dense, banded = Dense(W, b, "d", out_shape)(x), BandedDense(W, b, "d", out_shape)(x)
        assert banded.dtype == dense.dtype == np.result_type(x_dtype, w_dtype), out_shape
        eps = np.finfo(dense.dtype).eps
        assert_within(banded, dense, tol.sum_atol(12, np.abs(x) @ np.abs(W) + np.abs(b), eps), f"banded {out_shape}")
