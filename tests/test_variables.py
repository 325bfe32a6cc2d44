# hw5/convert/variables.py: what the converter reads of a Keras layer — LoRA factors merged into the kernel,
# weight-only quantization dequantized — and the quantized calls it refuses, before any translation runs.
# References: Keras' own LoRA configurations (keras/src/layers/convolutional/conv_test.py and core/dense_test.py,
# the enable_lora, lora_alpha and lora_rank= cases; Conv3D left out, not a supported layer), Keras' model itself,
# the same layer without LoRA carrying the kernel merged in float64 by the test, and a quantized layer's own call
# on the identity (the matrix Keras applies, bit for bit).
import warnings

import keras
import numpy as np
import pytest
from keras.quantizers import AbsMaxQuantizer, AWQConfig, GPTQConfig, Int4QuantizationConfig, Int8QuantizationConfig

from hw5.convert.registry import TRANSLATIONS
from hw5.convert.variables import model_variables
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, assign_normal, keras_outputs

L = keras.layers
RTOL = {"float32": tol.LAYER_F32_RTOL, "float64": tol.LAYER_F64_RTOL}
# Keras' test cases: input grid, the layer, enable_lora's arguments (None: lora_rank= in the constructor)
LORA_CASES = {
    "conv1d kernel 3 stride 1": ((5, 4), lambda: L.Conv1D(6, 3), dict(rank=2)),
    "conv1d kernel 2 stride 2 groups 2": ((5, 4), lambda: L.Conv1D(6, 2, strides=2, groups=2), dict(rank=2)),
    "conv2d kernel 3 stride 1": ((5, 5, 4), lambda: L.Conv2D(6, 3), dict(rank=2)),
    "conv2d kernel 2 stride 2 groups 2": ((5, 5, 4), lambda: L.Conv2D(6, 2, strides=2, groups=2), dict(rank=2)),
    "conv2d lora_alpha 3": ((4, 4, 3), lambda: L.Conv2D(3, (2, 2)), dict(rank=2, lora_alpha=3.0)),
    "conv2d lora_rank=2, sigmoid, l2": ((5, 5, 4), lambda: L.Conv2D(5, 3, activation="sigmoid",
                                                                     kernel_regularizer="l2", lora_rank=2), None),
    "dense rank 4": ((8,), lambda: L.Dense(16), dict(rank=4)),
    "dense lora_alpha 3": ((4,), lambda: L.Dense(8), dict(rank=2, lora_alpha=3.0)),
    "dense lora_rank=2 on a (3, 4) grid": ((3, 4), lambda: L.Dense(5, activation="sigmoid", kernel_regularizer="l2",
                                                                   lora_rank=2), None),
}


def lora_model(what: str, dtype: str):
    """A one-layer model named "lora" with LoRA enabled, every variable N(0, 1) — the factors too: Keras starts
    lora_kernel_b at zeros, which would make the LoRA term vanish and the test prove nothing."""
    shape, make, enable = LORA_CASES[what]
    made = make()
    layer = type(made).from_config({**made.get_config(), "dtype": dtype, "name": "lora"})
    model = keras.Sequential([keras.Input(shape, dtype=dtype), layer])
    if enable is not None:
        layer.enable_lora(**enable)
    assert layer.lora_enabled
    assign_normal(layer.weights, 31)
    return model


def merged_twin(model, lora: bool = True):
    """The same layer in float64 without LoRA, its kernel kernel + (alpha / rank) · (a.reshape(−1, r) @ b)
    reshaped (Keras' test_enable_lora_with_alpha), in float64; lora=False: the base kernel alone."""
    layer = model.layers[-1]
    values = {v.path.split("/")[-1]: np.asarray(v, np.float64) for v in layer.weights}
    kernel, a, b = values["kernel"], values["lora_kernel_a"], values["lora_kernel_b"]
    delta = (a.reshape(-1, layer.lora_rank) @ b).reshape(kernel.shape)
    config = {k: v for k, v in layer.get_config().items() if k not in ("lora_rank", "lora_alpha")}
    plain = type(layer).from_config({**config, "dtype": "float64"})
    twin = keras.Sequential([keras.Input(model.input_shape[1:], dtype="float64"), plain])
    plain.kernel.assign(kernel + lora * (layer.lora_alpha / layer.lora_rank) * delta)
    plain.bias.assign(values["bias"])
    return twin


@pytest.mark.parametrize("what", list(LORA_CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_lora_layer_is_its_merged_kernel(what, dtype):
    # the net applies kernel + (alpha/rank)·a@b: equal to the float64 layer carrying that kernel, within the net's
    # dtype's layer tolerance, and to the Keras LoRA model itself (from_keras's self-check passes too); the LoRA
    # term moves the output by O(1), so a net that read the stored kernel alone would be far outside both
    model = lora_model(what, dtype)
    x = np.random.default_rng(32).normal(size=(3, *model.input_shape[1:])).astype(dtype)
    exact, base = keras_outputs(merged_twin(model), x), keras_outputs(merged_twin(model, lora=False), x)
    scale = float(np.abs(exact).max())
    assert np.abs(exact - base).max() > 0.1 * scale, "the LoRA term must matter for the test to mean anything"
    for sparse in (False, True):
        actual = from_keras(model, sparse=sparse).predict(x)
        assert actual.dtype == np.dtype(dtype)
        assert_within(actual, exact, RTOL[dtype] * scale, f"{what}, {dtype} (sparse={sparse}) vs the merged kernel")
        # Keras forms a@b in float32 even in a float64 model (the factors are float32 variables)
        keras_rtol = tol.LAYER_F32_RTOL if dtype == "float32" else tol.KERAS_FLOAT32_INSIDE_F64
        assert_within(actual, keras_outputs(model, x), keras_rtol * scale, f"{what}, {dtype} vs Keras' LoRA model")


def test_model_variables_merges_lora_in_float64_once():
    # the one dict every translation reads: a float32 model's merged kernel is float64 (rounded once, later, to
    # the net's dtype by Source.param); the factors and the other variables are as extract_variables gives them
    model = lora_model("conv2d kernel 3 stride 1", "float32")
    variables = model_variables(model)
    values = {v.path.split("/")[-1]: np.asarray(v, np.float64) for v in model.layers[-1].weights}
    kernel = variables["lora/kernel"]
    assert kernel.dtype == np.float64 and kernel.shape == (3, 3, 4, 6)
    expected = values["kernel"] + (2 / 2) * (values["lora_kernel_a"].reshape(-1, 2) @ values["lora_kernel_b"]
                                             ).reshape(3, 3, 4, 6)
    assert_within(kernel, expected, 4 * tol.EPS64 * np.abs(expected).max(), "merged kernel")
    assert_exact(variables["lora/bias"], np.asarray(model.layers[-1].bias), "bias")


def quantize(model, mode, config=None):
    """model.quantize(mode, config) without Keras' warning for every layer that has no quantized form."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Layer .* does not have a `quantize` method", category=UserWarning)
        model.quantize(mode, config=config)
    return model


WEIGHT_ONLY = {
    "int4 (default: blocks of 128)": ("int4", None),
    "int4 per channel": (None, Int4QuantizationConfig(block_size=-1)),
    "int4 blocks of 64": (None, Int4QuantizationConfig(block_size=64)),
    "int8, no activation quantizer": (None, Int8QuantizationConfig(activation_quantizer=None)),
}


@pytest.mark.parametrize("what", list(WEIGHT_ONLY))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_weight_only_quantized_dense_is_the_matrix_keras_applies(what, dtype):
    # Keras' int4 default and int8 without an activation quantizer leave the inputs alone: the layer is a linear
    # map, q / scale or (q − zero)·scale by block. Its own call on the identity gives that matrix as Keras
    # computes it (each entry one product: exact, then one rounding), bit for bit the net's; 63 units pack into
    # 32 bytes a row (the odd nibble), 100 inputs make a partial last block of 64
    mode, config = WEIGHT_ONLY[what]
    keras.utils.set_random_seed(33)
    layer = L.Dense(63, use_bias=False, dtype=dtype, name="q")
    model = quantize(keras.Sequential([keras.Input((100,), dtype=dtype), layer]), mode, config)
    assert layer.quantization_mode == (mode or config.mode)
    W = from_keras(model).layers[0].W
    assert_exact(W, np.asarray(layer(np.eye(100, dtype=dtype))), f"{what} {dtype}: the net's matrix")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_cnn_with_an_int4_dense_converts_and_equals_keras(dtype):
    # model.quantize("int4") on a CNN: the Dense layers quantized (the conv has no quantized form), the net equal
    # to Keras within the dtype's layer tolerance; before this the packed kernel broke the translation
    keras.utils.set_random_seed(34)
    model = keras.Sequential([keras.Input((6, 6, 2), dtype=dtype), L.Conv2D(3, 3, dtype=dtype, name="conv"),
                              L.Flatten(dtype=dtype), L.Dense(9, activation="relu", dtype=dtype, name="hidden"),
                              L.Dense(4, dtype=dtype, name="out")])
    assign_normal(model.weights, 35)
    quantize(model, "int4")
    assert [layer.quantization_mode for layer in model.layers] == [None, None, "int4", "int4"]
    x = np.random.default_rng(36).normal(size=(3, 6, 6, 2)).astype(dtype)
    expected = keras_outputs(model, x)
    assert_within(from_keras(model).predict(x), expected, RTOL[dtype] * np.abs(expected).max(), f"int4 CNN {dtype}")


@pytest.mark.parametrize("block_size", [64, None], ids=["blocks of 64", "per channel"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_int4_with_lora_is_dequantized_then_merged(block_size, dtype):
    # Keras' test_int4_block_size_with_lora: int4 first, LoRA on top; its call adds (alpha/rank)·(x @ a) @ b to
    # the dequantized product, our kernel is dequantized + (alpha/rank)·a@b (a float64 Keras layer forms x @ a in
    # float64 here: the float64 tolerance holds)
    layer = L.Dense(64, dtype=dtype, name="q")
    model = keras.Sequential([keras.Input((128,), dtype=dtype), layer])
    layer.quantize("int4", config=Int4QuantizationConfig(block_size=block_size))
    layer.enable_lora(rank=4)
    rng = np.random.default_rng(37)
    for factor in (layer.lora_kernel_a, layer.lora_kernel_b):
        factor.assign(rng.normal(size=factor.shape))
    x = rng.normal(size=(2, 128)).astype(dtype)
    expected = keras_outputs(model, x)
    assert_within(from_keras(model).predict(x), expected, RTOL[dtype] * np.abs(expected).max(), f"int4 + LoRA {dtype}")


REFUSED = {
    "int8 (inputs rounded per row)": ("int8", None, r"Keras' int8 call rounds the layer's inputs to int8"),
    "float8": ("float8", None, r"Keras' float8 call rounds the layer's inputs and kernel to float8_e4m3fn"),
    "int4 with an activation quantizer": (None, Int4QuantizationConfig(block_size=-1, activation_quantizer=(
        AbsMaxQuantizer(axis=-1, value_range=(-8, 7), output_dtype="int8"))), r"this int4 layer quantizes its inputs"),
    "gptq": ("gptq", GPTQConfig(dataset=None, tokenizer=None), r"GPTQ is weight-only, but"),
    "awq": ("awq", AWQConfig(dataset=None, tokenizer=None), r"AWQ is weight-only, but"),
}


@pytest.mark.parametrize("what", list(REFUSED))
def test_a_quantized_call_that_is_not_linear_is_refused_by_name_before_any_translation(what, monkeypatch):
    # int8's default and float8 quantize the layer's inputs: no matrix reproduces that (int8 was off by ~143 of
    # the output's scale, float8 by 2–3 %); GPTQ/AWQ kernels are not read. Refused in the graph walk, before the
    # conv in front of the Dense layer is translated, naming the layer, its type and mode, and what to do
    mode, config, why = REFUSED[what]
    model = keras.Sequential([keras.Input((5, 5, 1)), L.Conv2D(2, 3, name="conv"), L.Flatten(),
                              L.Dense(4, name="dense")])
    if mode in ("gptq", "awq"):   # calibration needs a token dataset: the layer as quantize() builds it
        model.layers[-1].quantize(mode, config=config)
    else:
        quantize(model, mode, config)
    monkeypatch.setitem(TRANSLATIONS, "Conv2D", lambda src: pytest.fail("a translation ran"))
    with pytest.raises(ValueError, match=rf"^layer 'dense' of type Dense is quantized \('{mode or config.mode}'\): "
                                         rf"{why}.*; convert the float model \(before model\.quantize\(\.\.\.\)\)"):
        from_keras(model)
