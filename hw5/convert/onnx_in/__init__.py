"""ONNX in: an ONNX file (PyTorch's NCHW exports, tf2onnx's NHWC ones) → the same NumpyNet `from_keras` gives.

    reader.py      read(model) -> Graph: the file loaded, onnx.checker, one input and output, fixed sizes
    front.py       OPS_IN, register_op, NodeSource, translate(): the node loop, constants folded
    windows.py     the sliding-window geometry (pads, auto_pad, ceil_mode, dilations) of conv and pooling
    estimate.py    the matrices' memory from the file alone, before any is built
    ops/           the op families: conv (Conv, ConvTranspose), pooling (MaxPool … GlobalAveragePool and the
                   WindowMax layer with its rules), linear (Gemm, MatMul, BatchNormalization, arithmetic),
                   moves (Reshape … Concat, ReduceMean/Sum), activations (Relu … Softmax)
    reference.py   onnxruntime on the original file, and the self-check against it

The network takes `x.reshape(N, -1)` of the model's own input — (C, H, W) order for an NCHW image
(net.input_layout "channels_first"), (H, W, C) for an NHWC one.
"""
from __future__ import annotations

from hw5.convert.estimate import available_memory, refusal
from hw5.convert.fold import fold
from hw5.convert.onnx_in.estimate import onnx_estimate
from hw5.convert.onnx_in.front import translate
from hw5.convert.onnx_in.reader import read
from hw5.convert.onnx_in.reference import self_check
from hw5.convert.registry import DENSE_LIMIT_BYTES


def from_onnx(model, dtype=None, fuse: bool = False, sparse: bool = False, dense_limit: int = DENSE_LIMIT_BYTES,
              check: bool = True):
    """Translate an ONNX model (a path or an onnx.ModelProto) into a NumPy network of explicit matrices.

    The same options and guarantees as from_keras: BatchNormalization folded into the matrix before it,
    `fuse` every run of linear maps multiplied into one, `sparse` scipy.sparse CSR matrices, a dense matrix above
    `dense_limit` bytes refused before it is built, `dtype` float32/float64 (default: the input's); the memory
    all matrices need is estimated from the file first (estimate.onnx_estimate) and a total past 75 % of
    MemAvailable refused with the figures. `check=True`
    compares every ONNX tensor the net computes with onnxruntime's on seeded inputs (reference.self_check): a
    wrong conversion is refused, never returned. Unsupported ops and files are refused with a one-line
    ValueError naming the node, its op type and the supported list.
    """
    for name, value in (("fuse", fuse), ("sparse", sparse), ("check", check)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    graph = read(model)
    row = onnx_estimate(graph, dtype, sparse)   # before any matrix is built
    why = refusal([row], available_memory())
    if why is not None:
        raise ValueError(f"{why} ({row['multiply_adds']:,} multiply-adds a sample)")
    net = translate(graph, dtype, sparse=sparse, dense_limit=dense_limit)
    kinds = {node.name or node.output[0]: node.op_type for node in graph.model.graph.node}
    net = fold(net, kinds, fuse)
    if check:
        self_check(graph, net)
    return net
