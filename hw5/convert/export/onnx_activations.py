"""The ONNX nodes of the non-linear elementwise NumPy layers (hw5.convert.activations), registered in
hw5.convert.export.onnx_ops.EXPORTS. ONNX's own op where it computes what the layer computes, else the
layer's formula written out with constants in the net's dtype (an op's float attribute would round a
float64 constant to float32):

    ReLU, Sigmoid, Tanh, PReLU(α)      Relu, Sigmoid, Tanh, PRelu
    ClippedReLU(max, α, θ)             θ = 0, α = 0: Clip(x, 0, max) (ReLU6); max = None, θ = 0: LeakyRelu(α);
                                       else its rule: Where(x > θ, x, 0), Min(·, max), − α·Relu(θ − x)
    relu6, leaky_relu, softsign        Clip, LeakyRelu, x / (1 + Abs(x)) (onnxruntime has no float64 Softsign)
    elu, selu, ELU(α)                  Where(x > 0, x, α·(Exp(Min(x, 0)) − 1)) (· scale)
    gelu                               0.5·x·(1 + Erf(x/√2)), Erf in float32 in a float64 net (no float64 kernel)
    gelu_tanh                          0.5·x·(1 + Tanh(√(2/π)·(c + 0.044715·c³))), c = Clip(x, −20, 20)
    silu, swish, hard_sigmoid, hard_silu, hard_swish, softplus, exponential, mish   their formulas
"""
from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto

from hw5.convert.activations import LEAKY_DEFAULT, SELU_ALPHA, SELU_SCALE, AlphaELU, ClippedReLU, Elementwise, PReLU
from hw5.convert.export.onnx_ops import Emitter, exports
from hw5.convert.layers import ReLU, Sigmoid, Tanh


@exports(ReLU, Sigmoid, Tanh)
def own_op(e: Emitter, layer, xs):
    return e.node({ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}[type(layer)], xs, layer.name)


@exports(PReLU)
def prelu(e: Emitter, layer, xs):
    return e.node("PRelu", [xs[0], e.const(layer.alpha, f"{layer.name}/alpha")], layer.name)


@exports(ClippedReLU)
def clipped_relu(e: Emitter, layer, xs):
    x, top, slope, theta = xs[0], layer.max_value, layer.negative_slope, layer.threshold
    cut = theta if layer.cut is None else layer.cut
    if theta == 0 and slope == 0 and top is not None:
        return e.node("Clip", [x, e.const(0, "zero"), e.const(top, "max")], layer.name)
    if theta == 0 and top is None and float(np.float32(slope)) == slope:
        return e.node("LeakyRelu", [x], layer.name, alpha=float(slope))
    pos = (e.node("Where", [e.node("Greater", [x, e.const(cut, "cut")]), x, e.const(0, "zero")]) if theta != 0
           else e.node("Relu", [x]))
    if top is not None:
        pos = e.node("Min", [pos, e.const(top, "max")])
    if slope != 0:
        below = e.node("Relu", [e.node("Sub", [e.const(theta, "theta"), x])])
        pos = e.node("Sub", [pos, e.node("Mul", [e.const(slope, "slope"), below])])
    return e.node("Identity", [pos], layer.name)


def elu(e: Emitter, x: str, alpha: float) -> str:
    negative = e.node("Sub", [e.node("Exp", [e.node("Min", [x, e.const(0, "zero")])]), e.const(1, "one")])
    scaled = e.node("Mul", [e.const(alpha, "alpha"), negative])
    return e.node("Where", [e.node("Greater", [x, e.const(0, "zero")]), x, scaled])


def sigmoid_times(e: Emitter, x: str) -> str:
    return e.node("Mul", [x, e.node("Sigmoid", [x])])


def hard_sigmoid(e: Emitter, x: str) -> str:
    clipped = e.node("Clip", [e.node("Add", [x, e.const(3, "three")]), e.const(0, "zero"), e.const(6, "six")])
    return e.node("Div", [clipped, e.const(6, "six")])


def softplus(e: Emitter, x: str) -> str:   # max(x, 0) + log(1 + exp(−|x|)): no overflow
    tail = e.node("Log", [e.node("Add", [e.const(1, "one"), e.node("Exp", [e.node("Neg", [e.node("Abs", [x])])])])])
    return e.node("Add", [e.node("Relu", [x]), tail])


def erf(e: Emitter, x: str) -> str:
    """Erf; onnxruntime has no float64 Erf kernel, so a float64 net takes it in float32 (float32-accurate
    there, as Keras' own gelu in a float64 model)."""
    if e.dtype != np.float64:
        return e.node("Erf", [x])
    narrow = e.node("Erf", [e.node("Cast", [x], to=TensorProto.FLOAT)])
    return e.node("Cast", [narrow], to=TensorProto.DOUBLE)


def gelu(e: Emitter, x: str) -> str:
    erf_ = erf(e, e.node("Div", [x, e.const(math.sqrt(2), "sqrt2")]))
    return e.node("Mul", [e.node("Mul", [e.const(0.5, "half"), x]), e.node("Add", [e.const(1, "one"), erf_])])


def gelu_tanh(e: Emitter, x: str) -> str:
    c = e.node("Clip", [x, e.const(-20, "lo"), e.const(20, "hi")])
    cube = e.node("Mul", [e.const(0.044715, "k"), e.node("Pow", [c, e.const(3, "three")])])
    inner = e.node("Tanh", [e.node("Mul", [e.const(math.sqrt(2 / math.pi), "k"), e.node("Add", [c, cube])])])
    return e.node("Mul", [e.node("Mul", [e.const(0.5, "half"), x]), e.node("Add", [e.const(1, "one"), inner])])


def exponential(e: Emitter, x: str) -> str:
    cap = np.log(np.finfo(e.dtype).max) * (1 - 1e-6)
    return e.node("Exp", [e.node("Min", [x, e.const(cap, "cap")])])


FORMULAS = {   # Elementwise.kind -> fn(emitter, x) -> output, as hw5.convert.activations.FUNCTIONS computes it
    "relu6": lambda e, x: e.node("Clip", [x, e.const(0, "zero"), e.const(6, "six")]),
    "leaky_relu": lambda e, x: e.node("LeakyRelu", [x], alpha=LEAKY_DEFAULT),
    "elu": lambda e, x: elu(e, x, 1.0),
    "selu": lambda e, x: e.node("Mul", [e.const(SELU_SCALE, "scale"), elu(e, x, SELU_ALPHA)]),
    "gelu": gelu, "gelu_tanh": gelu_tanh, "silu": sigmoid_times, "swish": sigmoid_times,
    "hard_sigmoid": hard_sigmoid, "hard_silu": lambda e, x: e.node("Mul", [x, hard_sigmoid(e, x)]),
    "hard_swish": lambda e, x: e.node("Mul", [x, hard_sigmoid(e, x)]),
    "softplus": softplus, "exponential": exponential,
    "softsign": lambda e, x: e.node("Div", [x, e.node("Add", [e.const(1, "one"), e.node("Abs", [x])])]),
    "mish": lambda e, x: e.node("Mul", [x, e.node("Tanh", [softplus(e, x)])]),
}


@exports(Elementwise)
def elementwise(e: Emitter, layer, xs):
    if layer.kind not in FORMULAS:
        raise ValueError(f"layer {layer.name!r}: activation {layer.kind!r} has no ONNX export")
    return e.node("Identity", [FORMULAS[layer.kind](e, xs[0])], layer.name)


@exports(AlphaELU)
def alpha_elu(e: Emitter, layer, xs):
    return e.node("Identity", [elu(e, xs[0], layer.alpha)], layer.name)
