"""The flat input of the Dense-only exports: which image value is which input.

A Dense-only export (the Dense+ReLU ONNX graph, the Keras Sequential of Dense layers, NNet) takes an image
batch x (N, H, W, C) flattened channels-last, `x.reshape(N, -1)` (NumPy's C order, the order of Keras'
Flatten and of the NumPy net): input k = (i·W + j)·C + c is pixel (i, j), channel c. Each file says so:

    ONNX    the model's doc_string and metadata_props (FLAT_INPUT_KEYS), the input's doc_string
    Keras   the input layer's name (`flat_8x8x1_hwc`) and the .keras archive's metadata.json under "hw5"
            (Keras has no field for a user's metadata: it writes keras_version and date_saved to
            metadata.json and never reads that file back, so an extra key is kept and harmless)
    NNet    a `//` comment line
"""
from __future__ import annotations

import math

FLATTENING = "x.reshape(N, -1)"


def _axes(shape) -> str:
    return "H, W, C" if len(shape) == 3 else ", ".join(f"d{i}" for i in range(len(shape)))


def input_note(shape) -> str:
    """One line saying how an (N, *shape) batch becomes the flat input, e.g. for shape (8, 8, 1):
    'input [N, 64]: x.reshape(N, -1) of an (N, H, W, C) = (N, 8, 8, 1) batch, channels-last: input
    (i·W + j)·C + c is pixel (i, j), channel c'."""
    shape = tuple(int(d) for d in shape)
    dims = ", ".join(map(str, shape))
    line = f"input [N, {math.prod(shape)}]: {FLATTENING} of an (N, {_axes(shape)}) = (N, {dims}) batch"
    if len(shape) == 3:
        line += ", channels-last: input (i·W + j)·C + c is pixel (i, j), channel c"
    else:
        line += " (C order: the last axis varies fastest)"
    return line


def input_metadata(shape) -> dict[str, str]:
    """The same statement as key/value strings (ONNX metadata_props, the .keras metadata.json)."""
    shape = tuple(int(d) for d in shape)
    return {"input_layout": "flat, channels-last" if len(shape) == 3 else "flat, C order",
            "input_flattening": f"{FLATTENING} of an (N, {_axes(shape)}) batch",
            "input_image_shape": ",".join(map(str, shape)), "input_size": str(math.prod(shape)),
            "input_note": input_note(shape)}


def keras_input_name(shape) -> str:
    """The flat input layer's name, e.g. 'flat_8x8x1_hwc' (Keras allows letters, digits and '_' safely)."""
    return "flat_" + "x".join(str(int(d)) for d in shape) + ("_hwc" if len(shape) == 3 else "")
