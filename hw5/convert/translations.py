"""The converter's translations: the Keras layers beyond the homework's, added to the one registry
(hw5.homework.registry.TRANSLATIONS) — one function and one entry each (docs/adding-a-layer.md).

    AveragePooling2D,
    GlobalAveragePooling2D,
    ZeroPadding2D             Dense (hw5.convert.linear_maps)
    BatchNormalization        Scale diag(γ/√(σ² + ε)), shift β − μ·γ/√(σ² + ε) — folded by
                              hw5.convert.fold into the linear map before it (FOLDED)
    GlobalMaxPooling2D        MaxPool over the whole image
    Reshape                   nothing: the grid changes, the flat vector does not (channels-last)
    Dropout, SpatialDropout2D,
    GaussianNoise             nothing: identities at inference
    (sigmoid, tanh)           activations, registered by hw5.convert.layers
"""
from __future__ import annotations

import math

from hw5.convert.layers import Scale
from hw5.convert.linear_maps import avg_pool_as_dense, batch_norm_scale, global_avg_pool_as_dense, zero_padding_as_dense
from hw5.homework.layers import Dense, MaxPool
from hw5.homework.registry import TRANSLATIONS, Source, Translation, _identity
from hw5.homework.toeplitz import conv_output_shape


def _reshape(src: Source) -> Translation:
    target = list(src.config["target_shape"])
    if -1 in target:
        target[target.index(-1)] = math.prod(src.shape) // -math.prod(target)
    if math.prod(target) != math.prod(src.shape):
        raise src.refuse(f"cannot reshape the grid {src.shape} to {tuple(target)}")
    return [], tuple(int(v) for v in target)


def _global_max_pooling(src: Source) -> Translation:
    h, w, c = src.spatial()
    out = (1, 1, c) if src.config["keepdims"] else (c,)
    return [MaxPool((h, w, c), (h, w), (h, w), src.name, out)], out


def _average_pooling(src: Source) -> Translation:
    shape, cfg = src.spatial(), src.config
    W, b = avg_pool_as_dense(shape, cfg["pool_size"], cfg["strides"], cfg["padding"], src.dtype)
    out = conv_output_shape(shape, cfg["pool_size"], cfg["strides"], cfg["padding"], shape[2])
    return [Dense(W, b, src.name, out)], out


def _global_average_pooling(src: Source) -> Translation:
    shape = src.spatial()
    out = (1, 1, shape[2]) if src.config["keepdims"] else (shape[2],)
    W, b = global_avg_pool_as_dense(shape, src.dtype)
    return [Dense(W, b, src.name, out)], out


def _zero_padding(src: Source) -> Translation:
    W, b, out = zero_padding_as_dense(src.spatial(), src.config["padding"], src.dtype)
    return [Dense(W, b, src.name, out)], out


def _batch_normalization(src: Source) -> Translation:
    cfg, shape = src.config, src.shape
    axis = cfg["axis"]   # Keras 3: one int, the feature axis (0 is the batch)
    if not isinstance(axis, int) or axis == 0 or abs(axis) > len(shape):
        raise src.refuse(f"axis {cfg['axis']!r} is not supported (one feature axis)")
    d, t = batch_norm_scale(src.param("gamma"), src.param("beta"), src.param("moving_mean"),
                            src.param("moving_variance"), cfg["epsilon"], axis - 1 if axis > 0 else axis,
                            shape, src.dtype)
    return [Scale(d, t, src.name, shape)], shape


TRANSLATIONS.update({
    "Dropout": _identity, "SpatialDropout2D": _identity, "GaussianNoise": _identity, "Reshape": _reshape,
    "GlobalMaxPooling2D": _global_max_pooling, "AveragePooling2D": _average_pooling,
    "GlobalAveragePooling2D": _global_average_pooling, "ZeroPadding2D": _zero_padding,
    "BatchNormalization": _batch_normalization,
})
# layers whose linear map is folded into the linear map before them even without fuse=True
FOLDED = {"BatchNormalization"}
