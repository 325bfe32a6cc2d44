# One registry, two owners: the converter supersedes three of the homework's translations (Conv2D, Dense, ReLU)
# with general ones, so a converted model never runs the homework's own. Here each homework translation is
# called directly — on the layers the homework can have (strides, 'same', dilation, no bias, an activation, a
# Dense on a grid) — and must build the very layers the superseding entry builds, and agree with Keras.
# References: the Keras layer itself (float64), the converter's entry (bit for bit).
import keras
import numpy as np
import pytest

from hw5.convert.registry import Build
from hw5.homework import registry as homework
from hw5.homework.numpy_net import NumpyNet, extract_variables
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, assign_normal

HOMEWORK = {"Conv2D": homework._conv2d, "Dense": homework._dense, "ReLU": homework._relu}
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
]


def sources(shape, make):
    """The Keras layer on `shape` with random weights (biases too: Keras starts them at 0), float64, and the
    homework's Source and the converter's Build of it."""
    keras.utils.set_random_seed(5)
    layer = make()
    model = keras.Sequential([keras.Input(shape, dtype=F64), layer])
    assign_normal(layer.weights, 6)
    args = (layer, layer.get_config(), shape, extract_variables(model), np.dtype("float64"))
    return model, homework.Source(*args), Build(*args)


@pytest.mark.parametrize("shape, make", CASES)
def test_superseded_homework_translation_builds_what_the_converter_builds(shape, make):
    model, src, build = sources(shape, make)
    kind = type(src.layer).__name__
    ours, ours_out = HOMEWORK[kind](src)
    theirs, theirs_out = homework.TRANSLATIONS[kind](build)
    assert homework.TRANSLATIONS[kind] is not HOMEWORK[kind]      # superseded: this test is the only caller
    assert ours_out == theirs_out == tuple(model.layers[-1].output.shape[1:])
    assert [(type(a).__name__, a.name, a.out_shape) for a in ours] == \
        [(type(a).__name__, a.name, a.out_shape) for a in theirs]
    for a, b in zip(ours, theirs, strict=True):
        for part in ("W", "b"):
            if hasattr(a, part):
                assert_exact(getattr(a, part), np.asarray(getattr(b, part).todense() if hasattr(getattr(b, part),
                             "todense") else getattr(b, part)), f"{a.name}.{part}: homework vs converter")
    grid = shape if len(shape) == 3 else (1, *shape) if len(shape) == 2 else (1, 1, shape[0])
    x = np.random.default_rng(7).normal(size=(3, *shape))
    expected = np.asarray(model(x, training=False))
    net = NumpyNet(grid, ours, "float64", ours_out)
    assert_within(net.predict(x.reshape(3, *grid)), expected, tol.LAYER_F64_RTOL * np.abs(expected).max(),
                  f"homework {kind} vs Keras")


@pytest.mark.parametrize("shape, make", CASES)
def test_homework_translation_builds_in_the_nets_dtype(shape, make):
    # a float32 net gets float32 matrices and biases (a bias Keras does not have, or I ⊗ kernel, included)
    _, src, _ = sources(shape, make)
    src32 = homework.Source(src.layer, src.config, src.shape, src.variables, np.dtype("float32"))
    layers, _ = HOMEWORK[type(src.layer).__name__](src32)
    assert {getattr(layer, part).dtype for layer in layers for part in ("W", "b") if hasattr(layer, part)} <= \
        {np.dtype("float32")}


@pytest.mark.parametrize("shape, make", CASES)
def test_superseding_translation_takes_the_homeworks_plain_source(shape, make):
    # code of the homework layer that builds through the registry hands the converter's entries a plain Source
    # (no build options): they must build what a default Build gives — dense matrices, bit for bit
    _, src, build = sources(shape, make)
    kind = type(src.layer).__name__
    plain, plain_out = homework.TRANSLATIONS[kind](src)
    built, built_out = homework.TRANSLATIONS[kind](build)
    assert plain_out == built_out and [type(a) for a in plain] == [type(a) for a in built]
    for a, b in zip(plain, built, strict=True):
        for part in ("W", "b"):
            if hasattr(a, part):
                assert type(getattr(a, part)) is np.ndarray, f"{a.name}.{part} of a plain Source is not dense"
                assert_exact(getattr(a, part), getattr(b, part), f"{a.name}.{part}: plain Source vs Build")


def test_superseding_conv_keeps_the_dense_limit_for_a_plain_source():
    # a plain Source has no `limit`: the converter's default applies, refused before anything is allocated
    # (129×129: just over 2 GiB in float64, and only ~150,000 non-zeros should a broken check build it anyway)
    layer = L.Conv2D(1, 3, padding="same", name="conv", dtype=F64)
    keras.Sequential([keras.Input((129, 129, 1), dtype=F64), layer])
    src = homework.Source(layer, layer.get_config(), (129, 129, 1), {"conv/kernel": np.ones((3, 3, 1, 1))},
                          np.dtype("float64"))
    with pytest.raises(ValueError, match=r"layer 'conv' of type Conv2D: its dense 16,641 × 16,641 matrix .* "
                                         r"sparse=True"):
        homework.TRANSLATIONS["Conv2D"](src)


@pytest.mark.parametrize("shape, make, match", [
    ((5,), lambda: L.Dense(4, activation="log_softmax", name="dense", dtype=F64),
     "layer 'dense' of type Dense: activation 'log_softmax' is not supported"),
    ((5, 4, 1), lambda: L.Conv2D(2, 3, activation="log_softmax", name="conv", dtype=F64),
     "layer 'conv' of type Conv2D: activation 'log_softmax' is not supported"),
    ((6, 6, 4), lambda: L.Conv2D(2, 3, groups=2, name="conv", dtype=F64), "grouped convolutions are not supported"),
    ((4, 3, 2), lambda: L.ReLU(max_value=6.0, name="relu", dtype=F64), "only the plain ReLU"),
    ((4, 3, 2), lambda: L.ReLU(negative_slope=0.1, name="relu", dtype=F64), "only the plain ReLU"),
    ((4, 3, 2), lambda: L.ReLU(threshold=0.5, name="relu", dtype=F64), "only the plain ReLU"),
])
def test_homework_translations_refuse_what_only_the_converter_builds(shape, make, match):
    _, src, _ = sources(shape, make)
    with pytest.raises(ValueError, match=match):
        HOMEWORK[type(src.layer).__name__](src)


def test_homework_dense_refuses_a_kernel_that_does_not_fit_the_grid():
    model, src, _ = sources((5,), lambda: L.Dense(4, name="dense", dtype=F64))
    wrong = homework.Source(src.layer, src.config, (6,), src.variables, src.dtype)
    with pytest.raises(ValueError, match="kernel has 5 inputs, expected 6"):
        homework._dense(wrong)


def test_a_name_is_registered_once_and_a_homework_entry_superseded_once():
    # the one registry refuses a second translation of a name, naming the one it has (a per-rank entry by the
    # function it binds); Conv2D was superseded by the converter already, so a second supersede is refused too
    from hw5.convert.registry import MERGES, register

    def other(src):
        return [], src.shape

    for name, table, owner in [("Conv2D", None, "hw5.convert.conv._conv2d"),
                               ("AveragePooling2D", None, "hw5.convert.translations._average_pooling"),
                               ("Subtract", MERGES, "hw5.convert.merges._elementwise")]:
        before = dict(homework.TRANSLATIONS if table is None else table)
        for supersede in (False, True):
            with pytest.raises(ValueError, match=rf"^{name} already has a translation \({owner}\)$"):
                register(name, table=table, supersede=supersede)(other)
        assert (homework.TRANSLATIONS if table is None else table) == before
    fresh: dict = {}
    assert register("Mine", "Also", table=fresh)(other) is other and fresh == {"Mine": other, "Also": other}
    owned = {"Flatten": homework._flatten}                   # a homework entry is superseded once, then refused
    with pytest.raises(ValueError, match=r"^Flatten already has a translation \(hw5.homework.registry._flatten\)$"):
        register("Flatten", table=owned)(other)
    assert register("Flatten", table=owned, supersede=True)(other) is other and owned == {"Flatten": other}
    with pytest.raises(ValueError, match="already has a translation"):
        register("Flatten", table=owned, supersede=True)(other)
