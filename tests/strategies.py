"""Hypothesis strategies: random convolution and pooling cases (array-api-tests style).

Sizes are small, odd and non-square on purpose; strides go to 3 per axis, and 'same' with a stride of 2
on an even side (TensorFlow pads the extra row/column at the bottom/right) is drawn often.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

DTYPES = (np.float32, np.float64)


def finite_floats(dtype, bound: float = 2.0):
    # bounded, finite, no subnormals: keeps the γ_n error bounds meaningful
    return st.floats(-bound, bound, width=np.finfo(dtype).bits, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


@dataclass(frozen=True)
class ConvCase:
    x: np.ndarray          # (N, H, W, C_in)
    kernel: np.ndarray     # (kh, kw, C_in, C_out)
    bias: np.ndarray | None
    strides: tuple[int, int]
    padding: str
    dilation: tuple[int, int] = (1, 1)

    @property
    def input_shape(self):
        return self.x.shape[1:]

    def describe(self) -> str:
        dilated = f", dilation {self.dilation}" if self.dilation != (1, 1) else ""
        return (f"x {self.x.shape} {self.x.dtype}, kernel {self.kernel.shape}, strides {self.strides}, "
                f"padding {self.padding!r}{dilated}, bias {'yes' if self.bias is not None else 'no'}")


@st.composite
def conv_cases(draw, dtype=None, max_side: int = 9, max_kernel: int = 4, max_channels: int = 3,
               max_dilation: int = 1):
    # max_dilation > 1 also draws dilated kernels, with strides 1 then (Keras and TF allow no both)
    dtype = dtype or draw(st.sampled_from(DTYPES))
    padding = draw(st.sampled_from(["valid", "same"]))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    dilation = ((draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))) if max_dilation > 1
                else (1, 1))
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    lo_h, lo_w = (span_h, span_w) if padding == "valid" else (1, 1)   # 'valid' needs the kernel to fit
    h, w = draw(st.integers(lo_h, max(lo_h, max_side))), draw(st.integers(lo_w, max(lo_w, max_side)))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    strides = (1, 1) if max(dilation) > 1 else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n = draw(st.integers(1, 3))
    x = draw(arrays(dtype, (n, h, w, c_in), elements=finite_floats(dtype)))
    kernel = draw(arrays(dtype, (kh, kw, c_in, c_out), elements=finite_floats(dtype)))
    bias = draw(st.none() | arrays(dtype, (c_out,), elements=finite_floats(dtype)))
    return ConvCase(x, kernel, bias, strides, padding, dilation)


# Values with many exact ties and negatives: max-pool must pick the same element as TF.
tie_prone = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0])


@st.composite
def pool_cases(draw, max_side: int = 9):
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(ph, max_side)), draw(st.integers(pw, max_side))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    elements = draw(st.sampled_from([tie_prone, finite_floats(dtype)]))
    x = draw(arrays(dtype, (n, h, w, c), elements=elements))
    return x, (ph, pw), (sh, sw)


@st.composite
def pool_cases_padded(draw, max_side: int = 9):
    # pool_cases plus a padding: 'same' max-pooling pads with −inf, TensorFlow's way
    x, pool, strides = draw(pool_cases(max_side))
    padding = draw(st.sampled_from(["valid", "same"]))
    return x, pool, strides, padding


# ---- random small CNNs from the layers hw5.numpy_net.from_keras supports --------------------------------

ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "tanh", "softmax")


def _act(draw, size: int) -> str:
    # softmax over an axis of size 1 is always 1 (Keras warns): drawn only for 2 or more
    return draw(st.sampled_from(ACTIVATION_NAMES if size > 1 else ACTIVATION_NAMES[:-1]))
MAX_GRID = 10   # the largest image side a random CNN reaches (zero padding grows it)


@dataclass(frozen=True)
class CnnCase:
    x: np.ndarray                      # (N, H, W, C) float64 images; cast to the model's dtype
    layers: tuple                      # ((Keras layer class name, kwargs), ...)
    seed: int                          # every weight and BatchNorm statistic comes from this seed

    def describe(self) -> str:
        layers = ", ".join(f"{cls}({', '.join(f'{k}={v!r}' for k, v in kw.items())})" for cls, kw in self.layers)
        return f"x {self.x.shape}, seed {self.seed}: {layers}"

    def build(self, dtype: str):
        """The Keras Sequential model, its weights drawn from `seed`: kernels N(0, 1/fan_in), biases and
        BN offsets/means N(0, 0.5²), BN scales U(0.5, 1.5) and variances U(0.05, 2) (away from 0)."""
        import keras

        model = keras.Sequential([keras.Input(self.x.shape[1:], dtype=dtype)] + [
            getattr(keras.layers, cls)(**kw, dtype=dtype, name=f"{cls.lower()}_{i}")
            for i, (cls, kw) in enumerate(self.layers)])
        rng = np.random.default_rng(self.seed)
        for var in model.variables:
            kind, shape = var.path.split("/")[-1], tuple(var.shape)
            if kind == "kernel":
                value = rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape)
            elif kind in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape) if kind == "gamma" else rng.uniform(0.05, 2, shape)
            else:   # bias, beta, moving_mean
                value = rng.normal(0, 0.5, shape)
            var.assign(value.astype(dtype))
        return model


def _spatial_layer(draw, h: int, w: int, c: int):
    """One layer valid on an (h, w, c) grid: (class name, kwargs, new grid)."""
    kind = draw(st.sampled_from(["Conv2D", "Conv2D", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D",
                                 "BatchNormalization", "Dropout", "SpatialDropout2D", "GaussianNoise", "ReLU",
                                 "Activation", "Softmax", "Reshape", "Dense"]))
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "Conv2D" else (1, 1)
        strides = (1, 1) if max(dilation) > 1 else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        span = ((k[0] - 1) * dilation[0] + 1, (k[1] - 1) * dilation[1] + 1)
        fits = span[0] <= h and span[1] <= w
        padding = draw(st.sampled_from(["valid", "same"])) if fits else "same"
        if padding == "valid":
            grid = ((h - span[0]) // strides[0] + 1, (w - span[1]) // strides[1] + 1)
        else:
            grid = (-(-h // strides[0]), -(-w // strides[1]))
        if kind == "Conv2D":
            filters = draw(st.integers(1, 3))
            return kind, dict(filters=filters, kernel_size=k, strides=strides, padding=padding,
                              dilation_rate=dilation, use_bias=draw(st.booleans()),
                              activation=_act(draw, filters)), (*grid, filters)
        return kind, dict(pool_size=k, strides=strides, padding=padding), (*grid, c)
    if kind == "ZeroPadding2D":
        pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
        if h + sum(pads[0]) > MAX_GRID or w + sum(pads[1]) > MAX_GRID:
            pads = ((0, 1), (1, 0))
        return kind, dict(padding=pads), (h + sum(pads[0]), w + sum(pads[1]), c)
    if kind == "Reshape":   # -1: Keras infers that axis from the others
        target = draw(st.sampled_from([(h, w * c, 1), (h, -1, 1), (-1, w, c)]))
        grid = tuple(int(h * w * c // -np.prod(target)) if v == -1 else v for v in target)
        return kind, dict(target_shape=target), grid
    if kind == "Dense":   # on an image: the kernel acts along the channels at every position
        units = draw(st.integers(1, 3))
        return kind, dict(units=units, activation=_act(draw, units)), (h, w, units)
    return (*_elementwise_layer(draw, kind, c), (h, w, c))


def _elementwise_layer(draw, kind: str, size: int):
    # size: the last axis (channels or features), the one Softmax normalizes over
    if kind == "BatchNormalization":   # epsilon up to 0.5 against variances from 0.05: ε matters
        return kind, dict(epsilon=draw(st.sampled_from([1e-3, 0.1, 0.5])), center=draw(st.booleans()),
                          scale=draw(st.booleans()))
    if kind == "Activation":
        return kind, dict(activation=_act(draw, size))
    if kind == "Softmax" and size == 1:
        return "ReLU", {}
    rates = {"Dropout": dict(rate=0.5), "SpatialDropout2D": dict(rate=0.5), "GaussianNoise": dict(stddev=1.0)}
    return kind, rates.get(kind, {})


@st.composite
def cnn_cases(draw, max_spatial: int = 4, max_dense: int = 2):
    # image layers in random order (each valid for the grid it gets), then maybe a head and dense layers
    h, w, c = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    shape, layers = (h, w, c), []
    for _ in range(draw(st.integers(0, max_spatial))):
        kind, kwargs, shape = _spatial_layer(draw, *shape)
        layers.append((kind, kwargs))
    head = draw(st.sampled_from([None, "Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]))
    if head is None and not layers:
        head = "Flatten"   # a model has at least one layer
    if head is not None:   # a global pooling may keep the (1, 1, C) grid
        layers.append((head, dict(keepdims=True) if head.startswith("Global") and draw(st.booleans()) else {}))
        size = shape[2] if head.startswith("Global") else shape[0] * shape[1] * shape[2]
        for _ in range(draw(st.integers(0, max_dense))):
            kind = draw(st.sampled_from(["Dense", "Dense", "BatchNormalization", "Dropout", "ReLU", "Activation",
                                         "Softmax"]))
            if kind == "Dense":
                size = draw(st.integers(1, 4))
                layers.append((kind, dict(units=size, use_bias=draw(st.booleans()), activation=_act(draw, size))))
            else:
                layers.append(_elementwise_layer(draw, kind, size))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 16))
    x = np.random.default_rng(seed + 1).normal(0, 1, (n, h, w, c))
    return CnnCase(x, tuple(layers), seed)


NOT_PIECEWISE_LINEAR = ("sigmoid", "tanh", "softmax")


@st.composite
def piecewise_linear_cnn_cases(draw, max_spatial: int = 4, max_dense: int = 2):
    # cnn_cases with every sigmoid/tanh made relu and every softmax made relu, but the last layer's
    # (the Dense+ReLU form drops a final softmax and gives the logits)
    case = draw(cnn_cases(max_spatial, max_dense))
    layers = []
    for i, (cls, kw) in enumerate(case.layers):
        last = i == len(case.layers) - 1
        if cls == "Softmax" and not last:
            cls, kw = "ReLU", {}
        if kw.get("activation") in NOT_PIECEWISE_LINEAR and not (last and kw["activation"] == "softmax"):
            kw = {**kw, "activation": "relu"}
        layers.append((cls, kw))
    return CnnCase(case.x, tuple(layers), case.seed)
