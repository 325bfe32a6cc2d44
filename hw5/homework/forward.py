"""Step 6 — the forward pass: the Part-2 net as a fully-connected NumPy network, written out.

`part2_forward` is matrix multiply plus bias per layer — the conv layer as its 784 × 43,264 matrix
(hw5.homework.toeplitz) —, max-pooling by a loop over the windows (`max_pool2d`), ReLU and softmax; it returns
every layer's output, so that each layer's neuron count can be checked against the one derived from kernel,
stride and padding. No convolution function anywhere.
"""
from __future__ import annotations

import numpy as np

from hw5.homework.geometry import axis_geometry, conv_output_shape, padding_mode, pair
from hw5.homework.toeplitz import conv2d_as_dense_loop


def pool_args(x, pool_size, strides, padding):
    """Checked (x, (ph, pw), (sh, sw), (h_out, w_out)) for a pooling of channels-last x; for 'same', x padded
    with −inf by axis_geometry's amounts, so that the windows are the 'valid' windows of the padded x."""
    x = np.asarray(x)
    if x.ndim != 4 or min(x.shape[1:]) < 1:
        raise ValueError(f"x must be channels-last (N, H, W, C) with H, W, C >= 1, got shape {x.shape}")
    pool, step, padding = pair(pool_size, "pool_size"), pair(strides, "strides"), padding_mode(padding)
    (h_out, *rows), (w_out, *cols) = (axis_geometry(size, k, s, padding, axis) for size, k, s, axis
                                      in zip(x.shape[1:3], pool, step, ("height", "width"), strict=True))
    if padding == "same":
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must be floating point for 'same' max-pooling (−inf padding), got {x.dtype}")
        x = np.pad(x, [(0, 0), rows, cols, (0, 0)], constant_values=-np.inf)
    return x, pool, step, (h_out, w_out)


def max_pool2d(x, pool_size=2, strides=2, padding="valid") -> np.ndarray:
    """Max-pooling on (N, H, W, C): the homework's loop over pooling windows."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = pool_args(x, pool_size, strides, padding)
    out = np.empty((x.shape[0], h_out, w_out, x.shape[3]), x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, i, j, :] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return out


def part2_forward(x, weights: dict, conv=None) -> dict[str, np.ndarray]:   # Part 2 (3)
    """Every layer's output, by Keras layer name, for images x (N, 28, 28[, 1]) in [0, 1]; "output" is the
    softmax (N, 10). `weights`: extract_weights(model) (conv/kernel (3, 3, 1, 64), conv/bias, dense/kernel
    (10816, 1024), dense/bias, output/kernel (1024, 10), output/bias); `conv`: the conv layer as a dense layer
    (W, b), by default conv2d_as_dense_loop of the trained kernel."""
    kernel, n = weights["conv/kernel"], len(x)
    W, b = conv if conv is not None else conv2d_as_dense_loop(kernel, weights["conv/bias"], (28, 28, 1))
    grid = conv_output_shape((28, 28, 1), kernel.shape[:2], filters=kernel.shape[3])   # (26, 26, 64)
    out = {"conv": (np.asarray(x, W.dtype).reshape(n, -1) @ W + b).reshape(n, *grid)}   # 784 -> 43,264
    out["pool"] = max_pool2d(out["conv"], 2, 2)                     # 2×2 windows, stride 2, a loop: 13·13·64
    out["relu"] = np.maximum(out["pool"], 0)
    out["flatten"] = out["relu"].reshape(n, -1)                      # (h, w, c) order, like Keras: 10,816
    out["dense"] = np.maximum(out["flatten"] @ weights["dense/kernel"] + weights["dense/bias"], 0)   # 1,024
    z = out["dense"] @ weights["output/kernel"] + weights["output/bias"]                            # 10 logits
    e = np.exp(z - z.max(axis=1, keepdims=True))                     # softmax, shifted by the max: no overflow
    out["output"] = e / e.sum(axis=1, keepdims=True)
    return out


