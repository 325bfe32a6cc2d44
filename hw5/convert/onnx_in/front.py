"""The ONNX front end's graph loop: ONNX nodes → the same NumpyNet `from_keras` fills.

    translate(graph, dtype, sparse, dense_limit)
                         the loop (torch.fx's Interpreter): nodes in the file's order; a node whose inputs are
                         all constants — Constant, ConstantOfShape, and the Shape → Gather → Unsqueeze → Concat
                         chains exporters write before a Reshape, Shape being constant since every size but the
                         batch is fixed — is evaluated by the `onnx` wheel's reference implementation and becomes
                         a constant; every other node goes through hw5.convert.onnx_in.registry.OPS_IN

Every tensor is held in ONNX's own order: the values of one sample flattened row-major (C order) over its axes
without the batch — (C, H, W) for an NCHW image — so a Reshape or Flatten moves no value and the network takes
`x.reshape(N, -1)` of the model's own input. A shape in this module is a tensor's shape without the batch axis;
the batch axis stays first and is never mixed with the others (an op that would is refused by name).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

import hw5.convert.onnx_in.ops  # noqa: F401  (the op families fill OPS_IN)
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.onnx_in.reader import Graph, attributes
from hw5.convert.onnx_in.registry import BATCH_STAND_IN, OPS_IN, NodeSource, evaluate
from hw5.convert.registry import DENSE_LIMIT_BYTES


def _supported() -> str:
    return ", ".join(sorted(OPS_IN))


def translate(graph: Graph, dtype, sparse: bool = False, dense_limit: int = DENSE_LIMIT_BYTES) -> NumpyNet:
    """The graph as a NumpyNet (see the module): net.keras_outputs maps each ONNX tensor the net computes to
    its node, net.sources each layer to its ONNX node's name; dtype None: the input's."""
    dt = np.dtype(graph.dtype if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32, float64 or None (the model's), got {dtype!r}")
    batch = graph.batch or BATCH_STAND_IN
    consts = dict(graph.constants)
    env = {graph.input_name: (INPUT, graph.input_shape)}   # tensor -> (node, shape)
    layout = input_layout(graph)
    net = NumpyNet(input_shape=graph.input_shape, compute_dtype=dt, input_layout=layout)
    read = {name for node in graph.model.graph.node for name in node.input} | {graph.output_name}
    for node in graph.model.graph.node:
        present = [name for name in node.input if name]
        missing = [name for name in present if name not in env and name not in consts]
        if missing:
            raise ValueError(f"node {node.name or node.output[0]!r} ({node.op_type}) reads {missing[0]!r}, which no "
                             f"earlier node computes (the graph is not in topological order?)")
        if node.op_type == "Shape" and present[0] in env:
            shape = (batch, *env[present[0]][1])
            a = attributes(node)
            consts[node.output[0]] = np.array(shape[a.get("start", 0):a.get("end", len(shape))], np.int64)
            continue
        if node.op_type == "Size" and present[0] in env:
            consts[node.output[0]] = np.array(batch * math.prod(env[present[0]][1]), np.int64)
            continue
        if all(name in consts for name in present) and node.op_type not in ("RandomNormal", "RandomUniform"):
            for name, value in zip(node.output, evaluate(node, [consts.get(n) for n in node.input], graph.opset),
                                   strict=False):
                consts[name] = value
            continue
        if node.op_type not in OPS_IN:
            raise ValueError(f"node {node.name or node.output[0]!r} has op type {node.op_type}, which has no "
                             f"translation; supported: {_supported()}")
        src = NodeSource(layer=None, config=attributes(node), shape=None, variables={}, dtype=dt, sparse=sparse,
                         limit=dense_limit, node=node, opset=graph.opset, batch=batch,
                         consts=tuple(consts.get(n) if n and n not in env else None for n in node.input),
                         shapes=tuple(env[n][1] if n in env else None for n in node.input))
        src = _with_shape(src)
        result = OPS_IN[node.op_type](src)
        outputs = result if isinstance(result, list) else [result]
        unmade = [o for o in list(node.output)[len(outputs):] if o and o in read]
        if unmade:   # a Dropout's mask, a MaxPool's indices, BatchNorm's training outputs: fine unless read
            raise src.refuse(f"its output {unmade[0]!r} is read by the model, and it has no NumPy translation")
        reads = [env[node.input[k]][0] for k in src.tensor_inputs()]
        for name, (layers, shape) in zip(node.output, outputs, strict=False):
            if not name:
                continue
            first = len(net.layers)
            for k, layer in enumerate(layers):
                net.layers.append(layer)
                net.inputs.append(list(reads) if k == 0 else [first + k - 1])
                net.sources.append(src.name)
            index = len(net.layers) - 1 if layers else reads[0]
            env[name] = (index, tuple(int(d) for d in shape))
            net.keras_outputs[name] = index
    if graph.output_name not in env:
        raise ValueError(f"the model's output {graph.output_name!r} does not depend on its input (a constant)")
    net.output, net.output_shape = env[graph.output_name]
    return net


def input_layout(graph: Graph) -> str:
    """"channels_last" for an image input (rank 3 a sample) that every reader first transposes NHWC → NCHW
    (perm [0, 3, 1, 2]: tf2onnx's files), else "channels_first" (ONNX's NCHW, PyTorch's files); a non-image
    input is "channels_last" (its axes in C order, nothing to say about channels)."""
    if len(graph.input_shape) != 3:
        return "channels_last"
    readers = [n for n in graph.model.graph.node if graph.input_name in n.input]
    nhwc = readers and all(n.op_type == "Transpose" and list(attributes(n).get("perm", [])) == [0, 3, 1, 2]
                           for n in readers)
    return "channels_last" if nhwc else "channels_first"


def _with_shape(src: NodeSource) -> NodeSource:
    tensors = src.tensor_inputs()
    if not tensors:
        raise src.refuse("reads no tensor the network computes")
    return replace(src, shape=src.shapes[tensors[0]])
