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

from hw5.homework.forward import _pool_args, max_pool2d  # noqa: F401  (the window loop; _pool_args for hw5.convert)


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
