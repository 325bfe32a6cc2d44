"""The activations: their translations (ReLU and its variants, LeakyReLU, PReLU, ELU, Activation, Softmax,
LayerNormalization), ACTIVATIONS (a Keras activation name -> its NumPy layer) and the layers beyond
hw5.convert.layers' ReLU, Softmax, Sigmoid and Tanh, in plain NumPy, stable at the extremes (no
overflow warnings: every exp sees only non-positive arguments, or is clipped where its result saturates).

    ReLU(max_value, negative_slope, threshold)   Keras' rule: x for x > θ (else 0 — or, with a slope α,
                                                 α·(x − θ)), then clipped at max_value
    LeakyReLU(α), PReLU(α per neuron), ELU(α)    layers; LayerNormalization per sample over its axes
    activation names: relu6, leaky_relu (α = 0.2), elu, selu, gelu (erf; `gelu_tanh` the tanh form),
    silu/swish x·σ(x), hard_sigmoid relu6(x + 3)/6, hard_silu/hard_swish x·hard_sigmoid(x), softplus,
    softsign, exponential, mish x·tanh(softplus(x))

Each layer maps (N, features) to a new (N, features) array.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from hw5.convert.layers import ReLU, Sigmoid, Softmax, Tanh
from hw5.convert.registry import Source, Translation, register


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


# a Keras activation name -> fn(name, out_shape) -> its NumPy layer ("linear" is none)
ACTIVATIONS = {"relu": ReLU, "softmax": Softmax, "sigmoid": Sigmoid, "tanh": Tanh,
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


@dataclass
class ClippedReLU:
    """Keras' ReLU(max_value, negative_slope α, threshold θ): x if x > θ, else α·(x − θ) (0 when α = 0);
    then min(·, max_value) on the positive part. `cut` is the θ of the comparison x > θ: Keras casts θ and
    max_value through float32 tensors there (ops.cast of a Python float), but not in α·(θ − x)."""
    max_value: float | None
    negative_slope: float
    threshold: float
    name: str
    out_shape: tuple
    cut: float | None = None        # None: θ itself

    def __call__(self, x):
        cut = self.threshold if self.cut is None else self.cut
        pos = np.where(x > cut, x, 0) if self.threshold != 0 else np.maximum(x, 0)
        if self.max_value is not None:
            pos = np.minimum(pos, self.max_value)
        if self.negative_slope != 0:
            pos = pos - self.negative_slope * np.maximum(self.threshold - x, 0)
        return pos.astype(x.dtype, copy=False)


@dataclass
class PReLU:
    alpha: np.ndarray     # (features,): the slope below 0 per neuron (broadcast over shared axes)
    name: str
    out_shape: tuple

    def __call__(self, x):
        return np.where(x >= 0, x, self.alpha * x)


@dataclass
class LayerNorm:
    """(x − mean) / √(var + ε) · γ + β per sample, the statistics over the grid axes `axes`."""
    axes: tuple           # grid axes (0-based, without the batch)
    gamma: np.ndarray | None
    beta: np.ndarray | None
    epsilon: float
    name: str
    out_shape: tuple

    def __call__(self, x):
        g = x.reshape(len(x), *self.out_shape)
        axes = tuple(a + 1 for a in self.axes)
        mean = g.mean(axis=axes, keepdims=True)
        var = ((g - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (g - mean) / np.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.reshape(len(x), -1).astype(x.dtype, copy=False)


@register("ReLU")
def _relu(src: Source) -> Translation:
    cfg = src.config
    if cfg["max_value"] is None and cfg["negative_slope"] == 0 and cfg["threshold"] == 0:
        return [ReLU(src.name, src.shape)], src.shape
    if cfg["max_value"] is None and cfg["threshold"] == 0:   # Keras calls tf.nn.leaky_relu: a float32 slope
        return [ClippedReLU(None, float(np.float32(cfg["negative_slope"])), 0.0, src.name, src.shape)], src.shape
    f32 = lambda v: None if v is None else float(np.float32(v))  # noqa: E731  (Keras' ops.cast of a float)
    return [ClippedReLU(f32(cfg["max_value"]), cfg["negative_slope"], cfg["threshold"], src.name, src.shape,
                        cut=f32(cfg["threshold"]))], src.shape


@register("LeakyReLU")
def _leaky_relu(src: Source) -> Translation:
    return [ClippedReLU(None, float(np.float32(src.config["negative_slope"])), 0.0, src.name, src.shape)], src.shape


@register("ELU")
def _elu_layer(src: Source) -> Translation:
    alpha = src.config["alpha"]
    return [Elementwise("elu", src.name, src.shape) if alpha == 1.0 else
            _AlphaELU(alpha, src.name, src.shape)], src.shape


@dataclass
class _AlphaELU:
    alpha: float
    name: str
    out_shape: tuple

    def __call__(self, x):
        return _elu(x, self.alpha).astype(x.dtype, copy=False)


AlphaELU = _AlphaELU   # the public name of ELU(α ≠ 1)'s layer (its class name stays: relu_only refuses it by name)


@register("PReLU")
def _prelu(src: Source) -> Translation:
    alpha = src.param("alpha")          # (grid) with 1 on the shared axes
    return [PReLU(np.broadcast_to(alpha, src.shape).ravel(), src.name, src.shape)], src.shape


@register("LayerNormalization")
def _layer_norm(src: Source) -> Translation:
    cfg, n = src.config, len(src.shape)
    axes = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
    axes = tuple(sorted((a - 1) if a > 0 else n + a for a in axes))
    if cfg.get("rms_scaling"):
        raise src.refuse("rms_scaling is not supported")
    along = [src.shape[a] if a in axes else 1 for a in range(n)]
    gamma, beta = src.param("gamma"), src.param("beta")
    return [LayerNorm(axes, None if gamma is None else gamma.reshape(along), None if beta is None else
                      beta.reshape(along), cfg["epsilon"], src.name, src.shape)], src.shape
