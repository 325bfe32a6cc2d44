"""The sliding-window geometry ONNX's Conv, ConvTranspose, MaxPool and AveragePool share, 1-D and 2-D.

A tensor (C, *spatial) of one sample is held flattened row-major; a 1-D one (C, L) is the 2-D (C, 1, L). Along
an axis of size n, kernel k, stride s, dilation d (effective kernel e = (k − 1)·d + 1) and pads (p₀, p₁):

    output size  ⌊(n + p₀ + p₁ − e) / s⌋ + 1, or with ceil_mode ⌈…⌉ + 1 less a last window that would start
                 in the end padding (PyTorch's rule, ONNX's from opset 19)
    auto_pad     VALID: no pads; SAME_UPPER / SAME_LOWER: output ⌈n / s⌉ and max((out − 1)·s + e − n, 0) pads,
                 the odd one at the end (UPPER) or the beginning (LOWER); NOTSET: the `pads` attribute
                 [x1_begin, x2_begin, …, x1_end, x2_end, …]

Output position i of the window reads input i·s − p₀ + t·d for tap t = 0 … k − 1; outside [0, n) it reads a
padding value. `taps(...)` gives, per axis, that index for every (output, tap) and whether it is inside.
"""
from __future__ import annotations

import math

import numpy as np

SPATIAL_RANKS = (1, 2)


def as_2d(src, shape: tuple) -> tuple[int, tuple[int, int]]:
    """(C, (H, W)) of a (C, L) or (C, H, W) tensor; a 3-D one refused by name."""
    if len(shape) - 1 not in SPATIAL_RANKS:
        raise src.refuse(f"has a {len(shape) - 1}-D input {shape} (channels first); 1-D and 2-D are supported "
                         f"(3-D convolution and pooling are not)")
    return (shape[0], (1, shape[1])) if len(shape) == 2 else (shape[0], (shape[1], shape[2]))


def _per_axis(src, name: str, rank: int, default: int) -> tuple:
    value = src.config.get(name, [default] * rank)
    if len(value) != rank:
        raise src.refuse(f"{name} {list(value)} has {len(value)} entries for {rank} spatial axes")
    return tuple(int(v) for v in value)


def geometry(src, spatial: tuple, kernel: tuple, ceil_default: bool = False):
    """(strides, dilations, pads_begin, pads_end, out) per axis (1-D padded to 2-D with a unit first axis)."""
    rank = len(kernel)
    strides, dilations = _per_axis(src, "strides", rank, 1), _per_axis(src, "dilations", rank, 1)
    if min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1:
        raise src.refuse(f"kernel {kernel}, strides {strides} and dilations {dilations} must be >= 1")
    ceil = bool(src.config.get("ceil_mode", ceil_default))
    auto = src.config.get("auto_pad", "NOTSET") or "NOTSET"
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    size = spatial[-rank:]
    if auto == "NOTSET":
        pads = _per_axis(src, "pads", 2 * rank, 0)
        begin, end = pads[:rank], pads[rank:]
    elif auto == "VALID":
        begin = end = (0,) * rank
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((math.ceil(n / s) - 1) * s + e - n, 0) for n, s, e in zip(size, strides, effective, strict=True)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
    else:
        raise src.refuse(f"auto_pad {auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    if min(begin, default=0) < 0 or min(end, default=0) < 0:
        raise src.refuse(f"negative pads {list(begin) + list(end)} are not supported")
    out = []
    for n, s, e, p0, p1 in zip(size, strides, effective, begin, end, strict=True):
        span = n + p0 + p1 - e
        if span < 0:
            raise src.refuse(f"its window (effective size {e}) is larger than the padded input ({n + p0 + p1})")
        o = (math.ceil(span / s) if ceil else span // s) + 1
        if ceil and (o - 1) * s >= n + p0:   # the last window would start in the end padding
            o -= 1
        out.append(o)
    if rank == 1:   # the 1-D (C, L) as the 2-D (C, 1, L): a unit axis first, unpadded
        return (1, *strides), (1, *dilations), (0, *begin), (0, *end), (1, *out)
    return tuple(strides), tuple(dilations), tuple(begin), tuple(end), tuple(out)


def taps(n: int, out: int, k: int, s: int, d: int, p0: int) -> tuple[np.ndarray, np.ndarray]:
    """(index (out, k), inside (out, k)): input index i·s − p₀ + t·d of output i, tap t, and whether it is in
    [0, n)."""
    index = np.arange(out)[:, None] * s - p0 + np.arange(k)[None, :] * d
    return index, (index >= 0) & (index < n)
