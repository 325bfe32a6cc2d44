"""LayerNormalization: its translation, its NumPy layer LayerNorm and LayerNorm's rules (hw5.convert.rules). A
per-sample normalization, not a linear map (BatchNormalization and Normalization, fixed affine maps at
inference, are hw5.convert.translations' diagonals). Each layer maps (N, features) to (N, features), the
statistics per sample over the grid axes `axes`:

    LayerNorm                 y = (x − mean) / √(var + ε) · γ + β,  mean = mean(x), var = mean((x − mean)²)
    LayerNorm(rms_scaling)    y = x / √(var + ε) · γ  — Keras' LayerNormalization(rms_scaling=True) (deprecated):
                              x itself divided by the root of its *centred* variance (not of its mean square,
                              as Keras' own warning says), γ always (Keras makes it whatever `scale` says), no β

ONNX: the NumPy steps (ReduceMean, Sub, Mul, ReduceMean, Add ε, Sqrt, Div by it — of x − mean, or of x with
rms_scaling — Mul γ, Add β), constants in the net's dtype. Lowering: refused, not piecewise linear.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw5.convert.registry import Source, Translation, register
from hw5.convert.rules import LOWER, ONNX, not_piecewise_linear, rule


@dataclass
class LayerNorm:
    """(x − mean) / √(var + ε) · γ + β per sample, the statistics over the grid axes `axes`; with rms_scaling
    x / √(var + ε) · γ (see the module)."""
    axes: tuple           # grid axes (0-based, without the batch)
    gamma: np.ndarray | None
    beta: np.ndarray | None
    epsilon: float
    name: str
    out_shape: tuple
    rms_scaling: bool = False

    def __call__(self, x):
        g = x.reshape(len(x), *self.out_shape)
        axes = tuple(a + 1 for a in self.axes)
        mean = g.mean(axis=axes, keepdims=True)
        var = ((g - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (g if self.rms_scaling else g - mean) / np.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.reshape(len(x), -1).astype(x.dtype, copy=False)


@register("LayerNormalization")
def _layer_norm(src: Source) -> Translation:
    cfg, n = src.config, len(src.shape)
    axes = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
    axes = tuple(sorted((a - 1) if a > 0 else n + a for a in axes))
    along = [src.shape[a] if a in axes else 1 for a in range(n)]
    gamma, beta = src.param("gamma"), src.param("beta")   # Keras' variables: with rms_scaling γ always, no β
    return [LayerNorm(axes, None if gamma is None else gamma.reshape(along), None if beta is None else
                      beta.reshape(along), cfg["epsilon"], src.name, src.shape,
                      bool(cfg.get("rms_scaling", False)))], src.shape


@rule(ONNX, LayerNorm)
def layer_norm_nodes(e, layer, xs):
    g, axes = e.grid(xs[0], layer.out_shape), [a + 1 for a in layer.axes]
    mean = e.node("ReduceMean", [g], axes=axes, keepdims=1)
    centred = e.node("Sub", [g, mean])
    var = e.node("ReduceMean", [e.node("Mul", [centred, centred])], axes=axes, keepdims=1)
    root = e.node("Sqrt", [e.node("Add", [var, e.const(layer.epsilon, "eps")])])
    y = e.node("Div", [g if layer.rms_scaling else centred, root])
    if layer.gamma is not None:
        y = e.node("Mul", [y, e.const(layer.gamma, f"{layer.name}/gamma")])
    if layer.beta is not None:
        y = e.node("Add", [y, e.const(layer.beta, f"{layer.name}/beta")])
    return e.flat(y)


rule(LOWER, LayerNorm)(not_piecewise_linear)
