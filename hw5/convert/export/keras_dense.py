"""A NumpyNet of Dense layers (each maybe followed by ReLU, Sigmoid, Tanh or Softmax) as a Keras Sequential
of Dense layers — what Dense-only tools load — saved as a .keras file.

    keras.Sequential([Input((H, W, C)), Flatten(), Dense(n₁, activation), …, Dense(n_L, activation)])

Flatten is channels-last, the NumPy net's order; each Dense's kernel is the net's matrix W (fan_in, fan_out)
and its bias b, in the net's dtype. A max-pooling or diagonal layer has no Dense form: lower the net first
(hw5.convert.relu_only.relu_only).
"""
from __future__ import annotations

import numpy as np

from hw5.convert.export.files import atomic_write, dense_array
from hw5.convert.layers import Sigmoid, Tanh
from hw5.homework.layers import Dense, ReLU, Softmax
from hw5.homework.numpy_net import NumpyNet

ACTIVATION_NAMES = {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh", Softmax: "softmax"}


def keras_dense_model(net: NumpyNet):
    """The keras.Sequential of Dense layers computing `net`."""
    import keras

    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet, got {type(net).__name__}")
    dt = np.dtype(net.dtype).name
    stack, weights, i = [keras.Input(net.input_shape, dtype=dt, name="image"), keras.layers.Flatten(dtype=dt)], [], 0
    layers = net.layers
    while i < len(layers):
        layer = layers[i]
        if not isinstance(layer, Dense):
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no Dense form: a Keras "
                             f"export needs Dense layers and activations (hw5.convert.relu_only.relu_only first)")
        act = ACTIVATION_NAMES.get(type(layers[i + 1])) if i + 1 < len(layers) else None
        stack.append(keras.layers.Dense(layer.W.shape[1], activation=act or "linear", dtype=dt,
                                        name=f"dense_{len(weights)}"))
        weights.append([np.asarray(dense_array(layer.W), dt), np.asarray(layer.b, dt)])
        i += 2 if act else 1
    model = keras.Sequential(stack, name="hw5_dense")
    for layer, values in zip(model.layers[1:], weights, strict=True):
        layer.set_weights(values)
    return model


def to_keras(net: NumpyNet, path):
    """Write `net` as a Keras Sequential of Dense layers at `path` (a .keras file, atomically)."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"path must end with .keras (Keras 3's format), got {str(path)!r}")
    model = keras_dense_model(net)
    return atomic_write(path, lambda tmp: model.save(tmp))
