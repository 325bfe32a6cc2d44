"""The translations of the pooling, shape and linear layers that are not convolutions, each one function +
one registry entry (hw5.convert.registry.register; docs/adding-a-layer.md). Every matrix is built from index
arrays (hw5.convert.registry.linear: dense, or CSR with `sparse=True`); 1-D layers act on an (L, C) grid as
the 2-D ones on (1, L, C).

    AveragePooling1D/2D, GlobalAveragePooling1D/2D   M[(r, c, ch), (i, j, ch)] = 1/count(i, j) (TF's divisor:
                                                     the real inputs of the window)
    ZeroPadding1D/2D, Cropping1D/2D                  0/1 selection matrices
    UpSampling1D/2D (every Keras interpolation)      out (i, j) = Σ w_r(i)·w_c(j)·in(r, c) with TF's weights per
                                                     axis (hw5.convert.resize_weights): bilinear, area ≤ 2 × 2
                                                     inputs, bicubic 4 × 4, lanczos3/5 6 × 6 / 10 × 10; nearest
                                                     copies in (i // s, j // s)
    BatchNormalization, Normalization                Scale diag(s), shift t — folded by hw5.convert.fold into the
                                                     linear map before them (FOLDED)
    Rescaling                                        Scale: x·scale + offset (scalars or per channel)
    MaxPooling1D/2D, GlobalMaxPooling1D/2D           MaxPool (the homework's window loop)
    AdaptiveAveragePooling1D/2D                      M[(r, c, ch), (i, j, ch)] = 1/|window (i, j)|, Keras' windows
                                                     (hw5.convert.linear_maps.adaptive_windows: [floor(i·n/m),
                                                     ceil((i + 1)·n/m)) per axis)
    AdaptiveMaxPooling1D/2D                          WindowMax over the same windows (3-D: no translation)
    GlobalAverage/MaxPooling3D                       the 2-D global pool on the (D·H, W, C) grid: one window, all
                                                     of it (the other 3-D layers have no translation)
    InputLayer, Flatten, Reshape, Dropout, noise     nothing: the flat vector does not change (Flatten is
                                                     channels-last, as the NumPy net's vector)
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from hw5.convert.gathers import WindowMax, real_first
from hw5.convert.layers import MaxPool, Scale
from hw5.convert.linear_maps import adaptive_windows, batch_norm_scale, window_indices
from hw5.convert.registry import Source, Translation, linear, register
from hw5.convert.resize_weights import WEIGHTS
from hw5.homework.geometry import conv_output_shape


@register("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
          "AlphaDropout", "ActivityRegularization")
def _identity(src: Source) -> Translation:
    return [], src.shape


@register("Flatten")
def _flatten(src: Source) -> Translation:
    if src.config["data_format"] != "channels_last":
        raise src.refuse("only channels_last flattening is supported")
    return [], (math.prod(src.shape),)


@register("MaxPooling2D")
def _max_pooling(src: Source) -> Translation:
    shape, cfg = src.spatial(), src.config
    pool, strides = tuple(cfg["pool_size"]), tuple(cfg["strides"])   # Keras' config: pairs of ints
    out = conv_output_shape(shape, pool, strides, cfg["padding"], shape[2])
    return [MaxPool(shape, pool, strides, src.name, out, cfg["padding"])], out


def _grid(src: Source, rank: int) -> tuple:
    """The received grid as (H, W, C): an image for 2-D layers, (1, L, C) for 1-D ones."""
    if src.config.get("data_format", "channels_last") != "channels_last":
        raise src.refuse(f"data_format {src.config['data_format']!r} is not supported (channels_last)")
    if len(src.shape) != rank + 1:
        want = {1: "(L, C)", 2: "(H, W, C)", 3: "(D, H, W, C)"}[rank]
        raise src.refuse(f"needs a {want} input, got the grid {src.shape}")
    if rank == 3:   # the global pools only: one window over every position, as over (D·H, W, C)
        return (src.shape[0] * src.shape[1], *src.shape[2:])
    return tuple(src.shape) if rank == 2 else (1, *src.shape)


def _out(grid, rank: int) -> tuple:
    return tuple(grid) if rank == 2 else tuple(grid[1:])


def _pair(value, rank: int) -> tuple:
    value = tuple(value)   # Keras 3 stores pool_size and strides as tuples (lists once read back from JSON)
    return value if rank == 2 else (1, *value)


@register("Reshape")
def _reshape(src: Source) -> Translation:
    target = list(src.config["target_shape"])
    if -1 in target:
        target[target.index(-1)] = math.prod(src.shape) // -math.prod(target)
    if math.prod(target) != math.prod(src.shape):
        raise src.refuse(f"cannot reshape the grid {src.shape} to {tuple(target)}")
    return [], tuple(int(v) for v in target)


def _global_max(rank: int, src: Source) -> Translation:
    h, w, c = _grid(src, rank)
    out = (1,) * rank + (c,) if src.config["keepdims"] else (c,)
    return [MaxPool((h, w, c), (h, w), (h, w), src.name, out)], out


def _max_pool_1d(src: Source) -> Translation:
    h, w, c = _grid(src, 1)
    cfg = src.config
    pool, strides = _pair(cfg["pool_size"], 1), _pair(cfg["strides"], 1)
    out = conv_output_shape((h, w, c), pool, strides, cfg["padding"], c)
    # pooled on the (1, L, C) grid; out_shape (the grid it hands on) is (L', C): the same neurons in the same order
    return [MaxPool((h, w, c), pool, strides, src.name, out[1:], cfg["padding"])], out[1:]


def _average_pooling(rank: int, src: Source) -> Translation:
    grid, cfg = _grid(src, rank), src.config
    rows, cols, counts, out = window_indices(grid, _pair(cfg["pool_size"], rank), _pair(cfg["strides"], rank),
                                             cfg["padding"])
    return [linear(src, rows, cols, 1.0 / counts, math.prod(grid), None, _out(out, rank))], _out(out, rank)


def _global_average_pooling(rank: int, src: Source) -> Translation:
    h, w, c = grid = _grid(src, rank)
    rows, cols, counts, _ = window_indices(grid, (h, w))
    out = (1,) * rank + (c,) if src.config["keepdims"] else (c,)
    return [linear(src, rows, cols, 1.0 / counts, h * w * c, None, out)], out


def _adaptive_pooling(rank: int, kind: str, src: Source) -> Translation:
    grid = _grid(src, rank)
    size = _pair(src.config["output_size"], rank)      # Keras' config: (L',) or (H', W')
    windows, out = adaptive_windows(grid, size), _out((*size, grid[2]), rank)
    if kind == "max":
        return [WindowMax(real_first(windows), src.name, out)], out
    real = windows >= 0
    cols = np.nonzero(real)[0]                          # the output of each real entry, in windows[real]'s order
    return [linear(src, windows[real], cols, (1.0 / real.sum(axis=1))[cols], math.prod(grid), None, out)], out


def _selection(src: Source, grid, out, r_src, c_src, rank: int) -> Translation:
    """The 0/1 matrix out[(i, j, ch)] = in[(r_src[i], c_src[j], ch)] (entries only where r, c ≥ 0)."""
    h, w, c = grid
    i, j, ch = np.ix_(np.arange(out[0]), np.arange(out[1]), np.arange(c))
    r, col = r_src[i], c_src[j]
    keep = np.broadcast_to((r >= 0) & (col >= 0), (out[0], out[1], c))
    full = keep.shape
    rows = np.broadcast_to((r * w + col) * c + ch, full)[keep]
    cols = np.broadcast_to((i * out[1] + j) * c + ch, full)[keep]
    return [linear(src, rows, cols, np.ones(rows.size), h * w * c, None, _out(out, rank))], _out(out, rank)


def _pads(value, rank: int) -> tuple:
    """((top, bottom), (left, right)) from Keras' config (1-D: (left, right); 2-D: pairs of pairs)."""
    if rank == 1:
        return (0, 0), tuple(value)
    return tuple(tuple(p) for p in value)


def _zero_padding(rank: int, src: Source) -> Translation:
    h, w, c = grid = _grid(src, rank)
    (top, bottom), (left, right) = _pads(src.config["padding"], rank)
    out = (h + top + bottom, w + left + right, c)
    r, col = np.arange(out[0]) - top, np.arange(out[1]) - left
    r[r >= h], col[col >= w] = -1, -1
    return _selection(src, grid, out, r, col, rank)


def _cropping(rank: int, src: Source) -> Translation:
    h, w, c = grid = _grid(src, rank)
    (top, bottom), (left, right) = _pads(src.config["cropping"], rank)
    out = (h - top - bottom, w - left - right, c)
    if min(out) < 1:
        raise src.refuse(f"crops the grid {src.shape} to nothing")
    return _selection(src, grid, out, np.arange(out[0]) + top, np.arange(out[1]) + left, rank)


def _upsampling(rank: int, src: Source) -> Translation:
    h, w, c = grid = _grid(src, rank)
    sh, sw = (1, src.config["size"]) if rank == 1 else tuple(src.config["size"])
    out = (h * sh, w * sw, c)
    kind = src.config.get("interpolation", "nearest")
    if kind == "nearest":
        return _selection(src, grid, out, np.arange(out[0]) // sh, np.arange(out[1]) // sw, rank)
    if kind not in WEIGHTS:
        raise src.refuse(f"interpolation {kind!r} is not supported (nearest, {', '.join(WEIGHTS)})")
    rows, cols, vals = [], [], []
    i, j, ch = np.ix_(np.arange(out[0]), np.arange(out[1]), np.arange(c))
    full = (*out[:2], c)
    for r, wr in WEIGHTS[kind](h, sh):
        for col, wc in WEIGHTS[kind](w, sw):
            rows.append(np.broadcast_to((r[i] * w + col[j]) * c + ch, full).ravel())
            cols.append(np.broadcast_to((i * out[1] + j) * c + ch, full).ravel())
            vals.append(np.broadcast_to(wr[i] * wc[j], full).ravel())
    rows, cols, vals = (np.concatenate(a) for a in (rows, cols, vals))
    n_out = math.prod(out)
    # a tap clamped to the edge repeats an index (the same (row, col) several times): sum them first; keep
    # only real weights
    key = rows.astype(np.int64) * n_out + cols
    uniq, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=vals)
    keep = summed != 0
    layer = linear(src, (uniq // n_out)[keep], (uniq % n_out)[keep], summed[keep], h * w * c, None, _out(out, rank))
    return [layer], _out(out, rank)


@register("BatchNormalization")
def _batch_normalization(src: Source) -> Translation:
    cfg, shape = src.config, src.shape
    axis = cfg["axis"]   # Keras 3: one int, the feature axis (0 is the batch)
    if not isinstance(axis, int) or axis == 0 or abs(axis) > len(shape):
        raise src.refuse(f"axis {cfg['axis']!r} is not supported (one feature axis)")
    d, t = batch_norm_scale(src.param("gamma"), src.param("beta"), src.param("moving_mean"),
                            src.param("moving_variance"), cfg["epsilon"], axis - 1 if axis > 0 else axis,
                            shape, src.dtype)
    return [Scale(d, t, src.name, shape)], shape


NORMALIZATION_EPSILON = 1e-7   # keras.backend.epsilon(): Normalization divides by max(√variance, 1e-7)


@register("Normalization")
def _normalization(src: Source) -> Translation:
    """(x − mean) / max(√variance, 1e-7) (invert: x·max(√variance, 1e-7) + mean) as a diagonal.

    mean and variance are the tensors the layer's call() reads (layer.mean, layer.variance, broadcastable to
    the batch), not its variables: Keras computes them once from the variables (finalize_state) or from the
    constructor's lists (through float32 tensors, even in a float64 model), and a model rebuilt with
    set_weights keeps the ones computed at build time — Keras' output is what we reproduce."""
    along = tuple(src.layer._broadcast_shape[1:])   # 1 on the axes not kept
    mean, variance = (np.broadcast_to(np.asarray(v, np.float64).reshape(along), src.shape)
                      for v in (src.layer.mean, src.layer.variance))
    root = np.maximum(np.sqrt(variance), NORMALIZATION_EPSILON)
    d, t = (root, mean) if src.config["invert"] else (1 / root, -mean / root)
    return [Scale(d.ravel().astype(src.dtype), t.ravel().astype(src.dtype), src.name, src.shape)], src.shape


@register("Rescaling")
def _rescaling(src: Source) -> Translation:
    """x·scale + offset, each a scalar or broadcast along the grid's last axes (per channel)."""
    # Keras casts its Python scale and offset through a float32 tensor (TF's default for Python floats):
    # 0.753 becomes float32(0.753) even in a float64 model (measured)
    scale, offset = (np.broadcast_to(np.asarray(v, np.float32).astype(np.float64), src.shape)
                     for v in (src.config["scale"], src.config["offset"]))
    return [Scale(scale.ravel().astype(src.dtype), offset.ravel().astype(src.dtype), src.name, src.shape)], src.shape


for _rank in (1, 2):
    register(f"AveragePooling{_rank}D")(partial(_average_pooling, _rank))
    register(f"ZeroPadding{_rank}D")(partial(_zero_padding, _rank))
    register(f"Cropping{_rank}D")(partial(_cropping, _rank))
    register(f"UpSampling{_rank}D")(partial(_upsampling, _rank))
    register(f"AdaptiveAveragePooling{_rank}D")(partial(_adaptive_pooling, _rank, "average"))
    register(f"AdaptiveMaxPooling{_rank}D")(partial(_adaptive_pooling, _rank, "max"))
for _rank in (1, 2, 3):
    register(f"GlobalAveragePooling{_rank}D")(partial(_global_average_pooling, _rank))
    register(f"GlobalMaxPooling{_rank}D")(partial(_global_max, _rank))
register("MaxPooling1D")(_max_pool_1d)

# layers whose linear map is folded into the linear map before them even without fuse=True
FOLDED = {"BatchNormalization", "Normalization"}
