"""The ops that only move values — Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (no NumPy layer: the
values stay where they are, in row-major order), Transpose, Slice, Pad, Split, Gather (constant indices),
DepthToSpace, SpaceToDepth, Tile, Expand (a selection matrix), Concat (a Concat layer) — and
ReduceMean/ReduceSum (a summing matrix).

A selection matrix is found by running the node itself — the `onnx` wheel's reference implementation, so ONNX's
own semantics for every opset — on one sample whose values are their own positions: v = ±(1 + index), once
with each sign. An output value that flips sign with the input came from input |v| − 1; one that does not is
the op's constant (Pad's value): the bias. The batch axis must come out as it went in (a batch of one).
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.merges import Concat
from hw5.convert.onnx_in.registry import evaluate, register_op
from hw5.convert.registry import linear


def _axis(src, axis: int, rank: int) -> int:
    """ONNX axis (with the batch, maybe negative) → per-sample axis; the batch axis refused."""
    a = axis + rank + 1 if axis < 0 else axis
    if a == 0:
        raise src.refuse("works on the batch axis (axis 0), which a fully-connected network keeps as it is")
    if not 1 <= a <= rank:
        raise src.refuse(f"axis {axis} is outside the tensor's {rank + 1} axes")
    return a - 1


def _run(src, sample) -> list[np.ndarray]:
    values = [sample[None] if k == src.tensor_inputs()[0] else c for k, c in enumerate(src.consts)]
    return evaluate(src.node, values, src.opset)


def _selection(src, out: np.ndarray, back: np.ndarray):
    """(the Dense layer or [] for the identity, the per-sample shape) from the two runs' output."""
    if out.ndim == 0 or out.shape[0] != 1:
        raise src.refuse(f"changes the batch axis (a batch of 1 came out as {out.shape})")
    shape = tuple(int(d) for d in out.shape[1:])
    a, b = out.ravel(), back.ravel()
    moved = a != b
    n = math.prod(src.shape)
    rows = np.rint(np.abs(a[moved])).astype(np.int64) - 1
    if moved.all() and a.size == n and np.array_equal(rows, np.arange(n)):
        return [], shape
    bias = np.where(moved, 0.0, a) if not moved.all() else None
    cols = np.flatnonzero(moved)
    return [linear(src, rows, cols, np.ones(rows.size), n, bias, shape)], shape


@register_op("Transpose", "Slice", "Pad", "Split", "Gather", "DepthToSpace", "SpaceToDepth", "Tile", "Expand")
def _moved(src):
    cfg = src.config
    if src.op == "Gather" and src.tensor_inputs() != [0]:
        raise src.refuse("needs constant indices into the network's tensor")
    rank = len(src.shape)
    if src.op == "Gather":
        _axis(src, int(cfg.get("axis", 0)), rank)
    if src.op == "Transpose" and list(cfg.get("perm", [0]))[0] != 0:
        raise src.refuse(f"perm {cfg.get('perm')} moves the batch axis")
    if src.op == "Slice":
        axes = cfg.get("axes") if src.opset < 10 else (None if len(src.node.input) < 4 or not src.node.input[3]
                                                       else np.asarray(src.const(3, "axes")).ravel().tolist())
        for a in range(len(cfg.get("starts", []))) if axes is None and src.opset < 10 else axes if axes is not None \
                else range(len(np.asarray(src.const(1, "starts")).ravel())):
            _axis(src, int(a), rank)
    n = math.prod(src.shape)
    up = (np.arange(n, dtype=np.float64) + 1).reshape(src.shape)
    outs, backs = _run(src, up), _run(src, -up)
    results = [_selection(src, o, b) for o, b in zip(outs, backs, strict=True)]
    return results if len(src.node.output) > 1 else results[0]


def _same_values(src, shape):
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) != math.prod(src.shape):
        raise src.refuse(f"gives {shape} from {src.shape}: a different number of values a sample")
    return [], shape


@register_op("Reshape")
def _reshape(src):
    target = [int(v) for v in np.asarray(src.const(1, "shape")).ravel()]
    if src.config.get("allowzero", 0) and 0 in target:
        raise src.refuse("allowzero = 1 with a 0 in the shape is not supported")
    full = (src.batch, *src.shape)
    dims = [full[k] if v == 0 else v for k, v in enumerate(target)]
    if dims.count(-1) > 1:
        raise src.refuse(f"shape {target} has more than one -1")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(full) // known if known else 0
    if not dims or dims[0] != src.batch:
        raise src.refuse(f"reshapes {full} to {target}: the first axis must stay the batch axis")
    return _same_values(src, dims[1:])


@register_op("Flatten")
def _flatten(src):
    axis = int(src.config.get("axis", 1))
    axis = axis + len(src.shape) + 1 if axis < 0 else axis
    if axis == 0 or math.prod(src.shape[:axis - 1]) > 1:   # ONNX's Flatten: (d0 ⋯ d_axis−1, the rest)
        raise src.refuse(f"axis {axis} would flatten sample axes into the batch axis (axis 1 keeps it)")
    return _same_values(src, (math.prod(src.shape),))


def _axes(src) -> list[int]:
    axes = src.config.get("axes")
    if axes is None and len(src.node.input) > 1 and src.node.input[1]:
        axes = np.asarray(src.const(1, "axes")).ravel().tolist()
    return None if axes is None else [int(a) for a in axes]


@register_op("Squeeze")
def _squeeze(src):
    axes = _axes(src)
    keep = [d for k, d in enumerate(src.shape) if (d != 1 if axes is None else
                                                   k not in {_axis(src, a, len(src.shape)) for a in axes})]
    return _same_values(src, keep)


@register_op("Unsqueeze")
def _unsqueeze(src):
    axes = _axes(src)
    rank = len(src.shape) + len(axes)
    where = sorted(a + rank + 1 if a < 0 else a for a in axes)
    if 0 in where:
        raise src.refuse("adds an axis before the batch axis")
    shape = list(src.shape)
    for a in where:
        shape.insert(a - 1, 1)
    return _same_values(src, shape)


@register_op("Identity", "Dropout")
def _identity(src):
    return [], src.shape   # a Dropout's mask, if read, is refused by the loop


@register_op("Concat")
def _concat(src):
    if src.tensor_inputs() != list(range(len(src.node.input))):
        raise src.refuse("concatenates a constant with the network's tensors (not supported)")
    axis = _axis(src, int(src.config["axis"]), len(src.shape))
    shapes = list(src.shapes)
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [Concat(axis, tuple(shapes), src.name, tuple(out))], tuple(out)


@register_op("ReduceMean", "ReduceSum")
def _reduce(src):
    axes = _axes(src)
    if axes is None and src.op == "ReduceSum" and src.config.get("noop_with_empty_axes", 0):
        return [], src.shape
    rank = len(src.shape)
    reduced = sorted(range(rank) if axes is None else {_axis(src, a, rank) for a in axes})
    keep = bool(src.config.get("keepdims", 1))
    grid = np.indices(src.shape).reshape(rank, -1)
    kept = [k for k in range(rank) if k not in reduced]
    out_shape = tuple(1 if k in reduced else d for k, d in enumerate(src.shape)) if keep else \
        tuple(src.shape[k] for k in kept)
    cols = np.ravel_multi_index([grid[k] for k in kept], [src.shape[k] for k in kept]) if kept else \
        np.zeros(grid.shape[1], np.int64)
    count = math.prod(src.shape[k] for k in reduced)
    values = np.full(cols.size, 1.0 / count if src.op == "ReduceMean" else 1.0)
    return [linear(src, np.arange(cols.size), cols, values, cols.size, None, out_shape)], out_shape
