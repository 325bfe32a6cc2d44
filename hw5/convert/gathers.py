"""The NumPy layers that pick their inputs by index, with their rules beside them, and Keras' Permute and
RepeatVector.

    Gather       out[:, k] = x[:, index[k]]: a transpose of the grid (Keras' Permute; a channels-first tensor
                 flattened in Keras' channels-last order), a selection. Its rules: ONNX Gather on axis 1; the
                 Dense+ReLU lowering the 0/1 selection composed into the next matrix (no hidden layer); the error
                 bound e' = e[:, index] (exact: values are only moved)
    WindowMax    out[:, o] = max over windows[o] of x (−1 entries: padding, left out of the max — max-pooling
                 pads with −∞); each window's real inputs first. Its rules: ONNX Gather + ReduceMax (a padding
                 entry gathers the window's first input again: a max is unchanged by a repeat), the Dense+ReLU
                 lowering the max-pool tree of hw5.convert.affine.max_tree, the error bound e' = max of e over
                 the window (a max is 1-Lipschitz in each input)

Permute(dims) on the grid (d₁, …, d_r) is the Gather whose index is arange(n).reshape(grid).transpose(dims − 1)
flattened: output position k, row-major over the permuted grid, reads the input position it came from.
RepeatVector(n) on a vector (F,) is the Gather whose index is tile(arange(F), n): the grid (n, F), each row a copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw5.convert.affine import Value, max_tree, select
from hw5.convert.registry import Source, Translation, register
from hw5.convert.rules import BOUND, LOWER, ONNX, rule

CHUNK_VALUES = 8 * 1024**2   # WindowMax gathers at most this many values at once (64 MiB in float64)


@dataclass
class Gather:
    index: np.ndarray   # (outputs,) the input position each output reads
    name: str
    out_shape: tuple

    def __call__(self, x):
        return x[:, self.index]


@dataclass
class WindowMax:
    windows: np.ndarray   # (outputs, k) input indices, −1 padding after each window's real inputs
    name: str
    out_shape: tuple

    def filled(self) -> np.ndarray:
        """windows with each −1 replaced by the window's first input."""
        return np.where(self.windows >= 0, self.windows, self.windows[:, :1])

    def __call__(self, x):
        filled = self.filled()
        out = np.empty((len(x), len(filled)), x.dtype)
        step = max(1, CHUNK_VALUES // max(1, len(x) * filled.shape[1]))
        for o in range(0, len(filled), step):
            out[:, o:o + step] = x[:, filled[o:o + step]].max(axis=2)
        return out


def real_first(index: np.ndarray) -> np.ndarray:
    """Each row's real entries first, in decreasing order, then the −1s (max_tree's order)."""
    return -np.sort(-index, axis=1)


def transpose_index(shape: tuple, axes) -> np.ndarray:
    """The Gather index of the grid `shape` transposed by `axes` (a permutation of range(len(shape)))."""
    return np.arange(int(np.prod(shape))).reshape(shape).transpose(axes).ravel()


@register("Permute")
def _permute(src: Source) -> Translation:
    dims = tuple(int(d) for d in src.config["dims"])      # 1-based: the batch axis is 0
    if sorted(dims) != list(range(1, len(src.shape) + 1)):
        raise src.refuse(f"dims {dims} is not a permutation of the grid {src.shape}'s axes 1 … {len(src.shape)}")
    out = tuple(src.shape[d - 1] for d in dims)
    if dims == tuple(sorted(dims)):
        return [], src.shape
    return [Gather(transpose_index(src.shape, [d - 1 for d in dims]), src.name, out)], out


@register("RepeatVector")
def _repeat_vector(src: Source) -> Translation:
    n, (f,) = int(src.config["n"]), src.shape   # Keras' input spec: (N, F), so the grid is (F,)
    return [Gather(np.tile(np.arange(f), n), src.name, (n, f))], (n, f)


# ---- ONNX ----------------------------------------------------------------------------------------------------

@rule(ONNX, Gather)
def gather_nodes(e, layer, xs):
    return e.node("Gather", [xs[0], e.const(layer.index, f"{layer.name}/index", np.int64)], layer.name, axis=1)


@rule(ONNX, WindowMax)
def window_max_nodes(e, layer, xs):
    gathered = e.node("Gather", [xs[0], e.const(layer.filled(), f"{layer.name}/windows", np.int64)], axis=1)
    return e.node("ReduceMax", [gathered], layer.name, axes=[2], keepdims=0)   # opset 17: axes an attribute


# ---- the Dense+ReLU lowering ---------------------------------------------------------------------------------

@rule(LOWER, Gather)
def gather_lowering(state, layer, x: Value) -> Value:
    state.pending.append(layer.name)
    return Value(x.map.then(select(layer.index, x.map.size)), x.nonneg)


@rule(LOWER, WindowMax)
def window_max_lowering(state, layer, x):
    out = yield from max_tree(x, layer.windows, layer.name)
    state.pending.append(layer.name)
    return out


# ---- the float error bound -----------------------------------------------------------------------------------

@rule(BOUND, Gather, WindowMax)
def moved_bound(layer, mag, a, out, e, c):
    return layer(e)
