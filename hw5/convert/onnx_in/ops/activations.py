"""The elementwise ops and softmax, as the NumPy layers the Keras front end makes (their rules come with them).

    Relu → ReLU; LeakyRelu(α) → ClippedReLU(α); PRelu(slope) → PReLU (the slope broadcast to the tensor);
    Clip(0, b) → ClippedReLU(max b) (ReLU6); Clip(a, b) → x − a, ClippedReLU(max b − a), + a;
    HardSigmoid(α, β) → αx + β, ClippedReLU(max 1); Sigmoid, Tanh; Elu(α) (ELU or AlphaELU); Selu, Softplus,
    Softsign, HardSwish → Elementwise (Keras' functions; Selu's α and γ must be ONNX's defaults)
    Softmax, LogSoftmax over the last axis (opset ≥ 13), or before opset 13 over the sample flattened from
    `axis` on (ONNX's old 2-D coercion): groups of the trailing axes
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.activations import SELU_ALPHA, SELU_SCALE, AlphaELU, Elementwise, LogSoftmax
from hw5.convert.layers import ReLU, Scale, Sigmoid, Softmax, Tanh
from hw5.convert.onnx_in.registry import register_op
from hw5.convert.relus import ClippedReLU, PReLU

SELU_RTOL = 1e-6   # ONNX's Selu defaults are Keras' constants rounded to float32 (relative error < 6e-8)


def _shift(src, d: float, t: float, name: str) -> Scale:
    n = math.prod(src.shape)
    return Scale(np.full(n, d, src.dtype), np.full(n, t, src.dtype), name, src.shape)


@register_op("Relu")
def _relu(src):
    return [ReLU(src.name, src.shape)], src.shape


@register_op("LeakyRelu")
def _leaky(src):
    return [ClippedReLU(None, float(src.config.get("alpha", 0.01)), 0.0, src.name, src.shape)], src.shape


@register_op("PRelu")
def _prelu(src):
    slope = np.asarray(src.const(1, "slope"), np.float64)
    if slope.ndim == len(src.shape) + 1 and slope.shape[0] == 1:
        slope = slope[0]
    if src.opset < 7 and slope.ndim == 1 and len(src.shape) > 1 and slope.size == src.shape[0]:
        slope = slope.reshape(-1, *[1] * (len(src.shape) - 1))   # PRelu-6: a 1-D slope is one a channel
    try:
        alpha = np.broadcast_to(slope, src.shape).ravel()
    except ValueError:
        raise src.refuse(f"its slope {slope.shape} does not broadcast to the tensor's {src.shape}") from None
    return [PReLU(alpha.astype(src.dtype), src.name, src.shape)], src.shape


def _bound(src, k: int, attr: str):
    if src.opset < 11:
        value = src.config.get(attr)
    else:
        value = src.const(k, attr)
    return None if value is None else float(np.asarray(value))


@register_op("Clip")
def _clip(src):
    low, high = _bound(src, 1, "min"), _bound(src, 2, "max")
    low = None if low is not None and low <= -np.finfo(np.float32).max else low
    high = None if high is not None and high >= np.finfo(np.float32).max else high
    if low is None and high is None:
        return [], src.shape
    if low == 0:
        return [ClippedReLU(high, 0.0, 0.0, src.name, src.shape)], src.shape
    if low is None:
        raise src.refuse("Clip with a maximum and no minimum is not supported")
    return [_shift(src, 1.0, -low, f"{src.name}/shift"),
            ClippedReLU(None if high is None else high - low, 0.0, 0.0, f"{src.name}/clip", src.shape),
            _shift(src, 1.0, low, src.name)], src.shape


@register_op("HardSigmoid")
def _hard_sigmoid(src):
    alpha, beta = float(src.config.get("alpha", 0.2)), float(src.config.get("beta", 0.5))
    return [_shift(src, alpha, beta, f"{src.name}/affine"), ClippedReLU(1.0, 0.0, 0.0, src.name, src.shape)], \
        src.shape


@register_op("Sigmoid", "Tanh")
def _squash(src):
    return [(Sigmoid if src.op == "Sigmoid" else Tanh)(src.name, src.shape)], src.shape


@register_op("Elu")
def _elu(src):
    alpha = float(src.config.get("alpha", 1.0))
    return [Elementwise("elu", src.name, src.shape) if alpha == 1.0 else AlphaELU(alpha, src.name, src.shape)], \
        src.shape


@register_op("Selu", "Softplus", "Softsign", "HardSwish")
def _elementwise(src):
    if src.op == "Selu":
        given = float(src.config.get("alpha", SELU_ALPHA)), float(src.config.get("gamma", SELU_SCALE))
        if not np.allclose(given, (SELU_ALPHA, SELU_SCALE), rtol=SELU_RTOL, atol=0):
            raise src.refuse(f"alpha, gamma {given} differ from SELU's constants (only those are supported)")
    return [Elementwise(src.op.lower().replace("hardswish", "hard_swish"), src.name, src.shape)], src.shape


@register_op("Softmax", "LogSoftmax")
def _softmax(src):
    rank = len(src.shape)
    axis = int(src.config.get("axis", -1 if src.opset >= 13 else 1))
    axis = axis + rank + 1 if axis < 0 else axis
    if axis == 0:
        raise src.refuse("softmax over the batch axis")
    kind = Softmax if src.op == "Softmax" else LogSoftmax
    if src.opset < 13:   # over the sample flattened from `axis` on
        groups = (math.prod(src.shape[:axis - 1]), math.prod(src.shape[axis - 1:]))
        return [kind(src.name, groups if axis > 1 else (groups[1],))], src.shape
    if axis != rank:
        raise src.refuse(f"softmax over axis {axis} of {rank + 1} (the last axis is supported)")
    return [kind(src.name, src.shape)], src.shape
