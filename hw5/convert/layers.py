"""The converter's NumPy layers, beside the homework's (hw5.homework.layers), same contract: a batch of flat
channels-last vectors (N, features) in, (N, features') out, a new array every call.

    Scale        x * d + t     the diagonal matrix diag(d), stored as its diagonal: BatchNormalization
                               that follows a non-linear layer
    BandedDense  x @ W + b     the same matrix multiplied band by band (hw5.convert.inspect.banded)
    Sigmoid, Tanh              elementwise, registered in ACTIVATIONS (the `activation=` names)

`max_pool2d_vectorized` is the homework's window loop without a loop (strided views), for the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw5.homework.layers import ACTIVATIONS, Dense, _pool_args


def max_pool2d_vectorized(x, pool_size=2, strides=2, padding="valid") -> np.ndarray:
    """The same as `max_pool2d`, without a Python loop (strided view of all windows)."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = _pool_args(x, pool_size, strides, padding)
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))  # (N, H', W', C, ph, pw)
    return windows[:, ::sh, ::sw][:, :h_out, :w_out].max(axis=(4, 5))


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


ACTIVATIONS.update(sigmoid=Sigmoid, tanh=Tanh)
