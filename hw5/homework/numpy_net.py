"""The NumPy network for any model of the registry's layers: a Keras CNN as a plain fully-connected network.

The converter's driver (hw5.convert.graph.translate, the public hw5.numpy_net.from_keras) builds it through
the registry (hw5.homework.registry and the converter's entries): the Part-2 net becomes [Dense, MaxPool, ReLU,
Dense, ReLU, Dense, Softmax] — the network hw5.homework.forward writes out by hand — each layer's neuron grid
derived from kernel, stride and padding, not read off Keras. `extract_variables` gives it the model's variables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw5.homework.layers import Dense
from hw5.homework.weights import _named_arrays


def extract_variables(model) -> dict[str, np.ndarray]:
    """`extract_weights` (hw5.homework.weights) plus the state that is not trained by gradients, named the same way.

    That state is BatchNormalization's `<layer>/moving_mean` and `<layer>/moving_variance` (what the
    layer uses at inference), and the weights of frozen layers. A model without any variables (only
    pooling, say) gives {}.
    """
    if getattr(model, "trainable_variables", None) is None:
        raise TypeError(f"model must be a Keras model with trainable_variables, got {type(model).__name__}")
    return _named_arrays([*model.trainable_variables, *model.non_trainable_variables])


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
                f"{getattr(matrix, 'nnz', None) or np.count_nonzero(matrix):,} non-zeros"
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
            grey = f"(N, {h}, {w}) or " if c == 1 else ""   # (N, H, W) only for one channel
            raise ValueError(f"x must have shape {grey}(N, {h}, {w}, {c}) with N >= 1, got {x.shape}")
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
