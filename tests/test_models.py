# Architecture: the Part-2 net is exactly the homework's, layer by layer; Part 1 builds and is ours.

import keras
import pytest

from hw5.compare import float64_twin
from hw5.deliver import report
from hw5.models import build_part1_model, build_part2_model
from tests.helpers import report_section

PART2_PARAMS = 640 + 11_076_608 + 10_250   # conv 3·3·64 + 64, dense 10816·1024 + 1024, output 1024·10 + 10
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


def layer_configuration(layer) -> tuple:
    # what the homework specifies per layer, read back from Keras' own config
    cfg = layer.get_config()
    pair = lambda v: "×".join(map(str, v)) if v else "–"  # noqa: E731
    return (layer.name, type(layer).__name__, cfg.get("filters", cfg.get("units", "–")),
            pair(cfg.get("kernel_size") or cfg.get("pool_size")), pair(cfg.get("strides")),
            cfg.get("padding", "–"), cfg.get("activation", "relu" if type(layer).__name__ == "ReLU" else "–"))


def test_part2_model_order_input_and_size():
    model = build_part2_model()
    report_section(
        "p2-1",
        report.table(["layer", "type", "filters / units", "kernel / pool", "strides", "padding", "activation"],
                     [layer_configuration(layer) for layer in model.layers],
                     "each layer's configuration, read back from Keras (input 28×28×1 in [0, 1])"),
        report.console(report.model_summary(model).splitlines(), "model.summary(), as the script prints it"),
        key=f"{model.count_params():,} parameters", handin=True)
    assert [type(layer).__name__ for layer in model.layers] == [kind for kind, *_ in PART2_LAYERS]
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert model.count_params() == PART2_PARAMS
    assert len(model.trainable_variables) == 6
    assert [row[2:] for row in map(layer_configuration, model.layers)] == [
        (64, "3×3", "1×1", "valid", "linear"), ("–", "2×2", "2×2", "valid", "–"), ("–", "–", "–", "–", "relu"),
        ("–", "–", "–", "–", "–"), (1024, "–", "–", "–", "relu"), (10, "–", "–", "–", "softmax")]


def test_part2_float64_twin_has_same_weights():
    model = build_part2_model()
    twin = float64_twin(model)   # the one float64 rebuild (hw5.convert.inspect) serves Part 2 too
    assert [type(layer) for layer in twin.layers] == [type(layer) for layer in model.layers]
    assert all(v.dtype == "float64" for v in twin.trainable_variables)
    for w32, w64 in zip(model.get_weights(), twin.get_weights(), strict=True):
        assert (w32.astype("float64") == w64).all()


def test_build_part2_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        build_part2_model("float16")


def test_part1_model_outputs_ten_probabilities():
    model = build_part1_model()
    assert tuple(model.input_shape) == (None, 28, 28, 1) and tuple(model.output_shape) == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "softmax"
    assert isinstance(model, keras.Model)
