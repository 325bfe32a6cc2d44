"""The primitives of the Dense+ReLU lowering (hw5.convert.relu_only), which each layer type's rule uses
(hw5.convert.rules.LOWER): every value as an affine map of the last hidden layer h.

    Affine(W, b)   value = h @ W + b: W (len(h), n) scipy.sparse CSR float64, b (n,); h is the net's input
                   (flat) before the first hidden layer
    Value          an Affine and whether the value is ≥ 0 for every input (known after a ReLU, a ReLU6 …)
    select, stack  0/1 matrices picking values; maps side by side
    ramps          f = Σ w·relu(s·x + t): one hidden layer (the ReLU family)
    max_tree       max over windows of values: a tree, one hidden layer a level
                       max(a, b) = b + relu(a − b),   b carried past the ReLU as relu(b) − relu(−b)
                   (relu(b) alone when b ≥ 0 is known)

A rule that needs hidden layers is a generator: it yields (parts, name) for each hidden layer it needs — parts
[(Affine, "relu" | "carry" | "carry+")] as in relu_only.maps.Lowering.hidden — and receives the parts' maps of
the new layer; relu_only.lower emits one hidden layer for all the rules in flight at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

IDENTITY = (1.0, 1.0, 0.0)   # the term 1·relu(1·x + 0) of `ramps`: relu(x)


@dataclass
class Affine:
    """value = h @ W + b: W (len(h), n) CSR float64, b (n,)."""
    W: sp.csr_matrix
    b: np.ndarray

    @classmethod
    def identity(cls, n: int) -> Affine:
        return cls(sp.identity(n, format="csr", dtype=np.float64), np.zeros(n))

    @classmethod
    def zero(cls, n_h: int, n: int) -> Affine:
        return cls(sp.csr_matrix((n_h, n), dtype=np.float64), np.zeros(n))

    @property
    def size(self) -> int:
        return self.W.shape[1]

    def then(self, W2, b2=None) -> Affine:
        """The map followed by x ↦ x @ W2 + b2 (W2 a matrix, sparse or dense, or a 1-D diagonal)."""
        if not sp.issparse(W2) and np.ndim(W2) == 1:
            W2 = sp.diags(np.asarray(W2, np.float64), format="csr")
        W2 = sp.csr_matrix(W2, dtype=np.float64)
        b = self.b @ W2 if self.b.any() else np.zeros(W2.shape[1])
        return Affine(sp.csr_matrix(self.W @ W2), np.asarray(b).ravel() + (0 if b2 is None else b2))

    def __neg__(self) -> Affine:
        return Affine(-self.W, -self.b)

    def __add__(self, other: Affine) -> Affine:
        return Affine(sp.csr_matrix(self.W + other.W), self.b + other.b)

    def __sub__(self, other: Affine) -> Affine:
        return self + -other


def select(rows: np.ndarray, n: int) -> sp.csr_matrix:
    """The (n, len(rows)) 0/1 matrix whose column k picks value rows[k]."""
    rows = np.asarray(rows, np.int64)
    return sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(n, rows.size))


def stack(maps: list[Affine]) -> Affine:
    """The maps side by side: one value of sum(sizes) columns."""
    return Affine(sp.hstack([m.W for m in maps], format="csr"), np.concatenate([m.b for m in maps]))


@dataclass
class Value:
    map: Affine
    nonneg: bool = False   # ≥ 0 for every input, in exact arithmetic


def ramps(state, layer, x: Value, terms: list, nonneg: bool):
    """The lowering of f(x) = Σ w·relu(s·x + t) neuron by neuron (`terms` [(w, s, t)], each a number or one per
    neuron; `nonneg`: f ≥ 0 everywhere): one hidden layer of the terms, summed after it. On an input known to
    be ≥ 0 the terms with s, t ≤ 0 are 0 and are left out, and relu(x) is x (a ReLU after a ReLU costs nothing).
    A rule's generator (see hw5.convert.rules.LOWER)."""
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
