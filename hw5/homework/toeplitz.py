"""Step 5 — a Conv2D layer as the weight matrix of a fully-connected layer (Toeplitz matrix).

For a Keras kernel K (kh, kw, C_in, C_out) (cross-correlation, no flip) and images x (N, H, W, C_in),
(W, b) = conv2d_as_dense(K, bias, (H, W, C_in)) gives x.reshape(N, -1) @ W + b == conv2d(x).reshape(N, -1),
both flattened channels-last (h, w, c) like Keras' Flatten. Padding follows TensorFlow: 'same' gives
H_out = ⌈H / s⌉ and pads max((H_out − 1)·s + k − H, 0) rows, the odd extra one at the bottom (columns: right).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import numpy as np

PADDINGS = ("valid", "same")


def _pair(value, name: str) -> tuple[int, int]:
    """An int or an (a, b) pair of ints >= 1, as Keras takes strides and kernel sizes."""
    pair = (value, value) if isinstance(value, Integral) else tuple(value) if isinstance(value, Sequence) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def _padding(padding) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding.lower()


def _input_shape(input_shape) -> tuple[int, int, int]:
    if not isinstance(input_shape, Sequence) or len(input_shape) != 3 or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in input_shape):
        raise ValueError(f"input_shape must be (H, W, C_in) of positive ints, got {input_shape!r}")
    return tuple(int(v) for v in input_shape)


def _axis_geometry(size: int, k: int, s: int, padding: str, axis: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis, TensorFlow's rule."""
    if padding == "valid":
        if k > size:
            raise ValueError(f"kernel {axis} {k} is larger than the input {axis} {size} with padding='valid'")
        return (size - k) // s + 1, 0, 0
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def conv_output_shape(input_shape, kernel_size, strides=1, padding="valid", filters=1,
                      dilation_rate=1) -> tuple[int, int, int]:
    """(H_out, W_out, C_out) of a Conv2D (or, with filters=C, a pooling) layer: the neuron grid it feeds."""
    h, w, _ = _input_shape(input_shape)
    (kh, kw), (sh, sw), padding = _pair(kernel_size, "kernel_size"), _pair(strides, "strides"), _padding(padding)
    dh, dw = _pair(dilation_rate, "dilation_rate")
    if not isinstance(filters, Integral) or isinstance(filters, bool) or filters < 1:
        raise ValueError(f"filters must be a positive int, got {filters!r}")
    return (_axis_geometry(h, (kh - 1) * dh + 1, sh, padding, "height")[0],
            _axis_geometry(w, (kw - 1) * dw + 1, sw, padding, "width")[0], int(filters))


def _check_kernel(kernel) -> np.ndarray:
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (kh, kw, C_in, C_out), got shape {kernel.shape}")
    if kernel.dtype not in (np.float32, np.float64):
        raise TypeError(f"kernel must be float32 or float64, got {kernel.dtype}")
    if not np.isfinite(kernel).all():
        raise ValueError("kernel must be finite (it has NaN or inf entries)")
    return kernel


def toeplitz_indices(kernel_shape, input_shape, strides=1, padding="valid", dilation_rate=1):
    """(rows, cols, taps, out_shape): W[rows[n], cols[n]] = kernel.ravel()[taps[n]] for every nonzero of W,
    vectorized over output positions, kernel taps and channels; a tap at (di, dj) of output (i, j) reads input
    row i·sh + di·dh − top and column j·sw + dj·dw − left ((dh, dw): the dilation rate)."""
    kh, kw, c_in, c_out = kernel_shape
    h, w, _ = input_shape
    (sh, sw), padding = _pair(strides, "strides"), _padding(padding)
    dh, dw = _pair(dilation_rate, "dilation_rate")
    h_out, pad_top, _ = _axis_geometry(h, (kh - 1) * dh + 1, sh, padding, "height")
    w_out, pad_left, _ = _axis_geometry(w, (kw - 1) * dw + 1, sw, padding, "width")
    i, j, di, dj, ci, co = np.ix_(*(np.arange(n) for n in (h_out, w_out, kh, kw, c_in, c_out)))
    r, c = i * sh + di * dh - pad_top, j * sw + dj * dw - pad_left
    inside = np.broadcast_to((r >= 0) & (r < h) & (c >= 0) & (c < w), (h_out, w_out, kh, kw, c_in, c_out))
    full = (h_out, w_out, kh, kw, c_in, c_out)
    rows = np.broadcast_to((r * w + c) * c_in + ci, full)[inside]
    cols = np.broadcast_to((i * w_out + j) * c_out + co, full)[inside]
    taps = np.broadcast_to(((di * kw + dj) * c_in + ci) * c_out + co, full)[inside]
    return rows, cols, taps, (h_out, w_out, c_out)


def _check_all(kernel, bias, input_shape):
    kernel, input_shape = _check_kernel(kernel), _input_shape(input_shape)
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
    kernel, bias, input_shape = _check_all(kernel, bias, input_shape)
    rows, cols, taps, out_shape = toeplitz_indices(kernel.shape, input_shape, strides, padding, dilation_rate)
    matrix = np.zeros((math.prod(input_shape), math.prod(out_shape)), kernel.dtype)
    matrix[rows, cols] = kernel.ravel()[taps]
    return matrix, np.tile(bias, out_shape[0] * out_shape[1])


def conv2d_as_dense_loop(kernel, bias, input_shape, strides=1, padding="valid"):   # Part 2 (4)
    """`conv2d_as_dense` (no dilation) as a plain loop over output position (i, j), kernel tap (di, dj) and input
    channel c — the conversion written to be read; equal to the vectorized builder bit for bit:

        W[(r·W_in + col)·C_in + c, (i·W_out + j)·C_out + k] = K[di, dj, c, k], r = i·s + di − top, col = j·s + dj − left
    """
    kernel, bias, (h, w, c_in) = _check_all(kernel, bias, input_shape)
    kh, kw, _, c_out = kernel.shape
    (sh, sw), padding = _pair(strides, "strides"), _padding(padding)
    h_out, top, _ = _axis_geometry(h, kh, sh, padding, "height")
    w_out, left, _ = _axis_geometry(w, kw, sw, padding, "width")
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
    (h, w, _), (kh, kw), (sh, sw) = _input_shape(input_shape), _pair(kernel_size, "kernel_size"), \
        _pair(strides, "strides")
    lines = []
    for axis, size, k, s in (("height", h, kh, sh), ("width", w, kw, sw)):
        out, before, after = _axis_geometry(size, k, s, _padding(padding), axis)
        if _padding(padding) == "valid":
            lines.append(f"{axis}: ⌊({size} − {k} + 2·0) / {s}⌋ + 1 = {out}")
        else:
            lines.append(f"{axis}: ⌈{size} / {s}⌉ = {out}  ('same': {before + after} zero(s) added, "
                         f"{before} before, {after} after)")
    h_out, w_out, c_out = conv_output_shape(input_shape, kernel_size, strides, padding, filters)
    lines.append(f"neurons: {h_out} · {w_out} · {c_out} = {h_out * w_out * c_out:,}")
    return lines
