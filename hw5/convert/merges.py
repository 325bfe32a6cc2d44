"""Nodes with several inputs — Keras' merge layers — and the keras.ops nodes of a functional graph.

    Add, Subtract, Multiply, Average, Maximum, Minimum   elementwise over the inputs' grids, broadcast the
                                                         NumPy way (EfficientNet's (H, W, C) · (1, 1, C))
    Concatenate(axis)                                    the grids joined along `axis` (channels-last order)
    ops: Add, Subtract, Multiply, TrueDivide             with a constant: a diagonal Scale (x + c, x·c, …);
                                                         between two tensors: the merge above

A merge layer's `__call__` takes one flat (N, features) array per input and returns (N, features').
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial, reduce

import numpy as np

from hw5.convert.affine import Affine, Value, max_tree, select, stack
from hw5.convert.layers import Scale
from hw5.convert.registry import MERGES, OPS, Source, Translation, register
from hw5.convert.rules import LOWER, ONNX, refuse_lowering, rule

REDUCERS = {
    "Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply, "Maximum": np.maximum, "Minimum": np.minimum,
    "Average": np.add, "Divide": np.divide,   # Divide: ONNX's Div of two tensors (hw5.convert.onnx_in)
}


@dataclass
class Merge:
    """Elementwise `kind` of the inputs, each un-flattened to its grid and broadcast to `out_shape`."""
    kind: str
    in_shapes: tuple
    name: str
    out_shape: tuple

    def __call__(self, *xs):
        grids = [x.reshape(len(x), *shape) for x, shape in zip(xs, self.in_shapes, strict=True)]
        out = reduce(REDUCERS[self.kind], grids)
        if self.kind == "Average":
            out = out / len(grids)
        return np.broadcast_to(out, (len(xs[0]), *self.out_shape)).reshape(len(xs[0]), -1).astype(xs[0].dtype,
                                                                                                  copy=False)


@dataclass
class Concat:
    axis: int             # grid axis (0-based, without the batch)
    in_shapes: tuple
    name: str
    out_shape: tuple

    def __call__(self, *xs):
        grids = [x.reshape(len(x), *shape) for x, shape in zip(xs, self.in_shapes, strict=True)]
        return np.concatenate(grids, axis=self.axis + 1).reshape(len(xs[0]), -1)


def _broadcast(src: Source) -> tuple:
    ranks = {len(s) for s in src.shapes}
    if len(ranks) != 1:
        raise src.refuse(f"inputs of different ranks {src.shapes}")
    try:
        return tuple(np.broadcast_shapes(*src.shapes))
    except ValueError:
        raise src.refuse(f"cannot broadcast the grids {src.shapes}") from None


def _elementwise(kind: str, src: Source) -> Translation:
    if kind == "Subtract" and len(src.shapes) != 2:
        raise src.refuse("Subtract takes exactly two inputs")
    out = _broadcast(src)
    return [Merge(kind, tuple(src.shapes), src.name, out)], out


for _kind in REDUCERS.keys() - {"Divide"}:   # Keras' merge layers (Divide is ONNX's Div of tensors alone)
    register(_kind, table=MERGES)(partial(_elementwise, _kind))


@register("Concatenate", table=MERGES)
def _concatenate(src: Source) -> Translation:
    rank, axis = len(src.shapes[0]), src.config["axis"]
    axis = axis - 1 if axis > 0 else rank + axis
    if not 0 <= axis < rank or any(len(s) != rank for s in src.shapes):
        raise src.refuse(f"axis {src.config['axis']} does not fit the grids {src.shapes}")
    rest = {s[:axis] + s[axis + 1:] for s in src.shapes}
    if len(rest) != 1:
        raise src.refuse(f"the grids {src.shapes} differ off axis {src.config['axis']}")
    out = list(src.shapes[0])
    out[axis] = sum(s[axis] for s in src.shapes)
    return [Concat(axis, tuple(src.shapes), src.name, tuple(out))], tuple(out)


def _op(kind: str, src: Source, args: list) -> Translation:
    """A keras.ops arithmetic node: with a constant, a diagonal Scale; between two tensors, a Merge."""
    tensors = [a for a in args if a is None]
    if len(args) != 2:
        raise src.refuse(f"takes {len(args)} arguments (2 supported)")
    if len(tensors) == 2:
        if kind == "TrueDivide":
            raise src.refuse("division of two tensors is not supported")
        return _elementwise(kind, src)
    if len(tensors) != 1:
        raise src.refuse("needs a tensor argument")
    first = args[0] is None
    const = np.broadcast_to(np.asarray(args[1] if first else args[0], np.float64), src.shape).ravel()
    one, zero = np.ones_like(const), np.zeros_like(const)
    if kind == "TrueDivide" and (not first or (const == 0).any()):
        raise src.refuse("only division of a tensor by a non-zero constant is supported")
    d, t = {("Add", True): (one, const), ("Add", False): (one, const),
            ("Subtract", True): (one, -const), ("Subtract", False): (-one, const),
            ("Multiply", True): (const, zero), ("Multiply", False): (const, zero),
            ("TrueDivide", True): (1 / np.where(const == 0, 1, const), zero)}[(kind, first)]
    return [Scale(d.astype(src.dtype), t.astype(src.dtype), src.name, src.shape)], src.shape


for _kind in ("Add", "Subtract", "Multiply", "TrueDivide"):
    register(_kind, table=OPS)(partial(_op, _kind))


# ---- ONNX: each input Reshape to its grid; Add/Sub/Mul/Max/Min left to right (NumPy's reduce; ONNX broadcasts
# the NumPy way), Average the sum Div by the count, Expand to the output grid; Concat on the grid axis + 1 ----

MERGE_OPS = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Add",
             "Divide": "Div"}


@rule(ONNX, Merge)
def merge_nodes(e, layer, xs):
    grids = [e.grid(x, shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
    out = grids[0]
    for other in grids[1:]:
        out = e.node(MERGE_OPS[layer.kind], [out, other])
    if layer.kind == "Average":
        out = e.node("Div", [out, e.const(len(grids), "count")])
    if tuple(np.broadcast_shapes(*layer.in_shapes)) != tuple(layer.out_shape):
        out = e.node("Expand", [out, e.const([1, *layer.out_shape], "shape", np.int64)])
    return e.flat(out)


@rule(ONNX, Concat)
def concat_nodes(e, layer, xs):
    grids = [e.grid(x, shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
    return e.flat(e.node("Concat", grids, layer.name, axis=layer.axis + 1))


# ---- the Dense+ReLU lowering: Add, Subtract, Average the inputs' maps (broadcast (1, 1, C) → (H, W, C) by a
# 0/1 matrix) summed, no layer; Maximum, Minimum the max tree over the inputs (min = −max(−a, −b)); Multiply of
# two tensors is not piecewise linear: refused; Concatenate the maps side by side in the joined grid's order --

def _broadcast_map(m: Affine, shape: tuple, out_shape: tuple) -> Affine:
    if tuple(shape) == tuple(out_shape):
        return m
    index = np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), out_shape).ravel()
    return m.then(select(index, m.size))


@rule(LOWER, Merge)
def merge_lowering(state, layer: Merge, *xs: Value):
    if layer.kind in ("Multiply", "Divide"):
        raise refuse_lowering(layer, f"{'multiplies' if layer.kind == 'Multiply' else 'divides'} two tensors, "
                                     f"which is not piecewise linear")
    maps = [_broadcast_map(x.map, shape, layer.out_shape) for x, shape in zip(xs, layer.in_shapes, strict=True)]
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


@rule(LOWER, Concat)
def concat_lowering(state, layer: Concat, *xs: Value) -> Value:
    sizes = [math.prod(shape) for shape in layer.in_shapes]
    offsets = np.cumsum([0, *sizes[:-1]])
    grids = [offset + np.arange(size).reshape(shape) for offset, size, shape in zip(offsets, sizes, layer.in_shapes,
                                                                                   strict=True)]
    order = np.concatenate(grids, axis=layer.axis).ravel()       # joined grid, flat: the stacked column it is
    state.pending.append(layer.name)
    return Value(stack([x.map for x in xs]).then(select(order, sum(sizes))), all(x.nonneg for x in xs))
