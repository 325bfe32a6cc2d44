"""What from_onnx's matrices will take, said before any is built: `onnx_estimate(graph, dtype, sparse)`.

From the file alone (onnx's shape inference gives every tensor's shape; the batch axis counts as 1), per node
the entries its matrix stores — an upper bound: padding taps are counted as if inside —

    Conv            outputs × C_in/group × kh·kw          ConvTranspose   inputs × C_out/group × kh·kw
    Gemm, MatMul    K × M (per leading block)             pooling         outputs × kh·kw (MaxPool's windows:
    Resize          outputs × 4 (16 cubic)                                int64 indices either way)
    data movement   outputs (a selection matrix)          the rest        a diagonal or elementwise: 2 × size

and the bytes: dense, inputs × outputs × itemsize a matrix; sparse, STORED_BYTES a stored entry plus, for the
largest matrix, BUILD_BYTES a stored entry while it is built (its index arrays, COO, then CSR). The row has
hw5.convert.estimate's form (kind "memory"), so `refusal` turns a total past the machine into one line with the
figures and a way out; `multiply_adds` is the sum of the conv/Gemm entries (ResNet50 at 224²: 4.1 G).
"""
from __future__ import annotations

import math

import numpy as np

# a stored entry of a CSR matrix: its value and int32 column index (int64 past 2³¹ entries)
INDEX_BYTES = 4
# while a conv's sparse matrix is built, beyond the 8 B an entry it keeps: its int64 row, column and tap
# indices, the mask, the values, COO → CSR. Measured (tracemalloc peak / stored entries, float32, 3×3 convs of
# 2.3 M and 36 M entries): 44.1 and 44.0 B at the peak, 8.1 and 8.0 kept; 40 leaves a little room
BUILD_BYTES = 40
MOVES = {"Transpose", "Slice", "Pad", "Split", "Gather", "DepthToSpace", "SpaceToDepth", "Tile", "Expand",
         "Concat", "ReduceMean", "ReduceSum", "GlobalAveragePool"}
LINEAR = {"Conv", "ConvTranspose", "Gemm", "MatMul", "AveragePool", "Resize", "Upsample", *MOVES}


def _shapes(model) -> dict:
    """tensor name -> shape with the batch (symbolic axes as 1), from onnx's shape inference."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:   # a model the inference cannot follow: the estimate counts what it knows
        inferred = model
    shapes = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)
    for t in graph.initializer:
        shapes[t.name] = tuple(t.dims)
    return shapes


def _entries(node, shapes: dict) -> tuple[int, int, int]:
    """(inputs, outputs, stored entries) of the node's matrix, per sample; (0, 0, 0) if it makes none."""
    ins = [shapes.get(n) for n in node.input]
    out = shapes.get(node.output[0]) if node.output else None
    if out is None or not ins or ins[0] is None:
        return 0, 0, 0
    n_in, n_out = math.prod(ins[0][1:]), math.prod(out[1:])
    op = node.op_type
    if op == "Conv" and len(ins) > 1 and ins[1] is not None:
        return n_in, n_out, n_out * math.prod(ins[1][1:])
    if op == "ConvTranspose" and len(ins) > 1 and ins[1] is not None:
        return n_in, n_out, n_in * math.prod(ins[1][1:])
    if op in ("Gemm", "MatMul") and len(ins) > 1 and ins[1] is not None:
        k, m = ins[1][-2], ins[1][-1]
        return n_in, n_out, n_in // max(k, 1) * k * m if op == "MatMul" else k * m
    if op in ("AveragePool", "MaxPool"):
        kernel = [a for a in node.attribute if a.name == "kernel_shape"]
        return n_in, n_out, n_out * (math.prod(kernel[0].ints) if kernel else 1)
    if op in ("Resize", "Upsample"):
        cubic = any(a.name == "mode" and a.s == b"cubic" for a in node.attribute)
        return n_in, n_out, n_out * (16 if cubic else 4)
    if op == "GlobalAveragePool":
        return n_in, n_out, n_in
    if op in MOVES:
        return n_in, n_out, n_out
    return n_in, n_out, 0


def onnx_estimate(graph, dtype=None, sparse: bool = False) -> dict:
    """The row (see the module) for the matrices from_onnx would build from `graph` (reader.Graph)."""
    item = np.dtype(graph.dtype if dtype is None else dtype).itemsize
    shapes = _shapes(graph.model)
    total = largest = macs = 0
    for node in graph.model.graph.node:
        n_in, n_out, stored = _entries(node, shapes)
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            macs += stored
        if node.op_type == "MaxPool":
            total += stored * 8
        elif node.op_type in LINEAR:
            total += stored * (item + INDEX_BYTES) if sparse else n_in * n_out * item
            largest = max(largest, stored)
        else:
            total += 2 * n_out * item
    if sparse:
        total += largest * BUILD_BYTES
    how = "sparse (stored entries)" if sparse else "dense"
    return dict(output="from_onnx", what=f"its matrices, {how} (peak memory)", bytes=total, kind="memory",
                where=None, way_out="--sparse (scipy.sparse matrices)" if not sparse else "a smaller input size",
                multiply_adds=macs)
