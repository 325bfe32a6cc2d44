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

The rest of the converter's layers sit beside their translations (hw5.convert.activations, hw5.convert.merges).
`max_pool2d_vectorized` is the window loop without a loop (strided views), for the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw5.homework.forward import max_pool2d, pool_args


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
