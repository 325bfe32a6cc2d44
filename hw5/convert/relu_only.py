"""The Dense+ReLU-only form: any piecewise-linear chain NumpyNet as Dense → ReLU → Dense → … → Dense.

What verifiers and Dense-only tools (NNet, Marabou, a Keras Sequential of Dense layers) read. Every value
between two ReLU layers is an affine map of the last hidden layer h (or the input), `Affine(W, b)`:
value = h @ W + b, W (len(h), n) as scipy.sparse CSR, in float64 until the end. The lowering walks the net's
layers (LOWERINGS, one small function per layer type) and keeps that map:

    Dense, Scale   composed into the map (W·W₂, b·W₂ + b₂): conv, batch-norm, padding, average pooling
                   are folded into the next emitted matrix
    ReLU           emits Dense(map) and ReLU; the map becomes the identity of the new hidden layer
    MaxPool        a tree over each window, one hidden layer a level, ⌈log₂ k⌉ levels for k inputs:
                       max(a, b) = b + relu(a − b),   b carried past the ReLU as relu(b) − relu(−b)
                   (as relu(b) alone when b ≥ 0 is known: right after a ReLU); 'same' windows use their
                   real inputs only (TensorFlow pads with −inf), a global pool is one window
    Softmax        the last layer only: dropped, the output is the logits (argmax kept). Softmax is not
                   piecewise linear, nor are Sigmoid and Tanh: refused by name anywhere else.

`hidden(parts)` is the one primitive: one hidden layer holding relu(a) for the "relu" parts and the carried
values for the "carry" parts, returning each part's new map. A graph node (a residual Add, a Concatenate)
will be the same: its branches' maps carried through each hidden layer, summed or stacked after.

Float error (float_error_bound): the emitted net is Dense/ReLU only; evaluated in precision eps with its
matrices rounded once from the exact ones, each Dense with at most n non-zeros per column adds
(n + 2)·eps·(|a|·|W| + |b|) to the error e it receives (e·|W|), ReLU adds none (1-Lipschitz, exact). A
max-pool level's a − b is one more term of that column's sum (|W_a − W_b| ≤ |W_a| + |W_b|), not a rounded
subtraction of two rounded outputs; evaluated step by step instead, max(a, b) as fl(b + relu(fl(a − b)))
errs by ≤ 1.5·eps·max(|a|, |b|) (first order) per level, ≤ 1.5·⌈log₂ k⌉·eps·max|window| over a window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hw5.convert.graph import GraphNet
from hw5.convert.layers import Scale
from hw5.homework.layers import Dense, MaxPool, ReLU, Softmax
from hw5.homework.numpy_net import NumpyNet
from hw5.homework.toeplitz import _axis_geometry, _padding, _pair


@dataclass
class Affine:
    """value = h @ W + b: W (len(h), n) CSR float64, b (n,)."""
    W: sp.csr_matrix
    b: np.ndarray

    @classmethod
    def identity(cls, n: int) -> Affine:
        return cls(sp.identity(n, format="csr", dtype=np.float64), np.zeros(n))

    def then(self, W2, b2=None) -> Affine:
        """The map followed by x ↦ x @ W2 + b2 (W2 a matrix, sparse or dense, or a 1-D diagonal)."""
        if not sp.issparse(W2) and np.ndim(W2) == 1:
            W2 = sp.diags(np.asarray(W2, np.float64), format="csr")
        W2 = sp.csr_matrix(W2, dtype=np.float64)
        b = self.b @ W2 if self.b.any() else np.zeros(W2.shape[1])
        return Affine(sp.csr_matrix(self.W @ W2), np.asarray(b).ravel() + (0 if b2 is None else b2))

    def __neg__(self) -> Affine:
        return Affine(-self.W, -self.b)


def _stack(maps: list[Affine]) -> Affine:
    return Affine(sp.hstack([m.W for m in maps], format="csr"), np.concatenate([m.b for m in maps]))


@dataclass
class Lowering:
    """The state of the walk: the emitted layers, the current value's map, whether the value is ≥ 0."""
    n_inputs: int
    dtype: np.dtype
    layers: list = field(default_factory=list)
    value: Affine = None
    nonneg: bool = False
    pending: list = field(default_factory=list)   # names of the layers composed into `value` since the last ReLU

    def __post_init__(self):
        self.value = Affine.identity(self.n_inputs)

    def hidden(self, parts: list[tuple[Affine, str]], name: str) -> list[Affine]:
        """Emit one Dense + ReLU layer holding, per part, relu(a) ("relu"), a carried as relu(a) − relu(−a)
        ("carry") or as relu(a) ("carry+", a ≥ 0 known). Returns each part's value as a map of the new layer."""
        blocks = []
        for a, how in parts:
            blocks += [a, -a] if how == "carry" else [a]
        pre = _stack(blocks)
        self.layers += [_dense(pre, "+".join(self.pending + [name]), self.dtype), ReLU(name, None)]
        self.pending = []
        n, start, out = pre.W.shape[1], 0, []
        for a, how in parts:
            k = a.W.shape[1]
            pick = sp.csr_matrix((np.ones(k), (start + np.arange(k), np.arange(k))), shape=(n, k))
            if how == "carry":
                pick = pick - sp.csr_matrix((np.ones(k), (start + k + np.arange(k), np.arange(k))), shape=(n, k))
                start += k
            out.append(Affine(sp.csr_matrix(pick), np.zeros(k)))
            start += k
        return out


def _dense(a: Affine, name: str, dtype, density: float = 0.25) -> Dense:
    """A Dense layer of the map, its matrix rounded once to `dtype`: a NumPy array when at least `density` of
    it is non-zero, scipy.sparse CSR otherwise."""
    W = a.W.astype(dtype)
    W = W.toarray() if W.nnz >= density * math.prod(W.shape) else sp.csr_matrix(W)
    return Dense(W, a.b.astype(dtype), name, (a.W.shape[1],))


def _linear(state: Lowering, layer) -> None:
    W, b = (layer.W, layer.b) if isinstance(layer, Dense) else (layer.d, layer.t)
    state.value = state.value.then(W, np.asarray(b, np.float64))
    state.nonneg = False
    state.pending.append(layer.name)


def _relu(state: Lowering, layer) -> None:
    (state.value,) = state.hidden([(state.value, "relu")], layer.name)
    state.nonneg = True


def pool_windows(layer: MaxPool) -> np.ndarray:
    """(outputs, k) flat input indices of each output's window, −1 past a 'same' window's real inputs."""
    (h, w, c), (ph, pw), (sh, sw) = layer.in_shape, _pair(layer.pool_size, "pool_size"), _pair(layer.strides, "strides")
    padding = _padding(layer.padding)
    h_out, top, _ = _axis_geometry(h, ph, sh, padding, "height")
    w_out, left, _ = _axis_geometry(w, pw, sw, padding, "width")
    i, j, di, dj, ch = np.ix_(*(np.arange(n) for n in (h_out, w_out, ph, pw, c)))
    r, col = i * sh + di - top, j * sw + dj - left
    inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
    index = np.where(inside, (r * w + col) * c + ch, -1)                 # (h_out, w_out, ph, pw, c)
    index = np.moveaxis(index, 4, 2).reshape(h_out * w_out * c, ph * pw)  # output order (i, j, ch)
    return -np.sort(-index, axis=1)                                      # real inputs first


def _max_pool(state: Lowering, layer) -> None:
    windows = pool_windows(layer)
    levels = math.ceil(math.log2(windows.shape[1])) if windows.shape[1] > 1 else 0
    if levels == 0:
        state.value = state.value.then(_select(windows[:, 0], state.value.W.shape[1]))
    for level in range(levels):
        if windows.shape[1] % 2:
            windows = np.pad(windows, [(0, 0), (0, 1)], constant_values=-1)
        a, b = windows[:, 0::2].ravel(), windows[:, 1::2].ravel()   # pairs; b = −1: a alone
        present, both = a >= 0, (a >= 0) & (b >= 0)
        n = state.value.W.shape[1]
        carried = np.where(both, b, a)[present]                    # max(a, b) = carried + relu(a − b)
        diff = _select(a[both], n) - _select(b[both], n)
        relu_part, carry_part = state.hidden([(state.value.then(diff), "relu"),
                                              (state.value.then(_select(carried, n)),
                                               "carry+" if state.nonneg else "carry")],
                                             f"{layer.name}[{level + 1}/{levels}]")
        slots = np.full(a.size, -1)
        slots[present] = np.arange(present.sum())              # output slot of each present pair
        m = int(present.sum())
        state.value = _stack([relu_part, carry_part]).then(sp.vstack([_select(slots[both], m).T,
                                                                       _select(slots[present], m).T]))
        windows = slots.reshape(len(windows), -1)
    state.pending.append(layer.name)


def _select(rows: np.ndarray, n: int) -> sp.csr_matrix:
    """The (n, len(rows)) 0/1 matrix whose column k picks value rows[k]."""
    return sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(n, rows.size))


def _refuse(state: Lowering, layer) -> None:
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) is not piecewise linear: the Dense+ReLU form "
                     f"holds ReLU, max-pooling and linear layers only (a softmax only as the last layer: dropped, "
                     f"the logits kept)")


# NumPy layer type -> how it is lowered (anything not here is refused by name)
LOWERINGS = {Dense: _linear, Scale: _linear, ReLU: _relu, MaxPool: _max_pool}


def relu_only(net: NumpyNet) -> NumpyNet:
    """`net` (a chain NumpyNet, hw5.numpy_net.from_keras) as Dense, ReLU, Dense, …, Dense in its dtype,
    whose output is the logits when the net ends with a softmax. Matrices less than a quarter non-zero
    (the max-pool levels) are scipy.sparse CSR. Raises ValueError naming the first non-piecewise-linear layer."""
    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet (hw5.numpy_net.from_keras), got {type(net).__name__}")
    layers = list(net.layers)
    if layers and isinstance(layers[-1], Softmax):
        layers = layers[:-1]
    state = Lowering(math.prod(net.input_shape), np.dtype(net.dtype))
    for layer in layers:
        LOWERINGS.get(type(layer), _refuse)(state, layer)
    out = _dense(state.value, "+".join(state.pending) or "output", state.dtype)
    shape = tuple(net.output_shape if net.output_shape is not None else net.layers[-1].out_shape)
    out.out_shape = (math.prod(shape),)
    emitted = state.layers + [out]
    for i, layer in enumerate(emitted):
        if isinstance(layer, ReLU):
            layer.out_shape = emitted[i - 1].out_shape
    return GraphNet(net.input_shape, emitted, net.dtype, shape, {}, [layer.name for layer in emitted])


def logits_model(model):
    """A copy of the Keras chain `model` (same layers, same weights) whose output is the logits: a last
    Softmax (or softmax Activation) left out, a last layer's activation="softmax" made linear. A model
    ending otherwise is copied as it is. What `relu_only(from_keras(model))` computes."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    while len(layers) > 1 and type(layers[-1]).__name__ in ("Dropout", "SpatialDropout2D", "GaussianNoise"):
        layers = layers[:-1]   # identities at inference, after a softmax they would hide it
    configs = [layer.get_config() for layer in layers]
    last = configs[-1] if configs else {}
    if type(layers[-1]).__name__ == "Softmax" or (type(layers[-1]).__name__ == "Activation"
                                                 and last.get("activation") == "softmax"):
        layers, configs = layers[:-1], configs[:-1]
    elif last.get("activation") == "softmax":
        configs[-1] = {**last, "activation": "linear"}
    copies = [type(layer).from_config(cfg) for layer, cfg in zip(layers, configs, strict=True)]
    # a model that was only its softmax has the identity as logits (Keras cannot call a Sequential of no layers)
    copy = keras.Sequential([keras.Input(model.input_shape[1:], dtype=model.inputs[0].dtype)]
                            + (copies or [keras.layers.Identity(dtype=model.inputs[0].dtype)]))
    for mine, theirs in zip(copies, layers, strict=True):
        mine.set_weights(theirs.get_weights())
    return copy


def cost_table(net: NumpyNet) -> list[dict]:
    """Per layer: name, kind, matrix shape, non-zeros, neurons, bytes of its matrix and bias as stored
    (a CSR matrix: values, column indices and row pointers)."""
    rows = []
    for layer in net.layers:
        W = getattr(layer, "W", getattr(layer, "d", None))
        if W is None:
            shape, nnz, size = None, None, 0
        else:
            shape, bias = W.shape, getattr(layer, "b", getattr(layer, "t", np.zeros(0)))
            nnz = int(W.nnz) if sp.issparse(W) else int(np.count_nonzero(W))
            stored = W.data.nbytes + W.indices.nbytes + W.indptr.nbytes if sp.issparse(W) else W.nbytes
            size = stored + bias.nbytes
        rows.append(dict(layer=layer.name, kind=type(layer).__name__ + (" (sparse)" if sp.issparse(W) else ""),
                         matrix=shape, nonzeros=nnz, neurons=math.prod(layer.out_shape), bytes=size))
    return rows


def width_and_depth(net: NumpyNet) -> tuple[int, int]:
    """(the widest hidden layer, the number of Dense layers) of a Dense/ReLU chain."""
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    return max([layer.W.shape[1] for layer in dense[:-1]], default=0), len(dense)


def float_error_bound(net64: NumpyNet, x, eps: float, tiny: float = 0.0) -> np.ndarray:
    """Per-output bound on |net in precision eps − exact net|, (N, outputs), for a Dense/ReLU chain.

    `net64` is the float64 form (standing in for exact arithmetic), `eps` the evaluating precision's machine
    epsilon (`tiny` its smallest normal number, for flushed subnormals). Running analysis: a Dense layer
    with ≤ n non-zeros per column, its matrix rounded once (≤ eps/2 relative), summed in any order
    (γ_n ≤ n·eps/2·(1 + O(eps))): e' = e·|W|·(1 + eps) + (n + 2)·eps·(|a|·|W| + |b|) + (2n + 1)·tiny;
    ReLU: e' = e."""
    a = np.asarray(x, np.float64).reshape(len(x), -1)
    e = np.zeros_like(a)
    for layer in net64.layers:
        if isinstance(layer, Dense):
            W = abs(layer.W)
            n = int(np.asarray((W != 0).sum(axis=0)).max(initial=0))
            e = np.asarray(e @ W) * (1 + eps) + (n + 2) * eps * (np.asarray(np.abs(a) @ W) + np.abs(layer.b)) \
                + (2 * n + 1) * tiny
        elif not isinstance(layer, ReLU):
            raise TypeError(f"no error bound for layer type {type(layer).__name__} (a Dense/ReLU chain only)")
        a = layer(a)
    return e
