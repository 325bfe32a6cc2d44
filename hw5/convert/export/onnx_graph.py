"""A NumpyNet as an ONNX graph (opset 17) of explicit matrices, and onnxruntime to run it.

The graph takes the images as the Keras model does, (N, H, W, C), and flattens them channels-last (Flatten,
axis 1: the NumPy net's flat vector) — except a Dense/ReLU chain (hw5.convert.relu_only), whose graph takes
the flat vector itself, input [N, H·W·C] = x.reshape(N, -1) (hw5.convert.export.layout), and holds Gemm and
Relu nodes only, as the Dense-only readers want (gurobi-machinelearning, OMLT: neither reads a Flatten).

Then one loop over the net's graph (node k = (layers[k], inputs[k]), INPUT the input): each layer's nodes come
from the function its class registered in hw5.convert.rules.ONNX, beside the class (Dense as Gemm with its
explicit matrix, never a Conv; merges as Add/Sub/Mul/Max/Min/Concat; the ReLU family as Relu/Clip/LeakyRelu/
PRelu; hw5.convert.layers, merges, relus, activations), fed the values of its inputs. A layer type with no
entry is refused by name. The output (node `net.output`) is reshaped to the model's output grid when that is
not a vector.

Size: the matrices are densified when the whole net fits one file densely (protobuf's 2 GB); otherwise a
scipy.sparse matrix keeps its entries (hw5.convert.layers.dense_nodes), and a file past 2 GB stores its weights
as external data, `<file>.data` beside it (to_onnx).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from hw5.convert.export.files import atomic_write
from hw5.convert.export.layout import input_metadata, input_note
from hw5.convert.export.onnx_ops import Emitter
from hw5.convert.layers import Dense, ReLU
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.rules import ONNX, lookup

OPSET = 17
LIMIT = 2 ** 31 - 2 ** 24   # protobuf's 2 GiB, less room for the graph itself


def is_dense_relu(net: NumpyNet) -> bool:
    """Whether `net` is Dense and ReLU layers only (what hw5.convert.relu_only returns): its ONNX graph is flat."""
    return bool(net.layers) and all(type(layer) in (Dense, ReLU) for layer in net.layers)


def dense_bytes(net: NumpyNet) -> int:
    """The bytes of the net's matrices and diagonals, every matrix dense."""
    return sum(math.prod(getattr(layer, "W", getattr(layer, "d", np.zeros(0))).shape)
               for layer in net.layers) * np.dtype(net.dtype).itemsize


def onnx_model(net: NumpyNet, opset: int = OPSET, check: bool = True, densify: bool | None = None):
    """The onnx.ModelProto of `net` (see the module), checked by onnx.checker (when it fits 2 GB). `densify`:
    whether scipy.sparse matrices become dense Gemm matrices (None: when the whole net fits 2 GB dense)."""
    import onnx
    from onnx import TensorProto, helper

    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet, got {type(net).__name__}")
    dt = np.dtype(net.dtype)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[dt]
    for layer in net.layers:
        if lookup(ONNX, layer) is None:
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no ONNX export; exported: "
                             f"{', '.join(sorted(cls.__name__ for cls in ONNX))}")
    flat = is_dense_relu(net)
    e = Emitter(dt, densify=dense_bytes(net) <= LIMIT if densify is None else densify)
    x = "input" if flat else e.flat("input")
    values = {INPUT: x}
    for k, (layer, inputs) in enumerate(zip(net.layers, net.inputs, strict=True)):
        values[k] = lookup(ONNX, layer)(e, layer, [values[i] for i in inputs])
    final = values[net.output]
    shape = net.output_grid()
    shape = (math.prod(shape),) if flat else shape
    if len(shape) > 1 or final in ("input", x):
        e.nodes.append(helper.make_node("Reshape", [final, e.const([-1, *shape], "shape", np.int64)], ["output"]))
    else:                   # the last node writes "output" itself (a Dense+ReLU graph stays Gemm and Relu only)
        for node in e.nodes:
            node.input[:] = ["output" if v == final else v for v in node.input]
            node.output[:] = ["output" if v == final else v for v in node.output]
    note = (input_note(net.input_shape, net.input_layout) if flat else
            f"input [N, {', '.join(map(str, net.input_shape))}]: the batch as the source model takes it")
    graph = helper.make_graph(
        e.nodes, "hw5_fully_connected",
        [helper.make_tensor_value_info("input", elem, ["N", math.prod(net.input_shape)] if flat
                                       else ["N", *net.input_shape], note)],
        [helper.make_tensor_value_info("output", elem, ["N", *shape])], initializer=e.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="hw5",
                              doc_string=("Dense+ReLU form, " if flat else "") + note)
    if flat:
        helper.set_model_props(model, input_metadata(net.input_shape, net.input_layout))
    model.ir_version = min(model.ir_version, 9)   # onnxruntime 1.2x reads IR ≤ 10; 9 is what opset 17 needs
    if check and stored_bytes(model) <= LIMIT:
        onnx.checker.check_model(model)
    return model


def stored_bytes(model) -> int:
    """The bytes of the model's initializers."""
    return sum(len(t.raw_data) for t in model.graph.initializer)


def to_onnx(net: NumpyNet, path, opset: int = OPSET, densify: bool | None = None):
    """Write `net` as an ONNX file at `path` (atomically; past 2 GB its weights in `<path>.data`); returns path."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 17:
        raise ValueError(f"opset must be an int >= 17, got {opset!r}")
    import onnx

    model = onnx_model(net, opset, densify=densify)
    if stored_bytes(model) <= LIMIT:
        return atomic_write(path, lambda tmp: tmp.write_bytes(model.SerializeToString()))

    def write(tmp):          # past protobuf's 2 GB: the weights in `<name>.data` beside the file
        onnx.save(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{Path(path).name}.data", size_threshold=1024)
        onnx.checker.check_model(str(tmp))
        data = Path(tmp).parent / f"{Path(path).name}.data"
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(data, 0o666 & ~umask)   # readable as the .onnx file is (onnx writes it 0600 here)
    return atomic_write(path, write)


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
