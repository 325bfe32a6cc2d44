"""The NumPy network a converted model becomes: a graph of NumPy layers (torch.fx Interpreter style).

Node k is (layers[k], inputs[k]), the nodes in topological order; `inputs[k]` lists the nodes layer k reads —
INPUT (the network's input, its images flattened channels-last) or the index of an earlier layer — and
`output` is the node whose value is the network's output. Running it is one loop that looks every input up in
the values so far. A Sequential model is the graph whose nodes read their predecessor, inputs[k] == [k − 1]
(inputs[0] == [INPUT]), the default: Part 2 is [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax], each layer's
neuron grid derived from kernel, stride and padding, not read off Keras.

`forward(x)` keeps every layer's output (the layer-by-layer checks read them); `predict(x)` frees each value
after its last reader, so a deep network holds only the values still to be read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

INPUT = "input"   # the network's input node, in `inputs`, `output` and `keras_outputs`
LAYOUTS = ("channels_last", "channels_first")


@dataclass(repr=False)
class NumpyNet:
    """Layers on a graph (see the module); `predict` gives the model's output."""
    input_shape: tuple                       # the input without the batch axis: (H, W, C) an image, (L, C), (n,)
    layers: list = field(default_factory=list)
    compute_dtype: object = None             # float32 or float64; None: the first Dense layer's
    output_shape: tuple | None = None        # the model's output grid; None: the output node's
    # Keras layer name -> the node (a layer index, or INPUT) whose output equals that layer's output; layers
    # folded or fused away have none
    keras_outputs: dict = field(default_factory=dict)
    # per NumPy layer: the Keras layer whose output grid it produces (for the neuron-count table)
    sources: list = field(default_factory=list)
    inputs: list = field(default_factory=list)     # per layer: the nodes it reads ([] for all: a chain)
    output: int | str | None = None                # the output node (None: the last layer, INPUT if none)
    # the order of an image input's axes: "channels_last" (H, W, C), Keras' and the homework's, or
    # "channels_first" (C, H, W), an NCHW ONNX model's; the net takes x.reshape(N, -1) of its input either way
    input_layout: str = "channels_last"

    def __post_init__(self):
        if not self.inputs:                   # a chain
            self.inputs = [[k - 1 if k else INPUT] for k in range(len(self.layers))]
        if len(self.inputs) != len(self.layers):
            raise ValueError(f"inputs must list each layer's inputs: got {len(self.inputs)} entries for "
                             f"{len(self.layers)} layers")
        if self.output is None:
            self.output = len(self.layers) - 1 if self.layers else INPUT
        if self.input_layout not in LAYOUTS:
            raise ValueError(f"input_layout must be one of {LAYOUTS}, got {self.input_layout!r}")

    def __repr__(self) -> str:
        rows = [f"NumpyNet(input {self.input_shape}, {np.dtype(self.dtype).name}, {len(self.layers)} layers)"]
        for layer in self.layers:
            matrix = getattr(layer, "W", getattr(layer, "d", None))
            what = "" if matrix is None else f"  {' x '.join(map(str, matrix.shape))}, " \
                f"{getattr(matrix, 'nnz', None) or np.count_nonzero(matrix):,} non-zeros"
            rows.append(f"  {type(layer).__name__:<8} {layer.name:<24} -> {layer.out_shape}{what}")
        return "\n".join(rows)

    @property
    def dtype(self):
        if self.compute_dtype is not None:
            return np.dtype(self.compute_dtype)
        return next(layer.W.dtype for layer in self.layers if hasattr(layer, "W"))

    def neuron_counts(self) -> list[tuple[str, tuple, int]]:
        """(layer name, neuron grid, number of neurons) per layer, derived by our own shape maths."""
        return [(layer.name, layer.out_shape, math.prod(layer.out_shape)) for layer in self.layers]

    def consumers(self) -> list[int]:
        """How many nodes read each layer's output (the network's output counts as one)."""
        count = [0] * len(self.layers)
        for inputs in self.inputs:
            for i in inputs:
                if i != INPUT:
                    count[i] += 1
        if self.output != INPUT:
            count[self.output] += 1
        return count

    def flat_input(self, x) -> np.ndarray:
        """x checked against the input shape and flattened channels-last to (N, features) in the net's dtype;
        an image net also takes (N, H, W) when C = 1."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must hold floating-point values, as the model's input does, got dtype {x.dtype} "
                            f"(convert and scale it the way the model was trained)")
        shape = tuple(self.input_shape)
        c = 0 if self.input_layout == "channels_first" else 2   # the channel axis of an image
        image = [d for k, d in enumerate(shape) if k != c] if len(shape) == 3 and shape[c] == 1 else None
        grey = image is not None and list(x.shape[1:]) == image   # (N, H, W) for one channel
        if (x.shape[1:] != shape and not grey) or len(x) == 0:
            dims = ", ".join(map(str, shape))
            also = f"(N, {image[0]}, {image[1]}) or " if image else ""
            raise ValueError(f"x must have shape {also}(N, {dims}) with N >= 1, got {x.shape}")
        return x.reshape(len(x), -1).astype(self.dtype, copy=False)

    def _run(self, x, keep: bool) -> dict:
        """{node: value} after running every layer on the flat batch x; keep=False drops each value after its
        last reader (the output node's value stays)."""
        last = {}
        for k, inputs in enumerate(self.inputs):
            for i in inputs:
                last[i] = k
        values = {INPUT: x}
        for k, (layer, inputs) in enumerate(zip(self.layers, self.inputs, strict=True)):
            values[k] = layer(*[values[i] for i in inputs])
            if not keep:
                for i in set(inputs):
                    if last[i] == k and i != self.output:
                        del values[i]
        return values

    def forward(self, x) -> list[np.ndarray]:
        """Every layer's output (flat, (N, features)) for a batch, in the nodes' order."""
        values = self._run(self.flat_input(x), keep=True)
        return [values[k] for k in range(len(self.layers))]

    def value(self, outs: list, node, x) -> np.ndarray:
        """Node `node`'s value from forward(x)'s list `outs` (INPUT: x flattened)."""
        return self.flat_input(x) if node == INPUT else outs[node]

    def output_grid(self) -> tuple:
        """The model's output grid: output_shape, or the output node's grid."""
        if self.output_shape is not None:
            return tuple(self.output_shape)
        return tuple(self.input_shape if self.output == INPUT else self.layers[self.output].out_shape)

    def _output(self, x) -> np.ndarray:
        flat = self._run(self.flat_input(x), keep=False)[self.output]
        return flat.reshape(len(flat), *self.output_grid())

    def predict(self, x, batch_size: int | None = None) -> np.ndarray:
        """The model's output (N, *output grid) — softmax probabilities (N, classes) for the homework —
        for a batch (N, *input_shape) (or (N, H, W) for one channel).

        `batch_size` bounds memory: the conv layer's output is 43264 numbers per image.
        """
        if batch_size is None:
            return self._output(x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        x = np.asarray(x)
        return np.concatenate([self._output(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
