"""The lowering's bookkeeping: every value the walk still needs, as an affine map of the last hidden layer h
(hw5.convert.affine: Affine, Value), and the one primitive that emits a hidden layer.

    Lowering       the walk's state: the emitted layers, `live` (graph node → Value; INPUT the input), `hidden`

`hidden(parts, name)` emits one Dense + ReLU layer: for each part relu(a), or a carried past the ReLU as
relu(a) − relu(−a) (2 neurons a value; relu(a) alone, 1, when a ≥ 0 is known), and it carries every `live`
value too — the other branches of a graph, so that every live value is again a map of the new hidden layer.
A live value v = h @ W + b can also cross through the rows of h it reads, since relu(h_r) = h_r for h ≥ 0 (a
hidden layer; 2 neurons a row for the input, which has either sign): v = h' @ (P W) + b, P picking those rows.
`hidden` takes the cheaper of the two for each value (a shortcut that widens the channels, a 1×1 conv from
4 to 16 channels, crosses as its 4 input channels). The neurons that carry live values are the width the
graph adds, recorded per layer in `carried`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hw5.convert.affine import Affine, Value, select, stack
from hw5.convert.layers import Dense, ReLU


def dense(a: Affine, name: str, dtype, density: float = 0.25) -> Dense:
    """A Dense layer of the map, its matrix rounded once to `dtype`: a NumPy array when at least `density` of
    it is non-zero, scipy.sparse CSR otherwise."""
    W = a.W.astype(dtype)
    W = W.toarray() if W.nnz >= density * math.prod(W.shape) else sp.csr_matrix(W)
    return Dense(W, a.b.astype(dtype), name, (a.W.shape[1],))


@dataclass
class Lowering:
    """The state of the walk: the emitted layers (and per layer the neurons carrying live values), the live
    values as maps of the last hidden layer, the linear layers composed since it (`pending`, for names)."""
    n_inputs: int
    dtype: np.dtype
    layers: list = field(default_factory=list)
    carried: list = field(default_factory=list)      # per emitted layer: neurons that carry `live` values
    live: dict = field(default_factory=dict)          # graph node -> Value, a map of the last hidden layer
    pending: list = field(default_factory=list)
    h_nonneg: bool = False                            # the last hidden layer is ≥ 0 (False: the input)

    @property
    def width(self) -> int:
        """len(h): the width of the last hidden layer (the input's size before the first)."""
        return self.layers[-2].W.shape[1] if self.layers else self.n_inputs   # [..., Dense, ReLU]

    def hidden(self, parts: list[tuple[Affine, str]], name: str) -> list[Affine]:
        """Emit one Dense + ReLU layer holding, per part, relu(a) ("relu"), a carried as relu(a) − relu(−a)
        ("carry") or as relu(a) ("carry+", a ≥ 0 known), and every live value, carried whole or through the
        rows of h it reads (whichever takes fewer neurons). Returns each part's value as a map of the new
        layer; the live values are updated to maps of it."""
        row_cost = 1 if self.h_nonneg else 2
        reads = {node: np.flatnonzero(np.diff(v.map.W.indptr)) for node, v in self.live.items()}   # rows of h read
        cost = {node: v.map.size * (1 if v.nonneg else 2) for node, v in self.live.items()}    # carried whole
        by_rows = [node for node in self.live if reads[node].size * row_cost < cost[node]]
        rows = np.unique(np.concatenate([reads[node] for node in by_rows] + [np.zeros(0, np.int64)]))
        for node in self.live:                    # then whatever the rows carried anyway make cheaper
            if node not in by_rows and np.setdiff1d(reads[node], rows).size * row_cost < cost[node]:
                by_rows.append(node)
                rows = np.union1d(rows, reads[node])
        whole = [node for node in self.live if node not in by_rows]
        carry = [(self.live[node].map, "carry+" if self.live[node].nonneg else "carry") for node in whole]
        if rows.size:
            carry.append((Affine(select(rows, self.width), np.zeros(rows.size)), "carry+" if self.h_nonneg
                          else "carry"))
        new = self._emit(parts + carry, name)
        for node, m in zip(whole, new[len(parts):], strict=False):
            self.live[node] = Value(m, self.live[node].nonneg)
        if rows.size:
            picked = new[-1]                                        # h'  ->  h[rows]
            for node in by_rows:
                v = self.live[node]
                self.live[node] = Value(picked.then(v.map.W[rows], v.map.b), v.nonneg)
        n_carried = sum(2 * a.size if how == "carry" else a.size for a, how in carry)
        self.carried[-2:] = [n_carried, n_carried]
        return new[:len(parts)]

    def _emit(self, parts: list[tuple[Affine, str]], name: str) -> list[Affine]:
        blocks = []
        for a, how in parts:
            blocks += [a, -a] if how == "carry" else [a]
        pre = stack(blocks)
        # the Dense is named for the linear maps it composes, the ReLU for its layer: no name twice in a table
        self.layers += [dense(pre, "+".join(self.pending) or f"{name}.linear", self.dtype), ReLU(name, None)]
        self.carried += [0, 0]
        self.pending = []
        self.h_nonneg = True
        n, start, out = pre.size, 0, []
        for a, how in parts:
            k = a.size
            pick = select(start + np.arange(k), n)
            if how == "carry":
                pick = pick - select(start + k + np.arange(k), n)
                start += k
            out.append(Affine(sp.csr_matrix(pick), np.zeros(k)))
            start += k
        return out
