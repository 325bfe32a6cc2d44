"""Bounds on every pre-activation of a Dense+ReLU chain over an input box, and which ReLUs they settle.

For the box B = [lo, hi] (flat inputs) and the chain h_0 = x, z_k = h_{k−1} @ W_k + b_k, h_k = relu(z_k),
interval arithmetic gives, with the box of h_{k−1} written as centre m and radius r (r ≥ 0):

    z_k ∈ [m @ W_k + b_k − r @ |W_k|,  m @ W_k + b_k + r @ |W_k|],   h_k ∈ [relu(l_k), relu(u_k)]

exact for one layer (each z_k,j attains both ends on the box of h_{k−1}), an over-approximation across
layers. A ReLU is stable when its bounds settle it — l ≥ 0: relu(z) = z on all of B (active), u ≤ 0:
relu(z) = 0 (inactive) — and unstable (l < 0 < u) otherwise: only those need a binary variable in a MILP (big-M
with M = −l and u) or a case split in Marabou; a stable one is a linear equation. The bounds are computed in
float64 and widened outward by WIDEN (relative to each bound's scale) so that the float64 matrices' rounding
never makes a ReLU look stable that is not.

`interval_bounds(net, lo, hi)` → `Bounds` (per hidden layer l, u; counts). `stable_masks` splits them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hw5.convert.layers import Dense, ReLU

# Outward rounding of each bound, relative to the sum of the magnitudes it came from (|m|·|W| + r·|W| + |b|):
# float64 sums of n terms err by ≤ n·eps/2 of that scale (eps 2.2e-16); 1e-9 covers n up to 10^6 with room.
WIDEN = 1e-9


@dataclass
class Bounds:
    """Per hidden layer k (the Dense layers but the last): lower[k], upper[k] of z_k, shape (width_k,); and the
    output layer's bounds last (lower[-1], upper[-1])."""
    lower: list
    upper: list

    @property
    def hidden(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(zip(self.lower[:-1], self.upper[:-1], strict=True))

    @property
    def relus(self) -> int:
        return sum(lo.size for lo, _ in self.hidden)

    @property
    def active(self) -> int:
        return sum(int((lo >= 0).sum()) for lo, _ in self.hidden)

    @property
    def inactive(self) -> int:
        return sum(int(((hi <= 0) & (lo < 0)).sum()) for lo, hi in self.hidden)

    @property
    def unstable(self) -> int:
        return sum(int(((lo < 0) & (hi > 0)).sum()) for lo, hi in self.hidden)

    def summary(self) -> str:
        return (f"{self.relus:,} ReLUs: {self.unstable:,} unstable, {self.active:,} always active, "
                f"{self.inactive:,} always inactive")


def dense_layers(net) -> list:
    """The Dense layers of a Dense/ReLU chain (ReLU between them); TypeError for any other layer."""
    dense = []
    for layer in net.layers:
        if type(layer) is Dense:
            dense.append(layer)
        elif type(layer) is not ReLU:
            raise TypeError(f"net: a Dense/ReLU chain is needed (relu_only's result), got a {type(layer).__name__}")
    return dense


def _matmul(v: np.ndarray, W) -> np.ndarray:
    return np.asarray(v @ W).ravel()


def interval_bounds(net, lo, hi) -> Bounds:
    """Interval bounds of every layer's pre-activation z_k for inputs in the box [lo, hi] (flat, float64)."""
    lo, hi = np.asarray(lo, np.float64).ravel(), np.asarray(hi, np.float64).ravel()
    dense = dense_layers(net)
    if lo.shape != hi.shape or not dense or lo.size != dense[0].W.shape[0]:
        raise ValueError(f"lo, hi: {lo.size} and {hi.size} values for a net of "
                         f"{dense[0].W.shape[0] if dense else 0} inputs")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)):
        raise ValueError("lo, hi: finite bounds with lo <= hi are needed")
    lower, upper = [], []
    a, b = lo, hi
    for k, layer in enumerate(dense):
        W = layer.W.astype(np.float64) if sp.issparse(layer.W) else np.asarray(layer.W, np.float64)
        absW = abs(W)
        bias = np.asarray(layer.b, np.float64).ravel()
        m, r = (a + b) / 2, (b - a) / 2
        centre, radius = _matmul(m, W) + bias, _matmul(r, absW)
        slack = WIDEN * (_matmul(np.abs(m), absW) + radius + np.abs(bias))
        lower.append(centre - radius - slack)
        upper.append(centre + radius + slack)
        if k < len(dense) - 1:
            a, b = np.maximum(lower[-1], 0), np.maximum(upper[-1], 0)
    return Bounds(lower, upper)


def stable_masks(bounds: Bounds) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per hidden layer (active, inactive) boolean masks: l ≥ 0 and u ≤ 0 (and not active)."""
    return [(lo >= 0, (hi <= 0) & (lo < 0)) for lo, hi in bounds.hidden]


def pruned(net, bounds: Bounds):
    """(the chain without its always-inactive hidden neurons, per kept hidden layer a boolean mask of the
    always-active ones). On the box the bounds were computed for, an inactive neuron outputs 0: dropping its
    column of W_k, its entry of b_k and its row of W_{k+1} leaves the net's function there unchanged. The
    result is `net` with its layers replaced (same types, same order)."""
    dense_layers(net)
    masks = stable_masks(bounds)
    layers, active_kept, k = [], [], 0
    rows = None
    for layer in net.layers:
        if type(layer) is ReLU:
            layers.append(dataclasses.replace(layer, out_shape=layers[-1].out_shape))
            continue
        last = k == len(masks)
        keep = np.ones(layer.W.shape[1], bool) if last else ~masks[k][1]
        W = layer.W.tocsr() if sp.issparse(layer.W) else np.asarray(layer.W)
        W = (W if rows is None else W[rows])[:, np.flatnonzero(keep)]
        layers.append(dataclasses.replace(layer, W=W, b=np.asarray(layer.b)[keep], out_shape=(int(keep.sum()),)))
        if not last:
            active_kept.append(masks[k][0][keep])
        rows, k = np.flatnonzero(keep), k + 1
    extra = {"carried": [0] * len(layers)} if hasattr(net, "carried") else {}
    return dataclasses.replace(net, layers=layers, **extra), active_kept
