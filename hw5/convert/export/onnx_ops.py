"""The ONNX nodes of each NumPy layer type: one function per layer class in one table, EXPORTS, so the exporter
(hw5.convert.export.onnx_graph) is a loop over the net's graph. This module holds the table, the `Emitter`
every function writes through, and the linear and structural layers; hw5.convert.export.onnx_activations
the non-linear elementwise ones.

Every value between nodes is flat, (N, features), channels-last, as the NumPy layers pass it; a function
reshapes to its grid where the op needs one and flattens back.

    Dense        Gemm(x, W, b), W (fan_in, fan_out) the explicit matrix (never Conv); a scipy.sparse W is
                 densified when the whole net fits one file densely (Emitter.densify), else kept as its
                 entries: for each output column j its K stored (row, value) pairs (padded with value 0),
                 y = ReduceSum(Gather(x, rows) · values) + b — the same products, summed in another order
    Scale        Mul(x, d), Add(·, t): x·diag(d) + t
    MaxPool      Reshape (N, H, W, C), Transpose NCHW, MaxPool (TF's 'same' as explicit pads, which ONNX's
                 MaxPool leaves out of the max like TF's −inf), Transpose back, Flatten
    Softmax      Reshape (N, cells, C), Softmax over the last axis, Flatten
    Merge        each input Reshape to its grid; Add/Sub/Mul/Max/Min left to right (NumPy's reduce; ONNX
                 broadcasts the NumPy way), Average = the sum Div by the count; Expand to the output grid
    Concat       each input Reshape to its grid, Concat on the grid axis + 1, Flatten
    LayerNorm    ReduceMean, Sub, Mul, ReduceMean, Add ε, Sqrt, Div, then Mul γ, Add β — its NumPy steps
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.activations import LayerNorm
from hw5.convert.layers import BandedDense, Dense, MaxPool, Scale, Softmax
from hw5.convert.merges import Concat, Merge

EXPORTS: dict = {}   # NumPy layer class -> fn(emitter, layer, inputs: list[str]) -> output name


def exports(*classes):
    """Register the decorated function as the ONNX export of each class in `classes` (a duplicate is refused)."""
    def register(fn):
        for cls in classes:
            if cls in EXPORTS:
                raise ValueError(f"{cls.__name__} already has an ONNX export ({EXPORTS[cls].__name__})")
            EXPORTS[cls] = fn
        return fn
    return register


class Emitter:
    """Collects the graph's nodes and initializers; fresh value names; constants in the net's dtype."""

    def __init__(self, dtype, densify: bool):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype, self.densify = np.dtype(dtype), densify
        self.nodes, self.initializers, self.count = [], [], 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}/{self.count}"

    def const(self, value, stem: str = "c", dtype=None) -> str:
        """An initializer holding `value` (the net's dtype unless `dtype`)."""
        name = self.fresh(stem)
        array = np.asarray(value, self.dtype if dtype is None else dtype)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list, stem: str | None = None, **attrs) -> str:
        out = self.fresh(stem or op)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def grid(self, x: str, shape) -> str:
        return self.node("Reshape", [x, self.const([-1, *shape], "shape", np.int64)])

    def flat(self, x: str) -> str:
        return self.node("Flatten", [x], axis=1)


@exports(Dense, BandedDense)
def dense(e: Emitter, layer, xs):
    W, b = layer.W, e.const(layer.b, f"{layer.name}/b")
    if not hasattr(W, "tocsc") or e.densify:
        matrix = e.const(W.toarray() if hasattr(W, "toarray") else W, f"{layer.name}/W")
        return e.node("Gemm", [xs[0], matrix, b], layer.name, alpha=1.0, beta=1.0, transA=0, transB=0)
    rows, values = column_entries(W)
    gathered = e.node("Gather", [xs[0], e.const(rows, f"{layer.name}/rows", np.int32)], axis=1)  # (N, out, K)
    products = e.node("Mul", [gathered, e.const(values, f"{layer.name}/values")])
    summed = e.node("ReduceSum", [products, e.const([2], "axes", np.int64)], keepdims=0)
    return e.node("Add", [summed, b], layer.name)


def column_entries(W) -> tuple[np.ndarray, np.ndarray]:
    """A sparse (fan_in, fan_out) matrix as (rows, values), both (fan_out, K): column j's stored entries
    W[rows[j, k], j] = values[j, k], K the most any column holds, the rest padded with row 0, value 0."""
    csc = W.tocsc()
    counts = np.diff(csc.indptr)
    k = max(int(counts.max(initial=0)), 1)
    rows, values = np.zeros((W.shape[1], k), np.int32), np.zeros((W.shape[1], k), csc.dtype)
    col = np.repeat(np.arange(W.shape[1]), counts)
    slot = np.arange(csc.nnz) - np.repeat(csc.indptr[:-1], counts)
    rows[col, slot], values[col, slot] = csc.indices, csc.data
    return rows, values


@exports(Scale)
def scale(e: Emitter, layer, xs):
    scaled = e.node("Mul", [xs[0], e.const(layer.d, f"{layer.name}/d")])
    return e.node("Add", [scaled, e.const(layer.t, f"{layer.name}/t")], layer.name)


def pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else tuple(int(v) for v in value)


def pads(size: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """TF's padding of one axis: 'valid' none; 'same' the total a ceil(size/s) output needs, the odd one
    at the end (bottom/right)."""
    if str(padding).lower() != "same":
        return 0, 0
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


@exports(MaxPool)
def max_pool(e: Emitter, layer, xs):
    (h, w, c), (ph, pw), (sh, sw) = layer.in_shape, pair(layer.pool_size), pair(layer.strides)
    (top, bottom), (left, right) = pads(h, ph, sh, layer.padding), pads(w, pw, sw, layer.padding)
    nchw = e.node("Transpose", [e.grid(xs[0], (h, w, c))], perm=[0, 3, 1, 2])
    pooled = e.node("MaxPool", [nchw], f"{layer.name}/pool", kernel_shape=[ph, pw], strides=[sh, sw],
                    pads=[top, left, bottom, right])
    return e.flat(e.node("Transpose", [pooled], perm=[0, 2, 3, 1]))


@exports(Softmax)
def softmax(e: Emitter, layer, xs):
    groups = e.node("Reshape", [xs[0], e.const([0, -1, layer.out_shape[-1]], "shape", np.int64)])
    return e.flat(e.node("Softmax", [groups], layer.name, axis=-1))


MERGE_OPS = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Add"}


@exports(Merge)
def merge(e: Emitter, layer, xs):
    grids = [e.grid(x, shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
    out = grids[0]
    for other in grids[1:]:
        out = e.node(MERGE_OPS[layer.kind], [out, other])
    if layer.kind == "Average":
        out = e.node("Div", [out, e.const(len(grids), "count")])
    if tuple(np.broadcast_shapes(*layer.in_shapes)) != tuple(layer.out_shape):
        out = e.node("Expand", [out, e.const([1, *layer.out_shape], "shape", np.int64)])
    return e.flat(out)


@exports(Concat)
def concat(e: Emitter, layer, xs):
    grids = [e.grid(x, shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
    return e.flat(e.node("Concat", grids, layer.name, axis=layer.axis + 1))


@exports(LayerNorm)
def layer_norm(e: Emitter, layer, xs):
    g, axes = e.grid(xs[0], layer.out_shape), [a + 1 for a in layer.axes]
    mean = e.node("ReduceMean", [g], axes=axes, keepdims=1)
    centred = e.node("Sub", [g, mean])
    var = e.node("ReduceMean", [e.node("Mul", [centred, centred])], axes=axes, keepdims=1)
    y = e.node("Div", [centred, e.node("Sqrt", [e.node("Add", [var, e.const(layer.epsilon, "eps")])])])
    if layer.gamma is not None:
        y = e.node("Mul", [y, e.const(layer.gamma, f"{layer.name}/gamma")])
    if layer.beta is not None:
        y = e.node("Add", [y, e.const(layer.beta, f"{layer.name}/beta")])
    return e.flat(y)
