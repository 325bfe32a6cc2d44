# The Dense+ReLU-only form equals the Keras model's logits: float64 within 1e-9 relative, float32 within its
# own running error bound, on random piecewise-linear CNNs and on our trained Part-1 CNN; non-piecewise-linear
# layers are refused by name. Reference: the Keras model (its softmax left out, hw5.convert.relu_only.logits_model).
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given

from hw5.compare import float64_twin
from hw5.convert.layers import Dense, MaxPool, ReLU, pool_windows
from hw5.convert.relu_only import cost_table, logits_model, relu_only, width_and_depth
from hw5.numpy_net import from_keras
from tests.helpers import Cube, assert_exact, assert_within, example_note, keras_outputs
from tests.strategies import piecewise_linear_cnn_cases, piecewise_linear_graph_cases, random_weights
from tests.tolerances import RELU_ONLY_F32_RTOL, RELU_ONLY_F64_RTOL, relu_only_f32_atol


def rounded_to_float32(net64):
    # float_error_bound assumes the exact matrices rounded once: the float64 form rounded to float32. (A float32
    # net built by from_keras rounds the BatchNorm statistics *before* folding them — the bias β − μ·s then errs
    # relative to |μ·s|, which the fold cancels; test_graph.py bounds that path with tests.tolerances.network_atol.
    # A lone BatchNorm with |μ·s| ≈ |β| went 10 % over this bound once in `make flakes`.)
    layers = [replace(layer, W=layer.W.astype(np.float32), b=layer.b.astype(np.float32))
              if isinstance(layer, Dense) else layer for layer in net64.layers]
    return replace(net64, layers=layers, compute_dtype=np.float32)


def _is_chain(net):
    kinds = [type(layer) for layer in net.layers]
    return kinds[0::2] == [Dense] * len(kinds[0::2]) and kinds[1::2] == [ReLU] * len(kinds[1::2]) and \
        kinds[-1] is Dense


@given(piecewise_linear_cnn_cases())
def test_relu_only_equals_keras_logits_on_random_cnns(case):
    example_note(case.describe())
    model64 = case.build("float64")
    logits64 = logits_model(model64)
    reference = keras_outputs(logits64, case.x)
    net64 = relu_only(from_keras(model64))
    assert _is_chain(net64)
    scale = float(np.abs(reference).max())
    assert_within(net64.predict(case.x), reference, RELU_ONLY_F64_RTOL * scale, "float64 Dense+ReLU vs Keras logits")
    x32 = case.x.astype(np.float32)
    reference32 = keras_outputs(logits64, x32.astype(np.float64))   # exact logits of the f32 inputs
    assert relu_only(from_keras(case.build("float32"))).dtype == np.float32
    assert_within(rounded_to_float32(net64).predict(x32), reference32, relu_only_f32_atol(net64, x32, reference32),
                  "float32 Dense+ReLU vs exact logits")


def test_a_model_that_is_only_its_softmax_has_the_input_as_logits():
    # `make flakes` drew it (seed 1785062691): the logits model of [Softmax] has no layer left, which a Keras
    # Sequential cannot call; its logits are the input itself, as the Dense+ReLU form says (one identity Dense)
    import keras

    model = keras.Sequential([keras.Input((1, 1, 2)), keras.layers.Softmax()])
    x = np.array([[[[0.25, -1.5]]]], np.float32)   # exact in float32: the model's dtype
    assert_exact(keras_outputs(logits_model(model), x), x, "logits of a Softmax-only model")
    net = relu_only(from_keras(model))
    assert [type(layer) for layer in net.layers] == [Dense]
    assert_exact(net.predict(x).reshape(x.shape), x, "its Dense+ReLU form")


def test_a_conv1d_chain_with_1d_max_pooling_lowers_to_dense_and_relu():
    # a sequence model on (L, C): MaxPooling1D is a max-pool like any other (the 1-D pool computes on (1, L, C))
    import keras

    keras.utils.set_random_seed(6)
    f64 = "float64"
    model = keras.Sequential([keras.Input((9, 2), dtype=f64), keras.layers.Conv1D(3, 3, activation="relu", dtype=f64),
                              keras.layers.MaxPooling1D(3, strides=2, padding="same", dtype=f64),
                              keras.layers.Flatten(dtype=f64), keras.layers.Dense(4, activation="softmax", dtype=f64)])
    net = relu_only(from_keras(model))
    assert _is_chain(net) and net.input_shape == (9, 2)
    x = np.random.default_rng(7).normal(size=(3, 9, 2))
    reference = keras_outputs(logits_model(model), x)
    assert_within(net.predict(x), reference, RELU_ONLY_F64_RTOL * float(np.abs(reference).max()), "Conv1D chain")


def test_pool_windows_hold_only_real_inputs():
    # 'same' 2×2 stride 2 on a 3×3 image: the bottom/right windows are cut (TF pads there, with −inf)
    windows = pool_windows(MaxPool((3, 3, 1), (2, 2), (2, 2), "p", (2, 2, 1), "same"))
    assert_exact(windows, np.array([[4, 3, 1, 0], [5, 2, -1, -1], [7, 6, -1, -1], [8, -1, -1, -1]]), "windows")


def test_relu_only_refuses_a_sigmoid_by_name():
    import keras

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, activation="sigmoid", name="c"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"layer 'c\.sigmoid' \(Sigmoid\) is not piecewise linear"):
        relu_only(from_keras(model))


def test_relu_only_refuses_a_softmax_before_the_end():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax", name="d"),
                              keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"layer 'd\.softmax' \(Softmax\) is not piecewise linear"):
        relu_only(from_keras(model))
    with pytest.raises(TypeError, match="net must be a NumpyNet"):
        relu_only(model)


@pytest.mark.training
@pytest.mark.full   # 1,000 test images through a 1.4 GB network: `make test-full` and the report
def test_relu_only_part1_same_class_on_1000_images(part1, test_images, progress):
    # our trained Part-1 CNN (BatchNorm, two max-pools, dropout) as Dense+ReLU: every class the same
    x = test_images[0][:1000]
    progress("Part 1 as Dense+ReLU on 1,000 test images")
    net = relu_only(from_keras(part1.model))
    logits = net.predict(x, batch_size=250)
    reference = logits_model(part1.model).predict(x, batch_size=250, verbose=0)
    assert (logits.argmax(1) == part1.model.predict(x, batch_size=250, verbose=0).argmax(1)).all()
    assert width_and_depth(net) == (12_544, 8)
    twin = float64_twin(part1.model)
    net64 = relu_only(from_keras(twin))
    x64 = x[:100].astype(np.float64)
    exact = logits_model(twin).predict(x64, verbose=0)
    assert_within(net64.predict(x64), exact, RELU_ONLY_F64_RTOL * float(np.abs(exact).max()), "float64 Part 1")
    assert_within(logits[:100], exact, relu_only_f32_atol(net64, x[:100], exact), "float32 Part 1")
    assert np.abs(logits - reference).max() < 1e-3 * np.abs(reference).max()


# ---- graphs and the ReLU family (issue 30 item 3): every model compared with Keras' logits -----------------

def _randomize(model, seed: int):
    # tests.strategies.random_weights with PReLU slopes U(−0.5, 0.5) (both signs: the form must not assume α ≥ 0)
    return random_weights(model, seed, alpha=(-0.5, 0.5))


def check_against_keras(model32, x, what: str):
    # the float64 twin's form within 1e-9 of its Keras logits; that form rounded to float32 within its error
    # bound of the exact logits; the float32 model's own form within RELU_ONLY_F32_RTOL of its Keras logits
    model64 = float64_twin(model32)
    logits64 = logits_model(model64)
    reference = keras_outputs(logits64, x.astype(np.float64))
    net64 = relu_only(from_keras(model64))
    assert _is_chain(net64)
    assert_within(net64.predict(x.astype(np.float64)), reference, RELU_ONLY_F64_RTOL * float(np.abs(reference).max()),
                  f"{what}: float64 Dense+ReLU vs Keras logits")
    x32 = x.astype(np.float32)
    exact = keras_outputs(logits64, x32.astype(np.float64))
    assert_within(rounded_to_float32(net64).predict(x32), exact, relu_only_f32_atol(net64, x32, exact),
                  f"{what}: float32 Dense+ReLU vs exact logits (its error bound)")
    net32 = relu_only(from_keras(model32))
    assert _is_chain(net32) and net32.dtype == np.float32
    theirs = keras_outputs(logits_model(model32), x32)
    assert_within(net32.predict(x32), theirs, RELU_ONLY_F32_RTOL * float(np.abs(theirs).max()),
                  f"{what}: float32 Dense+ReLU vs float32 Keras logits")
    return net64


def _hidden_widths(net):
    return [r["neurons"] for r in cost_table(net) if r["kind"] == "ReLU"]


def _carried(net):
    return [r["carried"] for r in cost_table(net) if r["kind"] == "ReLU"]


FAMILY = [   # (id, the layer after a 5×5×3 conv, hidden neurons per neuron: its ramps)
    ("ReLU(max_value=6)", lambda L: L.ReLU(max_value=6.0, name="act"), 2),
    ("ReLU(negative_slope)", lambda L: L.ReLU(negative_slope=0.1, name="act"), 2),
    ("ReLU(max_value, negative_slope)", lambda L: L.ReLU(max_value=6.0, negative_slope=0.1, name="act"), 3),
    ("ReLU(max_value=0, threshold)", lambda L: L.ReLU(max_value=0.0, negative_slope=0.2, threshold=0.5,
                                                     name="act"), 1),   # −α·relu(θ − x): continuous
    ("LeakyReLU", lambda L: L.LeakyReLU(negative_slope=0.3, name="act"), 2),
    ("PReLU per neuron", lambda L: L.PReLU(name="act"), 2),
    ("PReLU per channel", lambda L: L.PReLU(shared_axes=[1, 2], name="act"), 2),
    ("relu6", lambda L: L.Activation("relu6", name="act"), 2),
    ("leaky_relu", lambda L: L.Activation("leaky_relu", name="act"), 2),
    ("hard_sigmoid", lambda L: L.Activation("hard_sigmoid", name="act"), 2),
]


@pytest.mark.parametrize("make, ramps", [pytest.param(m, r, id=i) for i, m, r in FAMILY])
def test_relu_only_lowers_each_relu_family_layer_exactly(make, ramps):
    # conv → the layer → conv → dense softmax: one hidden layer of `ramps` neurons per neuron, Keras' logits
    import keras

    L = keras.layers
    model = _randomize(keras.Sequential([keras.Input((5, 5, 2)), L.Conv2D(3, 3, padding="same", name="pre"),
                                         make(L), L.Conv2D(2, 2), L.Flatten(), L.Dense(4, activation="softmax")]), 3)
    x = 4 * np.random.default_rng(4).normal(size=(3, 5, 5, 2))
    pre = keras_outputs(keras.Model(model.inputs[0], model.get_layer("pre").output), x.astype(np.float32))
    assert pre.min() < -1 and pre.max() > 7       # every piece is used: below 0, past the threshold, past 6
    net = check_against_keras(model, x, make(L).__class__.__name__)
    assert _hidden_widths(net) == [ramps * 5 * 5 * 3] and width_and_depth(net) == (ramps * 75, 2)


def test_relu_only_lowers_a_conv_with_relu6_activation():
    # Conv2D(activation="relu6") (MobileNet's) is the conv's matrix then relu(x) − relu(x − 6)
    import keras

    L = keras.layers
    model = _randomize(keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(2, 3, activation="relu6"), L.Flatten(),
                                         L.Dense(3, activation="leaky_relu"), L.Dense(2)]), 5)
    net = check_against_keras(model, 8 * np.random.default_rng(5).normal(size=(4, 4, 4, 1)), "relu6 conv")
    assert _hidden_widths(net) == [2 * 8, 2 * 3]


@pytest.mark.parametrize("layer, message", [
    (dict(threshold=0.5), r"layer 'act' \(ClippedReLU\) is ReLU\(threshold=0\.5\).* a jump of 0\.5 at x = 0\.5; "
                          r"a Dense\+ReLU network is continuous"),
    (dict(threshold=1.0, max_value=0.5, negative_slope=0.1), r"a jump of 0\.5 at x = 1;"),
])
def test_relu_only_refuses_a_relu_with_a_threshold_by_its_jump(layer, message):
    # Keras' ReLU(threshold=θ) is x for x > θ: it jumps at θ, and no continuous network equals it
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), keras.layers.ReLU(**layer, name="act"),
                              keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=message):
        relu_only(from_keras(model))


def _model_with(make):
    import keras

    inp = keras.Input((3, 3, 2))
    out = make(keras.layers, keras.layers.Conv2D(2, 1, name="c")(inp))
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(out)))


@pytest.mark.parametrize("make, message", [
    (lambda L, x: L.ELU(name="act")(x), r"layer 'act' \(Elementwise 'elu'\) is not piecewise linear"),
    (lambda L, x: L.ELU(alpha=0.5, name="act")(x), r"layer 'act' \(AlphaELU\) is not piecewise linear"),
    (lambda L, x: L.Activation("hard_silu", name="act")(x), r"'act' \(Elementwise 'hard_silu'\) is not piecewise"),
    (lambda L, x: L.LayerNormalization(name="act")(x), r"layer 'act' \(LayerNorm\) is not piecewise linear"),
    pytest.param(lambda L, x: L.LayerNormalization(rms_scaling=True, name="act")(x),
                 r"layer 'act' \(LayerNorm\) is not piecewise linear", id="rms_scaling",
                 marks=pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")),   # deprecated
    (lambda L, x: L.GroupNormalization(2, name="act")(x), r"layer 'act' \(LayerNorm\) is not piecewise linear"),
    (lambda L, x: L.RMSNormalization(name="act")(x), r"layer 'act' \(RMSNorm\) is not piecewise linear"),
    (lambda L, x: L.UnitNormalization(name="act")(x), r"layer 'act' \(UnitNorm\) is not piecewise linear"),
    (lambda L, x: L.Activation("tanh", name="act")(x), r"layer 'act' \(Tanh\) is not piecewise linear"),
    (lambda L, x: L.Multiply(name="act")([x, L.Conv2D(2, 1)(x)]),
     r"layer 'act' \(Merge 'Multiply'\) multiplies two tensors, which is not piecewise linear"),
])
def test_relu_only_refuses_what_no_dense_relu_network_computes(make, message):
    with pytest.raises(ValueError, match=message):
        relu_only(from_keras(_model_with(make)))


def test_relu_only_refuses_a_layer_type_it_does_not_know():
    # a NumPy layer type with no lowering (a new translation, a hand-made net) is named, never skipped
    from hw5.convert.network import NumpyNet

    net = NumpyNet((2,), [Dense(np.eye(2), np.zeros(2), "d", (2,)), Cube("cube", (2,))], np.float64)
    with pytest.raises(ValueError, match=r"layer 'cube' \(Cube\) has no Dense\+ReLU lowering"):
        relu_only(net)


def residual_cnn(shortcut: str, after: str):
    # the model: conv → BN → ReLU → conv, plus a shortcut (a 1×1 conv of the input, or the identity of a
    # ReLU stem), Add, ReLU/ReLU6, max-pool, global max-pool, Dense softmax
    import keras

    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = inp if shortcut == "conv" else L.ReLU()(L.Conv2D(4, 3, padding="same")(inp))
    y = L.Conv2D(4, 3, padding="same")(L.ReLU()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(x))))
    z = L.Add()([y, L.Conv2D(4, 1)(x) if shortcut == "conv" else x])
    z = L.ReLU(max_value=6.0)(z) if after == "relu6" else L.ReLU()(z)
    out = L.Dense(3, activation="softmax")(L.GlobalMaxPooling2D()(L.MaxPooling2D()(z)))
    return _randomize(keras.Model(inp, out), 11)


@pytest.mark.parametrize("after", ["relu", "relu6"])
@pytest.mark.parametrize("shortcut", ["conv", "identity"])
def test_relu_only_lowers_a_residual_cnn(shortcut, after):
    # the skip crosses the branch's ReLU as extra neurons: the 1×1 conv through the 8·8·3 input it reads (either
    # sign: 2 neurons each, fewer than its 8·8·4 outputs ×2), the identity as the stem's 256 ReLU outputs (1 each)
    x = 2 * np.random.default_rng(12).normal(size=(3, 8, 8, 3))
    net = check_against_keras(residual_cnn(shortcut, after), x, f"residual ({shortcut}, {after})")
    carry = 2 * 8 * 8 * 3 if shortcut == "conv" else 8 * 8 * 4
    stem = [] if shortcut == "conv" else [256]
    add = [2 * 256] if after == "relu6" else [256]
    pools = [256, 128] + [64, 32, 16, 8]          # the 2×2 pool's 2 levels, the global pool's 4 (16 inputs each)
    assert _hidden_widths(net) == stem + [256 + carry] + add + pools
    assert _carried(net) == [0] * len(stem) + [carry] + [0] * (1 + len(pools))


def test_relu_only_carries_a_tensor_read_by_several_layers_once():
    # a ReLU stem (6·6·6 = 216 neurons) read by three layers: the branch (conv → ReLU → conv), a 1×1 conv
    # shortcut (216 outputs of either sign: 432 neurons whole, so it crosses as the 216 stem neurons it reads) and
    # the identity (216 neurons whole, or the same 216 stem neurons, already carried: free); summed by one Add
    import keras

    L = keras.layers
    inp = keras.Input((6, 6, 2))
    stem = L.ReLU()(L.Conv2D(6, 3, padding="same")(inp))
    branch = L.Conv2D(6, 1)(L.ReLU()(L.Conv2D(3, 3, padding="same")(stem)))
    out = L.Dense(2)(L.Flatten()(L.Add()([branch, L.Conv2D(6, 1)(stem), stem])))
    model = _randomize(keras.Model(inp, out), 41)
    net = check_against_keras(model, np.random.default_rng(42).normal(size=(3, 6, 6, 2)), "stem read thrice")
    assert _hidden_widths(net) == [216, 108 + 216] and _carried(net) == [0, 216]


def inception_cnn():
    # one stem read by four branches (a 1×1 conv; 3×3 conv → BN → ReLU6; a 3×3 stride-1 max-pool → 1×1 conv;
    # LeakyReLU → average pool), Concatenate on the channels, ReLU, max-pool, Dense, softmax
    import keras

    L = keras.layers
    inp = keras.Input((6, 6, 2))
    stem = L.Conv2D(3, 3, padding="same", activation="relu")(inp)
    b1 = L.Conv2D(2, 1)(stem)
    b2 = L.ReLU(max_value=6.0)(L.BatchNormalization()(L.Conv2D(2, 3, padding="same")(stem)))
    b3 = L.Conv2D(2, 1, activation="relu")(L.MaxPooling2D(3, strides=1, padding="same")(stem))
    b4 = L.AveragePooling2D(3, strides=1, padding="same")(L.LeakyReLU(0.2)(L.Conv2D(1, 1)(stem)))
    z = L.ReLU()(L.Concatenate()([b1, b2, b3, b4]))
    out = L.Activation("softmax")(L.Dense(4)(L.Flatten()(L.MaxPooling2D()(z))))
    return _randomize(keras.Model(inp, out), 21)


def test_relu_only_lowers_an_inception_cnn():
    # the branches' non-linear layers share hidden layers (the leaky, the ReLU6 and the 3×3 max-pool's first level
    # in one), so the depth is the longest path's: stem 1 + max-pool 4 + its conv's ReLU 1 + the ReLU after the
    # Concatenate 1 + the 2×2 max-pool 2, then the output: 10 Dense layers (12 one branch after another). The
    # shallow branches cross the max-pool's levels: the 1×1 conv (72 outputs of either sign) as the 108 stem
    # neurons it reads, the ReLU6's 72 outputs (≥ 0: 1 each), the leaky's 36 (2 each): 108 + 72 + 72 = 252
    net = check_against_keras(inception_cnn(), 2 * np.random.default_rng(22).normal(size=(3, 6, 6, 2)), "inception")
    assert width_and_depth(net)[1] == 10
    assert _carried(net) == [0, 108, 252, 252, 252, 252, 0, 0, 0]


def test_relu_only_lowers_subtract_average_maximum_minimum_and_a_broadcast():
    # the other merges of two branches, and a (1, 1, C) squeeze-and-excite style branch broadcast over the grid
    import keras

    L = keras.layers
    inp = keras.Input((4, 5, 2))
    a, b = L.Conv2D(2, 3, padding="same")(inp), L.ReLU()(L.Conv2D(2, 1)(inp))
    merged = [L.Subtract()([a, b]), L.Average()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b]),
              L.Add()([a, L.GlobalAveragePooling2D(keepdims=True)(b)])]
    out = L.Dense(3)(L.Flatten()(L.Concatenate(axis=-2)(merged)))
    model = _randomize(keras.Model(inp, out), 31)
    check_against_keras(model, np.random.default_rng(32).normal(size=(3, 4, 5, 2)), "merges")


@given(piecewise_linear_graph_cases())
def test_relu_only_equals_keras_logits_on_random_graph_cnns(case):
    # graph_cases with every node made lowerable: float64 within 1e-9 relative (to at least the inputs' N(0, 1)
    # scale), float32 within the form's bound
    example_note(case.describe())
    model64 = case.build("float64")
    logits64 = logits_model(model64)
    reference = keras_outputs(logits64, case.x)
    net64 = relu_only(from_keras(model64))
    assert _is_chain(net64)
    scale = max(1.0, float(np.abs(reference).max()))
    assert_within(net64.predict(case.x), reference, RELU_ONLY_F64_RTOL * scale, "float64 Dense+ReLU vs Keras logits")
    x32 = case.x.astype(np.float32)
    exact = keras_outputs(logits64, x32.astype(np.float64))
    assert_within(rounded_to_float32(net64).predict(x32), exact, relu_only_f32_atol(net64, x32, exact)
                  + RELU_ONLY_F64_RTOL * scale, "float32 Dense+ReLU vs exact logits")


def test_relu_only_checks_itself_and_refuses_a_wrong_lowering(monkeypatch):
    # a lowering that reads the Concatenate's inputs in the wrong order builds a wrong chain of the right shape:
    # the self-check on the probe inputs refuses it; check=False returns it, wrong
    from hw5.convert.merges import Concat
    from hw5.convert.rules import LOWER

    net = from_keras(inception_cnn())
    right = LOWER[Concat]
    monkeypatch.setitem(LOWER, Concat, lambda state, layer, *xs: right(state, layer, *xs[1:], xs[0]))
    with pytest.raises(ValueError, match=r"relu_only: the Dense\+ReLU network it built is not the net: its output "
                                         r"is off by .* beyond rtol 0\.0001 of their largest"):
        relu_only(net)
    wrong = relu_only(net, check=False)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)
    assert np.abs(wrong.predict(x) - net.forward(x)[net.inputs[net.output][0]]).max() > 1e-2


def test_relu_only_table_names_each_layer_once_and_a_fused_row_what_it_fused():
    # conv → BatchNorm → ReLU → max-pool → Dense: the fused Dense row lists the maps it composes, the ReLU
    # its own layer; no name stands twice in the cost table (the command prints it)
    import keras

    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="act"),
                              keras.layers.MaxPooling2D(2, name="pool"), keras.layers.Flatten(),
                              keras.layers.Dense(3, name="head")])
    names = [row["layer"] for row in cost_table(relu_only(from_keras(model)))]
    assert len(names) == len(set(names)), names
    assert names[:2] == ["conv+bn", "act"], names


# ---- what the lowering knows about inputs ≥ 0 (after a ReLU, or a non-negative linear map of one): a ReLU
# there is the identity and adds no layer, a ramp that is 0 there is dropped, one that is not is kept -----

def _after_relu(*layers, sparse=False, scale=1.0):
    # Dense(4 → 6) → ReLU → layers → Dense(6 → 3), float64: the middle layers read values ≥ 0 (of N(0, 1)
    # inputs times ~2·scale)
    import scipy.sparse as sp

    from hw5.convert.network import NumpyNet

    rng = np.random.default_rng(11)
    first = Dense(scale * rng.normal(size=(4, 6)), rng.normal(size=6), "in", (6,))
    last = Dense(rng.normal(size=(6, 3)), rng.normal(size=3), "out", (3,))
    mids = [replace(m, W=sp.csr_matrix(m.W)) if sparse and isinstance(m, Dense) else m for m in layers]
    return NumpyNet((4,), [first, ReLU("r", (6,)), *mids, last], np.float64)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_relu_after_a_relu_or_a_nonnegative_map_of_one_adds_no_layer(sparse):
    from hw5.convert.relus import ClippedReLU

    rng = np.random.default_rng(12)
    W = rng.uniform(0, 1, (6, 6))
    W[W < 0.3] = 0.0                                    # ≥ 0 with zeros in it: non-negative all the same
    nonneg = Dense(W, rng.uniform(0, 1, 6), "pos", (6,))
    cases = [(ReLU("r2", (6,)),), (ReLU("r2", (6,)), ReLU("r3", (6,))),            # still ≥ 0 after the second
             (ClippedReLU(None, 0.3, 0.0, "leaky", (6,)),),   # leaky(x) = x for x ≥ 0
             (nonneg, ReLU("r2", (6,))), (nonneg, ClippedReLU(None, 0.3, 0.0, "leaky", (6,)))]
    for mids in cases:
        lowered = relu_only(_after_relu(*mids, sparse=sparse))   # checks itself against the net
        assert _hidden_widths(lowered) == [6], [type(m).__name__ for m in mids]


def test_a_ramp_that_is_not_zero_on_nonnegative_inputs_is_kept():
    # ReLU(max_value=0, negative_slope=α, threshold=θ > 0) = −α·relu(θ − x): on x ≥ 0 it is not 0 below θ;
    # a LeakyReLU of slope 1 is the identity, relu(x) − relu(−x), both ramps needed on any input
    from hw5.convert.relus import ClippedReLU

    below = relu_only(_after_relu(ClippedReLU(0.0, 0.3, 0.5, "clip", (6,), cut=0.5)))   # checks itself
    assert _hidden_widths(below) == [6, 6]
    capped = relu_only(_after_relu(ClippedReLU(6.0, 0.0, 0.0, "relu6", (6,)), scale=8.0))   # inputs past 6 too
    assert _hidden_widths(capped) == [6, 12]
    from hw5.convert.network import NumpyNet

    rng = np.random.default_rng(13)
    identity = NumpyNet((4,), [Dense(rng.normal(size=(4, 6)), rng.normal(size=6), "in", (6,)),
                               ClippedReLU(None, 1.0, 0.0, "slope1", (6,)),
                               Dense(rng.normal(size=(6, 3)), np.zeros(3), "out", (3,))], np.float64)
    assert _hidden_widths(relu_only(identity)) == [12]


def test_a_one_input_max_pool_window_is_a_selection_and_keeps_nonnegativity():
    # windows of one input: no max tree, no hidden layer; after a ReLU its output is still ≥ 0, so the ReLU
    # after it adds no layer either
    from hw5.convert.gathers import WindowMax

    pick = WindowMax(np.array([[5], [0], [2]]), "pick", (3,))
    from hw5.convert.network import NumpyNet

    rng = np.random.default_rng(14)
    net = NumpyNet((4,), [Dense(rng.normal(size=(4, 6)), rng.normal(size=6), "in", (6,)), ReLU("r", (6,)), pick,
                          ReLU("r2", (3,)), Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "out", (2,))],
                   np.float64)
    assert _hidden_widths(relu_only(net)) == [6]


def test_a_one_entry_negative_map_of_a_relu_is_not_taken_for_nonnegative():
    # relu(−relu(x)) = 0: the ReLU after the 1 × 1 map [−1] must stay (relu_only checks itself)
    from hw5.convert.network import NumpyNet

    rng = np.random.default_rng(15)
    net = NumpyNet((4,), [Dense(rng.normal(size=(4, 1)), rng.normal(size=1), "in", (1,)), ReLU("r", (1,)),
                          Dense(np.array([[-1.0]]), np.zeros(1), "neg", (1,)), ReLU("r2", (1,)),
                          Dense(rng.normal(size=(1, 2)), rng.normal(size=2), "out", (2,))], np.float64)
    assert _hidden_widths(relu_only(net)) == [1, 1]


def test_a_merge_broadcasting_a_middle_axis_lowers():
    # Add of (4, 5, 3) and (4, 1, 3): the second broadcast along the middle axis, not only (1, 1, C)
    from hw5.convert.merges import Merge
    from hw5.convert.network import NumpyNet

    rng = np.random.default_rng(16)
    a = Dense(rng.normal(size=(6, 60)), rng.normal(size=60), "a", (4, 5, 3))
    b = Dense(rng.normal(size=(6, 12)), rng.normal(size=12), "b", (4, 1, 3))
    net = NumpyNet((6,), [a, b, Merge("Add", ((4, 5, 3), (4, 1, 3)), "add", (4, 5, 3)), ReLU("r", (4, 5, 3)),
                          Dense(rng.normal(size=(60, 2)), np.zeros(2), "out", (2,))], np.float64,
                   inputs=[["input"], ["input"], [0, 1], [2], [3]])
    assert _hidden_widths(relu_only(net)) == [60]


def test_a_prelu_with_zero_slopes_is_a_relu_of_one_ramp():
    # PReLU(α = 0) is relu(x): its −α·relu(−x) ramp has all-zero weights and is dropped (n neurons, not 2n)
    from hw5.convert.network import NumpyNet
    from hw5.convert.relus import PReLU

    rng = np.random.default_rng(17)
    net = NumpyNet((4,), [Dense(rng.normal(size=(4, 6)), rng.normal(size=6), "in", (6,)), PReLU(np.zeros(6), "p", (6,)),
                          Dense(rng.normal(size=(6, 2)), np.zeros(2), "out", (2,))], np.float64)
    assert _hidden_widths(relu_only(net)) == [6]
