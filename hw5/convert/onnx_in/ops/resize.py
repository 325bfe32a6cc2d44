"""Resize and Upsample (every mode: nearest, linear, cubic) as an explicit matrix, and LRN as its own layer.

Resizing is linear and acts on each spatial axis alone: output (c, i, j) = Σ R_H[r, i]·R_W[q, j]·x(c, r, q),
so the matrix is I_C ⊗ R_H ⊗ R_W. Each axis's R (n × n') is found by running the node itself — the `onnx`
wheel's reference implementation, so ONNX's own coordinate transformations, rounding modes and cubic
coefficients for every opset — on n inputs, the k-th one 1 on row k of that axis and constant along the other
(a resize maps a constant to the same constant: every mode's weights sum to 1, nearest copies), with the
batch and channel axes unscaled.

    LRN   y = x / (bias + α/size · Σ x²)^β, the sum over the `size` channels around each one (ONNX's window:
          ⌊(size − 1)/2⌋ before, ⌈(size − 1)/2⌉ after): not piecewise linear (the lowering refuses it); its
          ONNX export is ONNX's LRN between reshapes to (N, C, H, W)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hw5.convert.onnx_in.registry import evaluate, register_op
from hw5.convert.onnx_in.windows import as_2d
from hw5.convert.registry import linear
from hw5.convert.rules import LOWER, ONNX, not_piecewise_linear, rule


def _axis_matrix(src, shape: tuple, axis: int) -> np.ndarray:
    """R for spatial axis `axis` (0: H, 1: W) of the per-sample `shape` (C, H, W)."""
    c, (h, w) = shape[0], shape[1:]
    n = (h, w)[axis]
    probe = np.zeros((n, c, h, w))
    for k in range(n):
        if axis == 0:
            probe[k, :, k, :] = 1.0
        else:
            probe[k, :, :, k] = 1.0
    values = [probe if k == src.tensor_inputs()[0] else v for k, v in enumerate(src.consts)]
    if src.op == "Resize" and len(values) > 3 and values[3] is not None and np.size(values[3]):   # `sizes`
        sizes = np.array(values[3], np.int64)
        if sizes[0] not in (src.batch, 1) or sizes[1] != c:
            raise src.refuse(f"sizes {sizes.tolist()} resize the batch or channel axis")
        values[3] = np.array([n, *sizes[1:]], np.int64)
    out = evaluate(src.node, values, src.opset)[0]
    if out.shape[:2] != (n, c):
        raise src.refuse(f"resizes the batch or channel axis (a batch of {n} × {c} channels came out as "
                         f"{out.shape[:2]})")
    return out[:, 0, :, 0] if axis == 0 else out[:, 0, 0, :], out.shape[1:]


@register_op("Resize", "Upsample")
def _resize(src):
    c, (h, w) = as_2d(src, src.shape)
    if len(src.shape) != 3:
        raise src.refuse("resizing a 1-D (C, L) input is not supported (2-D images are)")
    rh, out = _axis_matrix(src, src.shape, 0)
    rw, out_w = _axis_matrix(src, src.shape, 1)
    shape = (c, out[1], out_w[2])
    M = sp.kron(sp.identity(c), sp.kron(sp.csr_matrix(rh), sp.csr_matrix(rw))).tocoo()
    keep = M.data != 0
    return [linear(src, M.row[keep], M.col[keep], M.data[keep], math.prod(src.shape), None, shape)], shape


@dataclass
class LRN:
    size: int
    alpha: float
    beta: float
    bias: float
    in_shape: tuple   # (C, H, W) or (C, L)
    name: str
    out_shape: tuple

    def __call__(self, x):
        c = self.in_shape[0]
        g = x.reshape(len(x), c, -1)
        square = np.pad(g.astype(np.float64) ** 2, [(0, 0), ((self.size - 1) // 2, self.size // 2), (0, 0)])
        window = np.lib.stride_tricks.sliding_window_view(square, self.size, axis=1).sum(axis=-1)
        return (g / (self.bias + self.alpha / self.size * window) ** self.beta).astype(x.dtype).reshape(len(x), -1)


@register_op("LRN")
def _lrn(src):
    cfg = src.config
    if int(cfg["size"]) % 2 == 0:
        raise src.refuse(f"an even size {cfg['size']}: onnxruntime runs odd sizes only and the onnx wheel's "
                         f"reference implementation loops its window over the batch axis, so there is no "
                         f"reference to check ONNX's uneven window against")
    return [LRN(int(cfg["size"]), float(cfg.get("alpha", 1e-4)), float(cfg.get("beta", 0.75)),
                float(cfg.get("bias", 1.0)), src.shape, src.name, src.shape)], src.shape


@rule(ONNX, LRN)
def lrn_nodes(e, layer, xs):
    # with ONNX's elementary ops in the net's dtype (onnxruntime's LRN is float32 only): the squares' channel
    # windows as a product with the banded C × C matrix of ones, then x / (bias + α/size · Σ)^β
    c = layer.in_shape[0]
    band = np.array([[1.0 if -((layer.size - 1) // 2) <= j - i <= layer.size // 2 else 0.0 for i in range(c)]
                     for j in range(c)])
    grid = e.node("Transpose", [e.node("Reshape", [xs[0], e.const([0, c, -1], "shape", np.int64)])], perm=[0, 2, 1])
    summed = e.node("MatMul", [e.node("Mul", [grid, grid]), e.const(band, f"{layer.name}/band")])
    scaled = e.node("Add", [e.const(layer.bias, "bias"), e.node("Mul", [e.const(layer.alpha / layer.size, "k"),
                                                                        summed])])
    normed = e.node("Div", [grid, e.node("Pow", [scaled, e.const(layer.beta, "beta")])])
    return e.flat(e.node("Transpose", [normed], layer.name, perm=[0, 2, 1]))


rule(LOWER, LRN)(not_piecewise_linear)
