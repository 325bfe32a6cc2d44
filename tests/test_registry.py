# The one registry (hw5.convert.registry): each Keras class name has one translation, registered once, by the
# converter's op-family modules; an entry called on a Source built directly — on the layers the homework can
# have (strides, 'same', dilation, no bias, an activation, a Dense on a grid) — agrees with the Keras layer
# (float64), builds in the net's dtype, keeps the dense limit, and refuses what it cannot build by name.
import keras
import numpy as np
import pytest

from hw5.convert.network import NumpyNet
from hw5.convert.registry import MERGES, OPS, TRANSLATIONS, Source, register
from hw5.convert.variables import extract_variables
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal

L = keras.layers
F64 = "float64"
CASES = [
    ((7, 6, 2), lambda: L.Conv2D(3, (3, 2), name="conv", dtype=F64)),
    ((7, 6, 2), lambda: L.Conv2D(2, 3, strides=(2, 1), padding="same", activation="relu", name="conv", dtype=F64)),
    ((9, 8, 1), lambda: L.Conv2D(2, (2, 3), dilation_rate=(2, 1), use_bias=False, name="conv", dtype=F64)),
    ((6, 5, 3), lambda: L.Conv2D(4, 2, strides=2, activation="softmax", name="conv", dtype=F64)),
    ((5,), lambda: L.Dense(4, name="dense", dtype=F64)),
    ((5,), lambda: L.Dense(3, activation="softmax", use_bias=False, name="dense", dtype=F64)),
    ((3, 2, 5), lambda: L.Dense(4, activation="relu", name="dense", dtype=F64)),
    ((4, 5), lambda: L.Dense(3, use_bias=False, name="dense", dtype=F64)),
    ((4, 3, 2), lambda: L.ReLU(name="relu", dtype=F64)),
    ((6, 6, 2), lambda: L.MaxPooling2D(2, name="pool", dtype=F64)),
]


def source(shape, make, dtype=F64):
    """The Keras layer on `shape` with random weights (biases too: Keras starts them at 0), float64, and a
    Source of it with the default build options."""
    keras.utils.set_random_seed(5)
    layer = make()
    model = keras.Sequential([keras.Input(shape, dtype=F64), layer])
    assign_normal(layer.weights, 6)
    return model, Source(layer, layer.get_config(), shape, extract_variables(model), np.dtype(dtype))


@pytest.mark.parametrize("shape, make", CASES)
def test_an_entry_on_a_plain_source_agrees_with_keras(shape, make):
    model, src = source(shape, make)
    layers, out = TRANSLATIONS[type(src.layer).__name__](src)
    assert out == tuple(model.layers[-1].output.shape[1:])
    assert all(type(getattr(a, part)) is np.ndarray for a in layers for part in ("W", "b") if hasattr(a, part))
    x = np.random.default_rng(7).normal(size=(3, *shape))
    expected = np.asarray(model(x, training=False))
    net = NumpyNet(shape, layers, F64, out)
    assert_within(net.predict(x), expected, tol.LAYER_F64_RTOL * np.abs(expected).max(),
                  f"{type(src.layer).__name__} vs Keras")


@pytest.mark.parametrize("shape, make", CASES)
def test_an_entry_builds_in_the_nets_dtype(shape, make):
    # a float32 net gets float32 matrices and biases (a bias Keras does not have, or I ⊗ kernel, included)
    _, src = source(shape, make, "float32")
    layers, _ = TRANSLATIONS[type(src.layer).__name__](src)
    assert {getattr(layer, part).dtype for layer in layers for part in ("W", "b") if hasattr(layer, part)} <= \
        {np.dtype("float32")}


def test_conv_keeps_the_default_dense_limit():
    # a Source without options has the default limit: refused before anything is allocated (129×129: just over
    # 2 GiB in float64, and only ~150,000 non-zeros should a broken check build it anyway)
    layer = L.Conv2D(1, 3, padding="same", name="conv", dtype=F64)
    keras.Sequential([keras.Input((129, 129, 1), dtype=F64), layer])
    src = Source(layer, layer.get_config(), (129, 129, 1), {"conv/kernel": np.ones((3, 3, 1, 1))}, np.dtype(F64))
    with pytest.raises(ValueError, match=r"layer 'conv' of type Conv2D: its dense 16,641 × 16,641 matrix .* "
                                         r"sparse=True"):
        TRANSLATIONS["Conv2D"](src)


@pytest.mark.parametrize("shape, make, match", [
    ((5,), lambda: L.Dense(4, activation="log_sigmoid", name="dense", dtype=F64),
     "^layer 'dense' of type Dense: activation 'log_sigmoid' is not supported"),
    ((5, 4, 1), lambda: L.Conv2D(2, 3, activation="log_sigmoid", name="conv", dtype=F64),
     "^layer 'conv' of type Conv2D: activation 'log_sigmoid' is not supported"),
])
def test_an_unknown_activation_is_refused_by_name(shape, make, match):
    _, src = source(shape, make)
    with pytest.raises(ValueError, match=match):
        TRANSLATIONS[type(src.layer).__name__](src)


def test_dense_refuses_a_kernel_that_does_not_fit_the_grid():
    _, src = source((5,), lambda: L.Dense(4, name="dense", dtype=F64))
    wrong = Source(src.layer, src.config, (6,), src.variables, src.dtype)
    with pytest.raises(ValueError, match="kernel has 5 inputs, expected 6"):
        TRANSLATIONS["Dense"](wrong)


def test_every_entry_is_the_converters_and_a_name_is_registered_once():
    # one owner: every translation is defined in one of the converter's op-family modules; a second translation
    # of a name is refused, naming the one it has (a per-rank entry by the function it binds), table unchanged
    families = {"hw5.convert.conv", "hw5.convert.translations", "hw5.convert.merges", "hw5.convert.activations",
                "hw5.convert.relus", "hw5.convert.normalization", "hw5.convert.gathers"}
    for table in (TRANSLATIONS, MERGES, OPS):
        assert {getattr(fn, "func", fn).__module__ for fn in table.values()} <= families
    assert {"InputLayer", "Flatten", "Conv2D", "Dense", "MaxPooling2D", "ReLU", "Activation", "Softmax"} <= \
        set(TRANSLATIONS)

    def other(src):
        return [], src.shape

    for name, table, owner in [("Conv2D", None, "hw5.convert.conv._conv2d"),
                               ("Flatten", None, "hw5.convert.translations._flatten"),
                               ("AveragePooling2D", None, "hw5.convert.translations._average_pooling"),
                               ("Subtract", MERGES, "hw5.convert.merges._elementwise")]:
        before = dict(TRANSLATIONS if table is None else table)
        with pytest.raises(ValueError, match=rf"^{name} already has a translation \({owner}\)$"):
            register(name, table=table)(other)
        assert (TRANSLATIONS if table is None else table) == before
    fresh: dict = {}
    assert register("Mine", "Also", table=fresh)(other) is other and fresh == {"Mine": other, "Also": other}
    with pytest.raises(ValueError, match=r"^Mine already has a translation \(tests.test_registry.other\)$"):
        register("Mine", table=fresh)(other)


def test_linear_builds_its_bias_in_the_nets_dtype():
    # a float64 bias (a folded BatchNorm's shift computed in float64) in a float32 net is stored as float32
    from hw5.convert.registry import linear

    layer = L.Dense(2, name="d")
    src = Source(layer, {}, (3,), {}, np.dtype("float32"))
    built = linear(src, np.array([0, 2]), np.array([1, 0]), [5.0, 7.0], 3, np.array([0.1, 0.2]), (2,))
    assert built.W.dtype == built.b.dtype == np.float32 and built.name == "d" and built.out_shape == (2,)
    np.testing.assert_array_equal(built.b, np.float32([0.1, 0.2]))


@pytest.mark.parametrize("shape, make", [
    ((2, 6, 6), lambda: L.MaxPooling2D(2, data_format="channels_first", name="pool", dtype=F64)),   # Source.spatial
    ((2, 6), lambda: L.Conv1D(3, 2, data_format="channels_first", name="conv", dtype=F64)),         # conv._conv
    ((2, 6), lambda: L.AveragePooling1D(2, data_format="channels_first", name="pool", dtype=F64)),   # a 1-D grid
])
def test_an_entry_handed_a_channels_first_layer_directly_refuses_it(shape, make):
    # graph.translate hands a channels-first layer's translation a channels-last config (hw5.convert.layouts);
    # called directly on the channels-first config, an entry would read (C, H, W) as (H, W, C): it refuses instead
    model, src = source(shape, make)
    with pytest.raises(ValueError, match=r"^layer '\w+' of type \w+: data_format 'channels_first' is not supported "
                                         r"\(channels_last\)$"):
        TRANSLATIONS[type(src.layer).__name__](src)
