"""An ONNX file read and checked before any translation: `read(model)` → `Graph`.

`model` is a path (str or Path; external-data files beside it are read) or an onnx.ModelProto. Refused with a
one-line ValueError naming what is wrong: a missing, empty, truncated or non-ONNX file; a model onnx.checker
rejects ("onnx.checker: …"); an opset of the default domain outside OPSETS; not exactly one input and one output
once the initializers are set apart (old exporters list every weight as an input too — a graph input without
an initializer is a weight the file does not hold); an input that is not float32/float64 or has a symbolic
axis other than the first (the batch axis: symbolic or any fixed size, ONNX's N).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OPSETS = range(6, 22)   # the default domain's opset versions whose operator semantics the translations follow


@dataclass(frozen=True)
class Graph:
    """What the translation reads: the model, its one input and output, the initializers as arrays."""
    model: object            # onnx.ModelProto
    input_name: str
    input_shape: tuple       # without the batch axis, e.g. (3, 32, 32) for NCHW
    batch: int | None        # the input's batch size if fixed, None if symbolic
    dtype: np.dtype          # the input's element type
    output_name: str
    constants: dict          # initializer name -> ndarray
    opset: int


def load(model):
    """The ModelProto of a path or a ModelProto, checked by onnx.checker; ValueError (one line) otherwise."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        proto, where = model, "the ONNX model"
    elif isinstance(model, (str, os.PathLike)):
        path, where = Path(model), f"model file {str(model)!r}"
        if not path.is_file():
            raise ValueError(f"{where} does not exist (or is not a file)")
        if path.stat().st_size == 0:
            raise ValueError(f"{where} is empty")
        try:
            proto = onnx.load(str(path))
        except Exception as exc:   # protobuf's DecodeError, a missing external-data file …
            external = "should be stored in" in str(exc)   # onnx's words for an external-data file it lacks
            why = "its external-data file is missing" if external else "truncated or not an ONNX file"
            raise ValueError(f"{where} cannot be read as ONNX ({why}): {_first_line(exc)}") from None
        if not proto.graph.node:
            raise ValueError(f"{where} holds no ONNX graph (truncated or not an ONNX file)")
    else:
        raise TypeError(f"model must be a path or an onnx.ModelProto, got {type(model).__name__}")
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx.checker.ValidationError and the C++ checker's errors
        raise ValueError(f"{where} fails onnx.checker: {_first_line(exc)}") from None
    return proto


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def read(model) -> Graph:
    """`model` loaded (see load) and checked for what a fully-connected network needs (see the module)."""
    import onnx
    from onnx import numpy_helper

    proto = load(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in OPSETS:
        raise ValueError(f"the model's opset {opset} is outside the opsets {OPSETS.start}–{OPSETS.stop - 1} "
                         f"whose operators the converter follows")
    graph = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs) or "none"
        weights = " (the weights must be initializers: a graph input without one is a weight the file lacks)" \
            if len(inputs) > 1 else ""
        raise ValueError(f"the model has {len(inputs)} inputs that are not initializers ({names}); one is "
                         f"supported{weights}")
    if len(graph.output) != 1:
        raise ValueError(f"the model has {len(graph.output)} outputs "
                         f"({', '.join(repr(o.name) for o in graph.output)}); one is supported")
    given = inputs[0]
    kind = given.type.tensor_type.elem_type
    dtype = {onnx.TensorProto.FLOAT: np.dtype(np.float32), onnx.TensorProto.DOUBLE: np.dtype(np.float64)}.get(kind)
    if dtype is None:
        raise ValueError(f"input {given.name!r} has element type {onnx.TensorProto.DataType.Name(kind)}; float or "
                         f"double is supported (a fully-connected network maps real vectors)")
    dims = _dims(given)
    if len(dims) < 2:
        raise ValueError(f"input {given.name!r} has shape {dims}: expected a batch axis and at least one more")
    symbolic = [(k, d) for k, d in enumerate(dims[1:], 1) if not isinstance(d, int) or d < 1]
    if symbolic:
        k, d = symbolic[0]
        raise ValueError(f"input {given.name!r} has shape {dims}: axis {k} is {d!r}, not a fixed size; a "
                         f"fully-connected network needs a fixed input size (export it with a fixed shape)")
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    shape = tuple(int(d) for d in dims[1:])
    if math.prod(shape) == 0:
        raise ValueError(f"input {given.name!r} has no values (shape {dims})")
    return Graph(proto, given.name, shape, batch, dtype, graph.output[0].name, constants, opset)


def attributes(node) -> dict:
    """The node's attributes as Python values (bytes decoded to str)."""
    from onnx import helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out
