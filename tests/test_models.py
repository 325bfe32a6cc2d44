# Architecture: the Part-2 net is exactly the homework's, layer by layer; Part 1 builds and is ours.
import math

import keras
import pytest
from pytest_html.extras import html

from hw5.models import PART2_PARAMS, as_float64, build_part1_model, build_part2_model
from hw5.numpy_net import from_keras
from hw5.report import section, table

PART2_LAYERS = [
    # (type, output shape, params, config that must hold)
    ("Conv2D", (None, 26, 26, 64), 640,
     dict(filters=64, kernel_size=(3, 3), strides=(1, 1), padding="valid", activation="linear", use_bias=True)),
    ("MaxPooling2D", (None, 13, 13, 64), 0, dict(pool_size=(2, 2), strides=(2, 2), padding="valid")),
    ("ReLU", (None, 13, 13, 64), 0, dict(max_value=None, negative_slope=0.0, threshold=0.0)),
    ("Flatten", (None, 10816), 0, dict(data_format="channels_last")),
    ("Dense", (None, 1024), 10816 * 1024 + 1024, dict(units=1024, activation="relu", use_bias=True)),
    ("Dense", (None, 10), 1024 * 10 + 10, dict(units=10, activation="softmax", use_bias=True)),
]


@pytest.mark.parametrize("index", range(len(PART2_LAYERS)))
def test_part2_layer_matches_homework(index):
    model = build_part2_model()
    layer = model.layers[index]
    kind, shape, params, config = PART2_LAYERS[index]
    assert type(layer).__name__ == kind
    assert tuple(layer.output.shape) == shape
    assert layer.count_params() == params
    actual = layer.get_config()
    for key, value in config.items():
        got = tuple(actual[key]) if isinstance(actual[key], list) else actual[key]
        assert got == value, f"layer {index} ({kind}) {key}: {got!r} != {value!r}"


def test_part2_model_order_input_and_size(extras):
    model = build_part2_model()
    derived = {name: (shape, n) for name, shape, n in from_keras(model).neuron_counts()}
    rows = [(layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), f"{layer.count_params():,}",
             derived.get(layer.name, ("(reshape only)", "–"))[1], math.prod(layer.output.shape[1:]))
            for layer in model.layers]
    extras.append(html(section("Part 2: the homework architecture", table(
        ["layer", "type", "Keras output shape", "params", "neurons (our derivation)", "neurons (Keras)"], rows,
        f"{model.count_params():,} parameters"))))
    assert [type(layer).__name__ for layer in model.layers] == [kind for kind, *_ in PART2_LAYERS]
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert model.count_params() == PART2_PARAMS == 11_087_498
    assert len(model.trainable_variables) == 6


def test_part2_float64_twin_has_same_weights():
    model = build_part2_model()
    twin = as_float64(model)
    assert all(v.dtype == "float64" for v in twin.trainable_variables)
    for w32, w64 in zip(model.get_weights(), twin.get_weights()):
        assert (w32.astype("float64") == w64).all()


def test_build_part2_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        build_part2_model("float16")


def test_part1_model_outputs_ten_probabilities():
    model = build_part1_model()
    assert tuple(model.input_shape) == (None, 28, 28, 1) and tuple(model.output_shape) == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "softmax"
    assert isinstance(model, keras.Model)
