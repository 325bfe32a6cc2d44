"""The converter's checks and views of a NumpyNet: where it agrees with Keras, and what it is made of.

`layer_by_layer(model, net, x)` puts every Keras layer's output beside the NumPy layer that reproduces it and
names the first layer beyond tolerance (ERAN's `check_models` idea): where a wrong translation starts, not
only that the softmax is off; its tolerances default to the dtype's (LAYER_RTOL). `format_layer_diffs` prints
that as a table. `layer_table(net, model)` lists each layer's matrix, non-zeros and neurons (derived vs
Keras); `banded(net)` multiplies the same matrices by their bands of non-zero rows (for many images);
`float64_twin(model)` rebuilds any Keras model in float64 with its weights widened exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hw5.convert.layers import BandedDense, Scale
from hw5.homework.layers import Dense
from hw5.homework.numpy_net import NumpyNet


def banded(net: NumpyNet) -> NumpyNet:
    """The same network, its image-to-image matrices (conv, pooling, padding) multiplied band by band
    (hw5.layers.BandedDense: the same W, the all-zero blocks skipped). For checks on many images."""
    return replace(net, layers=[BandedDense(layer.W, layer.b, layer.name, layer.out_shape)
                                if type(layer) is Dense and len(layer.out_shape) == 3
                                and isinstance(layer.W, np.ndarray) else layer for layer in net.layers])


def layer_table(net: NumpyNet, model) -> list[dict]:
    """Per NumPy layer: name, type, matrix shape, non-zeros, neuron grid derived by us and Keras' own.

    A Scale layer's matrix is diag(d) ("diagonal n"); non-linear layers have no matrix.
    """
    n_sources, n_layers = len(getattr(net, "sources", ())), len(getattr(net, "layers", ()))
    if n_sources != n_layers:   # a hand-made net has no sources
        raise TypeError(f"net must be a NumpyNet made by hw5.numpy_net.from_keras (one Keras layer per NumPy layer), "
                        f"got {type(net).__name__} with {n_sources} Keras layers for {n_layers} NumPy layers")
    rows = []
    operations = {op.name: op for op in getattr(model, "operations", model.layers)}   # layers and keras.ops nodes
    for layer, source in zip(net.layers, net.sources, strict=True):
        keras_shape = tuple(int(d) for d in operations[source].output.shape[1:])
        if isinstance(layer, Dense):
            nnz = int(layer.W.nnz) if hasattr(layer.W, "nnz") else int(np.count_nonzero(layer.W))
            matrix = f"{layer.W.shape[0]:,} × {layer.W.shape[1]:,}"
        elif isinstance(layer, Scale):
            matrix, nnz = f"diagonal {layer.d.size:,}", int(np.count_nonzero(layer.d))
        else:
            matrix, nnz = "—", None
        rows.append(dict(layer=layer.name, kind=type(layer).__name__, matrix=matrix, nonzeros=nnz,
                         derived=layer.out_shape, neurons=math.prod(layer.out_shape), keras=keras_shape,
                         same=layer.out_shape == keras_shape))
    return rows


@dataclass(frozen=True)
class LayerDiff:
    layer: str            # the Keras layer
    numpy_layer: str      # the NumPy layer whose output equals it ("input" when nothing ran yet)
    shape: tuple          # its output grid
    max_abs_diff: float   # max |Keras − NumPy| over the batch
    scale: float          # max |Keras output|
    bound: float          # atol + rtol · scale

    @property
    def within(self) -> bool:
        return self.max_abs_diff <= self.bound


# layer_by_layer's default rtol, relative to each layer's largest output, by the net's dtype: the widest sums
# of a CNN have thousands of terms (Part 2: 10,816) whose rounding errors add up like a random walk, ~√n·eps
# of the sum's scale (1.2e-5 in float32, 2e-14 in float64 for n = 10,816); ×10 for cancellation. A wrong
# translation is off by O(1) of the scale.
LAYER_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-12}


def layer_by_layer(model, net, x, atol: float = 0.0, rtol: float | None = None
                   ) -> tuple[list[LayerDiff], LayerDiff | None]:
    """(one row per Keras layer that has a NumPy counterpart, the first row beyond tolerance or None).

    A row is within tolerance when max |Keras − NumPy| ≤ atol + rtol · max |Keras output|; `rtol=None`
    takes LAYER_RTOL for the net's dtype (1e-4 for float32, 1e-12 for float64).

    Keras' intermediate outputs come from a probe model on the same graph, called one image at a time
    with training=False (TF 2.21's oneDNN conv is wrong for batches of single-channel images with
    strides (1, s > 1); README, Known issues). Layers folded or fused away (a conv before its
    BatchNormalization) have no NumPy output of their own and no row.
    """
    import keras

    if not getattr(net, "keras_outputs", None):
        raise TypeError(f"net must be a NumpyNet made by hw5.numpy_net.from_keras, got {type(net).__name__}")
    if rtol is None:
        rtol = LAYER_RTOL[np.dtype(net.dtype)]
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    x = np.asarray(x)
    names = list(net.keras_outputs)
    probe = keras.Model(model.inputs[0], [model.get_layer(name).output for name in names])
    per_image = [probe(x[i:i + 1], training=False) for i in range(len(x))]
    ours = net.forward(x)
    rows = []
    for k, name in enumerate(names):
        theirs = np.concatenate([np.asarray(outs[k]).reshape(1, -1) for outs in per_image]).astype(np.float64)
        index = net.keras_outputs[name]
        mine = (ours[index] if index >= 0 else x.reshape(len(x), -1)).astype(np.float64)
        scale = float(np.abs(theirs).max(initial=0.0))
        own = index >= 0 and net.sources[index] == name   # Flatten, Dropout...: no NumPy step of their own
        numpy_layer = "input" if index < 0 else net.layers[index].name if own else f"= {net.layers[index].name}"
        rows.append(LayerDiff(name, numpy_layer,
                              tuple(int(d) for d in model.get_layer(name).output.shape[1:]),
                              float(np.abs(theirs - mine).max(initial=0.0)), scale, atol + rtol * scale))
    return rows, next((row for row in rows if not row.within), None)


def format_layer_diffs(rows: list[LayerDiff]) -> str:
    """The rows as a fixed-width table (for assertion messages and the terminal)."""
    a = max([len("Keras layer"), *(len(r.layer) for r in rows)])        # columns as wide as their longest name
    b = max([len("NumPy layer"), *(len(r.numpy_layer) for r in rows)])
    c = max([len("grid"), *(len(str(r.shape)) for r in rows)])
    lines = [f"{'Keras layer':<{a}} {'NumPy layer':<{b}} {'grid':<{c}} {'max |diff|':>10} {'max |out|':>10} "
             f"{'bound':>10}  within"]
    lines += [f"{r.layer:<{a}} {r.numpy_layer:<{b}} {str(r.shape):<{c}} {r.max_abs_diff:10.3e} {r.scale:10.3e} "
              f"{r.bound:10.3e}  {'yes' if r.within else 'NO'}" for r in rows]
    return "\n".join(lines)


def _widen(config):
    """Set every "dtype" in a Keras config (layers, inputs, the model) to float64, in place."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "dtype" and value is not None:
                config[key] = "float64"
            else:
                _widen(value)
    elif isinstance(config, list):
        for value in config:
            _widen(value)


def float64_twin(model):
    """The same Keras model in float64: rebuilt from its config with every dtype float64, and its
    weights (trainable or not) widened exactly (float32 ⊂ float64)."""
    if not all(hasattr(model, attr) for attr in ("get_config", "get_weights", "from_config")):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    config = model.get_config()
    _widen(config)
    twin = type(model).from_config(config)
    twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
    return twin
