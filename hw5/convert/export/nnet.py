"""A Dense/ReLU chain as an NNet file (sisl/NNet's text format for fully-connected ReLU networks, read by
Marabou's `Marabou.read_nnet` and by NNet's own readers).

The format: `//` comment lines; `numLayers,inputSize,outputSize,maxLayerSize,`; the numLayers + 1 layer
sizes; an unused flag `0,`; the inputs' minimums; maximums; means (one per input, then one for all
outputs); ranges (likewise); then per layer its weight matrix, one output neuron a line (the row of
Wᵀ: its fan_in weights), and its biases, one a line. Every line ends with a comma. ReLU after every layer
but the last. Readers clip an input to [min, max] and normalise it, (x − mean)/range, and map an output y
to y·range + mean: with means 0 and ranges 1 (the default) the file computes exactly the net, for inputs
inside the bounds (images in [0, 1]). Values are written with enough digits to read back exactly
(9 significant digits for float32, 17 for float64). The last comment line says how the inputs are laid out
(x.reshape(N, -1) of an (N, H, W, C) batch, channels-last: hw5.convert.export.layout).
"""
from __future__ import annotations

import numpy as np

from hw5.convert.export.files import atomic_write, dense_array
from hw5.convert.export.layout import input_note
from hw5.convert.layers import Dense, ReLU
from hw5.convert.network import NumpyNet


def dense_relu_chain(net: NumpyNet) -> list[Dense]:
    """The Dense layers of a Dense, ReLU, …, Dense chain; ValueError naming the first layer out of place."""
    layers = net.layers
    for i, layer in enumerate(layers):
        want = Dense if i % 2 == 0 else ReLU
        if type(layer) is not want or (i == len(layers) - 1 and want is ReLU):
            raise ValueError(f"net must be a Dense/ReLU chain ending in Dense (hw5.convert.relu_only.relu_only): "
                             f"layer {i} {layer.name!r} is a {type(layer).__name__}")
    return layers[0::2]


def _values(values, digits: int) -> str:
    return "".join(f"{v:.{digits}g}," for v in np.asarray(values, np.float64).ravel())


def to_nnet(net: NumpyNet, path, input_min=0.0, input_max=1.0, mean=0.0, value_range=1.0,
            comment: str = "written by hw5.convert.export.to_nnet"):
    """Write the Dense/ReLU chain `net` as an NNet file at `path` (atomically); returns the path.

    `input_min`/`input_max`: the inputs' bounds (a number or one per input, flat channels-last);
    `mean`/`value_range`: the normalisation (numbers or one per input plus one for the outputs)."""
    dense = dense_relu_chain(net)
    sizes = [dense[0].W.shape[0]] + [layer.W.shape[1] for layer in dense]
    n_in = sizes[0]
    bounds = [np.broadcast_to(np.asarray(v, np.float64), (n_in,)) for v in (input_min, input_max)]
    if not (bounds[0] <= bounds[1]).all():
        raise ValueError("input_min must be <= input_max for every input")
    norm = [np.broadcast_to(np.asarray(v, np.float64), (n_in + 1,)) for v in (mean, value_range)]
    if not (norm[1] > 0).all():
        raise ValueError(f"value_range must be > 0, got {value_range!r}")
    digits = 9 if np.dtype(net.dtype) == np.float32 else 17

    def write(tmp):
        with open(tmp, "w") as fh:
            for line in [*(comment.splitlines() or [""]), input_note(net.input_shape, net.input_layout)]:
                fh.write(f"// {line}\n")
            fh.write(f"{len(dense)},{n_in},{sizes[-1]},{max(sizes[1:])},\n")
            fh.write("".join(f"{s}," for s in sizes) + "\n0,\n")
            for values in (*bounds, *norm):
                fh.write(_values(values, digits) + "\n")
            for layer in dense:
                W = dense_array(layer.W)
                for row in W.T:
                    fh.write(_values(row, digits) + "\n")
                fh.writelines(f"{v:.{digits}g},\n" for v in np.asarray(layer.b, np.float64))

    return atomic_write(path, write)
