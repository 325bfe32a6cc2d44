"""How each NumPy layer type is lowered: LOWERINGS, type -> fn(state, layer, *input values) -> its Value.

    Dense, Scale        composed into the input's map (W·W₂, b·W₂ + b₂): conv, BatchNorm, padding, average
                        pooling are folded into the next emitted matrix; no layer of its own
    the ReLU family     one hidden layer of ramps (relu_only.family): ReLU, ReLU6, leaky, PReLU, hard_sigmoid
    MaxPool             a tree over each window, one hidden layer a level, ⌈log₂ k⌉ levels for k inputs:
                            max(a, b) = b + relu(a − b),   b carried past the ReLU as relu(b) − relu(−b)
                        (relu(b) alone when b ≥ 0 is known); 'same' windows hold their real inputs only
                        (TensorFlow pads with −inf), a global pool is one window
    Merge               Add, Subtract, Average: the inputs' maps (broadcast (1, 1, C) → (H, W, C) by a 0/1
                        matrix) summed — linear, no layer; Maximum, Minimum: the max tree over the inputs
                        (min = −max(−a, −b)); Multiply of two tensors is not piecewise linear: refused
    Concat              the inputs' maps side by side, reordered to the joined grid's channels-last order

A rule that needs hidden layers is a generator: it yields (parts, name) for each hidden layer it needs
(the parts as in Lowering.hidden) and receives the parts' maps of the new layer; relu_only.lower emits one
hidden layer for all the rules in flight at once (parallel branches side by side), carrying the graph's other
live values with them. A type not in the table is refused by name (`refuse`).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from hw5.convert.layers import Dense, MaxPool, Scale
from hw5.convert.linear_maps import window_indices
from hw5.convert.merges import Concat, Merge
from hw5.convert.relu_only.family import RAMPS
from hw5.convert.relu_only.maps import Affine, Lowering, Value, select, stack

LOWERED = "ReLU-family layers (ReLU, ReLU6, leaky, PReLU, hard_sigmoid), max-pooling, Add, Subtract, Average, " \
          "Maximum, Minimum, Concatenate and linear layers"


def refuse(layer, why: str = "is not piecewise linear") -> ValueError:
    kind = type(layer).__name__ + (f" {layer.kind!r}" if hasattr(layer, "kind") else "")
    return ValueError(f"layer {layer.name!r} ({kind}) {why}: the Dense+ReLU form holds {LOWERED} only (a softmax "
                      f"only as the last layer: dropped, the logits kept)")


def _nonneg(matrix) -> bool:
    data = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    return data.size == 0 or bool(data.min() >= 0)


def linear(state: Lowering, layer, x: Value) -> Value:
    W, b = (layer.W, layer.b) if isinstance(layer, Dense) else (layer.d, layer.t)
    state.pending.append(layer.name)
    keeps = x.nonneg and _nonneg(W) and _nonneg(b)   # ≥ 0 times ≥ 0 plus ≥ 0
    return Value(x.map.then(W, np.asarray(b, np.float64)), keeps)


def ramp_layer(state: Lowering, layer, x: Value):
    """f(x) = Σ w·relu(s·x + t) (relu_only.family): one hidden layer of the terms, summed after it."""
    family = RAMPS[type(layer)](layer)
    if family is None:
        raise refuse(layer)
    terms, nonneg = family
    n = x.map.size
    terms = [(w, s, t) for w, s, t in terms if np.any(np.asarray(w) != 0)
             and not (x.nonneg and np.all(np.asarray(s) <= 0) and np.all(np.asarray(t) <= 0))]   # 0 for x ≥ 0
    if x.nonneg and all(np.all(np.asarray(s) == 1) and np.all(np.asarray(t) == 0) for _, s, t in terms):
        w = sum((np.broadcast_to(np.asarray(w, np.float64), n) for w, _, _ in terms), np.zeros(n))
        return Value(x.map if np.all(w == 1) else x.map.then(w), nonneg)   # relu(x) = x for x ≥ 0
    full = lambda v: np.broadcast_to(np.asarray(v, np.float64), n)   # noqa: E731
    pre = [(x.map.then(full(s), full(t)), "relu") for _, s, t in terms]
    outs = yield pre, layer.name
    value = Affine.zero(state.width, n)
    for out, (w, _, _) in zip(outs, terms, strict=True):
        value = value + out.then(full(w))
    return Value(value, nonneg)


def pool_windows(layer: MaxPool) -> np.ndarray:
    """(outputs, k) flat input indices of each output's window (output order (i, j, ch)), the real inputs
    first in decreasing order, −1 past a 'same' window's real inputs."""
    rows, cols, _, out = window_indices(layer.in_shape, layer.pool_size, layer.strides, layer.padding)
    order = np.lexsort((-rows, cols))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(cols, minlength=math.prod(out))
    start = np.cumsum(counts) - counts
    windows = np.full((math.prod(out), int(counts.max(initial=1))), -1)
    windows[cols, np.arange(rows.size) - start[cols]] = rows
    return windows


def max_tree(x: Value, windows: np.ndarray, name: str):
    """max over each row of `windows` (indices into x, −1 none): a tree, one hidden layer a level (a rule's
    generator: yields each level's parts, returns the Value)."""
    value = x.map
    levels = math.ceil(math.log2(windows.shape[1])) if windows.shape[1] > 1 else 0
    if levels == 0:
        return Value(value.then(select(windows[:, 0], value.size)), x.nonneg)
    for level in range(levels):
        if windows.shape[1] % 2:
            windows = np.pad(windows, [(0, 0), (0, 1)], constant_values=-1)
        a, b = windows[:, 0::2].ravel(), windows[:, 1::2].ravel()   # pairs; b = −1: a alone
        present, both = a >= 0, (a >= 0) & (b >= 0)
        n = value.size
        carried = np.where(both, b, a)[present]                    # max(a, b) = carried + relu(a − b)
        diff = select(a[both], n) - select(b[both], n)
        relu_part, carry_part = yield ([(value.then(diff), "relu"),
                                        (value.then(select(carried, n)), "carry+" if x.nonneg else "carry")],
                                       f"{name}[{level + 1}/{levels}]")
        slots = np.full(a.size, -1)
        slots[present] = np.arange(present.sum())              # output slot of each present pair
        m = int(present.sum())
        value = stack([relu_part, carry_part]).then(sp.vstack([select(slots[both], m).T,
                                                               select(slots[present], m).T]))
        windows = slots.reshape(len(windows), -1)
    return Value(value, x.nonneg)


def max_pool(state: Lowering, layer: MaxPool, x: Value):
    out = yield from max_tree(x, pool_windows(layer), layer.name)
    state.pending.append(layer.name)
    return out


def _broadcast(m: Affine, shape: tuple, out_shape: tuple) -> Affine:
    if tuple(shape) == tuple(out_shape):
        return m
    index = np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), out_shape).ravel()
    return m.then(select(index, m.size))


def merge(state: Lowering, layer: Merge, *xs: Value):
    if layer.kind == "Multiply":
        raise refuse(layer, "multiplies two tensors, which is not piecewise linear")
    maps = [_broadcast(x.map, shape, layer.out_shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
    state.pending.append(layer.name)
    if layer.kind in ("Add", "Average", "Subtract"):
        total = maps[0] - maps[1] if layer.kind == "Subtract" else sum(maps[1:], maps[0])
        if layer.kind == "Average":
            total = total.then(np.full(total.size, 1 / len(maps)))
        return Value(total, layer.kind != "Subtract" and all(x.nonneg for x in xs))
    n, k = maps[0].size, len(maps)                                 # Maximum, Minimum: over the k inputs
    windows = np.arange(n)[:, None] + n * np.arange(k)[None, :]
    if layer.kind == "Maximum":
        high = yield from max_tree(Value(stack(maps), all(x.nonneg for x in xs)), windows, layer.name)
        return Value(high.map, any(x.nonneg for x in xs))
    low = yield from max_tree(Value(-stack(maps), False), windows, layer.name)
    return Value(-low.map, all(x.nonneg for x in xs))


def concat(state: Lowering, layer: Concat, *xs: Value) -> Value:
    sizes = [math.prod(shape) for shape in layer.in_shapes]
    offsets = np.cumsum([0, *sizes[:-1]])
    grids = [offset + np.arange(size).reshape(shape) for offset, size, shape in zip(offsets, sizes, layer.in_shapes,
                                                                                   strict=True)]
    order = np.concatenate(grids, axis=layer.axis).ravel()       # joined grid, flat: the stacked column it is
    state.pending.append(layer.name)
    return Value(stack([x.map for x in xs]).then(select(order, sum(sizes))), all(x.nonneg for x in xs))


# NumPy layer type -> how it is lowered (looked up along the type's MRO: a BandedDense is a Dense)
LOWERINGS = {Dense: linear, Scale: linear, MaxPool: max_pool, Merge: merge, Concat: concat,
             **{kind: ramp_layer for kind in RAMPS}}


# the converter's layer types that no Dense+ReLU network computes (a softmax is dropped at the output only)
NOT_PIECEWISE_LINEAR = ("Sigmoid", "Tanh", "Softmax", "LayerNorm", "_AlphaELU")


def rule_for(layer):
    """The lowering of `layer`'s type; ValueError naming the layer when it has none."""
    for kind in type(layer).__mro__:
        if kind in LOWERINGS:
            return LOWERINGS[kind]
    if type(layer).__name__ in NOT_PIECEWISE_LINEAR:
        raise refuse(layer)
    raise refuse(layer, "has no Dense+ReLU lowering (a layer type relu_only does not know)")
