"""The geometry every layer of a grid shares, TensorFlow's rules: kernel, stride and padding → output size.

Along one axis of size n, a window of k (a dilated kernel's span) and stride s: 'valid' gives ⌊(n − k)/s⌋ + 1
outputs, no padding; 'same' gives ⌈n/s⌉ and pads max((out − 1)·s + k − n, 0), the smaller half before (top,
left), the odd one after. The Toeplitz builders, the pooling loop and the converter all read it from here.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

PADDINGS = ("valid", "same")


def pair(value, name: str) -> tuple[int, int]:
    """An int or an (a, b) pair of ints >= 1, as Keras takes strides and kernel sizes."""
    both = (value, value) if isinstance(value, Integral) else tuple(value) if isinstance(value, Sequence) else None
    if both is None or len(both) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in both):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(both) < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(both[0]), int(both[1])


def padding_mode(padding) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding.lower()


def image_shape(input_shape) -> tuple[int, int, int]:
    if not isinstance(input_shape, Sequence) or len(input_shape) != 3 or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in input_shape):
        raise ValueError(f"input_shape must be (H, W, C_in) of positive ints, got {input_shape!r}")
    return tuple(int(v) for v in input_shape)


def axis_geometry(size: int, k: int, s: int, padding: str, axis: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis, TensorFlow's rule."""
    if padding == "valid":
        if k > size:
            raise ValueError(f"kernel {axis} {k} is larger than the input {axis} {size} with padding='valid'")
        return (size - k) // s + 1, 0, 0
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def conv_output_shape(input_shape, kernel_size, strides=1, padding="valid", filters=1,
                      dilation_rate=1) -> tuple[int, int, int]:
    """(H_out, W_out, C_out) of a Conv2D (or, with filters=C, a pooling) layer: the neuron grid it feeds."""
    h, w, _ = image_shape(input_shape)
    (kh, kw), (sh, sw), padding = pair(kernel_size, "kernel_size"), pair(strides, "strides"), padding_mode(padding)
    dh, dw = pair(dilation_rate, "dilation_rate")
    if not isinstance(filters, Integral) or isinstance(filters, bool) or filters < 1:
        raise ValueError(f"filters must be a positive int, got {filters!r}")
    return (axis_geometry(h, (kh - 1) * dh + 1, sh, padding, "height")[0],
            axis_geometry(w, (kw - 1) * dw + 1, sw, padding, "width")[0], int(filters))
