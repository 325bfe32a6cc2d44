# Any Keras CNN is a fully-connected network: random small CNNs from every supported layer, translated by
# hw5.numpy_net.from_keras (the registry in hw5.translate), against Keras' own model(x, training=False).
# Reference: Keras, one image at a time (README, Known issues); float bounds from tests/tolerances.py.
import re

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings

from hw5.convert.layers import Dense, MaxPool, ReLU, Scale, Softmax
from hw5.convert.registry import TRANSLATIONS
from hw5.numpy_net import INPUT, from_keras, layer_table
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_matches_keras, assert_within, example_note, keras_outputs, net_atol
from tests.strategies import CnnCase, cnn_cases

EPS = {"float32": (tol.EPS32, tol.TINY32, tol.LAYER_F32_RTOL), "float64": (tol.EPS64, tol.TINY64, tol.LAYER_F64_RTOL)}
RNG = np.random.default_rng(541)

# The traps other converters fall into, as explicit regressions:
# 'same' with stride 2 on an even side: TF pads the one extra row at the bottom (here 6 rows, kernel 3).
SAME_STRIDE2 = CnnCase(RNG.normal(size=(2, 6, 5, 2)), (
    ("Conv2D", dict(filters=2, kernel_size=(3, 2), strides=(2, 2), padding="same")),), seed=1)
# Flatten is channels-last (h, w, c): a channels-first flatten feeds the Dense layer permuted inputs.
FLATTEN_ORDER = CnnCase(RNG.normal(size=(1, 3, 2, 2)), (
    ("Conv2D", dict(filters=3, kernel_size=1)), ("Flatten", {}), ("Dense", dict(units=4))), seed=2)
# 'same' max-pooling pads with −inf: on negative inputs a zero pad would win every border window.
MAX_POOL_SAME = CnnCase(-0.5 - np.abs(RNG.normal(size=(1, 5, 4, 2))), (
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),), seed=3)
# 'same' average pooling divides by the real inputs in each window (4 or 6 at the borders here), not by 9.
AVG_POOL_SAME = CnnCase(0.5 + np.abs(RNG.normal(size=(1, 5, 4, 2))), (
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same")),), seed=4)
# BatchNormalization's epsilon from its config (0.5, against variances from 0.05): not the default 1e-3.
BN_EPSILON = CnnCase(RNG.normal(size=(1, 3, 3, 2)), (("BatchNormalization", dict(epsilon=0.5)),), seed=5)
# Reshape infers a -1 axis from the grid it gets; a Dense layer on a 2-D grid (rows × features) acts on each row;
# global pooling with keepdims=True hands on a (1, 1, C) grid (after an Activation layer of its own).
RESHAPE_INFERRED = CnnCase(RNG.normal(size=(1, 4, 3, 2)), (
    ("Reshape", dict(target_shape=(4, -1))), ("Dense", dict(units=3)), ("Reshape", dict(target_shape=(4, -1, 1))),
    ("Conv2D", dict(filters=2, kernel_size=(1, 3))), ("Flatten", {}), ("Dense", dict(units=2))), seed=10)
# A dilated convolution (the output grid follows the dilated span) with its activation.
DILATED = CnnCase(RNG.normal(size=(1, 6, 5, 2)), (
    ("Conv2D", dict(filters=2, kernel_size=(2, 3), dilation_rate=(2, 1), activation="tanh")),), seed=15)
GLOBAL_KEEPDIMS = CnnCase(RNG.normal(size=(2, 4, 3, 2)), (
    ("Conv2D", dict(filters=3, kernel_size=2)), ("Activation", dict(activation="sigmoid")),
    ("GlobalMaxPooling2D", dict(keepdims=True)),
    ("GlobalAveragePooling2D", dict(keepdims=True)), ("Dense", dict(units=2, activation="softmax"))), seed=11)
# BatchNormalization over the rows (axis=1) and the columns (axis=2), not the channels: folded into the conv.
BN_OTHER_AXES = CnnCase(RNG.normal(size=(2, 4, 5, 1)), (
    ("Conv2D", dict(filters=2, kernel_size=2, padding="same")), ("BatchNormalization", dict(axis=1, epsilon=0.1)),
    ("BatchNormalization", dict(axis=2, epsilon=0.2))), seed=13)
TRAPS = [SAME_STRIDE2, FLATTEN_ORDER, MAX_POOL_SAME, AVG_POOL_SAME, BN_EPSILON, RESHAPE_INFERRED, GLOBAL_KEEPDIMS,
         BN_OTHER_AXES, DILATED]


def check_against_keras(case: CnnCase, dtype: str) -> None:
    model = case.build(dtype)
    x = case.x.astype(dtype)
    expected = keras_outputs(model, x)
    eps, tiny, layer_rtol = EPS[dtype]
    bound = net_atol(model, x, eps, tiny)
    net = from_keras(model)
    actual = net.predict(x)
    assert actual.dtype == np.dtype(dtype) and net.dtype == np.dtype(dtype)
    assert_matches_keras(model, net, x, actual, expected, bound, f"{dtype} NumPy net vs Keras", layer_rtol)
    assert_named_after_keras(net, model)
    # fuse=True: the fused net errs against the exact result within its own bound, Keras within the first
    fused = from_keras(model, fuse=True)
    assert len(fused.layers) <= len(net.layers)
    fused_bound = bound + net_atol(model, x, eps, tiny, fuse=True)
    assert_matches_keras(model, fused, x, fused.predict(x), expected, fused_bound, f"{dtype} fused net vs Keras",
                         layer_rtol)
    assert_named_after_keras(fused, model)


def assert_named_after_keras(net, model) -> None:
    # what the layer table, the report and layer_by_layer show: every NumPy layer is named after the Keras
    # layer it comes from ("conv.relu" for its activation, "conv+bn" when folded) and its neuron grid is that
    # Keras layer's output shape
    for layer, source in zip(net.layers, net.sources, strict=True):
        assert layer.name.split("+")[-1].split(".")[0] == source, (layer.name, source)
    rows = layer_table(net, model)
    assert all(row["same"] for row in rows), [(row["layer"], row["derived"], row["keras"]) for row in rows]


# ≥ 100 random CNNs per dtype in the ci profile (each costs a Keras model build, ~30 ms); dev: the profile's 25
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=min(settings.default.max_examples, 100))
@given(case=cnn_cases())
@example(case=SAME_STRIDE2)
@example(case=FLATTEN_ORDER)
@example(case=MAX_POOL_SAME)
@example(case=AVG_POOL_SAME)
@example(case=BN_EPSILON)
@example(case=RESHAPE_INFERRED)
@example(case=GLOBAL_KEEPDIMS)
@example(case=BN_OTHER_AXES)
@example(case=DILATED)
def test_random_cnn_equals_keras(dtype, case):
    example_note(f"{dtype}: {case.describe()}")
    check_against_keras(case, dtype)


def test_registry_names_are_keras_layers():
    # one translation function per Keras layer class, keyed by the class name Keras uses
    assert all(isinstance(getattr(keras.layers, name, None), type) for name in TRANSLATIONS)
    assert callable(TRANSLATIONS["Conv2D"]) and len(set(TRANSLATIONS.values())) >= 14


def test_fuse_makes_conv_bn_avgpool_one_matrix():
    # Conv2D → BatchNormalization → AveragePooling2D is one linear map: one Dense layer with fuse=True
    case = CnnCase(RNG.normal(size=(2, 6, 6, 2)), (
        ("Conv2D", dict(filters=3, kernel_size=3, padding="same")), ("BatchNormalization", dict(epsilon=0.01)),
        ("AveragePooling2D", dict(pool_size=2)), ("ReLU", {}), ("Flatten", {}), ("Dense", dict(units=3)),
        ("Dense", dict(units=2, activation="softmax"))), seed=7)
    model = case.build("float64")
    plain, fused = from_keras(model), from_keras(model, fuse=True)
    assert [type(layer) for layer in plain.layers] == [Dense, Dense, ReLU, Dense, Dense, Softmax]
    assert plain.layers[0].name == "conv2d_0+batchnormalization_1"        # BN folded even without fuse
    assert [type(layer) for layer in fused.layers] == [Dense, ReLU, Dense, Softmax]
    assert fused.layers[0].name == "conv2d_0+batchnormalization_1+averagepooling2d_2"
    assert fused.layers[0].W.shape == (6 * 6 * 2, 3 * 3 * 3)
    assert fused.keras_outputs == {"averagepooling2d_2": 0, "relu_3": 1, "flatten_4": 1, "dense_6": 3}
    check_against_keras(case, "float64")


def test_batch_norm_after_a_nonlinear_layer_is_a_diagonal():
    # nothing linear to fold into: BatchNormalization stays a Scale (the diagonal matrix, kept as its diagonal);
    # a second one folds into that diagonal
    case = CnnCase(RNG.normal(size=(2, 4, 4, 2)), (("ReLU", {}), ("BatchNormalization", dict(epsilon=0.1))), seed=8)
    net = from_keras(case.build("float64"))
    assert [type(layer) for layer in net.layers] == [ReLU, Scale]
    check_against_keras(case, "float64")
    twice = CnnCase(case.x, case.layers + (("BatchNormalization", dict(epsilon=0.5)),), seed=8)
    net = from_keras(twice.build("float64"))
    assert [(type(layer), layer.name) for layer in net.layers] == [
        (ReLU, "relu_0"), (Scale, "batchnormalization_1+batchnormalization_2")]
    check_against_keras(twice, "float64")


@pytest.mark.parametrize("axis", [-1, 3, [-1], [3]])
def test_softmax_layer_over_the_last_axis_however_spelled(axis):
    # Keras takes the axis as an int or a list, counted from the batch axis or from the end
    check_against_keras(CnnCase(RNG.normal(size=(2, 3, 2, 4)), (("Softmax", dict(axis=axis)),), seed=14), "float64")


def test_translations_refuse_what_they_cannot_translate():
    # configurations Keras 3 itself never builds (a hand-written config, another Keras version): the translation
    # still stops with the layer's name rather than translating something else
    from hw5.convert.registry import Source
    from hw5.weights import extract_variables

    model = BN_EPSILON.build("float32")
    bn, variables = model.layers[0], extract_variables(model)
    for axis in (0, 4, -5, [1, 2]):
        src = Source(bn, {**bn.get_config(), "axis": axis}, (3, 3, 2), variables, np.dtype("float32"))
        with pytest.raises(ValueError, match=rf"layer 'batchnormalization_0' of type BatchNormalization: "
                                             rf"axis {re.escape(repr(axis))} is not supported"):
            TRANSLATIONS["BatchNormalization"](src)
    conv, dense = keras.layers.Conv2D(2, 1, name="c"), keras.layers.Dense(2, name="d")
    with pytest.raises(ValueError, match=r"layer 'c' of type Conv2D: needs an \(H, W, C\) input, got the grid \(12,\)"):
        TRANSLATIONS["Conv2D"](Source(conv, conv.get_config(), (12,), {}, np.dtype("float32")))
    variables = {"d/kernel": np.ones((4, 2), np.float32), "d/bias": np.zeros(2, np.float32)}
    with pytest.raises(ValueError, match="layer 'd' of type Dense: kernel has 4 inputs, expected 5"):
        TRANSLATIONS["Dense"](Source(dense, dense.get_config(), (5,), variables, np.dtype("float32")))
    reshape = keras.layers.Reshape((6, 1, 1), name="r")
    for target, shown in (((5, 1, 1), r"\(5, 1, 1\)"), ((4, -1, 1), r"\(4, 1, 1\)")):
        src = Source(reshape, {"target_shape": target}, (2, 3, 1), {}, np.dtype("float32"))
        with pytest.raises(ValueError, match=rf"layer 'r' of type Reshape: cannot reshape the grid \(2, 3, 1\) "
                                             rf"to {shown}"):
            TRANSLATIONS["Reshape"](src)


def test_functional_chain_is_translated_and_branches_too():
    inputs = keras.Input((5, 4, 1))
    h = keras.layers.Conv2D(2, 3, padding="same", name="c")(inputs)
    h = keras.layers.GlobalMaxPooling2D(name="g")(h)
    chain = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="d")(h))
    x = RNG.normal(size=(3, 5, 4, 1)).astype("float32")
    net = from_keras(chain)
    assert [type(layer) for layer in net.layers] == [Dense, MaxPool, Dense, Softmax]
    assert_matches_keras(chain, net, x, net.predict(x), keras_outputs(chain, x),
                         net_atol(chain, x, tol.EPS32, tol.TINY32),
                         "functional chain", tol.LAYER_F32_RTOL)
    # a branch and a merge (tests/test_graph.py: random graphs): the conv's output read by the ReLU and the Add
    a = keras.layers.Conv2D(2, 3, padding="same", name="a")(inputs)
    branched = keras.Model(inputs, keras.layers.Add(name="add")([a, keras.layers.ReLU(name="r")(a)]))
    net = from_keras(branched)
    assert net.inputs == [[INPUT], [0], [0, 1]]
    assert_within(net.predict(x), keras_outputs(branched, x), 1e-6, "conv + relu(conv)")


class Subclassed(keras.Model):
    # a subclassed model: its layers are attributes, its wiring is Python code no translation can read
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


class TwoOutputs(keras.layers.Layer):
    # a layer with two outputs, named like a supported kind (whose translation makes one)
    def call(self, x):
        return x, -x


TwoOutputs.__name__ = "ReLU"


def not_a_chain(kind: str):
    inputs, other = keras.Input((3,)), keras.Input((3,))
    hidden = keras.layers.Dense(2, name="d")(inputs)
    if kind == "subclassed":
        model = Subclassed()
        model(np.zeros((1, 3), np.float32))
        return model
    if kind == "two inputs":
        return keras.Model([inputs, other], keras.layers.Add()([inputs, other]))
    if kind == "two outputs":
        return keras.Model(inputs, [hidden, keras.layers.Dense(1)(hidden)])
    if kind == "an op after the last layer":   # keras.ops calls are no layers: model.layers misses the relu
        return keras.Model(inputs, keras.ops.relu(hidden))
    if kind == "an op between two layers":     # the op is named, not the layer after it
        return keras.Model(inputs, keras.layers.Dense(1, name="after")(keras.ops.tanh(hidden)))
    if kind == "only its input":
        return keras.Model(inputs, inputs)
    if kind == "no input shape":                # never built: Keras knows no input shape
        return keras.Sequential([keras.layers.Dense(2)], name="unbuilt")
    if kind == "a layer with two outputs":
        return keras.Model(inputs, TwoOutputs(name="twice")(inputs)[0])
    if kind == "a variable input size":
        image = keras.Input((None, None, 3))
        return keras.Model(image, keras.layers.Conv2D(2, 3, name="c")(image))
    if kind == "an empty input":   # Keras' own LayerNormalization test (test_ln_basics) builds one
        return keras.Sequential([keras.Input((0, 10)), keras.layers.LayerNormalization()])
    return keras.Sequential([keras.Input((3, 2, 1))])   # "no layers"


@pytest.mark.parametrize("kind, match", [
    ("subclassed", r"model of type Subclassed has no graph of layers \(a subclassed model\?\): build it with "
                   r"keras.Sequential or the functional API"),
    ("two inputs", "model must have one input and one output"),
    ("two outputs", "model must have one input and one output"),
    ("an op after the last layer", r"keras.ops call 'relu' of type Relu has no NumPy translation; supported: Add"),
    ("an op between two layers", r"keras.ops call 'tanh' of type Tanh has no NumPy translation"),
    ("a variable input size", r"model has the input shape \(None, None, None, 3\): a fully-connected network "
                              r"needs a fixed input size"),
    ("an empty input", r"model has the input shape \(None, 0, 10\): an axis of size 0, so an input holds no "
                       r"values"),
    ("no layers", "model has no layers to translate"),
    ("only its input", "model has no layers to translate"),
    ("no input shape", r"model 'unbuilt' has no input shape yet: build it on keras.Input\(shape=...\)"),
    ("a layer with two outputs", r"ReLU 'twice' has 2 outputs \(one supported\)"),
])
def test_from_keras_refuses_what_is_not_a_chain_of_layers(kind, match):
    # a wrong translation must never come out silently: a model from_keras cannot read is refused (keras.ops
    # calls other than + − × ÷ are named)
    with pytest.raises(ValueError, match=match):
        from_keras(not_a_chain(kind))


@pytest.mark.parametrize("layer, match", [
    (keras.layers.ConvLSTM1D(2, 2, name="rnn"), r"layer 'rnn' of type ConvLSTM1D has no NumPy translation; "
                                                r"supported: Activation, ActivityRegularization, "
                                                r"AdaptiveAveragePooling1D"),
    (keras.layers.Masking(name="mk"), "layer 'mk' of type Masking has no NumPy translation"),
    (keras.layers.Activation("log_sigmoid", name="act"), r"layer 'act' of type Activation: activation 'log_sigmoid' "
                                                         r"is not supported \(linear, elu, exponential, gelu"),
    (keras.layers.Conv2D(2, 3, activation="celu", name="c"), r"layer 'c' of type Conv2D: activation 'celu' is not "
                                                             r"supported"),
    (keras.layers.Dense(2, activation="log_sigmoid", name="d"), "layer 'd' of type Dense: activation 'log_sigmoid' "
                                                                "is not supported"),
    (keras.layers.Softmax(axis=1, name="sm"), r"layer 'sm' of type Softmax: softmax over axis 1 is not supported"),
])
def test_unsupported_layers_are_named(layer, match):
    model = keras.Sequential([keras.Input((6, 6, 2)), layer])
    with pytest.raises(ValueError, match=match):
        from_keras(model)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dtype="float16"), TypeError, "dtype must be float32, float64 or None"),
    (dict(dtype="int32"), TypeError, "dtype must be float32, float64 or None"),
    (dict(fuse="yes"), TypeError, "fuse must be True or False"),
    (dict(sparse=1), TypeError, "sparse must be True or False, got 1"),
    (dict(check="no"), TypeError, "check must be True or False, got 'no'"),   # a truthy string: the check would run
])
def test_from_keras_rejects_bad_arguments(kwargs, error, match):
    model = SAME_STRIDE2.build("float32")
    with pytest.raises(error, match=match):
        from_keras(model, **kwargs)


# every kind of linear map: Toeplitz, zero padding, average pooling, BatchNorm kept as a diagonal, global
# average pooling, a Dense kernel
EVERY_LINEAR_MAP = CnnCase(RNG.normal(size=(1, 5, 4, 2)), (
    ("Conv2D", dict(filters=2, kernel_size=2, activation="relu")), ("ZeroPadding2D", dict(padding=1)),
    ("AveragePooling2D", dict(pool_size=2)), ("ReLU", {}), ("BatchNormalization", {}),
    ("GlobalAveragePooling2D", {}), ("Dense", dict(units=2)), ("Dense", dict(units=2, use_bias=False))), seed=12)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_conv_without_bias_gets_zero_biases_in_the_nets_dtype(sparse):
    # Keras has no bias variable to cast: the translation makes zeros, and a float64 bias would widen a float32
    # net's every output after this layer
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, use_bias=False)])
    bias = from_keras(model, sparse=sparse).layers[0].b
    assert bias.dtype == np.float32 and bias.shape == (2 * 2 * 2,) and not bias.any()


@pytest.mark.parametrize("case", [FLATTEN_ORDER, EVERY_LINEAR_MAP], ids=["flatten", "every-linear-map"])
@pytest.mark.parametrize("model_dtype, dtype", [("float32", None), ("float64", None), ("float32", "float64"),
                                                ("float64", "float32")])
def test_dtype_is_kept_or_converted(case, model_dtype, dtype):
    # the documented dtype rule: the model's compute dtype, or the one asked for, in every matrix and output
    net = from_keras(case.build(model_dtype), dtype=dtype)
    want = np.dtype(dtype or model_dtype)
    assert net.dtype == want
    arrays = [a for layer in net.layers for a in ((layer.W, layer.b) if isinstance(layer, Dense) else
                                                  (layer.d, layer.t) if isinstance(layer, Scale) else ())]
    assert arrays and all(a.dtype == want for a in arrays), [(layer.name, type(layer).__name__) for layer in net.layers]
    assert net.predict(case.x.astype(model_dtype)).dtype == want


def test_forward_outputs_are_not_overwritten_later():
    # every layer's output, recomputed afterwards from the stored input, is still what forward() returned
    model = CnnCase(RNG.normal(size=(2, 5, 5, 1)), (
        ("Conv2D", dict(filters=2, kernel_size=2, activation="relu")), ("Flatten", {}), ("Dense", dict(units=3)),
        ("Dropout", dict(rate=0.5)), ("Activation", dict(activation="tanh")), ("Dense", dict(units=2))), seed=9)
    net = from_keras(model.build("float64"))
    x = model.x
    outs = net.forward(x)
    inputs = [x.reshape(len(x), -1), *outs[:-1]]
    for layer, before, out in zip(net.layers, inputs, outs, strict=True):
        assert_exact(layer(before.copy()), out, f"output of {layer.name} after the forward pass")
