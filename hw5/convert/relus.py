"""The ReLU family's layers beyond the plain ReLU: their translations, NumPy layers and rules (hw5.convert.rules).

    ReLU(max_value, negative_slope α, threshold θ),   ClippedReLU: Keras' rule, x for x > θ (else 0 — or, with a
    LeakyReLU(α)                                      slope α, α·(x − θ)), then clipped at max_value
    PReLU                                             PReLU: α per neuron (broadcast over shared axes)

ONNX: ReLU6 (θ = 0, α = 0) as Clip(x, 0, max) (Max, Min in float64), LeakyRelu(α) (max = None, θ = 0, α a
float32), PRelu; otherwise the rule written out with constants in the net's dtype: Where(x > θ, x, 0),
Min(·, max), − α·Relu(θ − x).

Dense+ReLU lowering, exact, as sums of ramps f(x) = Σ w·relu(s·x + t) (hw5.convert.affine.ramps):

    ReLU(max_value=m)                     relu(x) − relu(x − m)                        (m = 6: ReLU6)
    LeakyReLU(α), ReLU(negative_slope=α)  relu(x) − α·relu(−x)
    ReLU(max_value=m, negative_slope=α)   relu(x) − relu(x − m) − α·relu(−x)
    PReLU (α per neuron)                  relu(x) − α ⊙ relu(−x)
    ReLU(threshold=θ > 0)                 Keras computes x for x > θ, else α·(x − θ): a jump of θ (of min(θ, m) with
                                          max_value m) at x = θ. A Dense+ReLU network is a continuous function, so
                                          none equals it: refused. With max_value=0 the jump is 0: −α·relu(θ − x).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw5.convert.affine import IDENTITY, ramps
from hw5.convert.layers import ReLU
from hw5.convert.registry import Source, Translation, register
from hw5.convert.rules import LOWER, ONNX, rule


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


@register("PReLU")
def _prelu(src: Source) -> Translation:
    alpha = src.param("alpha")          # (grid) with 1 on the shared axes
    return [PReLU(np.broadcast_to(alpha, src.shape).ravel(), src.name, src.shape)], src.shape


@rule(ONNX, PReLU)
def prelu_nodes(e, layer, xs):
    return e.node("PRelu", [xs[0], e.const(layer.alpha, f"{layer.name}/alpha")], layer.name)


@rule(ONNX, ClippedReLU)
def clipped_relu_nodes(e, layer, xs):
    x, top, slope, theta = xs[0], layer.max_value, layer.negative_slope, layer.threshold
    cut = theta if layer.cut is None else layer.cut
    if theta == 0 and slope == 0 and top is not None:
        return e.node("Identity", [e.clip(x, 0, top)], layer.name)
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


def clipped_ramps(layer: ClippedReLU):
    """(terms, f ≥ 0) of a ClippedReLU (see the module); ValueError for θ > 0 with a positive part."""
    m, alpha, theta = layer.max_value, layer.negative_slope, layer.threshold
    positive = m is None or m > 0            # max_value = 0 clips the positive part to 0
    if theta != 0 and positive:
        jump = theta if m is None else min(theta, m)
        raise ValueError(f"layer {layer.name!r} (ClippedReLU) is ReLU(threshold={theta:g}): Keras gives x for x > "
                         f"{theta:g} and {alpha:g}·(x − {theta:g}) below, a jump of {jump:g} at x = {theta:g}; a "
                         f"Dense+ReLU network is continuous and no such network equals it (threshold=0 lowers)")
    terms = []
    if positive:
        terms.append(IDENTITY)
        if m is not None:
            terms.append((-1.0, 1.0, -m))
    if alpha != 0:
        terms.append((-alpha, -1.0, theta))
    return terms, alpha <= 0


@rule(LOWER, ClippedReLU)
def clipped_relu_lowering(state, layer, x):
    terms, nonneg = clipped_ramps(layer)
    return (yield from ramps(state, layer, x, terms, nonneg))


@rule(LOWER, PReLU)
def prelu_lowering(state, layer, x):
    alpha = np.asarray(layer.alpha, np.float64)
    return (yield from ramps(state, layer, x, [IDENTITY, (-alpha, -1.0, 0.0)], bool((alpha <= 0).all())))
