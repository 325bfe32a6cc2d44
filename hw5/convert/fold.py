"""The converter's `from_keras`: the homework's driver (hw5.homework.numpy_net.from_keras), then folding.

BatchNormalization (FOLDED in hw5.convert.translations) arrives as a diagonal Scale layer; folded into the
linear map before it (hw5.convert.linear_maps.compose) it gives one matrix, W·diag(γ/√(σ²+ε)) with its bias
shifted. `fuse=True` multiplies every run of consecutive linear maps (Dense and Scale) into one. A Keras
layer whose output is folded into the next map's has no NumPy output of its own: it leaves
`net.keras_outputs`.
"""
from __future__ import annotations

from dataclasses import replace

from hw5.convert.layers import Scale
from hw5.convert.linear_maps import compose
from hw5.convert.translations import FOLDED
from hw5.homework.layers import Dense
from hw5.homework.numpy_net import NumpyNet
from hw5.homework.numpy_net import from_keras as translate_layers


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
    net = translate_layers(model, dtype)
    return fold(net, {layer.name: type(layer).__name__ for layer in model.layers}, fuse)
