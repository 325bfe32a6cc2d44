"""Step 6 — the NumPy network: the Part-2 net as a plain fully-connected network (homework-4 style).

Every layer maps a batch of flat vectors (N, features) to (N, features'):

    Dense     x @ W + b            (the conv layer arrives here as its Toeplitz matrix)
    MaxPool   un-flatten to (N, H, W, C), max over each window (a loop, as in the homework), flatten
    ReLU      max(x, 0)
    Softmax   exp(x - max) / sum

No convolution function is used anywhere; each layer's neuron count is derived from padding, stride and
filters by `hw5.toeplitz.conv_output_shape`, not read off Keras.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw5.toeplitz import _pair, conv2d_as_dense, conv_output_shape


def _pool_args(x, pool_size, strides):
    """Checked (x, (ph, pw), (sh, sw), (h_out, w_out)) for a 'valid' pooling of channels-last x."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be channels-last (N, H, W, C), got shape {x.shape}")
    pool, step = _pair(pool_size, "pool_size"), _pair(strides, "strides")
    h_out, w_out, _ = conv_output_shape(x.shape[1:], pool, step, "valid", x.shape[3])
    return x, pool, step, (h_out, w_out)


def max_pool2d(x, pool_size=2, strides=2) -> np.ndarray:
    """Max-pooling, 'valid' padding, on (N, H, W, C): the homework's loop over pooling windows."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = _pool_args(x, pool_size, strides)
    out = np.empty((x.shape[0], h_out, w_out, x.shape[3]), x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, i, j, :] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return out


def max_pool2d_vectorized(x, pool_size=2, strides=2) -> np.ndarray:
    """The same as `max_pool2d`, without a Python loop (strided view of all windows)."""
    x, (ph, pw), (sh, sw), (h_out, w_out) = _pool_args(x, pool_size, strides)
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
        out += self.b  # in place: the conv layer's output is 43264 numbers per image
        return out


@dataclass
class MaxPool:
    in_shape: tuple   # (H, W, C)
    pool_size: tuple
    strides: tuple
    name: str
    out_shape: tuple

    def __call__(self, x):
        pooled = max_pool2d(x.reshape(-1, *self.in_shape), self.pool_size, self.strides)
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
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@dataclass
class NumpyNet:
    """A list of layers applied in order to flat inputs; `predict` gives softmax probabilities."""
    input_shape: tuple                       # (H, W, C) of one image
    layers: list = field(default_factory=list)

    @property
    def dtype(self):
        return next(layer.W.dtype for layer in self.layers if isinstance(layer, Dense))

    def neuron_counts(self) -> list[tuple[str, tuple, int]]:
        """(layer name, neuron grid, number of neurons) per layer, derived by our own shape maths."""
        return [(layer.name, layer.out_shape, math.prod(layer.out_shape)) for layer in self.layers]

    def forward(self, x) -> list[np.ndarray]:
        """Every layer's output (flat) for a batch, first layer first."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must hold floats in [0, 1] like the Keras model's input "
                            f"(see hw5.data.preprocess), got dtype {x.dtype}")
        h, w, c = self.input_shape
        if x.shape[1:] not in ((h, w, c), (h, w)) or (x.shape[1:] == (h, w) and c != 1) or len(x) == 0:
            raise ValueError(f"x must have shape (N, {h}, {w}) or (N, {h}, {w}, {c}) with N >= 1, got {x.shape}")
        outs, x = [], x.reshape(len(x), -1).astype(self.dtype, copy=False)
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        return outs

    def predict(self, x, batch_size: int | None = None) -> np.ndarray:
        """Softmax probabilities (N, classes) for a batch (N, H, W) or (N, H, W, C).

        `batch_size` bounds memory: the conv layer's output is 43264 numbers per image.
        """
        if batch_size is None:
            return self.forward(x)[-1]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        x = np.asarray(x)
        return np.concatenate([self.forward(x[i:i + batch_size])[-1] for i in range(0, len(x), batch_size)])


def _activation(layer, name: str, out_shape) -> list:
    act = layer.get_config().get("activation", "linear")
    if act in ("linear", None):
        return []
    if act == "relu":
        return [ReLU(f"{name}.relu", out_shape)]
    if act == "softmax":
        return [Softmax(f"{name}.softmax", out_shape)]
    raise ValueError(f"layer {name!r}: activation {act!r} is not supported (linear, relu, softmax)")


def from_keras(model, dtype=None) -> NumpyNet:
    """Translate a Sequential Keras model of Conv2D / MaxPooling2D / ReLU / Flatten / Dense layers.

    Weights come from `hw5.weights.extract_weights` (i.e. `model.trainable_variables`); shapes are
    re-derived here from each layer's config, and checked against the weights.
    """
    from hw5.weights import extract_weights

    weights = extract_weights(model)
    shape = tuple(int(d) for d in model.input_shape[1:])
    if len(shape) == 2:
        shape = shape + (1,)
    net = NumpyNet(input_shape=shape)
    for layer in model.layers:
        kind, cfg, name = type(layer).__name__, layer.get_config(), layer.name
        if kind == "Conv2D":
            if cfg.get("dilation_rate", (1, 1)) not in ((1, 1), [1, 1], 1) or cfg.get("groups", 1) != 1:
                raise ValueError(f"layer {name!r}: dilated or grouped convolutions are not supported")
            kernel = weights[f"{name}/kernel"]
            bias = weights.get(f"{name}/bias")
            W, b = conv2d_as_dense(kernel.astype(dtype or kernel.dtype),
                                   None if bias is None else bias.astype(dtype or kernel.dtype),
                                   shape, cfg["strides"], cfg["padding"])
            shape = conv_output_shape(shape, cfg["kernel_size"], cfg["strides"], cfg["padding"], cfg["filters"])
            net.layers.append(Dense(W, b, name, shape))
            net.layers += _activation(layer, name, shape)
        elif kind == "MaxPooling2D":
            if cfg["padding"] != "valid":
                raise ValueError(f"layer {name!r}: only 'valid' max-pooling is supported")
            strides = cfg["strides"] or cfg["pool_size"]
            out = conv_output_shape(shape, cfg["pool_size"], strides, "valid", shape[2])
            net.layers.append(MaxPool(shape, _pair(cfg["pool_size"], "pool_size"), _pair(strides, "strides"),
                                      name, out))
            shape = out
        elif kind == "ReLU" or (kind == "Activation" and cfg["activation"] == "relu"):
            net.layers.append(ReLU(name, shape))
        elif kind == "Flatten":
            shape = (math.prod(shape),)  # channels-last flatten is the identity on our flat vectors
        elif kind == "Dense":
            kernel = weights[f"{name}/kernel"]
            dt = dtype or kernel.dtype
            bias = weights.get(f"{name}/bias", np.zeros(kernel.shape[1]))
            if kernel.shape[0] != math.prod(shape):
                raise ValueError(f"layer {name!r}: kernel has {kernel.shape[0]} inputs, expected {math.prod(shape)}")
            shape = (cfg["units"],)
            net.layers.append(Dense(kernel.astype(dt), bias.astype(dt), name, shape))
            net.layers += _activation(layer, name, shape)
        else:
            raise ValueError(f"layer {name!r} of type {kind} has no NumPy translation")
    return net
