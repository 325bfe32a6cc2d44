"""Step 5 — a Conv2D layer as the weight matrix of a fully-connected layer (Toeplitz matrix).

For a Keras kernel K (kh, kw, C_in, C_out) (cross-correlation, no flip) and images x (N, H, W, C_in),
(W, b) = conv2d_as_dense(K, bias, (H, W, C_in)) gives x.reshape(N, -1) @ W + b == conv2d(x).reshape(N, -1),
both flattened channels-last (h, w, c) like Keras' Flatten. Padding follows TensorFlow: 'same' gives
H_out = ⌈H / s⌉ and pads max((H_out − 1)·s + k − H, 0) rows, the odd extra one at the bottom (columns: right).
"""
from __future__ import annotations

import math

import numpy as np

from hw5.homework.geometry import axis_geometry, conv_output_shape, image_shape, padding_mode, pair


def toeplitz_indices(kernel_shape, input_shape, strides=1, padding="valid", dilation_rate=1):
    """(rows, cols, taps, out_shape): W[rows[n], cols[n]] = kernel.ravel()[taps[n]] for every nonzero of W,
    vectorized over output positions, kernel taps and channels; a tap at (di, dj) of output (i, j) reads input
    row i·sh + di·dh − top and column j·sw + dj·dw − left ((dh, dw): the dilation rate)."""
    kh, kw, c_in, c_out = kernel_shape
    h, w, _ = input_shape
    (sh, sw), padding = pair(strides, "strides"), padding_mode(padding)
    dh, dw = pair(dilation_rate, "dilation_rate")
    h_out, pad_top, _ = axis_geometry(h, (kh - 1) * dh + 1, sh, padding, "height")
    w_out, pad_left, _ = axis_geometry(w, (kw - 1) * dw + 1, sw, padding, "width")
    i, j, di, dj, ci, co = np.ix_(*(np.arange(n) for n in (h_out, w_out, kh, kw, c_in, c_out)))
    r, c = i * sh + di * dh - pad_top, j * sw + dj * dw - pad_left
    inside = np.broadcast_to((r >= 0) & (r < h) & (c >= 0) & (c < w), (h_out, w_out, kh, kw, c_in, c_out))
    full = (h_out, w_out, kh, kw, c_in, c_out)
    rows = np.broadcast_to((r * w + c) * c_in + ci, full)[inside]
    cols = np.broadcast_to((i * w_out + j) * c_out + co, full)[inside]
    taps = np.broadcast_to(((di * kw + dj) * c_in + ci) * c_out + co, full)[inside]
    return rows, cols, taps, (h_out, w_out, c_out)


def check_conv_args(kernel, bias, input_shape):
    """(kernel, bias in its dtype, (H, W, C_in)), checked against each other (zeros for a bias of None)."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (kh, kw, C_in, C_out), got shape {kernel.shape}")
    if kernel.dtype not in (np.float32, np.float64):
        raise TypeError(f"kernel must be float32 or float64, got {kernel.dtype}")
    if not np.isfinite(kernel).all():
        raise ValueError("kernel must be finite (it has NaN or inf entries)")
    input_shape = image_shape(input_shape)
    if input_shape[2] != kernel.shape[2]:
        raise ValueError(f"input_shape has {input_shape[2]} channels but the kernel expects "
                         f"C_in={kernel.shape[2]} (kernel shape {kernel.shape})")
    c_out = kernel.shape[3]
    bias = np.zeros(c_out) if bias is None else np.asarray(bias)
    if bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) to match the kernel's C_out, got {bias.shape}")
    if not np.isfinite(bias).all():
        raise ValueError("bias must be finite (it has NaN or inf entries)")
    return kernel, bias.astype(kernel.dtype), input_shape


def conv2d_as_dense(kernel, bias, input_shape, strides=1, padding="valid", dilation_rate=1):
    """(W, b): Conv2D(kernel, bias) on inputs of `input_shape` as a dense layer, W (H·W·C_in, H_out·W_out·C_out)
    and b (H_out·W_out·C_out,) in the kernel's dtype (b zeros when `bias` is None); vectorized."""
    kernel, bias, input_shape = check_conv_args(kernel, bias, input_shape)
    rows, cols, taps, out_shape = toeplitz_indices(kernel.shape, input_shape, strides, padding, dilation_rate)
    matrix = np.zeros((math.prod(input_shape), math.prod(out_shape)), kernel.dtype)
    matrix[rows, cols] = kernel.ravel()[taps]
    return matrix, np.tile(bias, out_shape[0] * out_shape[1])


def conv2d_as_dense_loop(kernel, bias, input_shape, strides=1, padding="valid"):   # Part 2 (4)
    """`conv2d_as_dense` (no dilation) as a plain loop over output position (i, j), kernel tap (di, dj) and input
    channel c — the conversion written to be read; equal to the vectorized builder bit for bit:

        W[(r·W_in + col)·C_in + c, (i·W_out + j)·C_out + k] = K[di, dj, c, k], r = i·s + di − top, col = j·s + dj − left
    """
    kernel, bias, (h, w, c_in) = check_conv_args(kernel, bias, input_shape)
    kh, kw, _, c_out = kernel.shape
    (sh, sw), padding = pair(strides, "strides"), padding_mode(padding)
    h_out, top, _ = axis_geometry(h, kh, sh, padding, "height")
    w_out, left, _ = axis_geometry(w, kw, sw, padding, "width")
    W = np.zeros((h * w * c_in, h_out * w_out * c_out), kernel.dtype)
    for i in range(h_out):                          # output position (i, j): its c_out neurons, one per filter k
        for j in range(w_out):
            first = (i * w_out + j) * c_out
            for di in range(kh):                    # kernel tap (di, dj), where it lands in the input
                for dj in range(kw):
                    r, col = i * sh + di - top, j * sw + dj - left
                    if 0 <= r < h and 0 <= col < w:   # outside: a padding zero, no weight
                        for c in range(c_in):       # input channel c feeds every filter k
                            W[(r * w + col) * c_in + c, first:first + c_out] = kernel[di, dj, c, :]
    return W, np.tile(bias, h_out * w_out)


def derive_output_shape(input_shape, kernel_size, strides=1, padding="valid", filters=1) -> list[str]:
    """`conv_output_shape` written out for a reader, one line per axis and one for the neuron count:
    'valid': out = ⌊(in − k + 2·0) / s⌋ + 1; 'same': out = ⌈in / s⌉ with max((out − 1)·s + k − in, 0)
    zeros added, the smaller half before. Also right for pooling (kernel = pool, filters = channels)."""
    (h, w, _), (kh, kw), (sh, sw) = image_shape(input_shape), pair(kernel_size, "kernel_size"), pair(strides, "strides")
    lines = []
    for axis, size, k, s in (("height", h, kh, sh), ("width", w, kw, sw)):
        out, before, after = axis_geometry(size, k, s, padding_mode(padding), axis)
        if padding_mode(padding) == "valid":
            lines.append(f"{axis}: ⌊({size} − {k} + 2·0) / {s}⌋ + 1 = {out}")
        else:
            lines.append(f"{axis}: ⌈{size} / {s}⌉ = {out}  ('same': {before + after} zero(s) added, "
                         f"{before} before, {after} after)")
    h_out, w_out, c_out = conv_output_shape(input_shape, kernel_size, strides, padding, filters)
    lines.append(f"neurons: {h_out} · {w_out} · {c_out} = {h_out * w_out * c_out:,}")
    return lines
