"""The activations by name and the smooth layers: their translations (Activation, Softmax, ELU), ACTIVATIONS
(a Keras activation name -> its NumPy layer, for every `activation=`), the NumPy layers beyond hw5.convert.layers'
ReLU, Softmax, Sigmoid and Tanh, and their rules (hw5.convert.rules); the Layer, Group, RMS and Unit
normalizations are hw5.convert.normalization's.
In plain NumPy, stable at the extremes (no overflow warnings: every exp sees only non-positive arguments, or is
clipped where its result saturates); each layer maps (N, features) to a new (N, features) array.

    Elementwise(kind)   the activation names: relu6, leaky_relu (α = 0.2), elu, selu, gelu (erf; `gelu_tanh`
                        the tanh form), silu/swish x·σ(x), hard_sigmoid relu6(x + 3)/6, hard_silu/hard_swish
                        x·hard_sigmoid(x), softplus, softsign, exponential, mish x·tanh(softplus(x))
    AlphaELU(α)         ELU with α ≠ 1
    LogSoftmax          the `log_softmax` name: z − max − log Σ exp(z − max) over the last axis (ONNX's LogSoftmax)

ONNX: Clip, LeakyRelu where they compute the name; otherwise the formula written out — elu and selu as
Where(x > 0, x, α·(Exp(Min(x, 0)) − 1)) (· scale), gelu 0.5·x·(1 + Erf(x/√2)) (Erf in float32 in a float64 net:
onnxruntime has no float64 kernel), softsign x / (1 + Abs(x)) (no float64 Softsign).
Lowering: relu6, leaky_relu and hard_sigmoid as sums of ramps (relu6(x) = relu(x) − relu(x − 6),
leaky(x) = relu(x) − α·relu(−x), hard_sigmoid(x) = relu(x + 3)/6 − relu(x − 3)/6); the rest refused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from hw5.convert.affine import IDENTITY, ramps
from hw5.convert.layers import ReLU, Sigmoid, Softmax, Tanh
from hw5.convert.registry import Source, Translation, register
from hw5.convert.rules import BOUND, LOWER, ONNX, not_piecewise_linear, refuse_lowering, rule


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))   # log(1 + eᕽ) without overflow


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


# tf.nn.leaky_relu takes its slope as a float32 attribute: Keras' α is float32(α) even in float64
LEAKY_DEFAULT = float(np.float32(0.2))
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def _gelu_tanh(x):
    c = np.clip(x, -20, 20)      # tanh is ±1 beyond |x| ≈ 5; the clip keeps x³ from overflowing
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (c + 0.044715 * c ** 3)))


def _hard_sigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


FUNCTIONS = {
    "relu6": lambda x: np.clip(x, 0, 6), "leaky_relu": lambda x: np.where(x >= 0, x, LEAKY_DEFAULT * x),
    "elu": _elu, "selu": lambda x: SELU_SCALE * _elu(x, SELU_ALPHA), "gelu": _gelu, "gelu_tanh": _gelu_tanh,
    "silu": lambda x: x * _sigmoid(x), "swish": lambda x: x * _sigmoid(x),
    "hard_sigmoid": _hard_sigmoid, "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x), "softplus": _softplus, "softsign": lambda x: x / (1 + np.abs(x)),
    # exp saturates just below the dtype's largest number instead of overflowing to inf (Keras: inf)
    "exponential": lambda x: np.exp(np.minimum(x, np.log(np.finfo(x.dtype).max) * (1 - 1e-6))),
    "mish": lambda x: x * np.tanh(_softplus(x)),
}


@dataclass
class Elementwise:
    """An activation by its Keras name (FUNCTIONS), applied to every neuron."""
    kind: str
    name: str
    out_shape: tuple

    def __call__(self, x):
        return FUNCTIONS[self.kind](x).astype(x.dtype, copy=False)


@dataclass
class LogSoftmax:
    """Keras' log_softmax over the grid's last axis: z − max − log Σ exp(z − max), per group of the last axis."""
    name: str
    out_shape: tuple

    def __call__(self, x):
        groups = x.reshape(len(x), -1, self.out_shape[-1])
        shifted = groups - groups.max(axis=-1, keepdims=True)     # ≤ 0: exp never overflows, the sum is ≥ 1
        return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).reshape(len(x), -1)


# a Keras activation name -> fn(name, out_shape) -> its NumPy layer ("linear" is none)
ACTIVATIONS = {"relu": ReLU, "softmax": Softmax, "sigmoid": Sigmoid, "tanh": Tanh, "log_softmax": LogSoftmax,
               **{kind: partial(Elementwise, kind) for kind in FUNCTIONS}}


def activation_layers(src: Source, activation, name: str, shape) -> list:
    """The NumPy layer of a Keras activation by name, as a list ([] for linear)."""
    if activation in ("linear", None):
        return []
    if activation not in ACTIVATIONS:
        raise src.refuse(f"activation {activation!r} is not supported ({', '.join(['linear', *sorted(ACTIVATIONS)])})")
    return [ACTIVATIONS[activation](name, shape)]


@register("Activation")
def _activation_layer(src: Source) -> Translation:
    return activation_layers(src, src.config["activation"], src.name, src.shape), src.shape


@register("Softmax")
def _softmax(src: Source) -> Translation:
    axis = src.config["axis"]   # an int or a list of ints
    if axis not in (-1, len(src.shape), [-1], [len(src.shape)]):
        raise src.refuse(f"softmax over axis {axis!r} is not supported (the last axis)")
    return [Softmax(src.name, src.shape)], src.shape


@register("ELU")
def _elu_layer(src: Source) -> Translation:
    alpha = src.config["alpha"]
    return [Elementwise("elu", src.name, src.shape) if alpha == 1.0 else
            AlphaELU(alpha, src.name, src.shape)], src.shape


@dataclass
class AlphaELU:
    alpha: float
    name: str
    out_shape: tuple

    def __call__(self, x):
        return _elu(x, self.alpha).astype(x.dtype, copy=False)


# ---- ONNX: ONNX's own op where it computes what the layer computes, else the layer's formula written out with
# constants in the net's dtype (an op's float attribute would round a float64 constant to float32) ---------------

def elu(e, x: str, alpha: float) -> str:
    negative = e.node("Sub", [e.node("Exp", [e.node("Min", [x, e.const(0, "zero")])]), e.const(1, "one")])
    scaled = e.node("Mul", [e.const(alpha, "alpha"), negative])
    return e.node("Where", [e.node("Greater", [x, e.const(0, "zero")]), x, scaled])


def sigmoid_times(e, x: str) -> str:
    return e.node("Mul", [x, e.node("Sigmoid", [x])])


def hard_sigmoid(e, x: str) -> str:
    clipped = e.clip(e.node("Add", [x, e.const(3, "three")]), 0, 6)
    return e.node("Div", [clipped, e.const(6, "six")])


def softplus(e, x: str) -> str:   # max(x, 0) + log(1 + exp(−|x|)): no overflow
    tail = e.node("Log", [e.node("Add", [e.const(1, "one"), e.node("Exp", [e.node("Neg", [e.node("Abs", [x])])])])])
    return e.node("Add", [e.node("Relu", [x]), tail])


def erf(e, x: str) -> str:
    """Erf; onnxruntime has no float64 Erf kernel, so a float64 net takes it in float32 (float32-accurate
    there, as Keras' own gelu in a float64 model)."""
    if e.dtype != np.float64:
        return e.node("Erf", [x])
    return e.cast(e.node("Erf", [e.cast(x, np.float32)]), np.float64)


def gelu(e, x: str) -> str:
    erf_ = erf(e, e.node("Div", [x, e.const(math.sqrt(2), "sqrt2")]))
    return e.node("Mul", [e.node("Mul", [e.const(0.5, "half"), x]), e.node("Add", [e.const(1, "one"), erf_])])


def gelu_tanh(e, x: str) -> str:
    c = e.clip(x, -20, 20)
    cube = e.node("Mul", [e.const(0.044715, "k"), e.node("Pow", [c, e.const(3, "three")])])
    inner = e.node("Tanh", [e.node("Mul", [e.const(math.sqrt(2 / math.pi), "k"), e.node("Add", [c, cube])])])
    return e.node("Mul", [e.node("Mul", [e.const(0.5, "half"), x]), e.node("Add", [e.const(1, "one"), inner])])


def exponential(e, x: str) -> str:
    cap = np.log(np.finfo(e.dtype).max) * (1 - 1e-6)
    return e.node("Exp", [e.node("Min", [x, e.const(cap, "cap")])])


FORMULAS = {   # Elementwise.kind -> fn(emitter, x) -> output, as hw5.convert.activations.FUNCTIONS computes it
    "relu6": lambda e, x: e.clip(x, 0, 6),
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


@rule(ONNX, Elementwise)
def elementwise_nodes(e, layer, xs):
    if layer.kind not in FORMULAS:
        raise ValueError(f"layer {layer.name!r}: activation {layer.kind!r} has no ONNX export")
    return e.node("Identity", [FORMULAS[layer.kind](e, xs[0])], layer.name)


@rule(ONNX, AlphaELU)
def alpha_elu_nodes(e, layer, xs):
    return e.node("Identity", [elu(e, xs[0], layer.alpha)], layer.name)


# ---- the Dense+ReLU lowering: the activation names of the ReLU family as sums of ramps ---------------------

ELEMENTWISE = {   # the activation names of the family (hw5.convert.activations.FUNCTIONS)
    "relu6": ([IDENTITY, (-1.0, 1.0, -6.0)], True),
    "leaky_relu": ([IDENTITY, (-LEAKY_DEFAULT, -1.0, 0.0)], False),
    "hard_sigmoid": ([(1 / 6, 1.0, 3.0), (-1 / 6, 1.0, -3.0)], True),
}




@rule(LOWER, Elementwise)
def elementwise_lowering(state, layer, x):
    if layer.kind not in ELEMENTWISE:
        raise refuse_lowering(layer)
    return (yield from ramps(state, layer, x, *ELEMENTWISE[layer.kind]))


rule(LOWER, AlphaELU, LogSoftmax)(not_piecewise_linear)


@rule(ONNX, LogSoftmax)
def log_softmax_nodes(e, layer, xs):
    groups = e.node("Reshape", [xs[0], e.const([0, -1, layer.out_shape[-1]], "shape", np.int64)])
    return e.flat(e.node("LogSoftmax", [groups], layer.name, axis=-1))


@rule(BOUND, LogSoftmax)
def log_softmax_bound(layer, mag, a, out, e, c):
    """z_i − lse(z), lse 1-Lipschitz in the max norm: |Δ| ≤ e_i + max_j e_j ≤ 2·max_j e_j; its own rounding: the
    shift, C exponentials (ulps each) summed (C·eps of a sum ≥ 1), the log and the subtraction:
    (C + ulps + 2)·eps·(1 + |out|)."""
    groups = e.reshape(len(e), -1, layer.out_shape[-1]).max(axis=-1, keepdims=True)
    own = (layer.out_shape[-1] + c.ulps + 2) * c.eps * (1 + np.abs(out.reshape(groups.shape[0], -1,
                                                                                  layer.out_shape[-1])))
    return (2 * groups + own).reshape(len(e), -1)
