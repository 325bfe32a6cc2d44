"""The ONNX reference — onnxruntime on the original file — and from_onnx's self-check against it.

    onnx_outputs(model, x, tensors=None, logits=False)
        onnxruntime on the model's input x (N, *input shape): the output (N, …), or each tensor named in
        `tensors` (the graph's intermediate values, added as outputs of a copy of the model); logits=True: the
        input of a last Softmax/LogSoftmax (what the Dense+ReLU form computes). A fixed batch size in the file
        is honoured by calls of that size (the last one padded with copies).
    self_check(graph, net)
        every ONNX tensor the net computes (net.keras_outputs) and the output, on PROBE_INPUTS seeded N(0, 1)
        inputs, within LAYER_RTOL of the less precise dtype of the file and the net — of each tensor's largest
        |value|, or of the inputs' — else a ValueError naming the first node beyond it
"""
from __future__ import annotations

import numpy as np

from hw5.convert.inspect import LAYER_RTOL, PROBE_INPUTS, PROBE_SEED

SOFTMAXES = ("Softmax", "LogSoftmax")


def _proto(model):
    from hw5.convert.onnx_in.reader import Graph, load

    return model.model if isinstance(model, Graph) else load(model)


def last_softmax(proto):
    """The graph's last node if it is a Softmax/LogSoftmax giving the output, else None."""
    last = proto.graph.node[-1] if proto.graph.node else None
    if last is not None and last.op_type in SOFTMAXES and last.output[0] == proto.graph.output[0].name:
        return last
    return None


# onnxruntime has no kernels for some ops of old opsets (AveragePool-1, BatchNormalization-6, Gemm-6 …, which
# PyTorch's early exports use); such a file is run after the onnx wheel's version converter lifted it to this one
LIFT_OPSET = 13


def _session(proto):
    import onnxruntime as ort
    from onnx import version_converter

    ort.set_default_logger_severity(3)   # its errors come back as exceptions; no log lines on the terminal
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as first:   # onnxruntime's NOT_IMPLEMENTED / INVALID_GRAPH for an old op's version
        try:
            lifted = version_converter.convert_version(proto, LIFT_OPSET)
            return ort.InferenceSession(lifted.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception:
            raise ValueError(f"onnxruntime cannot run the model (nor its opset-{LIFT_OPSET} version), so it has no "
                             f"reference: {str(first).strip().splitlines()[0]}") from None


def onnx_outputs(model, x, tensors=None, logits: bool = False):
    """See the module: an array, or a list of (N, features) float64 arrays when `tensors` is given."""
    import onnx
    from onnx import helper

    proto = onnx.ModelProto()
    proto.CopyFrom(_proto(model))
    graph = proto.graph
    weights = {t.name for t in graph.initializer}
    dims = next(i for i in graph.input if i.name not in weights)   # the one input that is not a weight
    kind = dims.type.tensor_type.elem_type
    wanted = list(tensors or [])
    if logits:
        last = last_softmax(proto)
        if last is None:
            raise ValueError("logits=True: the model does not end in a Softmax or LogSoftmax")
        wanted = [last.input[0]]
    if wanted:
        del graph.output[:]
        graph.output.extend(helper.make_tensor_value_info(name, kind, None) for name in wanted)
    session = _session(proto)
    first = dims.type.tensor_type.shape.dim[0]
    batch = first.dim_value if first.HasField("dim_value") and first.dim_value > 0 else None
    x = np.asarray(x)
    step = batch or len(x)
    parts = []
    for start in range(0, len(x), step):
        chunk = x[start:start + step]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)]) if batch else chunk
        try:
            outs = session.run(None, {dims.name: padded.astype(x.dtype, copy=False)})
        except Exception as exc:   # e.g. a lifted old op whose broadcasting rule changed (PRelu-6's slope)
            raise ValueError(f"onnxruntime cannot run the model, so it has no reference: "
                             f"{str(exc).strip().splitlines()[0]}") from None
        parts.append([np.asarray(o)[:len(chunk)] for o in outs])
    joined = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    if tensors is not None:
        return [j.reshape(len(x), -1).astype(np.float64) for j in joined]
    return joined[0]


def self_check(graph, net) -> None:
    """See the module."""
    dt = max(np.dtype(net.dtype), np.dtype(graph.dtype), key=lambda d: np.finfo(d).eps)
    rtol = LAYER_RTOL[dt]
    x = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_INPUTS, *net.input_shape)).astype(graph.dtype)
    names = [n for n in net.keras_outputs if n != graph.output_name] + [graph.output_name]
    indices = [net.keras_outputs.get(n, net.output) for n in names]
    theirs = onnx_outputs(graph, x, tensors=names)
    ours = net.forward(x)
    floor = rtol * float(np.abs(x).max())
    for name, index, value in zip(names, indices, theirs, strict=True):
        mine = net.value(ours, index, x).astype(np.float64)
        scale = float(np.abs(value).max(initial=0.0))
        diff = float(np.abs(value - mine.reshape(value.shape)).max(initial=0.0)) if mine.size == value.size \
            else np.inf
        if not diff <= floor + rtol * scale:
            node = next((n for n in graph.model.graph.node if name in n.output), None)
            where = f"node {node.name or name!r} ({node.op_type})" if node is not None else f"tensor {name!r}"
            raise ValueError(f"from_onnx: the network it built is not the ONNX model: {where}'s output {name!r} "
                             f"is off by {diff:.3e} from onnxruntime's, beyond {floor + rtol * scale:.3e} (rtol "
                             f"{rtol:g} of its largest value {scale:.3e}, or of the inputs'), on {PROBE_INPUTS} "
                             f"seeded N(0, 1) inputs — a wrong translation (check=False returns it anyway)")
