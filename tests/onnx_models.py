"""Small ONNX models written with onnx.helper, for the ONNX front end's tests (tests/test_onnx_in.py, the
command's tests): `model` wraps nodes into a one-input, one-output ModelProto the checker accepts, `weights`
gives seeded float32 arrays, `resnet_like` a residual NCHW CNN as PyTorch exports one."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, x_shape, y_name="y", inits=(), opset=17, batch="N", dtype=TensorProto.FLOAT, extra_inputs=()):
    """A one-input, one-output ModelProto; `inits`: {name: array} initializers."""
    inits = dict(inits)
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", dtype, [batch, *x_shape]), *extra_inputs],
        [helper.make_tensor_value_info(y_name, dtype, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    try:   # the output's shape as onnx's shape inference gives it (the checker wants one)
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.output[0]
    except Exception:   # a model built to be refused
        inferred = None
    if inferred is not None and inferred.type.tensor_type.HasField("shape"):
        m.graph.output[0].CopyFrom(inferred)
    else:   # the input's shape, right for the elementwise models built to be refused
        m.graph.output[0].CopyFrom(helper.make_tensor_value_info(y_name, dtype, [batch, *x_shape]))
    return m


def weights(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def resnet_like():
    """A small NCHW residual CNN as PyTorch exports one: conv → BN → ReLU → padded max-pool → a residual block
    (conv → ReLU → conv, plus the identity) → ReLU → global average pool → flatten → Gemm → Softmax."""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["n1"]),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["c3"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c3", "p1"], ["s"]),
             helper.make_node("Relu", ["s"], ["r3"]),
             helper.make_node("GlobalAveragePool", ["r3"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["f"]),
             helper.make_node("Gemm", ["f", "B", "C"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["y"], axis=1)]
    rng = np.random.default_rng(7)
    inits = {"w1": weights(4, 3, 3, 3), "b1": weights(4, seed=1), "g": weights(4, seed=2), "beta": weights(4, seed=3),
             "mu": weights(4, seed=4), "var": rng.uniform(0.5, 2, 4).astype(np.float32),
             "w2": weights(4, 4, 3, 3, seed=5), "w3": weights(4, 4, 3, 3, seed=6), "B": weights(5, 4, seed=8),
             "C": weights(5, seed=9)}
    return model(nodes, (3, 8, 8), inits=inits)
