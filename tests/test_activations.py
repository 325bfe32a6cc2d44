# hw5/convert/activations.py: the non-linear steps in plain NumPy. Moderate inputs are checked against Keras by
# the random graph CNNs (tests/test_graph.py); here the extremes, where a naive formula overflows (pytest runs
# with filterwarnings=error, so an overflow warning fails), and the formulas against Keras on a grid of values.
import keras
import numpy as np
import pytest

from hw5.convert.activations import FUNCTIONS
from hw5.convert.normalization import LayerNorm
from hw5.convert.relus import ClippedReLU
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal, keras_outputs

EXTREMES = [-3e38, -1e30, -1e4, -100.0, -1.0, -1e-30, 0.0, 1e-30, 1.0, 100.0, 1e4, 1e30, 3e38]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_activations_are_finite_and_warning_free_at_the_extremes(kind, dtype):
    x = np.array(EXTREMES, dtype)
    y = FUNCTIONS[kind](x)
    assert y.dtype == np.dtype(dtype) or np.result_type(y) == np.dtype(dtype) or y.dtype == np.float64
    assert np.isfinite(y).all(), dict(zip(EXTREMES, y, strict=True))


@pytest.mark.parametrize("kind", sorted(set(FUNCTIONS) - {"gelu_tanh"}))
def test_activations_equal_keras_on_a_grid(kind):
    # float32 on −8 … 8: within ACTIVATION_ULPS ulps of the output's magnitude (plus one of the input)
    x = np.linspace(-8, 8, 161, dtype="float32")
    expected = np.asarray(keras.activations.get(kind)(x), np.float64)
    actual = FUNCTIONS[kind](x).astype(np.float64)
    assert_within(actual, expected, tol.ACTIVATION_ULPS * tol.EPS32 * (np.abs(expected) + np.abs(x)), kind)


def test_gelu_tanh_is_keras_approximate_gelu():
    x = np.linspace(-8, 8, 161, dtype="float32")
    expected = np.asarray(keras.activations.gelu(x, approximate=True), np.float64)
    assert_within(FUNCTIONS["gelu_tanh"](x).astype(np.float64), expected,
                  tol.ACTIVATION_ULPS * tol.EPS32 * (np.abs(expected) + np.abs(x)), "gelu (tanh form)")


@pytest.mark.parametrize("max_value, slope, threshold", [(6.0, 0.0, 0.0), (None, 0.1, 0.0), (0.5, 0.2, 0.3),
                                                          (None, 0.0, 1.0)])
def test_relu_layer_is_keras_relu_in_float64(max_value, slope, threshold):
    # including x just above θ = 0.3, where Keras compares with float32(θ) (x = 0.30000000000000027 → 0)
    from hw5.numpy_net import from_keras

    model = keras.Sequential([keras.Input((1, 111), dtype="float64"),
                              keras.layers.ReLU(max_value, slope, threshold, dtype="float64")])
    x = np.linspace(-3, 8, 111).reshape(1, 1, 111)
    net = from_keras(model)
    assert isinstance(net.layers[0], ClippedReLU) or (max_value, slope, threshold) == (None, 0.0, 0.0)
    np.testing.assert_allclose(net.predict(x).ravel(), np.asarray(model(x)).ravel(), rtol=0, atol=tol.EPS64 * 8)


def test_layer_norm_is_per_sample():
    # two samples of very different scales: each normalised by its own statistics
    x = np.stack([np.arange(6.0), 1e6 * np.arange(6.0) + 5])
    out = LayerNorm((0, 1), None, None, 0.0, "ln", (2, 3))(x)
    np.testing.assert_allclose(out[0], out[1], atol=1e-9)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)


def test_prelu_is_x_above_zero_and_its_own_slope_times_x_below():
    # one slope per neuron; 0 itself and the positive side pass unchanged, the negative side is scaled
    from hw5.convert.relus import PReLU

    layer = PReLU(np.array([0.5, 0.25, 2.0]), "prelu", (3,))
    x = np.array([[-2.0, -4.0, -1.0], [0.0, 0.5, 5.0]])
    np.testing.assert_array_equal(layer(x), [[-1.0, -1.0, -2.0], [0.0, 0.5, 5.0]])


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_elementwise_layer_keeps_the_nets_dtype(kind):
    # a float32 net stays float32 through every activation layer (some formulas widen on the way)
    from hw5.convert.activations import Elementwise

    x = np.linspace(-3, 3, 12, dtype="float32").reshape(2, 6)
    y = Elementwise(kind, "act", (6,))(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, FUNCTIONS[kind](x).astype(np.float32))


def test_clipped_relu_without_a_cast_cut_and_with_slope_one():
    # a hand-made ClippedReLU (cut=None) compares with its threshold itself; slope 1 below θ is x − θ
    x = np.array([[0.4, 0.5, 0.6, -1.0]])
    np.testing.assert_array_equal(ClippedReLU(None, 0.0, 0.5, "r", (4,))(x), [[0.0, 0.0, 0.6, 0.0]])
    np.testing.assert_array_equal(ClippedReLU(None, 1.0, 0.0, "r", (4,))(x), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_is_keras_and_within_its_error_bound(dtype):
    # Activation("log_softmax") (and Dense(activation="log_softmax")) becomes LogSoftmax over the last axis: equal
    # to Keras, finite at the extremes (z − max ≤ 0: no overflow; logits 1e30 apart give −1e30, not −inf), and
    # the float32 net within its error-bound step (hw5.convert.rules.BOUND) of the float64 one
    from hw5.convert.activations import LogSoftmax
    from hw5.convert.rules import Precision, error_bound
    from hw5.numpy_net import from_keras

    model = keras.Sequential([keras.Input((3, 4), dtype=dtype), keras.layers.Activation("log_softmax", dtype=dtype)])
    x = np.random.default_rng(5).normal(0, 4, (6, 3, 4)).astype(dtype)
    net = from_keras(model)
    assert [type(layer) for layer in net.layers] == [LogSoftmax]
    eps = tol.EPS32 if dtype == "float32" else tol.EPS64
    expected = np.asarray(model(x), np.float64)
    assert_within(net.predict(x).astype(np.float64), expected, tol.ACTIVATION_ULPS * eps * (1 + np.abs(expected)),
                  "log_softmax vs Keras")
    extreme = np.tile(np.array([1e30, 0.0, -1e30, 5.0], dtype), (1, 3, 1))
    assert np.isfinite(net.predict(extreme)).all() and (net.predict(extreme)[0, :, 0] == 0).all()
    net64 = from_keras(model, dtype="float64")
    bound = error_bound(net64, net64, x, Precision(tol.EPS32, tol.TINY32, ulps=tol.ACTIVATION_ULPS))
    net32 = from_keras(model, dtype="float32")
    assert_within(net32.predict(x.astype(np.float32)).reshape(6, -1).astype(np.float64),
                  net64.predict(x.astype(np.float32).astype(np.float64)).reshape(6, -1), bound,
                  "float32 log_softmax within its bound")


def test_log_softmax_groups_far_apart_each_keep_their_own_shift():
    # two groups of the last axis 800 apart: each must be shifted by its own max (a shift by the overall max
    # underflows the lower group's exp to 0 and gives −inf); reference: scipy.special.log_softmax per group
    from scipy.special import log_softmax

    from hw5.convert.activations import LogSoftmax

    x = np.array([[0.5, -1.0, 2.0, -800.0, -801.5, -799.0]])
    ours = LogSoftmax("ls", (2, 3))(x)
    theirs = log_softmax(x.reshape(1, 2, 3), axis=-1).reshape(1, -1)
    assert np.isfinite(ours).all() and np.allclose(ours, theirs, rtol=0, atol=1e-12)


# Keras' LayerNormalization(rms_scaling=True) (deprecated, with a UserWarning): x / √(var + ε) · γ — the centred
# variance, x itself not centred, γ whatever `scale` says, no β whatever `center` says. Inputs centred far from 0
# (mean 2, sd 1.5: a mean square 6.25 against a variance 2.25) and ε = 0.5 in some cases, so that the mean square,
# a centred x, a β or ε outside the root each move the output by ≫ the tolerance
# Keras warns at the layer's construction and at each call (keras.ops.layer_normalization): ignored for the calls
RMS_DEPRECATED = "ignore:You passed `rms_scaling=True`, which is deprecated:UserWarning"
RMS_CASES = [dict(axis=-1), dict(axis=[1, 2], epsilon=0.5), dict(axis=[1, 3], scale=False), dict(axis=2, center=False),
             dict(axis=[1, 2, 3], epsilon=0.5, scale=False, center=False)]


@pytest.mark.filterwarnings(RMS_DEPRECATED)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", RMS_CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_layer_norm_rms_scaling_is_keras(kwargs, dtype):
    from hw5.convert.normalization import LayerNorm
    from hw5.numpy_net import from_keras

    with pytest.warns(UserWarning, match="rms_scaling=True"):
        layer = keras.layers.LayerNormalization(rms_scaling=True, dtype=dtype, **kwargs)
    model = keras.Sequential([keras.Input((3, 4, 5), dtype=dtype), layer])
    assign_normal(layer.weights, 7)   # γ (Keras makes one even with scale=False) away from 1
    x = np.random.default_rng(8).normal(2, 1.5, (4, 3, 4, 5)).astype(dtype)
    expected = keras_outputs(model, x)
    net = from_keras(model)
    assert [type(a) for a in net.layers] == [LayerNorm] and net.layers[0].rms_scaling and net.layers[0].beta is None
    rtol = tol.LAYER_F32_RTOL if dtype == "float32" else tol.LAYER_F64_RTOL
    assert_within(net.predict(x), expected, rtol * np.abs(expected).max(), f"rms_scaling {kwargs} ({dtype}) vs Keras")


# GroupNormalization, RMSNormalization and UnitNormalization (hw5.convert.normalization) against Keras' own layer,
# float32 and float64. Inputs centred far from 0 (mean 2, sd 1.5) and ε 0.5 in some cases, γ, β and scale drawn
# from N(0, 1) (Keras starts them at 1 and 0), so that a wrong group size, statistics about 0 instead of the mean,
# ε outside the root or a scale along the wrong axis each move the output by ≫ the tolerance
NORM_CASES = [
    ("GroupNormalization", (3, 4, 6), dict(groups=2)),
    ("GroupNormalization", (3, 4, 6), dict(groups=3, epsilon=0.5)),
    ("GroupNormalization", (6, 4, 3), dict(groups=2, axis=1)),                    # channels first
    ("GroupNormalization", (4, 6, 3), dict(groups=-1, axis=2, center=False)),     # one group a channel, mid axis
    ("GroupNormalization", (5, 8), dict(groups=4, scale=False, epsilon=0.5)),
    ("GroupNormalization", (2, 3, 4), dict(groups=1, center=False, scale=False)),  # one group: all of a sample
    ("RMSNormalization", (6,), dict()),
    ("RMSNormalization", (3, 4, 5), dict(axis=[-1, -2], epsilon=0.5)),             # unsorted: Keras sorts
    ("RMSNormalization", (4, 4), dict(axis=1)),   # scale (4,) multiplies along the last axis: Keras' broadcast
    ("RMSNormalization", (3, 4, 5), dict(axis=[1, 2, 3], epsilon=0.5)),
    ("UnitNormalization", (6,), dict()),
    ("UnitNormalization", (3, 4, 5), dict(axis=(1, 2))),
    ("UnitNormalization", (3, 4, 5), dict(axis=1)),
    ("UnitNormalization", (3, 4, 5), dict(axis=[-1, 1, 2])),
]
NORM_TYPES = {"GroupNormalization": "LayerNorm", "RMSNormalization": "RMSNorm", "UnitNormalization": "UnitNorm"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layer, shape, kwargs", NORM_CASES, ids=[f"{a}-{b}-{c}" for a, b, c in NORM_CASES])
def test_normalization_layer_is_keras(layer, shape, kwargs, dtype):
    from hw5.numpy_net import from_keras

    model = keras.Sequential([keras.Input(shape, dtype=dtype), getattr(keras.layers, layer)(dtype=dtype, **kwargs)])
    assign_normal(model.weights, 9)
    x = np.random.default_rng(10).normal(2, 1.5, (4, *shape)).astype(dtype)
    expected = keras_outputs(model, x)
    net = from_keras(model)
    assert [type(a).__name__ for a in net.layers] == [NORM_TYPES[layer]]
    assert_within(net.predict(x).reshape(expected.shape), expected, tol.NORM_RTOL[dtype] * np.abs(expected).max(),
                  f"{layer} {kwargs} ({dtype}) vs Keras")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unit_normalization_divides_a_norm_below_epsilon_by_epsilon(dtype):
    # Keras: x · min(rsqrt(Σx²), 1/ε), ε = 1e-12 — a sample whose norm is below ε is x·10¹², a zero sample 0
    from hw5.numpy_net import from_keras

    model = keras.Sequential([keras.Input((5,), dtype=dtype), keras.layers.UnitNormalization(dtype=dtype)])
    rng = np.random.default_rng(11)
    x = np.stack([rng.normal(size=5), 1e-14 * rng.normal(size=5), np.zeros(5), 1e-11 * rng.normal(size=5)])
    x = x.astype(dtype)
    expected = keras_outputs(model, x)
    assert np.abs(expected[1]).max() < 0.1 < np.abs(expected[3]).max()   # the clamp applies to sample 1 only
    got = from_keras(model).predict(x)
    assert_within(got, expected, tol.NORM_RTOL[dtype] * np.abs(expected).max(), f"UnitNormalization ({dtype})")
    np.testing.assert_array_equal(got[2], 0)


@pytest.mark.parametrize("axis", [0, -3, [0, 2]])
def test_a_normalization_across_the_batch_is_refused_by_name(axis):
    # axis 0 (−3 here) is the batch: statistics across the samples are no function of one sample; Keras computes
    # them for UnitNormalization (the layers with a variable along the axis cannot build on the batch's None)
    from hw5.numpy_net import from_keras

    model = keras.Sequential([keras.Input((3, 4)), keras.layers.UnitNormalization(axis=axis, name="n")])
    with pytest.raises(ValueError, match=r"^layer 'n' of type \w+: axis .* is not an axis of the grid \(3, 4\) "
                                         r"\(0 is the batch"):
        from_keras(model)
