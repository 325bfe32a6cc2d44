"""Step 6 — the NumPy network: a Keras CNN as a plain fully-connected network (homework-4 style).

Every layer maps a batch of flat vectors (N, features) to (N, features'); the homework's layers are in
hw5.homework.layers:

    Dense     x @ W + b            (a conv layer arrives here as its Toeplitz matrix)
    MaxPool   un-flatten to (N, H, W, C), max over each window (a loop, as in the homework), flatten
    ReLU      max(x, 0)
    Softmax   exp(x - max) / sum

`from_keras` translates a model layer by layer through the registry (hw5.homework.registry). The homework's
Part-2 net becomes [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax]. No convolution function is used
anywhere; each layer's neuron count is derived from padding, stride and filters by
`hw5.homework.toeplitz.conv_output_shape`, not read off Keras. The general converter (hw5.convert) adds layers
to the registry, and BatchNorm folding and fusing on top of this driver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw5.homework.layers import Dense
from hw5.homework.registry import TRANSLATIONS, Source
from hw5.homework.weights import extract_variables


@dataclass
class NumpyNet:
    """A list of layers applied in order to flat inputs; `predict` gives the model's output."""
    input_shape: tuple                       # (H, W, C) of one image
    layers: list = field(default_factory=list)
    compute_dtype: object = None             # float32 or float64; None: the first Dense layer's
    output_shape: tuple | None = None        # the model's output grid; None: the last layer's
    # Keras layer name -> index into forward()'s list (−1: the input) of the output equal to that layer's
    # output; layers folded or fused away have none
    keras_outputs: dict = field(default_factory=dict)
    # per NumPy layer: the Keras layer whose output grid it produces (for the neuron-count table)
    sources: list = field(default_factory=list)

    def __repr__(self) -> str:
        rows = [f"NumpyNet(input {self.input_shape}, {np.dtype(self.dtype).name}, {len(self.layers)} layers)"]
        for layer in self.layers:
            matrix = getattr(layer, "W", getattr(layer, "d", None))
            what = "" if matrix is None else f"  {' x '.join(map(str, matrix.shape))}, " \
                f"{_nonzeros(matrix):,} non-zeros"
            rows.append(f"  {type(layer).__name__:<8} {layer.name:<24} -> {layer.out_shape}{what}")
        return "\n".join(rows)

    @property
    def dtype(self):
        if self.compute_dtype is not None:
            return np.dtype(self.compute_dtype)
        return next(layer.W.dtype for layer in self.layers if isinstance(layer, Dense))

    def neuron_counts(self) -> list[tuple[str, tuple, int]]:
        """(layer name, neuron grid, number of neurons) per layer, derived by our own shape maths."""
        return [(layer.name, layer.out_shape, math.prod(layer.out_shape)) for layer in self.layers]

    def forward(self, x) -> list[np.ndarray]:
        """Every layer's output (flat, (N, features)) for a batch, first layer first."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must hold floating-point values, as the model's input does, got dtype {x.dtype} "
                            f"(convert and scale it the way the model was trained)")
        h, w, c = self.input_shape
        if x.shape[1:] not in ((h, w, c), (h, w)) or (x.shape[1:] == (h, w) and c != 1) or len(x) == 0:
            raise ValueError(f"x must have shape (N, {h}, {w}) or (N, {h}, {w}, {c}) with N >= 1, got {x.shape}")
        outs, x = [], x.reshape(len(x), -1).astype(self.dtype, copy=False)
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        return outs

    def _output(self, x) -> np.ndarray:
        outs = self.forward(x)
        flat = outs[-1] if outs else np.asarray(x, self.dtype).reshape(len(x), -1)
        shape = self.output_shape if self.output_shape is not None else self.layers[-1].out_shape
        return flat.reshape(len(flat), *shape)

    def predict(self, x, batch_size: int | None = None) -> np.ndarray:
        """The model's output (N, *output grid) — softmax probabilities (N, classes) for the homework —
        for a batch (N, H, W) or (N, H, W, C).

        `batch_size` bounds memory: the conv layer's output is 43264 numbers per image.
        """
        if batch_size is None:
            return self._output(x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        x = np.asarray(x)
        return np.concatenate([self._output(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _nonzeros(matrix) -> int:
    nnz = getattr(matrix, "nnz", None)   # a scipy.sparse matrix counts its stored entries
    return int(nnz) if nnz is not None else int(np.count_nonzero(matrix))


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


def from_keras(model, dtype=None) -> NumpyNet:
    """Translate a Keras model (Sequential, or a functional single chain) into a NumpyNet, layer by layer.

    Layers are translated by TRANSLATIONS (hw5.homework.registry: one function per Keras layer class); the
    variables come from `hw5.homework.weights.extract_variables` (`model.trainable_variables` plus any
    state such as BatchNorm's moving statistics); shapes are re-derived from each layer's config and checked
    against the weights. `dtype` (float32/float64) defaults to the model's compute dtype; the result keeps it.
    `hw5.convert.from_keras` (the public `hw5.numpy_net.from_keras`) adds BatchNorm folding and `fuse=`.
    """
    layers = _chain(model)
    dt = _net_dtype(layers, dtype)
    variables = extract_variables(model)
    shape = _input_grid(model)
    net = NumpyNet(input_shape=shape, compute_dtype=dt)
    for layer in layers:
        kind = type(layer).__name__
        if kind not in TRANSLATIONS:
            raise ValueError(f"layer {layer.name!r} of type {kind} has no NumPy translation; supported: "
                             f"{', '.join(sorted(TRANSLATIONS))}")
        new, shape = TRANSLATIONS[kind](Source(layer, layer.get_config(), shape, variables, dt))
        net.layers += new
        net.sources += [layer.name] * len(new)
        net.keras_outputs[layer.name] = len(net.layers) - 1
    net.output_shape = shape
    return net
