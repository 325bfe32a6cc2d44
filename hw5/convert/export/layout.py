"""The flat input of the Dense-only exports: which image value is which input.

A Dense-only export (the Dense+ReLU ONNX graph, the Keras Sequential of Dense layers, NNet) takes an image
batch flattened in the model's own axis order, `x.reshape(N, -1)` (NumPy's C order, the order of the NumPy
net): a Keras model's (N, H, W, C) batch channels-last — input k = (i·W + j)·C + c is pixel (i, j), channel c —
or an NCHW ONNX model's (N, C, H, W) batch channels-first (net.input_layout "channels_first") — input
k = (c·H + i)·W + j. Each file says so:

    ONNX    the model's doc_string and metadata_props (FLAT_INPUT_KEYS), the input's doc_string
    Keras   the input layer's name (`flat_8x8x1_hwc`) and the .keras archive's metadata.json under "hw5"
            (Keras has no field for a user's metadata: it writes keras_version and date_saved to
            metadata.json and never reads that file back, so an extra key is kept and harmless)
    NNet    a `//` comment line
"""
from __future__ import annotations

import math

FLATTENING = "x.reshape(N, -1)"


def _axes(shape, layout: str = "channels_last") -> str:
    if len(shape) == 3:
        return "C, H, W" if layout == "channels_first" else "H, W, C"
    return ", ".join(f"d{i}" for i in range(len(shape)))


def input_note(shape, layout: str = "channels_last") -> str:
    """One line saying how an (N, *shape) batch becomes the flat input, e.g. for shape (8, 8, 1):
    'input [N, 64]: x.reshape(N, -1) of an (N, H, W, C) = (N, 8, 8, 1) batch, channels-last: input
    (i·W + j)·C + c is pixel (i, j), channel c'; layout "channels_first": an (N, C, H, W) batch, input
    (c·H + i)·W + j."""
    shape = tuple(int(d) for d in shape)
    dims = ", ".join(map(str, shape))
    line = f"input [N, {math.prod(shape)}]: {FLATTENING} of an (N, {_axes(shape, layout)}) = (N, {dims}) batch"
    if len(shape) == 3 and layout == "channels_first":
        line += ", channels-first (NCHW): input (c·H + i)·W + j is channel c, pixel (i, j)"
    elif len(shape) == 3:
        line += ", channels-last: input (i·W + j)·C + c is pixel (i, j), channel c"
    else:
        line += " (C order: the last axis varies fastest)"
    return line


def input_metadata(shape, layout: str = "channels_last") -> dict[str, str]:
    """The same statement as key/value strings (ONNX metadata_props, the .keras metadata.json)."""
    shape = tuple(int(d) for d in shape)
    order = "C order" if len(shape) != 3 else layout.replace("_", "-")
    return {"input_layout": f"flat, {order}",
            "input_flattening": f"{FLATTENING} of an (N, {_axes(shape, layout)}) batch",
            "input_image_shape": ",".join(map(str, shape)), "input_size": str(math.prod(shape)),
            "input_note": input_note(shape, layout)}


def keras_input_name(shape, layout: str = "channels_last") -> str:
    """The flat input layer's name, e.g. 'flat_8x8x1_hwc' ('_chw' channels-first; Keras allows letters, digits
    and '_' safely)."""
    suffix = ("_chw" if layout == "channels_first" else "_hwc") if len(shape) == 3 else ""
    return "flat_" + "x".join(str(int(d)) for d in shape) + suffix
