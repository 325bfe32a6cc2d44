"""Every convolution as its explicit matrix: Conv2D (groups), DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose, their 1-D siblings, and Dense on any rank — each one translation function and one registry
entry (the depthwise, separable and transpose ones one function for both ranks, bound with functools.partial).

All of them are sums over kernel taps: the entry

    M[(r·W + c)·C_in + ci,  (i·W_out + j)·C_out + co] = K[di, dj, k(ci, co)]

for every output position (i, j), tap (di, dj) and channel pair (ci, co) the layer connects, with the input
position r = i·sh + di·dh − pad_top, c = j·sw + dj·dw − pad_left inside the image (taps on padding hold no
entry: a sparse matrix stores exactly the multiply-adds a direct convolution does on real inputs):

    Conv2D, groups g      pairs (g·C_in/g + a, co) for co in group g = co // (C_out/g), a < C_in/g;
                          k = a·C_out + co (kernel (kh, kw, C_in/g, C_out))
    DepthwiseConv2D       pairs (c, c·m + j), j < depth_multiplier m; k = c·m + j (kernel (kh, kw, C, m))
    Conv2DTranspose       the transpose of Conv2D's relation on the *output* grid (TF's conv2d_transpose is
                          conv2d's gradient): input (i, j) feeds output (i·s + di·d − pad, …),
                          kernel (kh, kw, C_out, C_in), k = co·C_in + ci
    SeparableConv2D       DepthwiseConv2D, then the pointwise kernel (C·m, F) at every position (two matrices)
    Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D
                          the 2-D layer on a (1, L, C) grid: kernel (1, k, ·, ·), strides (1, s), dilation
                          (1, d), output_padding (0, p); the height axis (size 1, kernel 1) is never padded
                          (Conv1D's 'causal': (k − 1)·d zeros before, none after; Keras allows it for Conv1D only)

One Python loop over the kh·kw taps, vectorized over positions and channels (index arrays int64 only
where int32 cannot hold them).
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np

from hw5.convert.activations import activation_layers
from hw5.convert.layers import Dense
from hw5.convert.registry import Source, Translation, check_dense, index_dtype, linear, register
from hw5.homework.geometry import axis_geometry


def _geometry(size: int, k: int, s: int, d: int, padding: str, axis: str) -> tuple[int, int]:
    """(output size, padding before) of a conv along one axis, TF's rule; 'causal' pads (k − 1)·d before."""
    span = (k - 1) * d + 1
    if padding == "causal":
        return (size + span - 1 - span) // s + 1, span - 1
    out, before, _ = axis_geometry(size, span, s, padding, axis)
    return out, before


def transpose_entries(in_hw, out_hw, pads, kernel_hw, strides, dilation, pairs, c_in: int, c_out: int):
    """(rows, cols, taps) of Conv2DTranspose: M[rows, cols] = kernel.reshape(kh·kw, -1)[taps // P, …].

    The relation is conv2d's drawn backwards: the output grid `out_hw` plays conv2d's input (the big grid
    read through the taps), the input grid `in_hw` conv2d's output. `pairs` is (ci, co, k) arrays of the
    channel pairs; taps is tap index · P + pair index, flattened like rows and cols."""
    (h, w), (h_out, w_out) = in_hw, out_hw
    (kh, kw), (sh, sw), (dh, dw), (top, left) = kernel_hw, strides, dilation, pads
    ci, co, k = pairs
    rows, cols, ks = [], [], []
    it = np.int64
    for di in range(kh):
        for dj in range(kw):
            i = np.arange(h)
            r = i * sh + di * dh - top
            i, r = i[(r >= 0) & (r < h_out)], r[(r >= 0) & (r < h_out)]
            j = np.arange(w)
            c = j * sw + dj * dw - left
            j, c = j[(c >= 0) & (c < w_out)], c[(c >= 0) & (c < w_out)]
            big = (r[:, None] * w_out + c[None, :]).ravel().astype(it)        # positions on the output grid
            small = (i[:, None] * w + j[None, :]).ravel().astype(it)          # positions on the input grid
            rows.append((small[:, None] * c_in + ci[None, :]).ravel())
            cols.append((big[:, None] * c_out + co[None, :]).ravel())
            ks.append(np.broadcast_to((di * kw + dj) * k.size + np.arange(k.size), (big.size, k.size)).ravel())
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(ks)


CSC_BLOCK = 4_000_000   # candidate entries generated at a time (a block of output rows): bounds the working memory


def conv_csc(in_grid, out_hw, pads, kernel, strides, dilation, pair_ci, pair_k, dtype):
    """The conv matrix as scipy.sparse CSC, generated column by column in order (canonical, no sort).

    in_grid (h, w, c_in); kernel (kh, kw, …) read at kernel.reshape(kh, kw, -1)[:, :, pair_k[co, p]] for the
    input channel pair_ci[co, p] (p < P pairs per output channel co). A block of output rows at a time."""
    import scipy.sparse

    (h, w, c_in), (h_out, w_out), (top, left) = in_grid, out_hw, pads
    (kh, kw), (sh, sw), (dh, dw) = kernel.shape[:2], strides, dilation
    c_out, per = pair_ci.shape
    values = np.moveaxis(kernel.reshape(kh, kw, -1)[:, :, pair_k], 2, 0).astype(dtype)   # (c_out, kh, kw, P)
    n_in, n_out = h * w * c_in, h_out * w_out * c_out
    it = index_dtype(n_in, n_out, n_out * kh * kw * per)   # rows, columns and row pointers (≤ the entries)
    j, di, dj = np.arange(w_out)[:, None, None], np.arange(kh)[None, :, None], np.arange(kw)[None, None, :]
    c = j * sw + dj * dw - left                                                    # (w_out, 1, kw)
    data, indices, counts = [], [], []
    step = max(1, CSC_BLOCK // max(1, w_out * c_out * kh * kw * per))
    for i0 in range(0, h_out, step):
        i = np.arange(i0, min(h_out, i0 + step))[:, None, None, None]
        r = i * sh + di[None] * dh - top                                           # (bi, 1, kh, 1)
        inside = (r >= 0) & (r < h) & (c[None] >= 0) & (c[None] < w)               # (bi, w_out, kh, kw)
        full = (len(i), w_out, c_out, kh, kw, per)
        mask = np.broadcast_to(inside[:, :, None, :, :, None], full)
        pixel = (r * w + c[None])[:, :, None, :, :, None]                          # (bi, w_out, 1, kh, kw, 1)
        rows = (pixel.astype(np.int64) * c_in + pair_ci[None, None, :, None, None, :])
        indices.append(np.broadcast_to(rows, full)[mask].astype(it))
        data.append(np.broadcast_to(values[None, None], full)[mask])
        counts.append(np.broadcast_to(inside.sum(axis=(2, 3))[:, :, None] * per, full[:3]).ravel())
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(it)
    return scipy.sparse.csc_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(n_in, n_out))


def _conv(src: Source, kernel, bias, pair_ci, pair_k, transpose: bool = False, one_d: bool = False):
    """(Dense layer, out grid) of a (grouped/depthwise/transposed) convolution; kernel (kh, kw, ·, ·),
    pair_ci/pair_k (C_out, P): the input channels of each output channel and their kernel columns.
    one_d: an (L, C) grid read as (1, L, C), the config's 1-tuples along the width (kernel (1, k, ·, ·))."""
    cfg = src.config
    if cfg["data_format"] != "channels_last":
        raise src.refuse(f"data_format {cfg['data_format']!r} is not supported (channels_last)")
    shape = ((1, *src.shape) if one_d else src.shape)
    if len(shape) != 3:
        raise src.refuse(f"needs an ({'L' if one_d else 'H, W'}, C) input, got the grid {src.shape}")
    h, w, c_in = shape
    c_out = pair_ci.shape[0]

    def pair(key: str, height):   # the config's (height, width) pair; a 1-D layer's height is `height`
        value = cfg[key]
        return None if value is None else (height, *value) if one_d else tuple(value)
    strides, dilation = pair("strides", 1), pair("dilation_rate", 1)
    kh, kw = kernel.shape[:2]
    padding = cfg["padding"]
    if not transpose:
        (h_out, top), (w_out, left) = (_geometry(n, k, s, d, p, a) for n, k, s, d, p, a in zip(  # noqa: B905
            (h, w), (kh, kw), strides, dilation, ("valid" if one_d else padding, padding), ("height", "width")))
    else:
        (h_out, top), (w_out, left) = (_transpose_geometry(n, k, s, d, padding, op) for n, k, s, d, op in zip(  # noqa: B905
            (h, w), (kh, kw), strides, dilation, pair("output_padding", 0) or (None, None)))
    out = (w_out, c_out) if one_d else (h_out, w_out, c_out)
    b = None if bias is None else np.tile(bias, h_out * w_out)
    if transpose:
        rows, cols, taps = transpose_entries((h, w), (h_out, w_out), (top, left), (kh, kw), strides, dilation,
                                             (pair_ci.ravel(), np.repeat(np.arange(c_out), pair_ci.shape[1]),
                                              pair_k.ravel()), c_in, c_out)
        values = kernel.reshape(kh * kw, -1)[taps // pair_k.size, pair_k.ravel()[taps % pair_k.size]]
        return linear(src, rows, cols, values, h * w * c_in, b, out), out
    if not src.sparse:
        check_dense(src, h * w * c_in, h_out * w_out * c_out)
    csc = conv_csc((h, w, c_in), (h_out, w_out), (top, left), kernel, strides, dilation, pair_ci, pair_k, src.dtype)
    W = csc.tocsr() if src.sparse else csc.toarray()
    return Dense(W, np.zeros(math.prod(out), src.dtype) if b is None else b.astype(src.dtype), src.name, out), out


def _transpose_geometry(size: int, k: int, s: int, d: int, padding: str, output_padding) -> tuple[int, int]:
    """Conv2DTranspose along one axis: (output size, the padding conv2d would put before it), Keras' rule."""
    span = (k - 1) * d + 1
    if output_padding is None:
        out = size * s + max(span - s, 0) if padding == "valid" else size * s
    else:
        out = (size - 1) * s + span - 2 * (span // 2 if padding == "same" else 0) + output_padding
    total = max((size - 1) * s + span - out, 0) if padding == "same" else 0
    return out, total // 2


def _with_activation(src: Source, layer, out) -> Translation:
    act = src.config["activation"]
    return [layer, *activation_layers(src, act, f"{src.name}.{act}", out)], out


@register("Conv2D")
def _conv2d(src: Source) -> Translation:
    src.spatial()                             # an (H, W, C) channels-last grid, before the kernel is read
    kernel = src.param("kernel")
    layer, out = _conv(src, kernel, src.param("bias"), *_group_pairs(kernel, src.config["groups"]))
    return _with_activation(src, layer, out)


def _group_pairs(kernel, groups: int):
    """(pair_ci, pair_k), (C_out, C_in/g): output channel co reads the C_in/g channels of its group
    co // (C_out/g); kernel column a·C_out + co (kernel (kh, kw, C_in/g, C_out))."""
    per, c_out = kernel.shape[2:]
    co, a = np.meshgrid(np.arange(c_out), np.arange(per), indexing="ij")
    return (co // (c_out // groups)) * per + a, a * c_out + co


@register("Conv1D")
def _conv1d(src: Source) -> Translation:
    kernel = src.param("kernel")[None]                                       # (1, k, C_in/g, C_out)
    layer, out = _conv(src, kernel, src.param("bias"), *_group_pairs(kernel, src.config["groups"]), one_d=True)
    return _with_activation(src, layer, out)


def _depthwise_pairs(c: int, m: int):
    """(pair_ci, pair_k), (C·m, 1): output channel c·m + j reads input channel c, kernel column c·m + j."""
    co = np.arange(c * m)[:, None]
    return co // m, co


def _kernel(src: Source, variable: str, rank: int):
    """The layer's kernel as a 2-D one: a 1-D kernel (k, ·, ·) becomes (1, k, ·, ·)."""
    kernel = src.param(variable)
    return kernel[None] if rank == 1 else kernel


def _depthwise(rank: int, src: Source) -> Translation:
    """DepthwiseConv2D; DepthwiseConv1D (rank 1) as it on a (1, L, C) grid."""
    kernel = _kernel(src, "kernel", rank)                                   # (kh, kw, C, m)
    layer, out = _conv(src, kernel, src.param("bias"), *_depthwise_pairs(*kernel.shape[2:]), one_d=rank == 1)
    return _with_activation(src, layer, out)


def _separable(rank: int, src: Source) -> Translation:
    """SeparableConv2D; SeparableConv1D (rank 1) as it on a (1, L, C) grid: depthwise, then pointwise."""
    depthwise = _kernel(src, "depthwise_kernel", rank)                      # (kh, kw, C, m)
    pointwise = src.param("pointwise_kernel")                               # (1, 1, C·m, F) or (1, C·m, F)
    first, grid = _conv(src, depthwise, None, *_depthwise_pairs(*depthwise.shape[2:]), one_d=rank == 1)
    first.name = f"{src.name}.depthwise"
    second, out = _pointwise(src, pointwise.reshape(pointwise.shape[-2:]), src.param("bias"), grid)
    layers, out = _with_activation(src, second, out)
    return [first, *layers], out


def _pointwise(src: Source, kernel, bias, grid):
    """kernel (C, F) applied at every position of `grid` (…, C): the block diagonal I ⊗ kernel, built as
    a 1×1 convolution over the positions (a (1, positions, C) image)."""
    positions, c_out = math.prod(grid[:-1]), kernel.shape[1]
    flat = replace(src, shape=(1, positions, grid[-1]), config=_POINTWISE)
    layer, _ = _conv(flat, kernel[None, None], bias, *_group_pairs(kernel[None, None], 1))
    out = (*grid[:-1], c_out)
    layer.out_shape = out
    return layer, out


_POINTWISE = {"data_format": "channels_last", "strides": (1, 1), "dilation_rate": (1, 1), "padding": "valid"}


def _conv_transpose(rank: int, src: Source) -> Translation:
    """Conv2DTranspose; Conv1DTranspose (rank 1) as it on a (1, L, C) grid."""
    kernel = _kernel(src, "kernel", rank)                                   # (kh, kw, C_out, C_in)
    c_out, c_in = kernel.shape[2:]
    co, ci = np.meshgrid(np.arange(c_out), np.arange(c_in), indexing="ij")
    layer, out = _conv(src, kernel, src.param("bias"), ci, co * c_in + ci, transpose=True, one_d=rank == 1)
    return _with_activation(src, layer, out)


for _rank in (1, 2):
    register(f"DepthwiseConv{_rank}D")(partial(_depthwise, _rank))
    register(f"SeparableConv{_rank}D")(partial(_separable, _rank))
    register(f"Conv{_rank}DTranspose")(partial(_conv_transpose, _rank))


@register("Dense")
def _dense(src: Source) -> Translation:
    """x @ kernel along the last axis at every position of the grid: the block diagonal I ⊗ kernel."""
    kernel, shape = src.param("kernel"), src.shape
    if kernel.shape[0] != shape[-1]:
        raise src.refuse(f"kernel has {kernel.shape[0]} inputs, expected {shape[-1]}")
    bias = src.param("bias")
    if len(shape) == 1 and not src.sparse:      # the homework's case: the kernel itself
        out = (kernel.shape[1],)
        return _with_activation(src, Dense(kernel, np.zeros(out, src.dtype) if bias is None else bias, src.name,
                                           out), out)
    layer, out = _pointwise(src, kernel, bias, shape)
    return _with_activation(src, layer, out)
