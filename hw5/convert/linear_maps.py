"""The other linear layers of a CNN as explicit matrices, BatchNormalization folding, and fusing.

Like `hw5.toeplitz` for Conv2D, every map here acts on flat channels-last vectors (Keras' Flatten
order, index (r * W + c) * C + ch) and is returned as (M, b) with

    layer(x).reshape(N, -1) == x.reshape(N, -1) @ M + b

built by vectorized index maths (no Python loop per entry):

    AveragePooling2D   M[(r, c, ch), (i, j, ch)] = 1 / count(i, j)  for (r, c) in window (i, j), inside
                       the image; TensorFlow divides a 'same' window by its number of real (unpadded)
                       inputs, so count(i, j) ≤ ph·pw at the borders
    GlobalAverage      the average pool whose one window is the whole (H, W) image: entries 1 / (H·W)
    ZeroPadding2D      M[(r, c, ch), (r + top, c + left, ch)] = 1: a 0/1 selection matrix
    adaptive pooling   the windows of Keras' AdaptiveAverage/MaxPooling (`adaptive_windows`): along an axis of n
                       inputs pooled to m, window i = [floor(i·n/m), ceil((i + 1)·n/m)) — overlapping where m
                       does not divide n — and a 2-D window the product of its row and column spans

BatchNormalization at inference is the diagonal map diag(s) with shift t,

    s = γ / √(σ² + ε),    t = β − μ·s,    so    BN(y) = y·s + t = (y − μ)·γ / √(σ² + ε) + β,

kept as its diagonal s (a Scale layer). Folded into the linear map (W, b) before it, it gives

    W' = W · diag(s),    b' = (b − μ)·s + β = b·s + t

which is `compose`. `compose` multiplies any two consecutive affine maps, W' = W₁ W₂, b' = b₁ W₂ + b₂
(a 1-D W stands for a diagonal matrix); `from_keras(model, fuse=True)` uses it for every run of linear
layers. Products are formed in float64 and rounded once to the layers' dtype.
"""
from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from hw5.homework.geometry import axis_geometry, image_shape, padding_mode, pair


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def window_indices(input_shape, pool_size, strides=None, padding="valid"):
    """(rows, cols, counts, out_shape) of a channel-wise pooling window map.

    rows[n] is a flat input index, cols[n] the flat output index whose window contains it (each pair
    once, same channel); counts[n] the number of real inputs in that output's window.
    """
    h, w, c = image_shape(input_shape)
    (ph, pw), padding = pair(pool_size, "pool_size"), padding_mode(padding)
    sh, sw = pair(pool_size if strides is None else strides, "strides")
    h_out, top, _ = axis_geometry(h, ph, sh, padding, "height")
    w_out, left, _ = axis_geometry(w, pw, sw, padding, "width")
    i, j, di, dj, ch = np.ix_(*(np.arange(n) for n in (h_out, w_out, ph, pw, c)))
    r, col = i * sh + di - top, j * sw + dj - left
    full = (h_out, w_out, ph, pw, c)
    inside = np.broadcast_to((r >= 0) & (r < h) & (col >= 0) & (col < w), full)
    counts = inside.sum(axis=(2, 3), keepdims=True)        # (h_out, w_out, 1, 1, c): real inputs per window
    rows = np.broadcast_to((r * w + col) * c + ch, full)[inside]
    cols = np.broadcast_to((i * w_out + j) * c + ch, full)[inside]
    return rows, cols, np.broadcast_to(counts, full)[inside], (h_out, w_out, c)


def adaptive_spans(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, sizes), (m,) each: the windows of Keras' adaptive pooling along an axis of n inputs pooled to m.

    Window i starts at floor(i·n/m) and ends at ceil((i + 1)·n/m) (PyTorch's rule), both computed as Keras' TF
    backend computes them (float32 products and quotients, starts ≤ n − 1, ends ≤ n); Keras pools with two
    sizes, small = ceil(n/m) and small + 1, and a window takes small + 1 where end − start is that, else small
    (in exact arithmetic every end − start is one of the two)."""
    i = np.arange(m, dtype=np.float32)
    starts = np.minimum(np.floor(i * np.float32(n) / np.float32(m)), n - 1).astype(np.int64)
    ends = np.minimum(np.ceil((i + 1) * np.float32(n) / np.float32(m)), n).astype(np.int64)
    small = math.ceil(n / m)
    return starts, np.where(ends - starts == small + 1, small + 1, small)


def adaptive_windows(input_shape, out_size) -> np.ndarray:
    """(m_h·m_w·C, k_h·k_w): row (i, j, ch), row-major, holds the flat channels-last input indices
    (r * W + c) * C + ch of output (i, j, ch)'s window, r and c over the row and column spans of
    `adaptive_spans`, −1 where the window is smaller than the largest (k_h × k_w)."""
    h, w, c = image_shape(input_shape)
    m_h, m_w = out_size
    (r0, nr), (c0, nc) = adaptive_spans(h, m_h), adaptive_spans(w, m_w)
    i, j, ch, di, dj = np.ix_(*(np.arange(k) for k in (m_h, m_w, c, nr.max(), nc.max())))
    inside = (di < nr[i]) & (dj < nc[j])
    index = np.where(inside, ((r0[i] + di) * w + c0[j] + dj) * c + ch, -1)
    return index.reshape(m_h * m_w * c, -1)


def avg_pool_as_dense(input_shape, pool_size, strides=None, padding="valid", dtype=np.float32):
    """(M, b): AveragePooling2D as a (H·W·C, H_out·W_out·C) matrix and a zero bias (TF's divisor)."""
    dt = _float_dtype(dtype)
    rows, cols, counts, out_shape = window_indices(input_shape, pool_size, strides, padding)
    matrix = np.zeros((math.prod(image_shape(input_shape)), math.prod(out_shape)), dt)
    matrix[rows, cols] = 1.0 / counts
    return matrix, np.zeros(matrix.shape[1], dt)


def global_avg_pool_as_dense(input_shape, dtype=np.float32):
    """(M, b): GlobalAveragePooling2D, (H·W·C, C), entries 1/(H·W) — one 'valid' window over everything."""
    h, w, _ = image_shape(input_shape)
    return avg_pool_as_dense(input_shape, (h, w), dtype=dtype)


def _padding_pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D's ((top, bottom), (left, right)) from an int, a pair or a pair of pairs, all ≥ 0."""
    def ok(v):
        return isinstance(v, Integral) and not isinstance(v, bool) and v >= 0
    if ok(padding):
        pairs = ((padding, padding), (padding, padding))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(ok(v) for v in padding):
        pairs = ((padding[0], padding[0]), (padding[1], padding[1]))
    elif (isinstance(padding, (tuple, list)) and len(padding) == 2
          and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(ok(v) for v in p) for p in padding)):
        pairs = tuple(tuple(p) for p in padding)
    else:
        raise ValueError(f"padding must be an int ≥ 0, a pair, or ((top, bottom), (left, right)), got {padding!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


def zero_padding_as_dense(input_shape, padding, dtype=np.float32):
    """(M, b): ZeroPadding2D as a 0/1 matrix (H·W·C, (H+top+bottom)·(W+left+right)·C), zero bias."""
    dt = _float_dtype(dtype)
    h, w, c = image_shape(input_shape)
    (top, bottom), (left, right) = _padding_pairs(padding)
    out_shape = (h + top + bottom, w + left + right, c)
    r, col, ch = np.ix_(np.arange(h), np.arange(w), np.arange(c))
    rows = ((r * w + col) * c + ch).ravel()
    cols = (((r + top) * out_shape[1] + col + left) * c + ch).ravel()
    matrix = np.zeros((h * w * c, math.prod(out_shape)), dt)
    matrix[rows, cols] = 1
    return matrix, np.zeros(matrix.shape[1], dt), out_shape


def batch_norm_scale(gamma, beta, mean, variance, epsilon: float, axis: int, shape, dtype=np.float32):
    """(s, t), both flat over `shape`: inference BatchNormalization is y ↦ y·s + t (see the module).

    gamma/beta may be None (scale=False / center=False: γ = 1, β = 0). `axis` indexes `shape`
    (the per-image shape, without the batch axis); s and t are broadcast along every other axis.
    """
    dt = _float_dtype(dtype)
    gamma, beta, mean, variance = (None if v is None else np.asarray(v, np.float64)
                                   for v in (gamma, beta, mean, variance))
    if not isinstance(epsilon, (int, float)) or epsilon < 0 or (variance + epsilon <= 0).any():
        raise ValueError(f"epsilon must make every variance + epsilon > 0, got epsilon={epsilon!r}")
    if not -len(shape) <= axis < len(shape) or mean.shape != (shape[axis],):
        raise ValueError(f"axis {axis} of shape {tuple(shape)} does not match {mean.shape[0]} statistics")
    s = (1.0 if gamma is None else gamma) / np.sqrt(variance + float(epsilon))
    t = (0.0 if beta is None else beta) - mean * s
    along = [1] * len(shape)
    along[axis] = shape[axis]
    spread = lambda v: np.broadcast_to(v.reshape(along), tuple(shape)).ravel().astype(dt)  # noqa: E731
    return spread(s), spread(t)


def compose(W1, b1, W2, b2) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of x ↦ (x W₁ + b₁) W₂ + b₂, i.e. W = W₁ W₂, b = b₁ W₂ + b₂; a 1-D W is a diagonal.

    Shapes: W₁ (n, m) or (m,), W₂ (m, k) or (m,). The result is 1-D only if both are; its dtype is
    np.result_type(W₁, W₂) (products in float64, rounded once).
    """
    dt = np.result_type(W1, W2)
    W1, b1, W2, b2 = (np.asarray(a, np.float64) for a in (W1, b1, W2, b2))
    if W1.shape[-1] != W2.shape[0]:
        raise ValueError(f"cannot compose maps of shapes {W1.shape} and {W2.shape}")
    if W2.ndim == 1:
        W, b = W1 * W2, b1 * W2 + b2                     # W₁ · diag(d): scale W₁'s columns
    elif W1.ndim == 1:
        W, b = W1[:, None] * W2, b1 @ W2 + b2            # diag(d) · W₂: scale W₂'s rows
    else:
        W, b = W1 @ W2, b1 @ W2 + b2
    return W.astype(dt), b.astype(dt)
