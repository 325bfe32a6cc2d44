"""What the Dense+ReLU form costs, and how far its floating-point evaluation can be from exact.

`cost_table(net)`: per layer its matrix, non-zeros, neurons, bytes, and — for relu_only's result — `carried`,
the neurons of that hidden layer that carry other branches' values past it (the width a graph adds; the
depth the lowering adds is one hidden layer per ReLU-family layer and ⌈log₂ k⌉ per k-input max).
`width_and_depth(net)`: the widest hidden layer and the number of Dense layers.

Float error (float_error_bound): the emitted net is Dense/ReLU only; evaluated in precision eps with its
matrices rounded once from the exact ones, each Dense with at most n non-zeros per column adds
(n + 2)·eps·(|a|·|W| + |b|) to the error e it receives (e·|W|), ReLU adds none (1-Lipschitz, exact). A
max-pool level's a − b, a carried relu(v) − relu(−v), a merge's sum and a ramp's s·x + t are terms of one
column's sum (|W_a − W_b| ≤ |W_a| + |W_b|), not rounded operations of their own; evaluated step by step
instead, max(a, b) as fl(b + relu(fl(a − b))) errs by ≤ 1.5·eps·max(|a|, |b|) (first order) per level,
≤ 1.5·⌈log₂ k⌉·eps·max|window| over a window.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from hw5.convert.layers import Dense, ReLU
from hw5.convert.network import NumpyNet
from hw5.convert.rules import Precision, error_bound


def cost_table(net: NumpyNet) -> list[dict]:
    """Per layer: name, kind, matrix shape, non-zeros, neurons, bytes of its matrix and bias as stored
    (a CSR matrix: values, column indices and row pointers), carried (relu_only's result: neurons carrying
    other branches; None for any other net)."""
    carried = getattr(net, "carried", None) or [None] * len(net.layers)
    rows = []
    for layer, extra in zip(net.layers, carried, strict=True):
        W = getattr(layer, "W", getattr(layer, "d", None))
        if W is None:
            shape, nnz, size = None, None, 0
        else:
            shape, bias = W.shape, getattr(layer, "b", getattr(layer, "t", np.zeros(0)))
            nnz = int(W.nnz) if sp.issparse(W) else int(np.count_nonzero(W))
            stored = W.data.nbytes + W.indices.nbytes + W.indptr.nbytes if sp.issparse(W) else W.nbytes
            size = stored + bias.nbytes
        rows.append(dict(layer=layer.name, kind=type(layer).__name__ + (" (sparse)" if sp.issparse(W) else ""),
                         matrix=shape, nonzeros=nnz, neurons=math.prod(layer.out_shape), bytes=size, carried=extra))
    return rows


def width_and_depth(net: NumpyNet) -> tuple[int, int]:
    """(the widest hidden layer, the number of Dense layers) of a Dense/ReLU chain."""
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    return max([layer.W.shape[1] for layer in dense[:-1]], default=0), len(dense)


def float_error_bound(net64: NumpyNet, x, eps: float, tiny: float = 0.0) -> np.ndarray:
    """Per-output bound on |net in precision eps − exact net|, (N, outputs), for a Dense/ReLU chain.

    `net64` is the float64 form (standing in for exact arithmetic), `eps` the evaluating precision's machine
    epsilon (`tiny` its smallest normal number, for flushed subnormals). The layer types' BOUND steps
    (hw5.convert.layers) with each matrix rounded once from the exact one (growth eps, 2 extra roundings): a
    Dense layer with ≤ n non-zeros per column, summed in any order (γ_n ≤ n·eps/2·(1 + O(eps))):
    e' = e·|W|·(1 + eps) + (n + 2)·eps·(|a|·|W| + |b|) + (2n + 1)·tiny; ReLU: e' = e."""
    for layer in net64.layers:
        if type(layer) not in (Dense, ReLU):
            raise TypeError(f"no error bound for layer type {type(layer).__name__} (a Dense/ReLU chain only)")
    return error_bound(net64, net64, x, Precision(eps, tiny, extra=2, growth=eps))
