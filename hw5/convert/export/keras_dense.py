"""A NumpyNet of Dense layers (each maybe followed by ReLU, Sigmoid, Tanh or Softmax) as a Keras Sequential
of Dense layers — what Dense-only tools load (gurobi-machinelearning, OMLT: no Flatten) — saved as a .keras file.

    keras.Sequential([Input((H·W·C,), name="flat_HxWxC_hwc"), Dense(n₁, activation), …, Dense(n_L, activation)])

The input is the image batch flattened channels-last, x.reshape(N, -1) of (N, H, W, C), the NumPy net's order
(hw5.convert.export.layout); the file says so in its input layer's name and under "hw5" in the archive's
metadata.json (`keras_file_metadata(path)`). Each Dense's kernel is the net's matrix W (fan_in, fan_out) and
its bias b, in the net's dtype; an activation is the Dense's own (`activation="relu"`), never a layer apart.
A max-pooling or diagonal layer has no Dense form: lower the net first (hw5.convert.relu_only.relu_only).
"""
from __future__ import annotations

import json
import math
import zipfile

import numpy as np

from hw5.convert.export.files import atomic_write, dense_array
from hw5.convert.export.layout import input_metadata, keras_input_name
from hw5.convert.layers import Dense
from hw5.convert.network import NumpyNet
from hw5.convert.rules import ACTIVATION


def keras_dense_model(net: NumpyNet):
    """The keras.Sequential of Dense layers computing `net`."""
    import keras

    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet, got {type(net).__name__}")
    dt = np.dtype(net.dtype).name
    flat = keras.Input((math.prod(net.input_shape),), dtype=dt,
                       name=keras_input_name(net.input_shape, net.input_layout))
    stack, weights, i = [flat], [], 0
    layers = net.layers
    while i < len(layers):
        layer = layers[i]
        if not isinstance(layer, Dense):
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no Dense form: a Keras "
                             f"export needs Dense layers and activations (hw5.convert.relu_only.relu_only first)")
        act = ACTIVATION.get(type(layers[i + 1])) if i + 1 < len(layers) else None
        stack.append(keras.layers.Dense(layer.W.shape[1], activation=act or "linear", dtype=dt,
                                        name=f"dense_{len(weights)}"))
        weights.append([np.asarray(dense_array(layer.W), dt), np.asarray(layer.b, dt)])
        i += 2 if act else 1
    model = keras.Sequential(stack, name="hw5_dense")
    for layer, values in zip(model.layers, weights, strict=True):
        layer.set_weights(values)
    return model


def _add_metadata(path, extra: dict) -> None:
    """Rewrite the .keras archive at `path` with `extra` under "hw5" in its metadata.json, members kept."""
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            if info.filename == "metadata.json":
                data = json.dumps({**json.loads(data), "hw5": extra}).encode()
            zf.writestr(info, data)


def keras_file_metadata(path) -> dict:
    """The metadata.json of a .keras file (keras_version, date_saved, and "hw5": the input's layout)."""
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("metadata.json"))


def to_keras(net: NumpyNet, path):
    """Write `net` as a Keras Sequential of Dense layers at `path` (a .keras file, atomically); its input is
    flat, x.reshape(N, -1) of an (N, H, W, C) batch, as its metadata.json says."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"path must end with .keras (Keras 3's format), got {str(path)!r}")
    model = keras_dense_model(net)
    extra = {**input_metadata(net.input_shape, net.input_layout), "written_by": "hw5.convert.export.to_keras"}

    def write(tmp):
        model.save(tmp)
        _add_metadata(tmp, extra)

    return atomic_write(path, write)
