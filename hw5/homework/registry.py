"""The registry: Keras layer → NumPy layers, one small translation function per Keras layer class.

Each function takes a `Source` (the Keras layer, its config, the neuron grid it receives, its variables,
the dtype) and returns the NumPy layers it becomes (hw5.homework.layers) and the grid it hands on. This
module holds the translations the homework needs:

    Conv2D                    Dense (Toeplitz matrix, hw5.homework.toeplitz), then its activation
    Dense                     Dense (its kernel; on an (…, C) grid, I ⊗ kernel), then its activation
    MaxPooling2D              MaxPool (the window loop)
    ReLU, Activation, Softmax ReLU / Softmax (and what hw5.convert adds to ACTIVATIONS)
    Flatten                   nothing: the grid changes, the flat vector does not (channels-last)
    InputLayer                nothing

The general converter (hw5.convert.translations) adds the other layers to the same TRANSLATIONS, without
touching this file. Supporting another layer is one function, one entry and one strategy: see
docs/adding-a-layer.md. Configs are read as Keras 3 writes them (`layer.get_config()`: every key present,
strides filled in, pairs as tuples).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw5.homework.layers import ACTIVATIONS, Dense, MaxPool, ReLU, Softmax
from hw5.homework.toeplitz import conv2d_as_dense, conv_output_shape


@dataclass(frozen=True)
class Source:
    """One Keras layer, as the translation functions see it."""
    layer: object        # the keras layer
    config: dict         # layer.get_config()
    shape: tuple         # the neuron grid it receives, e.g. (28, 28, 1) or (256,)
    variables: dict      # "<layer>/<variable>" -> array (hw5.weights.extract_variables)
    dtype: np.dtype      # the NumPy net's dtype

    @property
    def name(self) -> str:
        return self.layer.name

    def refuse(self, what: str) -> ValueError:
        return ValueError(f"layer {self.name!r} of type {type(self.layer).__name__}: {what}")

    def param(self, variable: str):
        """The layer's variable cast to the net's dtype, or None if it has none (use_bias=False...)."""
        value = self.variables.get(f"{self.name}/{variable}")
        return None if value is None else value.astype(self.dtype)

    def spatial(self) -> tuple[int, int, int]:
        """The received grid, which must be an image (H, W, C), channels-last."""
        if self.config["data_format"] != "channels_last":
            raise self.refuse(f"data_format {self.config['data_format']!r} is not supported (channels_last)")
        if len(self.shape) != 3:
            raise self.refuse(f"needs an (H, W, C) input, got the grid {self.shape}")
        return self.shape


Translation = tuple[list, tuple]   # (NumPy layers, the grid they hand on)


def _activation(src: Source, activation, name: str, shape) -> list:
    """The NumPy layer of a Keras activation by name ([] for linear)."""
    if activation in ("linear", None):
        return []
    if activation not in ACTIVATIONS:
        raise src.refuse(f"activation {activation!r} is not supported ({', '.join(['linear', *sorted(ACTIVATIONS)])})")
    return [ACTIVATIONS[activation](name, shape)]


def _identity(src: Source) -> Translation:
    return [], src.shape


def _flatten(src: Source) -> Translation:
    if src.config["data_format"] != "channels_last":
        raise src.refuse("only channels_last flattening is supported")
    return [], (math.prod(src.shape),)


def _conv2d(src: Source) -> Translation:
    cfg, shape = src.config, src.spatial()
    if cfg["groups"] != 1:
        raise src.refuse("grouped convolutions are not supported")
    W, b = conv2d_as_dense(src.param("kernel"), src.param("bias"), shape, cfg["strides"], cfg["padding"],
                           cfg["dilation_rate"])
    out = conv_output_shape(shape, cfg["kernel_size"], cfg["strides"], cfg["padding"], cfg["filters"],
                            cfg["dilation_rate"])
    return [Dense(W, b, src.name, out), *_activation(src, cfg["activation"], f"{src.name}.{cfg['activation']}",
                                                     out)], out


def _dense(src: Source) -> Translation:
    kernel, shape = src.param("kernel"), src.shape
    bias = src.param("bias")
    if bias is None:
        bias = np.zeros(kernel.shape[1], src.dtype)
    if kernel.shape[0] != shape[-1]:
        raise src.refuse(f"kernel has {kernel.shape[0]} inputs, expected {shape[-1]}")
    out = (*shape[:-1], src.config["units"])
    if len(shape) > 1:   # Keras applies the kernel along the last axis at every position: I ⊗ kernel
        positions = math.prod(shape[:-1])
        kernel, bias = np.kron(np.eye(positions, dtype=src.dtype), kernel), np.tile(bias, positions)
    act = src.config["activation"]
    return [Dense(kernel, bias, src.name, out), *_activation(src, act, f"{src.name}.{act}", out)], out


def _max_pooling(src: Source) -> Translation:
    shape, cfg = src.spatial(), src.config
    pool, strides = tuple(cfg["pool_size"]), tuple(cfg["strides"])   # Keras' config: pairs of ints
    out = conv_output_shape(shape, pool, strides, cfg["padding"], shape[2])
    return [MaxPool(shape, pool, strides, src.name, out, cfg["padding"])], out


def _relu(src: Source) -> Translation:
    cfg = src.config
    if cfg["max_value"] is not None or cfg["negative_slope"] != 0 or cfg["threshold"] != 0:
        raise src.refuse("only the plain ReLU is supported (max_value=None, negative_slope=0, threshold=0)")
    return [ReLU(src.name, src.shape)], src.shape


def _activation_layer(src: Source) -> Translation:
    return _activation(src, src.config["activation"], src.name, src.shape), src.shape


def _softmax(src: Source) -> Translation:
    axis = src.config["axis"]   # an int or a list of ints
    if axis not in (-1, len(src.shape), [-1], [len(src.shape)]):
        raise src.refuse(f"softmax over axis {axis!r} is not supported (the last axis)")
    return [Softmax(src.name, src.shape)], src.shape


# Keras layer class name -> translation function (hw5.convert.translations adds the converter's layers)
TRANSLATIONS = {
    "InputLayer": _identity, "Flatten": _flatten, "Conv2D": _conv2d, "Dense": _dense,
    "MaxPooling2D": _max_pooling, "ReLU": _relu, "Activation": _activation_layer, "Softmax": _softmax,
}
