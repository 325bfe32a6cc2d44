"""Conv and ConvTranspose (1-D, 2-D; groups, strides, dilations, pads, auto_pad) as explicit matrices.

In ONNX's order, channel-major, input (c, r, q) is row (c·H + r)·W + q and output (o, i, j) column
(o·H' + i)·W' + j. Conv, kernel K (O, C/g, kh, kw), group g (output o in group o // (O/g) reads that group's
input channels):

    M[(g·C/g + c', i·sh − ph + a·dh, j·sw − pw + b·dw), (o, i, j)] = K[o, c', a, b]   (inside the input only)

ConvTranspose, kernel K (C, O/g, kh, kw): input (c, r, q) adds K[c, o', a, b]·x to output
(g·O/g + o', r·sh − ph + a·dh, q·sw − pw + b·dw), output size sh·(n − 1) + output_padding + (kh − 1)·dh + 1 −
ph₀ − ph₁ (or `output_shape`, the pads then following auto_pad's rule: SAME_UPPER puts the odd one at the end).
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.onnx_in.registry import register_op
from hw5.convert.onnx_in.windows import as_2d, geometry, taps
from hw5.convert.registry import linear


def _kernel(src, transpose: bool):
    kernel = src.const(1, "kernel")
    c, _ = as_2d(src, src.shape)
    if kernel is None or kernel.ndim != len(src.shape) + 1:
        raise src.refuse(f"needs a kernel of rank {len(src.shape) + 1}, got "
                         f"{None if kernel is None else kernel.shape}")
    group = int(src.config.get("group", 1))
    fits = (kernel.shape[0] == c and c % group == 0) if transpose else \
        (kernel.shape[1] * group == c and kernel.shape[0] % group == 0)
    if group < 1 or not fits:
        raise src.refuse(f"kernel {kernel.shape} and group {group} do not fit {c} input channels")
    kernel = kernel.reshape(*kernel.shape[:2], 1, -1) if kernel.ndim == 3 else kernel
    declared = src.config.get("kernel_shape")
    if declared is not None and tuple(declared) != tuple(kernel.shape[2:][-len(declared):]):
        raise src.refuse(f"kernel_shape {declared} differs from the kernel's {kernel.shape[2:]}")
    return np.asarray(kernel, np.float64), group


def _bias(src, n_out_channels: int, plane: int):
    bias = src.const(2, "bias")
    return None if bias is None else np.repeat(np.asarray(bias, np.float64), plane)


@register_op("Conv")
def _conv(src):
    kernel, group = _kernel(src, transpose=False)
    o_all, c_g, kh, kw = kernel.shape
    c, (h, w) = as_2d(src, src.shape)
    strides, dil, begin, _, out = geometry(src, (h, w), tuple(kernel.shape[2:]) if len(src.shape) == 3
                                           else (kw,))
    (rh, inh), (rw, inw) = (taps(n, o, k, s, d, p) for n, o, k, s, d, p in
                            zip((h, w), out, (kh, kw), strides, dil, begin, strict=True))
    og = o_all // group
    o, ci, i, a, j, b = np.ix_(np.arange(o_all), np.arange(c_g), np.arange(out[0]), np.arange(kh),
                               np.arange(out[1]), np.arange(kw))
    r, q = rh[i, a], rw[j, b]
    inside = np.broadcast_to(inh[i, a] & inw[j, b], (o_all, c_g, out[0], kh, out[1], kw))
    channel = (o // og) * c_g + ci
    rows = np.broadcast_to((channel * h + r) * w + q, inside.shape)[inside]
    cols = np.broadcast_to((o * out[0] + i) * out[1] + j, inside.shape)[inside]
    values = np.broadcast_to(kernel[o, ci, a, b], inside.shape)[inside]
    shape = (o_all, *out) if len(src.shape) == 3 else (o_all, out[1])
    return [linear(src, rows, cols, values, math.prod(src.shape), _bias(src, o_all, out[0] * out[1]), shape)], shape


@register_op("ConvTranspose")
def _conv_transpose(src):
    kernel, group = _kernel(src, transpose=True)
    c, og, kh, kw = kernel.shape
    _, (h, w) = as_2d(src, src.shape)
    rank = len(src.shape) - 1
    cfg = dict(src.config)
    pad = (lambda t: (0, *t)) if rank == 1 else tuple
    one = (lambda t: (1, *t)) if rank == 1 else tuple
    strides, dil = one(cfg.get("strides", [1] * rank)), one(cfg.get("dilations", [1] * rank))
    extra = pad(cfg.get("output_padding", [0] * rank))
    full = [s * (n - 1) + e + (k - 1) * d + 1 for n, s, e, k, d in zip((h, w), strides, extra, (kh, kw), dil,
                                                                         strict=True)]
    if "output_shape" in cfg:
        out = list(one(cfg["output_shape"][-rank:]))
        total = [f - o for f, o in zip(full, out, strict=True)]
        lower = cfg.get("auto_pad") == "SAME_LOWER"
        begin = [t - t // 2 if lower else t // 2 for t in total]
    else:
        auto = cfg.get("auto_pad", "NOTSET") or "NOTSET"
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out = [n * s for n, s in zip((h, w), strides, strict=True)]
            total = [f - o for f, o in zip(full, out, strict=True)]
            begin = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
        else:
            pads = [0] * 2 * rank if auto == "VALID" else list(cfg.get("pads", [0] * 2 * rank))
            begin, end = pad(pads[:rank]), pad(pads[rank:])
            out = [f - b - e for f, b, e in zip(full, begin, end, strict=True)]
    if min(out) < 1 or min(begin) < 0:
        raise src.refuse(f"gives an output of size {out} with pads beginning {begin}: not supported")
    (rh, inh), (rw, inw) = (taps(o, n, k, s, d, p) for o, n, k, s, d, p in
                            zip(out, (h, w), (kh, kw), strides, dil, begin, strict=True))
    ci, oo, r, a, q, b = np.ix_(np.arange(c), np.arange(og), np.arange(h), np.arange(kh), np.arange(w),
                                np.arange(kw))
    i, j = rh[r, a], rw[q, b]
    inside = np.broadcast_to(inh[r, a] & inw[q, b], (c, og, h, kh, w, kw))
    channel = (ci // (c // group)) * og + oo
    rows = np.broadcast_to((ci * h + r) * w + q, inside.shape)[inside]
    cols = np.broadcast_to((channel * out[0] + i) * out[1] + j, inside.shape)[inside]
    values = np.broadcast_to(kernel[ci, oo, a, b], inside.shape)[inside]
    o_all = og * group
    shape = (o_all, *out) if rank == 2 else (o_all, out[1])
    M = _summed(rows, cols, values, math.prod(src.shape), math.prod(shape))
    return [linear(src, M.row, M.col, M.data, math.prod(src.shape), _bias(src, o_all, out[0] * out[1]), shape)], shape


def _summed(rows, cols, values, n_in: int, n_out: int):
    """The entries with repeated (row, column) pairs summed (a transposed conv can reach one pair twice)."""
    import scipy.sparse

    coo = scipy.sparse.coo_matrix((values, (rows, cols)), shape=(n_in, n_out))
    coo.sum_duplicates()
    return coo
