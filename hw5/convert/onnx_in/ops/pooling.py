"""MaxPool, GlobalMaxPool (a WindowMax layer) and AveragePool, GlobalAveragePool (a matrix), 1-D and 2-D.

    WindowMax    out[:, o] = max over windows[o] of x (hw5.convert.gathers, with its rules): ONNX pads
                 max-pooling with −∞, so a window's padding entries (−1) are left out of the max

AveragePool's divisor counts the window's taps inside the input, or with count_include_pad those inside the
padded input (a ceil_mode window's taps past the end padding never count).
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.gathers import WindowMax, real_first
from hw5.convert.onnx_in.registry import register_op
from hw5.convert.onnx_in.windows import as_2d, geometry, taps
from hw5.convert.registry import linear


def _windows(src, kernel: tuple, ceil_default=False):
    """(c, windows (C·H'·W', kh·kw) with −1 outside, counted taps for count_include_pad, output shape)."""
    c, (h, w) = as_2d(src, src.shape)
    strides, dil, begin, end, out = geometry(src, (h, w), kernel, ceil_default)
    k2 = (1, *kernel) if len(kernel) == 1 else kernel
    (rh, inh), (rw, inw) = (taps(n, o, k, s, d, p) for n, o, k, s, d, p in
                            zip((h, w), out, k2, strides, dil, begin, strict=True))
    padded = [(idx >= -p0) & (idx < n + p1) for idx, n, p0, p1 in zip((rh, rw), (h, w), begin, end, strict=True)]
    ch, i, j, a, b = np.ix_(np.arange(c), np.arange(out[0]), np.arange(out[1]), np.arange(k2[0]), np.arange(k2[1]))
    full = (c, out[0], out[1], k2[0], k2[1])
    inside = np.broadcast_to(inh[i, a] & inw[j, b], full)
    index = np.where(inside, (ch * h + rh[i, a]) * w + rw[j, b], -1).reshape(-1, k2[0] * k2[1])
    in_padded = np.broadcast_to(padded[0][i, a] & padded[1][j, b], full).reshape(index.shape)
    shape = (c, *out) if len(src.shape) == 3 else (c, out[1])
    return index, in_padded, shape


def _check_window(src, index):
    if (index.max(axis=1) < 0).any():
        raise src.refuse("has a window that lies wholly in the padding (no input to take the max of)")


@register_op("MaxPool")
def _max_pool(src):
    if src.config.get("storage_order", 0):
        raise src.refuse("storage_order 1 is not supported")
    index, _, shape = _windows(src, tuple(src.config["kernel_shape"]))
    _check_window(src, index)
    return [WindowMax(real_first(index), src.name, shape)], shape


@register_op("GlobalMaxPool")
def _global_max_pool(src):
    c, n = src.shape[0], math.prod(src.shape[1:])
    shape = (c, *[1] * (len(src.shape) - 1))
    return [WindowMax(np.arange(c * n).reshape(c, n)[:, ::-1].copy(), src.name, shape)], shape


@register_op("AveragePool")
def _average_pool(src):
    index, in_padded, shape = _windows(src, tuple(src.config["kernel_shape"]))
    counts = (in_padded if src.config.get("count_include_pad", 0) else index >= 0).sum(axis=1)
    if (counts == 0).any():
        raise src.refuse("has a window with no input to average")
    cols = np.broadcast_to(np.arange(len(index))[:, None], index.shape)
    real = index >= 0
    values = np.broadcast_to(1.0 / counts[:, None], index.shape)[real]
    return [linear(src, index[real], cols[real], values, math.prod(src.shape), None, shape)], shape


@register_op("GlobalAveragePool")
def _global_average_pool(src):
    c, n = src.shape[0], math.prod(src.shape[1:])
    shape = (c, *[1] * (len(src.shape) - 1))
    return [linear(src, np.arange(c * n), np.repeat(np.arange(c), n), np.full(c * n, 1.0 / n), c * n, None,
                   shape)], shape
