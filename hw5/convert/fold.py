"""The converter's `from_keras`: the homework's driver (hw5.homework.numpy_net.from_keras), then folding.

BatchNormalization (FOLDED in hw5.convert.translations) arrives as a diagonal Scale layer; folded into the
linear map before it (hw5.convert.linear_maps.compose) it gives one matrix, W·diag(γ/√(σ²+ε)) with its bias
shifted. `fuse=True` multiplies every run of consecutive linear maps (Dense and Scale) into one. A Keras
layer whose output is folded into the next map's has no NumPy output of its own: it leaves
`net.keras_outputs`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from hw5.convert.layers import Scale
from hw5.convert.linear_maps import compose
from hw5.convert.translations import FOLDED
from hw5.homework.layers import Dense
from hw5.homework.numpy_net import NumpyNet
from hw5.homework.numpy_net import from_keras as translate_layers


def _input_grid(model) -> tuple:
    """The model's input grid (H, W, C) — (H, W) gets C = 1 — refusing a variable size."""
    shape = tuple(model.input_shape[1:])
    if not shape or any(d is None for d in shape):
        raise ValueError(f"model has the input shape {model.input_shape}: a fully-connected network needs a fixed "
                         f"input size; rebuild it on keras.Input(shape=(H, W, C)) and copy the weights "
                         f"(new.set_weights(model.get_weights()))")
    shape = tuple(int(d) for d in shape)
    return shape + (1,) if len(shape) == 2 else shape


def _chain(model) -> list:
    """The model's layers in order, checked to be a single chain (Sequential, or functional without
    branches), InputLayer left out. A subclassed model (no symbolic inputs) is refused, and so is a
    functional one that calls `keras.ops` between layers (an op is no layer: model.layers misses it)."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        raise ValueError("model has no layers to translate")
    if type(model).__name__ == "Sequential":   # a chain by construction (a loaded one's layer.input is not wired)
        return layers
    known = {id(layer) for layer in model.layers}
    ops = [op for op in getattr(model, "operations", []) if id(op) not in known]
    if ops:
        raise ValueError(f"model calls {', '.join(f'{type(op).__name__} ({op.name!r})' for op in ops)} between its "
                         f"layers: a keras.ops call is no layer and has no translation; wrap it in a layer")
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs or len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("model must have one input and one output (a single chain of layers)")
    previous = inputs[0]
    for layer in layers:
        if layer.input is not previous:
            raise ValueError(f"model is not a single chain of layers: layer {layer.name!r} does not take the "
                             f"output of the layer before it")
        previous = layer.output
    if outputs[0] is not previous:
        raise ValueError("model is not a single chain of layers: its output is not its last layer's output")
    return layers


def _net_dtype(layers, dtype) -> np.dtype:
    if dtype is None:
        dtype = layers[0].compute_dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32, float64 or None (the model's), got {dtype!r}")
    return dt


def _merged(first, layer):
    """The composition of two linear layers (one matrix, or one diagonal), named after both."""
    W1, b1 = (first.W, first.b) if isinstance(first, Dense) else (first.d, first.t)
    W2, b2 = (layer.W, layer.b) if isinstance(layer, Dense) else (layer.d, layer.t)
    W, b = compose(W1, b1, W2, b2)
    name = f"{first.name}+{layer.name}"
    return Dense(W, b, name, layer.out_shape) if W.ndim == 2 else Scale(W, b, name, layer.out_shape)


def fold(net: NumpyNet, kinds: dict, fuse: bool = False) -> NumpyNet:
    """`net` with each linear layer from a FOLDED Keras layer (or, with `fuse`, every linear layer) merged
    into the linear layer before it. `kinds`: Keras layer name -> class name."""
    layers, sources, position = [], [], {}   # position: old layer index -> new index (None: merged away)
    for old, (layer, source) in enumerate(zip(net.layers, net.sources, strict=True)):
        linear = isinstance(layer, (Dense, Scale))
        if linear and layers and isinstance(layers[-1], (Dense, Scale)) and (fuse or kinds[source] in FOLDED):
            layers[-1], sources[-1] = _merged(layers[-1], layer), source
            position = {k: (None if v == len(layers) - 1 else v) for k, v in position.items()}
        else:
            layers.append(layer)
            sources.append(source)
        position[old] = len(layers) - 1
    outputs = {name: (-1 if i < 0 else position[i]) for name, i in net.keras_outputs.items()}
    return replace(net, layers=layers, sources=sources,
                   keras_outputs={name: i for name, i in outputs.items() if i is not None})


def from_keras(model, dtype=None, fuse: bool = False) -> NumpyNet:
    """Translate a Keras model (Sequential, or a functional single chain) into a NumpyNet.

    Every layer through the one registry (hw5.homework.registry.TRANSLATIONS, the homework's layers and the
    converter's); BatchNormalization is folded into the linear map before it (W·diag(γ/√(σ²+ε)), shifted
    bias); `fuse=True` multiplies every run of consecutive linear maps into one. `dtype` (float32/float64)
    defaults to the model's compute dtype; the result keeps it.
    """
    if not isinstance(fuse, bool):
        raise TypeError(f"fuse must be True or False, got {fuse!r}")
    layers = _chain(model)        # refuses what is not a single chain of layers, naming why
    _input_grid(model)            # refuses a variable input size
    net = translate_layers(model, _net_dtype(layers, dtype))
    return fold(net, {layer.name: type(layer).__name__ for layer in model.layers}, fuse)
