"""Benchmark paths: the homework conv layer four ways, the Part-2 net three ways, and the summary.

Layer paths, all computing conv(x) for x (N, 28, 28, 1) → (N, 26, 26, 64), flattened channels-last:

    tf_conv      tf.nn.conv2d inside a tf.function                         N·43264·9 multiply-adds
    dense        x @ W + b, W the 784 × 43264 Toeplitz matrix               N·784·43264  (~87× more)
    sparse       the same W as scipy.sparse CSR (zeros not stored)          N·43264·9
    im2col       sliding_window_view patches (N·676, 9) @ kernel (9, 64)    N·43264·9

`summarize` turns mean times into the table a reader takes in at a glance: time, ratio to TF conv,
multiply-adds, GFLOP/s (2 FLOPs per multiply-add) and the fraction of the machine's matmul peak
(measured in the same run by a large float32 `np.matmul`, from its fastest round).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hw5.convert.layers import Dense
from hw5.convert.network import NumpyNet
from hw5.homework.geometry import conv_output_shape

PEAK_SIZE = 2048  # the float32 matmul that defines "peak": 2048³ multiply-adds


def conv_macs(n: int, input_shape, kernel_shape, strides=1, padding="valid") -> int:
    """Multiply-adds of a direct convolution: one kh·kw·C_in dot product per output neuron."""
    out = conv_output_shape(input_shape, kernel_shape[:2], strides, padding, kernel_shape[3])
    return n * math.prod(out) * math.prod(kernel_shape[:3])


def dense_macs(n: int, W) -> int:
    """Multiply-adds of x @ W with W dense: every entry, zeros included."""
    return n * W.shape[0] * W.shape[1]


def tf_conv_layer(kernel, bias):
    """x (N, H, W, C) float32 → conv(x) + bias, flattened; compiled once by tf.function."""
    import tensorflow as tf

    k, b = tf.constant(kernel), tf.constant(bias)

    @tf.function
    def conv(x):
        out = tf.nn.conv2d(x, k, strides=1, padding="VALID") + b
        return tf.reshape(out, (tf.shape(x)[0], -1))

    return lambda x: conv(tf.constant(x)).numpy()


def dense_layer(W, b):
    """The NumPy network's own Dense layer (x @ W, bias added in place) on flattened images."""
    layer = Dense(W, b, "conv", ())
    return lambda x: layer(x.reshape(len(x), -1))


def sparse_layer(W_csr, b):
    return SparseDense(W_csr.T.tocsr(), b, "conv", ())


def im2col_layer(kernel, bias):
    """'valid', stride-1 conv as one matmul of all patches with the kernel (no Toeplitz matrix).

    Each patch row gets a trailing 1 and the kernel matrix a trailing bias row, so the bias costs no
    extra pass over the (N·H'·W', C_out) output.
    """
    kh, kw, c_in, c_out = kernel.shape
    weights = np.vstack([kernel.reshape(kh * kw * c_in, c_out), bias[None]])  # (kh·kw·C + 1, C_out)

    def conv(x):
        n, h, w, _ = x.shape
        patches = np.empty((n, h - kh + 1, w - kw + 1, kh * kw * c_in + 1), x.dtype)
        patches[..., -1] = 1
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw)
        patches[..., :-1] = windows.transpose(0, 1, 2, 4, 5, 3).reshape(*patches.shape[:3], -1)
        return (patches.reshape(-1, patches.shape[-1]) @ weights).reshape(n, -1)

    return conv


@dataclass
class SparseDense:
    """x @ W + b with W stored sparse, kept as Wᵀ in CSR so that Wᵀ·xᵀ is a row-by-row sparse product."""
    Wt: object        # scipy.sparse CSR, (fan_out, fan_in)
    b: np.ndarray
    name: str
    out_shape: tuple

    def __call__(self, x):
        return np.asarray(self.Wt @ x.reshape(len(x), -1).T).T + self.b


def sparse_first_layer(net: NumpyNet) -> NumpyNet:
    """The same network with its (Toeplitz) first layer stored sparse."""
    import scipy.sparse

    first = net.layers[0]
    sparse = SparseDense(scipy.sparse.csr_matrix(first.W.T), first.b, first.name, first.out_shape)
    return replace(net, layers=[sparse, *net.layers[1:]])


def peak_matmul():
    """(function, multiply-adds): a float32 PEAK_SIZE² matmul, the machine's practical peak."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(np.float32) for _ in range(2))
    return (lambda: a @ b), PEAK_SIZE ** 3


def summarize(rows: list[dict], peak_gflops: float | None) -> list[dict]:
    """Add ratio to TF conv (same group), GFLOP/s and fraction of peak to rows {group, path, mean_s, macs}."""
    reference = {r["group"]: r["mean_s"] for r in rows if r["path"] in ("tf_conv", "keras")}
    out = []
    for r in rows:
        gflops = 2 * r["macs"] / r["mean_s"] / 1e9 if r.get("macs") else None
        out.append(dict(r, ratio_to_tf=r["mean_s"] / reference[r["group"]] if r["group"] in reference else None,
                        gflops=gflops,
                        peak_fraction=gflops / peak_gflops if gflops and peak_gflops else None))
    return out


def format_table(summary: list[dict], peak_gflops: float | None) -> str:
    """The summary as fixed-width text (what `make bench` prints at the end)."""
    lines = [f"matmul peak (float32 {PEAK_SIZE}³): {peak_gflops:.1f} GFLOP/s" if peak_gflops else "peak: n/a",
             f"{'group':<31} {'path':<16} {'mean':>10} {'× TF':>7} {'multiply-adds':>14} {'GFLOP/s':>8} {'of peak':>8}"]
    for r in summary:
        fmt = lambda v, f: format(v, f) if v is not None else "–"  # noqa: E731
        lines.append(f"{r['group']:<31} {r['path']:<16} {r['mean_s'] * 1e3:8.2f}ms {fmt(r['ratio_to_tf'], '7.2f')} "
                     f"{fmt(r.get('macs'), '14,d')} {fmt(r['gflops'], '8.1f')} {fmt(r['peak_fraction'], '8.0%')}")
    return "\n".join(lines)
