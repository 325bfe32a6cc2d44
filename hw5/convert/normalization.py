"""The per-sample normalizations — LayerNormalization, GroupNormalization, RMSNormalization, UnitNormalization —
their NumPy layers and the layers' rules (hw5.convert.rules). Not linear maps (BatchNormalization and
Normalization, fixed affine maps at inference, are hw5.convert.translations' diagonals). Each layer maps
(N, features) to (N, features), the statistics per sample over the grid axes `axes`:

    LayerNorm                 y = (x − mean) / √(var + ε) · γ + β,  mean = mean(x), var = mean((x − mean)²)
    LayerNorm(rms_scaling)    y = x / √(var + ε) · γ  — Keras' LayerNormalization(rms_scaling=True) (deprecated):
                              x itself divided by the root of its *centred* variance (not of its mean square,
                              as Keras' own warning says), γ always (Keras makes it whatever `scale` says), no β
    LayerNorm(grid)           GroupNormalization(groups): the LayerNorm of x viewed as `grid`, the channel axis
                              (length C) split into (groups, C/groups) — channel k in group k // (C/groups) — the
                              statistics over every axis but the groups' (the spatial axes and the group's own
                              channels), γ and β per channel; Keras' x·inv + (β − mean·inv), inv = γ/√(var + ε)
    RMSNorm                   y = x / √(mean(x²) + ε) · scale  — Keras' RMSNormalization (x · rsqrt(mean(x²) + ε)
                              · scale, ε 1e-6 by default); scale multiplies as Keras broadcasts it: aligned with
                              the grid's last axes
    UnitNorm                  y = x / max(√Σx², ε), ε = 1e-12  — Keras' UnitNormalization (x · min(rsqrt(Σx²),
                              1/ε), the same number: rsqrt decreases)

Keras' axis: an int or a list, 1 … rank or negative; the batch axis (0) is refused (statistics across samples).
ONNX: the NumPy steps (ReduceMean, ReduceSumSquare, Sub, Mul, Add ε, Sqrt, Max, Div, Mul γ, Add β) on the grid,
constants in the net's dtype, axes as attributes (opset 17). Lowering: refused, not piecewise linear.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from hw5.convert.registry import Source, Translation, register
from hw5.convert.rules import LOWER, ONNX, not_piecewise_linear, rule

UNIT_EPSILON = 1e-12   # UnitNormalization's lower bound of the norm (fixed in its call(), not in its config)


@dataclass
class LayerNorm:
    """(x − mean) / √(var + ε) · γ + β per sample, the statistics over the axes `axes` of x viewed as `grid`
    (out_shape if None); with rms_scaling x / √(var + ε) · γ (see the module)."""
    axes: tuple           # grid axes (0-based, without the batch)
    gamma: np.ndarray | None
    beta: np.ndarray | None
    epsilon: float
    name: str
    out_shape: tuple
    rms_scaling: bool = False
    grid: tuple | None = None   # GroupNormalization's (…, groups, C/groups, …); None: out_shape

    def __call__(self, x):
        g = x.reshape(len(x), *(self.grid or self.out_shape))
        axes = tuple(a + 1 for a in self.axes)
        mean = g.mean(axis=axes, keepdims=True)
        var = ((g - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (g if self.rms_scaling else g - mean) / np.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.reshape(len(x), -1).astype(x.dtype, copy=False)


@dataclass
class RMSNorm:
    """x / √(mean(x²) + ε) · scale per sample, the mean over the grid axes `axes` (see the module)."""
    axes: tuple
    scale: np.ndarray     # broadcast against the grid's last axes
    epsilon: float
    name: str
    out_shape: tuple

    def __call__(self, x):
        g = x.reshape(len(x), *self.out_shape)
        square = (g * g).mean(axis=tuple(a + 1 for a in self.axes), keepdims=True)
        return (g / np.sqrt(square + self.epsilon) * self.scale).reshape(len(x), -1).astype(x.dtype, copy=False)


@dataclass
class UnitNorm:
    """x / max(√Σx², ε) per sample, the sum over the grid axes `axes` (see the module)."""
    axes: tuple
    epsilon: float
    name: str
    out_shape: tuple

    def __call__(self, x):
        g = x.reshape(len(x), *self.out_shape)
        norm = np.sqrt((g * g).sum(axis=tuple(a + 1 for a in self.axes), keepdims=True))
        return (g / np.maximum(norm, self.epsilon)).reshape(len(x), -1).astype(x.dtype, copy=False)


def _grid_axes(src: Source, axis) -> tuple:
    """Keras' axis (an int or a list: 1 … n or −n … −1 over the grid of rank n) as sorted 0-based grid axes."""
    n = len(src.shape)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if any(not -n <= a <= n or a == 0 for a in axes):
        raise src.refuse(f"axis {axis!r} is not an axis of the grid {src.shape} (0 is the batch: statistics "
                         f"across samples are not one sample's function)")
    return tuple(sorted({a - 1 if a > 0 else n + a for a in axes}))


@register("LayerNormalization")
def _layer_norm(src: Source) -> Translation:
    cfg, n = src.config, len(src.shape)
    axes = _grid_axes(src, cfg["axis"])
    along = [src.shape[a] if a in axes else 1 for a in range(n)]
    gamma, beta = src.param("gamma"), src.param("beta")   # Keras' variables: with rms_scaling γ always, no β
    return [LayerNorm(axes, None if gamma is None else gamma.reshape(along), None if beta is None else
                      beta.reshape(along), cfg["epsilon"], src.name, src.shape,
                      bool(cfg.get("rms_scaling", False)))], src.shape


@register("GroupNormalization")
def _group_norm(src: Source) -> Translation:
    cfg, shape = src.config, tuple(src.shape)
    (a,) = _grid_axes(src, cfg["axis"])
    channels = shape[a]
    groups = channels if cfg["groups"] == -1 else int(cfg["groups"])   # -1: one group a channel (Keras' build)
    if channels % groups:
        raise src.refuse(f"{groups} groups do not divide the {channels} channels")
    grid = (*shape[:a], groups, channels // groups, *shape[a + 1:])
    along = [grid[k] if k in (a, a + 1) else 1 for k in range(len(grid))]
    gamma, beta = src.param("gamma"), src.param("beta")   # (C,) each, or None (scale=False, center=False)
    axes = tuple(k for k in range(len(grid)) if k != a)
    return [LayerNorm(axes, None if gamma is None else gamma.reshape(along), None if beta is None else
                      beta.reshape(along), cfg["epsilon"], src.name, shape, grid=grid)], shape


@register("RMSNormalization")
def _rms_norm(src: Source) -> Translation:
    epsilon = src.config["epsilon"]
    if epsilon is None:   # keras.ops.rms_normalization's default, read where the layer came from (the translation
        epsilon = sys.modules["keras"].config.epsilon()   # itself imports no framework: tests/test_numpy_net.py)
    return [RMSNorm(_grid_axes(src, src.config["axis"]), src.param("scale"), epsilon, src.name, src.shape)], \
        src.shape


@register("UnitNormalization")
def _unit_norm(src: Source) -> Translation:
    return [UnitNorm(_grid_axes(src, src.config["axis"]), UNIT_EPSILON, src.name, src.shape)], src.shape


# ---- ONNX ----------------------------------------------------------------------------------------------------

@rule(ONNX, LayerNorm)
def layer_norm_nodes(e, layer, xs):
    g, axes = e.grid(xs[0], layer.grid or layer.out_shape), [a + 1 for a in layer.axes]
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


@rule(ONNX, RMSNorm)
def rms_norm_nodes(e, layer, xs):
    g = e.grid(xs[0], layer.out_shape)
    square = e.node("ReduceMean", [e.node("Mul", [g, g])], axes=[a + 1 for a in layer.axes], keepdims=1)
    root = e.node("Sqrt", [e.node("Add", [square, e.const(layer.epsilon, "eps")])])
    return e.flat(e.node("Mul", [e.node("Div", [g, root]), e.const(layer.scale, f"{layer.name}/scale")]))


@rule(ONNX, UnitNorm)
def unit_norm_nodes(e, layer, xs):
    g = e.grid(xs[0], layer.out_shape)
    norm = e.node("Sqrt", [e.node("ReduceSumSquare", [g], axes=[a + 1 for a in layer.axes], keepdims=1)])
    return e.flat(e.node("Div", [g, e.node("Max", [norm, e.const(layer.epsilon, "eps")])]))


rule(LOWER, LayerNorm, RMSNorm, UnitNorm)(not_piecewise_linear)
