"""The NumPy layers of the homework's fully-connected network: each maps a batch of flat vectors
(N, features) to (N, features'), flattened channels-last (h, w, c) like Keras' Flatten.

    Dense     x @ W + b          every linear map (a Conv2D arrives here as its Toeplitz matrix)
    MaxPool   un-flatten to (N, H, W, C), max over each window (a loop, as in the homework), flatten;
              'same' pads with −inf, TensorFlow's way (the odd extra row/column at the bottom/right)
    ReLU      max(x, 0)
    Softmax   exp(x − max) / Σ over the last axis of the neuron grid (the classes, or the channels)

ACTIVATIONS maps a Keras activation name to its layer; the converter (hw5.convert.layers) adds its own
layers and activations to it. Every layer returns a new array, so the list `NumpyNet.forward` returns is
never overwritten later.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw5.homework.toeplitz import _axis_geometry, _padding, _pair


def _pool_args(x, pool_size, strides, padding):
    """Checked (x, (ph, pw), (sh, sw), (h_out, w_out)) for a pooling of channels-last x.

    For 'same', x comes back padded with −inf (TensorFlow's rule: total max((out − 1)·s + k − size, 0),
    the smaller half on top/left), so that the windows are the 'valid' windows of the padded x.
    """
    x = np.asarray(x)
    if x.ndim != 4 or min(x.shape[1:]) < 1:
        raise ValueError(f"x must be channels-last (N, H, W, C) with H, W, C >= 1, got shape {x.shape}")
    pool, step, padding = _pair(pool_size, "pool_size"), _pair(strides, "strides"), _padding(padding)
    (h_out, *rows), (w_out, *cols) = (_axis_geometry(size, k, s, padding, axis) for size, k, s, axis
                                      in zip(x.shape[1:3], pool, step, ("height", "width"), strict=True))
    if padding == "same":
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must be floating point for 'same' max-pooling (−inf padding), got {x.dtype}")
        x = np.pad(x, [(0, 0), rows, cols, (0, 0)], constant_values=-np.inf)
    return x, pool, step, (h_out, w_out)


def max_pool2d(x, pool_size=2, strides=2, padding="valid") -> np.ndarray:
    """Max-pooling on (N, H, W, C): the homework's loop over pooling windows."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = _pool_args(x, pool_size, strides, padding)
    out = np.empty((x.shape[0], h_out, w_out, x.shape[3]), x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, i, j, :] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return out


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


# elementwise activations by Keras name ("linear" is none)
ACTIVATIONS = {"relu": ReLU, "softmax": Softmax}
