"""A NumpyNet as an .npz of its arrays, loadable and runnable with NumPy alone.

Keys: `input_shape`, `kinds` (one name a layer: Dense, Scale, ReLU, MaxPool, Softmax, Sigmoid, Tanh) and per
layer i its arrays: Dense `W{i}` (fan_in, fan_out) and `b{i}` — or, for a matrix stored sparse, `W{i}_rows`,
`W{i}_cols`, `W{i}_values`, `W{i}_shape` (W[rows, cols] = values, zeros elsewhere); Scale `d{i}`, `t{i}`;
MaxPool `pool{i}` = (H, W, C, ph, pw, sh, sw, same); Softmax `groups{i}` (its last axis).
`npz_predict(path, x)` is the whole reader: it imports NumPy only.
"""
from __future__ import annotations

import numpy as np

from hw5.convert.export.files import atomic_write
from hw5.convert.layers import Dense, MaxPool, ReLU, Scale, Sigmoid, Softmax, Tanh
from hw5.convert.network import NumpyNet


def npz_arrays(net: NumpyNet) -> dict[str, np.ndarray]:
    """The arrays `to_npz` writes (see the module)."""
    arrays = {"input_shape": np.array(net.input_shape), "kinds": np.array([type(layer).__name__
                                                                            for layer in net.layers])}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            if hasattr(layer.W, "tocoo"):
                coo = layer.W.tocoo()
                arrays.update({f"W{i}_rows": coo.row, f"W{i}_cols": coo.col, f"W{i}_values": coo.data,
                               f"W{i}_shape": np.array(coo.shape)})
            else:
                arrays[f"W{i}"] = layer.W
            arrays[f"b{i}"] = layer.b
        elif isinstance(layer, Scale):
            arrays.update({f"d{i}": layer.d, f"t{i}": layer.t})
        elif isinstance(layer, MaxPool):
            arrays[f"pool{i}"] = np.array([*layer.in_shape, *layer.pool_size, *layer.strides,
                                           int(layer.padding.lower() == "same")])
        elif isinstance(layer, Softmax):
            arrays[f"groups{i}"] = np.array(layer.out_shape[-1])
        elif type(layer) not in (ReLU, Sigmoid, Tanh):
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no .npz export")
    return arrays


def to_npz(net: NumpyNet, path):
    """Write `net`'s arrays to `path` (.npz, uncompressed, atomically); returns the path."""
    if not str(path).endswith(".npz"):
        raise ValueError(f"path must end with .npz, got {str(path)!r}")
    arrays = npz_arrays(net)
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def npz_predict(path, x) -> np.ndarray:
    """Run the network stored by `to_npz` on images x (N, H, W, C), NumPy only; returns (N, outputs)."""
    with np.load(path, allow_pickle=False) as f:
        a = dict(f)
    x = np.asarray(x).reshape(len(x), -1)
    for i, kind in enumerate(a["kinds"]):
        if kind == "Dense":
            if f"W{i}" in a:
                W = a[f"W{i}"]
            else:
                W = np.zeros(a[f"W{i}_shape"], a[f"W{i}_values"].dtype)
                W[a[f"W{i}_rows"], a[f"W{i}_cols"]] = a[f"W{i}_values"]
            x = x.astype(W.dtype, copy=False) @ W + a[f"b{i}"]
        elif kind == "Scale":
            x = x * a[f"d{i}"] + a[f"t{i}"]
        elif kind == "ReLU":
            x = np.maximum(x, 0)
        elif kind in ("Sigmoid", "Tanh"):
            x = 1 / (1 + np.exp(-x)) if kind == "Sigmoid" else np.tanh(x)
        elif kind == "MaxPool":
            h, w, c, ph, pw, sh, sw, same = (int(v) for v in a[f"pool{i}"])
            grid = x.reshape(len(x), h, w, c)
            ho, wo = (-(-h // sh), -(-w // sw)) if same else ((h - ph) // sh + 1, (w - pw) // sw + 1)
            top, left = max((ho - 1) * sh + ph - h, 0) // 2, max((wo - 1) * sw + pw - w, 0) // 2
            pad = [(0, 0), (top, max((ho - 1) * sh + ph - h - top, 0)), (left, max((wo - 1) * sw + pw - w - left, 0)),
                   (0, 0)]
            grid = np.pad(grid, pad, constant_values=-np.inf) if same else grid
            x = np.stack([grid[:, r * sh:r * sh + ph, s * sw:s * sw + pw].max(axis=(1, 2))
                          for r in range(ho) for s in range(wo)], axis=1).reshape(len(x), -1)
        elif kind == "Softmax":
            g = x.reshape(len(x), -1, int(a[f"groups{i}"]))
            e = np.exp(g - g.max(axis=-1, keepdims=True))
            x = (e / e.sum(axis=-1, keepdims=True)).reshape(len(x), -1)
    return x
