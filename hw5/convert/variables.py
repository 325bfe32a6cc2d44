"""What the converter reads of a Keras model, and what it refuses — for every layer, before any translation runs.

`model_variables(model)` is the one dict every translation's `src.param(...)` reads (hw5.convert.graph.translate
builds it once): `extract_variables(model)` (the weights and BatchNorm's moving statistics), with the kernel of

    a LoRA layer (`layer.lora_enabled`: Dense, Conv1D, Conv2D; Keras' `kernel` property)
        kernel + (lora_alpha / lora_rank) · lora_kernel_a @ lora_kernel_b
        (a conv's factor a is (kh, kw, C_in/g, r): the matmul broadcasts over the taps, as Keras' does)
    a weight-only quantized Dense (no `inputs_quantizer`: Keras' int4 default, int8 with
    Int8QuantizationConfig(activation_quantizer=None)), the map Keras' _int8_call / _int4_call compute
        int8, int4 per channel:  q / kernel_scale                  (one scale per unit; int4 unpacked by
        int4 in blocks:          (q − kernel_zero[g]) · kernel_scale[g],  g = g_idx   keras.quantizers.unpack_int4)
        and then LoRA on top (those calls add (alpha/rank) · (x @ a) @ b to the dequantized product)

computed in float64 from the stored variables (integers and float32/float64 numbers: exact, or one rounding of
a product) and rounded once, to the net's dtype, by Source.param.

`refuse_quantized(model)` refuses each layer whose quantized call is not a linear map, naming the layer, its type
and the mode: Keras' int8 default (and any activation quantizer) rounds the layer's *inputs* per row to int8
(AbsMaxQuantizer(axis=-1): x ↦ round(127·x / max|x_row|), then divides by that row's scale); float8 quantizes and
dequantizes inputs and kernel to float8_e4m3fn (x ↦ fp8(x / scale)·scale). No matrix reproduces a rounding of
its input. GPTQ and AWQ are weight-only, but their packed, grouped and reordered kernels are not read here.
"""
from __future__ import annotations

import numpy as np

from hw5.homework.weights import named_arrays


def extract_variables(model) -> dict[str, np.ndarray]:
    """`extract_weights` (hw5.homework.weights) plus the state that is not trained by gradients, named the same way.

    That state is BatchNormalization's `<layer>/moving_mean` and `<layer>/moving_variance` (what the
    layer uses at inference), and the weights of frozen layers. A model without any variables (only
    pooling, say) gives {}.
    """
    if getattr(model, "trainable_variables", None) is None:
        raise TypeError(f"model must be a Keras model with trainable_variables, got {type(model).__name__}")
    return named_arrays([*model.trainable_variables, *model.non_trainable_variables])


WEIGHT_ONLY = ("int8", "int4")   # modes that are a linear map when the layer quantizes no input
DEQUANTIZED = ("Dense",)         # the quantizable layer types whose weight-only kernel is read (dequantized)
LINEAR = "which is not a linear map: no matrix reproduces it exactly"
# why each mode cannot be converted exactly (the refusal's message)
WHY = {
    "int8": f"Keras' int8 call rounds the layer's inputs to int8 (by default per row: x ↦ round(127·x / "
            f"max|x_row|)) before the product, {LINEAR}",
    "int4": f"this int4 layer quantizes its inputs too (an activation_quantizer) before the product, {LINEAR}",
    "float8": f"Keras' float8 call rounds the layer's inputs and kernel to float8_e4m3fn (x ↦ fp8(x / scale)·scale) "
              f"before the product, {LINEAR}",
    "gptq": "GPTQ is weight-only, but its packed, grouped and reordered (g_idx) kernel is not read by the converter",
    "awq": "AWQ is weight-only, but its packed, grouped and rescaled kernel is not read by the converter",
}


def quantization_refusal(layer) -> str | None:
    """Why `layer`'s quantized call cannot be converted exactly, or None: not quantized, or a weight-only
    int8/int4 Dense layer (no inputs_quantizer), which model_variables dequantizes."""
    mode = getattr(layer, "quantization_mode", None)
    if mode is None:
        return None
    kind = type(layer).__name__
    if mode in WEIGHT_ONLY and getattr(layer, "inputs_quantizer", "unknown") is None:
        return None if kind in DEQUANTIZED else f"a weight-only {kind} kernel is not read (only Dense's)"
    return WHY.get(mode, f"the quantization mode {mode!r} is not known to the converter")


def refuse_quantized(model) -> None:
    """Raise a ValueError for the first layer that quantization_refusal refuses, naming it, its type and mode."""
    for layer in model.layers:
        why = quantization_refusal(layer)
        if why is not None:
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} is quantized "
                             f"({layer.quantization_mode!r}): {why}; convert the float model (before "
                             f"model.quantize(...)), or one quantized weight-only: int4 (model.quantize('int4'), "
                             f"its default) or int8 with Int8QuantizationConfig(activation_quantizer=None)")


def model_variables(model) -> dict[str, np.ndarray]:
    """extract_variables(model), each LoRA or weight-only quantized layer's "<layer>/kernel" replaced by the
    kernel its call applies, in float64 (see the module)."""
    variables = extract_variables(model)
    for layer in model.layers:
        quantized = getattr(layer, "quantization_mode", None) is not None
        lora = bool(getattr(layer, "lora_enabled", False))
        if not (quantized or lora):
            continue
        key = f"{layer.name}/kernel"
        if key not in variables:
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has LoRA or quantization but no "
                             f"variable 'kernel' to apply it to")
        kernel = dequantized_kernel(layer, variables) if quantized else variables[key].astype(np.float64)
        if lora:
            a, b = (variables[f"{layer.name}/{v}"].astype(np.float64) for v in ("lora_kernel_a", "lora_kernel_b"))
            kernel = kernel + (layer.lora_alpha / layer.lora_rank) * (a @ b)
        variables[key] = kernel
    return variables


def dequantized_kernel(layer, variables: dict) -> np.ndarray:
    """The float64 (inputs, units) kernel of a weight-only int8/int4 Dense layer (quantization_refusal None)."""
    import keras

    why = quantization_refusal(layer)
    if why is not None:
        raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__}: {why}")
    get = lambda v: variables[f"{layer.name}/{v}"]  # noqa: E731
    q = get("kernel")
    if layer.quantization_mode == "int4":         # (inputs, ⌈units/2⌉) two nibbles a byte → (inputs, units)
        q = np.asarray(keras.quantizers.unpack_int4(q, layer.units, axis=-1))
    q, scale = q.astype(np.float64), get("kernel_scale").astype(np.float64)
    if f"{layer.name}/g_idx" in variables:        # int4 in blocks of rows: scale, zero (blocks, units)
        g = get("g_idx").astype(np.int64)
        return (q - get("kernel_zero").astype(np.float64)[g]) * scale[g]
    return q / scale.reshape(-1)                  # one scale per unit (Keras divides the product's columns)
