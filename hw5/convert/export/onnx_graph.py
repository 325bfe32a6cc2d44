"""A NumpyNet as an ONNX graph (opset 17) of explicit matrices, and onnxruntime to run it.

The graph takes the images as the Keras model does, (N, H, W, C), and flattens them channels-last (Flatten,
axis 1: the NumPy net's flat vector) — except a Dense/ReLU chain (hw5.convert.relu_only), whose graph takes
the flat vector itself, input [N, H·W·C] = x.reshape(N, -1) (hw5.convert.export.layout), and holds Gemm and
Relu nodes only, as the Dense-only readers want (gurobi-machinelearning, OMLT: neither reads a Flatten). Then
one node group per NumPy layer, in order:

    Dense     Gemm(x, W, b): y = x·W + b, W (fan_in, fan_out) the explicit matrix (scipy.sparse densified),
              alpha, beta, transA, transB written out (1, 1, 0, 0: OMLT reads them without defaults);
              never a Conv — a conv layer arrives as its Toeplitz matrix
    Scale     Mul(x, d), Add(·, t): the diagonal map x·diag(d) + t, stored as its diagonal
    ReLU, Sigmoid, Tanh   Relu, Sigmoid, Tanh
    MaxPool   Reshape to (N, H, W, C), Transpose to NCHW, MaxPool (TF's 'same' as explicit pads, which
              ONNX's MaxPool ignores in the max, like TF's −inf), Transpose back, Flatten
    Softmax   Reshape to (N, cells, C), Softmax over the last axis, Flatten

The output is reshaped to the model's output grid when that is not a vector (a Dense/ReLU chain's output
stays flat, [N, outputs]). The model's doc_string (and a flat graph's metadata_props) say how the input is
laid out. Weights are stored inside the file (protobuf's 2 GB limit: Part 2's 784 × 43,264 float32 conv
matrix is 136 MB; a larger model is refused with a clear message).
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.export.files import atomic_write, dense_array
from hw5.convert.export.layout import input_metadata, input_note
from hw5.convert.layers import Scale, Sigmoid, Tanh
from hw5.homework.layers import Dense, MaxPool, ReLU, Softmax
from hw5.homework.numpy_net import NumpyNet
from hw5.homework.toeplitz import _axis_geometry, _padding, _pair

OPSET = 17
LIMIT = 2 ** 31 - 2 ** 24   # protobuf's 2 GiB, less room for the graph itself


def _maxpool_nodes(helper, layer: MaxPool, x: str, out: str, shapes: list) -> list:
    (h, w, c), (ph, pw), (sh, sw) = layer.in_shape, _pair(layer.pool_size, "pool_size"), _pair(layer.strides, "s")
    padding = _padding(layer.padding)
    _, top, bottom = _axis_geometry(h, ph, sh, padding, "height")
    _, left, right = _axis_geometry(w, pw, sw, padding, "width")
    n = layer.name
    shapes.append((f"{n}/grid", np.array([-1, h, w, c], np.int64)))
    nodes = [helper.make_node("Reshape", [x, f"{n}/grid"], [f"{n}/nhwc"]),
             helper.make_node("Transpose", [f"{n}/nhwc"], [f"{n}/nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("MaxPool", [f"{n}/nchw"], [f"{n}/pooled"], kernel_shape=[ph, pw], strides=[sh, sw],
                              pads=[top, left, bottom, right]),
             helper.make_node("Transpose", [f"{n}/pooled"], [f"{n}/back"], perm=[0, 2, 3, 1]),
             helper.make_node("Flatten", [f"{n}/back"], [out], axis=1)]
    return nodes


def is_dense_relu(net: NumpyNet) -> bool:
    """Whether `net` is Dense and ReLU layers only (what hw5.convert.relu_only returns): its ONNX graph is flat."""
    return bool(net.layers) and all(type(layer) in (Dense, ReLU) for layer in net.layers)


def onnx_model(net: NumpyNet, opset: int = OPSET):
    """The onnx.ModelProto of `net` (see the module), checked by onnx.checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet, got {type(net).__name__}")
    dt = np.dtype(net.dtype)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[dt]
    stored = sum(math.prod(getattr(layer, "W", getattr(layer, "d", np.zeros(0))).shape) for layer in net.layers)
    if stored * dt.itemsize > LIMIT:
        raise ValueError(f"net's matrices take {stored * dt.itemsize / 2 ** 30:.1f} GiB dense, past ONNX's 2 GiB "
                         f"protobuf limit for a single file")
    flat = is_dense_relu(net)
    weights, shapes, nodes = [], [], [] if flat else [helper.make_node("Flatten", ["input"], ["x0"], axis=1)]
    x = "input" if flat else "x0"
    shape = tuple(net.output_shape if net.output_shape is not None else net.layers[-1].out_shape)
    shape = (math.prod(shape),) if flat else shape
    for i, layer in enumerate(net.layers):
        out = "output" if i == len(net.layers) - 1 and len(shape) == 1 else f"x{i + 1}"
        if isinstance(layer, Dense):
            weights += [numpy_helper.from_array(np.asarray(dense_array(layer.W), dt), f"W{i}"),
                        numpy_helper.from_array(np.asarray(layer.b, dt), f"b{i}")]
            nodes.append(helper.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out], name=f"{i}:{layer.name}",
                                          alpha=1.0, beta=1.0, transA=0, transB=0))
        elif isinstance(layer, Scale):
            weights += [numpy_helper.from_array(np.asarray(layer.d, dt), f"d{i}"),
                        numpy_helper.from_array(np.asarray(layer.t, dt), f"t{i}")]
            nodes += [helper.make_node("Mul", [x, f"d{i}"], [f"{out}/scaled"]),
                      helper.make_node("Add", [f"{out}/scaled", f"t{i}"], [out], name=f"{i}:{layer.name}")]
        elif type(layer) in (ReLU, Sigmoid, Tanh):
            op = {ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}[type(layer)]
            nodes.append(helper.make_node(op, [x], [out], name=f"{i}:{layer.name}"))
        elif isinstance(layer, MaxPool):
            nodes += _maxpool_nodes(helper, layer, x, out, shapes)
        elif isinstance(layer, Softmax):
            shapes.append((f"{layer.name}/groups", np.array([0, -1, layer.out_shape[-1]], np.int64)))
            nodes += [helper.make_node("Reshape", [x, f"{layer.name}/groups"], [f"{out}/g"]),
                      helper.make_node("Softmax", [f"{out}/g"], [f"{out}/p"], axis=-1),
                      helper.make_node("Flatten", [f"{out}/p"], [out], axis=1)]
        else:
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no ONNX export")
        x = out
    if len(shape) > 1 or not net.layers:
        shapes.append(("output/grid", np.array([-1, *shape], np.int64)))
        nodes.append(helper.make_node("Reshape", [x, "output/grid"], ["output"]))
    weights += [numpy_helper.from_array(value, name) for name, value in shapes]
    note = (input_note(net.input_shape) if flat else
            f"input [N, {', '.join(map(str, net.input_shape))}]: the image batch as Keras takes it")
    graph = helper.make_graph(
        nodes, "hw5_fully_connected",
        [helper.make_tensor_value_info("input", elem, ["N", math.prod(net.input_shape)] if flat
                                       else ["N", *net.input_shape], note)],
        [helper.make_tensor_value_info("output", elem, ["N", *shape])], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="hw5",
                              doc_string=("Dense+ReLU form, " if flat else "") + note)
    if flat:
        helper.set_model_props(model, input_metadata(net.input_shape))
    model.ir_version = min(model.ir_version, 9)   # onnxruntime 1.2x reads IR ≤ 10; 9 is what opset 17 needs
    onnx.checker.check_model(model)
    return model


def to_onnx(net: NumpyNet, path, opset: int = OPSET):
    """Write `net` as an ONNX file at `path` (atomically); returns the path."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 17:
        raise ValueError(f"opset must be an int >= 17, got {opset!r}")
    model = onnx_model(net, opset)
    return atomic_write(path, lambda tmp: tmp.write_bytes(model.SerializeToString()))


def op_types(path) -> list[str]:
    """The distinct op types of an ONNX file's graph, sorted."""
    import onnx

    return sorted({node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node})


def run_onnx(path, x, batch_size: int = 1000, threads: int = 0) -> np.ndarray:
    """The ONNX file run by onnxruntime (CPU) on images x (N, H, W, C) (or (N, H, W) for C = 1), reshaped
    to the file's input (x.reshape(N, -1) for a flat one), in batches; `threads` > 0 caps onnxruntime's
    intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    dt = np.float64 if spec.type == "tensor(double)" else np.float32
    x = np.asarray(x, dt)
    x = x.reshape(len(x), *[int(d) for d in spec.shape[1:]])
    return np.concatenate([session.run(None, {spec.name: x[i:i + batch_size]})[0]
                           for i in range(0, len(x), batch_size)])
