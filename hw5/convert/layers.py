"""The NumPy layers of a converted network: each maps a batch of flat vectors (N, features) to (N, features'),
flattened channels-last (h, w, c) like Keras' Flatten, and returns a new array every call (so the list
`NumpyNet.forward` returns is never overwritten later).

    Dense        x @ W + b     every linear map (a Conv2D arrives as its Toeplitz matrix, dense or scipy.sparse)
    BandedDense  x @ W + b     the same matrix multiplied band by band (hw5.convert.inspect.banded)
    Scale        x * d + t     the diagonal matrix diag(d), stored as its diagonal: BatchNormalization
                               that follows a non-linear layer
    MaxPool      un-flatten to (N, H, W, C), max over each window (the homework's loop, hw5.homework.forward),
                 flatten; 'same' pads with −inf, TensorFlow's way (the odd extra row/column at the bottom/right)
    ReLU         max(x, 0)
    Softmax      exp(x − max) / Σ over the last axis of the neuron grid (the classes, or the channels)
    Sigmoid, Tanh  elementwise

Each type's other behaviours are registered beside it (hw5.convert.rules): its ONNX nodes — Gemm with the
explicit matrix (never Conv; a sparse matrix past 2 GB dense as its entries: Gather, Mul, ReduceSum), Mul/Add,
MaxPool between NCHW transposes (TF's 'same' as explicit pads, left out of the max like TF's −inf), Softmax over
the last axis, Relu/Sigmoid/Tanh —, its Dense+ReLU lowering (linear maps composed into the next matrix; ReLU
one ramp; max-pooling a tree of max(a, b) = b + relu(a − b) over each window's real inputs; sigmoid, tanh and
softmax refused: not piecewise linear), and its step of the float error bound:

    Dense (n non-zeros a column)  e' = e·|W|·(1 + growth) + (n + extra)·eps·(|a|·|W| + |b|) + (2n + 1)·tiny
    Scale                          e' = e·|d| + extra·eps·(|a|·|d| + |t|) + extra·tiny
    ReLU, MaxPool                  e' = e, pooled like a (1-Lipschitz and exact)
    Sigmoid (Lipschitz 1/4), Tanh  e' = L·e + ulps·eps·|out|
    Softmax                        |Δp_i| ≤ p_i·(|Δz_i| + Σ_j p_j |Δz_j|) ≤ 2·p_i·max_j e_j, plus ulps·eps·p_i

(each side's sum errs by ≤ γ_n·Σ|w·a|, γ_n ≈ n·eps/2; the magnitudes' layer gives |W| and |b|, the latter with
a folded BatchNorm's terms). The other layer types sit beside their translations (hw5.convert.activations,
hw5.convert.merges). `max_pool2d_vectorized` is the window loop without a loop (strided views), for the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hw5.convert.affine import IDENTITY, Value, max_tree, ramps
from hw5.convert.linear_maps import window_indices
from hw5.convert.rules import ACTIVATION, BOUND, LOWER, ONNX, not_piecewise_linear, rule
from hw5.homework.forward import max_pool2d, pool_args
from hw5.homework.geometry import axis_geometry, pair


def max_pool2d_vectorized(x, pool_size=2, strides=2, padding="valid") -> np.ndarray:
    """The same as `max_pool2d`, without a Python loop (strided view of all windows)."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = pool_args(x, pool_size, strides, padding)
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))  # (N, H', W', C, ph, pw)
    return windows[:, ::sh, ::sw][:, :h_out, :w_out].max(axis=(4, 5))


@dataclass
class Dense:
    W: np.ndarray     # (fan_in, fan_out)
    b: np.ndarray     # (fan_out,)
    name: str
    out_shape: tuple  # the neuron grid, e.g. (26, 26, 64) for the conv layer, (1024,) for a dense one

    def __call__(self, x):
        out = x @ self.W
        out += self.b  # in place, on the fresh matmul result: the conv layer's output is 43264 numbers per image
        return out


@dataclass
class BandedDense(Dense):
    """The same x @ W + b with the same matrix W, multiplied one column block at a time by the block's
    band of non-zero rows only. For a Toeplitz matrix, the block of output-grid row i (W_out·C_out columns)
    sees input rows i·s − pad … i·s − pad + span only, so H_in/kh of the multiply-adds are products with
    exact zeros, which this skips (~5× fewer for Part 1's conv layers; `hw5.numpy_net.banded`)."""
    bands: list = field(default_factory=list, init=False, repr=False)  # (c0, c1, r0, r1, W[r0:r1, c0:c1])

    def __post_init__(self):
        step = self.out_shape[1] * self.out_shape[2] if len(self.out_shape) == 3 else self.W.shape[1]
        for c0 in range(0, self.W.shape[1], step):
            rows = np.flatnonzero(self.W[:, c0:c0 + step].any(axis=1))
            r0, r1 = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
            self.bands.append((c0, c0 + step, r0, r1, np.ascontiguousarray(self.W[r0:r1, c0:c0 + step])))

    def __call__(self, x):
        out = np.empty((len(x), self.W.shape[1]), np.result_type(x, self.W))
        for c0, c1, r0, r1, block in self.bands:
            out[:, c0:c1] = x[:, r0:r1] @ block
        out += self.b
        return out


@dataclass
class Scale:
    d: np.ndarray     # (features,): the diagonal of the matrix
    t: np.ndarray     # (features,): the shift
    name: str
    out_shape: tuple

    def __call__(self, x):
        return x * self.d + self.t


@dataclass
class MaxPool:
    in_shape: tuple   # (H, W, C)
    pool_size: tuple
    strides: tuple
    name: str
    out_shape: tuple
    padding: str = "valid"

    def __call__(self, x):
        pooled = max_pool2d(x.reshape(-1, *self.in_shape), self.pool_size, self.strides, self.padding)
        return pooled.reshape(len(x), -1)


@dataclass
class ReLU:
    name: str
    out_shape: tuple

    def __call__(self, x):
        return np.maximum(x, 0)


@dataclass
class Softmax:
    name: str
    out_shape: tuple

    def __call__(self, x):
        groups = x.reshape(len(x), -1, self.out_shape[-1])  # softmax over the grid's last axis, as Keras
        e = np.exp(groups - groups.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).reshape(len(x), -1)


@dataclass
class Sigmoid:
    name: str
    out_shape: tuple

    def __call__(self, x):
        e = np.exp(-np.abs(x))  # 1 / (1 + exp(−x)), with exp of −|x| ≤ 0 only: no overflow for large |x|
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@dataclass
class Tanh:
    name: str
    out_shape: tuple

    def __call__(self, x):
        return np.tanh(x)


# ---- ONNX ----------------------------------------------------------------------------------------------------

@rule(ONNX, Dense)
def dense_nodes(e, layer, xs):
    W, b = layer.W, e.const(layer.b, f"{layer.name}/b")
    if not sp.issparse(W) or e.densify:
        matrix = e.const(W.toarray() if sp.issparse(W) else W, f"{layer.name}/W")
        return e.node("Gemm", [xs[0], matrix, b], layer.name, alpha=1.0, beta=1.0, transA=0, transB=0)
    rows, values = column_entries(W)
    gathered = e.node("Gather", [xs[0], e.const(rows, f"{layer.name}/rows", np.int32)], axis=1)  # (N, out, K)
    products = e.node("Mul", [gathered, e.const(values, f"{layer.name}/values")])
    summed = e.node("ReduceSum", [products, e.const([2], "axes", np.int64)], keepdims=0)
    return e.node("Add", [summed, b], layer.name)


def column_entries(W) -> tuple[np.ndarray, np.ndarray]:
    """A sparse (fan_in, fan_out) matrix as (rows, values), both (fan_out, K): column j's stored entries
    W[rows[j, k], j] = values[j, k], K the most any column holds, the rest padded with row 0, value 0."""
    csc = W.tocsc()
    counts = np.diff(csc.indptr)
    k = max(int(counts.max(initial=0)), 1)
    rows, values = np.zeros((W.shape[1], k), np.int32), np.zeros((W.shape[1], k), csc.dtype)
    col = np.repeat(np.arange(W.shape[1]), counts)
    slot = np.arange(csc.nnz) - np.repeat(csc.indptr[:-1], counts)
    rows[col, slot], values[col, slot] = csc.indices, csc.data
    return rows, values


@rule(ONNX, Scale)
def scale_nodes(e, layer, xs):
    scaled = e.node("Mul", [xs[0], e.const(layer.d, f"{layer.name}/d")])
    return e.node("Add", [scaled, e.const(layer.t, f"{layer.name}/t")], layer.name)


@rule(ONNX, MaxPool)
def max_pool_nodes(e, layer, xs):
    (h, w, c), (ph, pw), (sh, sw) = layer.in_shape, pair(layer.pool_size, "pool_size"), pair(layer.strides, "strides")
    padding = layer.padding.lower()
    (_, top, bottom), (_, left, right) = axis_geometry(h, ph, sh, padding, "height"), \
        axis_geometry(w, pw, sw, padding, "width")
    nchw = e.node("Transpose", [e.grid(xs[0], (h, w, c))], perm=[0, 3, 1, 2])
    pooled = e.node("MaxPool", [nchw], f"{layer.name}/pool", kernel_shape=[ph, pw], strides=[sh, sw],
                    pads=[top, left, bottom, right])
    return e.flat(e.node("Transpose", [pooled], perm=[0, 2, 3, 1]))


@rule(ONNX, Softmax)
def softmax_nodes(e, layer, xs):
    groups = e.node("Reshape", [xs[0], e.const([0, -1, layer.out_shape[-1]], "shape", np.int64)])
    return e.flat(e.node("Softmax", [groups], layer.name, axis=-1))


@rule(ONNX, ReLU, Sigmoid, Tanh)
def own_op_nodes(e, layer, xs):
    return e.node({ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}[type(layer)], xs, layer.name)


ACTIVATION.update({ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh", Softmax: "softmax"})


# ---- the Dense+ReLU lowering ---------------------------------------------------------------------------------

def _nonneg(matrix) -> bool:
    data = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    return data.size == 0 or bool(data.min() >= 0)


@rule(LOWER, Dense, Scale)
def linear_lowering(state, layer, x: Value) -> Value:
    W, b = (layer.W, layer.b) if isinstance(layer, Dense) else (layer.d, layer.t)
    state.pending.append(layer.name)
    keeps = x.nonneg and _nonneg(W) and _nonneg(b)   # ≥ 0 times ≥ 0 plus ≥ 0
    return Value(x.map.then(W, np.asarray(b, np.float64)), keeps)


@rule(LOWER, ReLU)
def relu_lowering(state, layer, x: Value):
    return (yield from ramps(state, layer, x, [IDENTITY], True))


def pool_windows(layer: MaxPool) -> np.ndarray:
    """(outputs, k) flat input indices of each output's window (output order (i, j, ch)), the real inputs
    first in decreasing order, −1 past a 'same' window's real inputs."""
    rows, cols, _, out = window_indices(layer.in_shape, layer.pool_size, layer.strides, layer.padding)
    order = np.lexsort((-rows, cols))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(cols, minlength=math.prod(out))
    start = np.cumsum(counts) - counts
    windows = np.full((math.prod(out), int(counts.max(initial=1))), -1)
    windows[cols, np.arange(rows.size) - start[cols]] = rows
    return windows


@rule(LOWER, MaxPool)
def max_pool_lowering(state, layer: MaxPool, x: Value):
    out = yield from max_tree(x, pool_windows(layer), layer.name)
    state.pending.append(layer.name)
    return out


rule(LOWER, Sigmoid, Tanh, Softmax)(not_piecewise_linear)


# ---- the float error bound -----------------------------------------------------------------------------------

@rule(BOUND, Dense)
def dense_bound(layer, mag, a, out, e, c):
    W = abs(mag.W)
    n = int(np.asarray((W != 0).sum(axis=0)).max(initial=0))
    return np.asarray(e @ W) * (1 + c.growth) + (n + c.extra) * c.eps * (np.asarray(np.abs(a) @ W)
                                                                          + np.abs(mag.b)) + (2 * n + 1) * c.tiny


@rule(BOUND, Scale)
def scale_bound(layer, mag, a, out, e, c):
    d = np.abs(mag.d)
    return e * d + c.extra * c.eps * (np.abs(a) * d + np.abs(mag.t)) + c.extra * c.tiny


@rule(BOUND, ReLU)
def relu_bound(layer, mag, a, out, e, c):
    return e


@rule(BOUND, MaxPool)
def max_pool_bound(layer, mag, a, out, e, c):
    return layer(e)


@rule(BOUND, Sigmoid, Tanh)
def squashing_bound(layer, mag, a, out, e, c):
    return (0.25 if isinstance(layer, Sigmoid) else 1.0) * e + c.ulps * c.eps * np.abs(out)


@rule(BOUND, Softmax)
def softmax_bound(layer, mag, a, out, e, c):
    groups = e.reshape(len(e), -1, layer.out_shape[-1]).max(axis=-1, keepdims=True)
    p = out.reshape(groups.shape[0], -1, layer.out_shape[-1])
    return (2 * p * groups + c.ulps * c.eps * p).reshape(len(e), -1)
