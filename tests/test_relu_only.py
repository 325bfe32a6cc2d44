# The Dense+ReLU-only form equals the Keras model's logits: float64 within 1e-9 relative, float32 within its
# own running error bound, on random piecewise-linear CNNs and on our trained Part-1 CNN; non-piecewise-linear
# layers are refused by name. Reference: the Keras model (its softmax left out, hw5.convert.relu_only.logits_model).
import numpy as np
import pytest
from hypothesis import given

from hw5.compare import float64_twin
from hw5.convert.relu_only import logits_model, pool_windows, relu_only, width_and_depth
from hw5.homework.layers import Dense, MaxPool, ReLU
from hw5.numpy_net import from_keras
from tests.helpers import assert_exact, assert_within, example_note, keras_outputs
from tests.strategies import piecewise_linear_cnn_cases
from tests.tolerances import RELU_ONLY_F64_RTOL, relu_only_f32_atol


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
    # float_error_bound assumes the exact matrices rounded once: the float64 form rounded to float32. (A float32
    # net built by from_keras rounds the BatchNorm statistics *before* folding them — the bias β − μ·s then errs
    # relative to |μ·s|, which the fold cancels; test_graph.py bounds that path with tests.tolerances.network_atol.
    # A lone BatchNorm with |μ·s| ≈ |β| went 10 % over this bound once in `make flakes`.)
    net32 = relu_only(from_keras(model64))
    for layer in net32.layers:
        if isinstance(layer, Dense):
            layer.W, layer.b = layer.W.astype(np.float32), layer.b.astype(np.float32)
    net32.compute_dtype = np.float32
    assert_within(net32.predict(x32), reference32, relu_only_f32_atol(net64, x32, reference32),
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
