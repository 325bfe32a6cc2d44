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
        return random_weights(model, self.seed)


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


# ---- random small *graph* CNNs: branches, merges, keras.ops nodes and every converter layer ----------------

NEW_ACTIVATIONS = ("relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_sigmoid", "hard_silu",
                   "hard_swish", "softplus", "softsign", "exponential", "mish", "sigmoid", "tanh", "relu",
                   "log_softmax")
MERGE_KINDS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
IDENTITIES = ("GaussianDropout", "AlphaDropout", "ActivityRegularization", "Dropout")


@dataclass(frozen=True)
class GraphCase:
    x: np.ndarray                      # (N, H, W, C) float64 images
    nodes: tuple                       # ((class name or "op+"/"op*", kwargs, input node indices), ...); −1: input
    seed: int

    @property
    def layers(self):                  # (class, kwargs) pairs, as CnnCase's, for the coverage test
        return tuple((cls, kw) for cls, kw, _ in self.nodes)

    def describe(self) -> str:
        return f"x {self.x.shape}, seed {self.seed}: " + "; ".join(
            f"{k}: {cls}({', '.join(f'{a}={v!r}' for a, v in kw.items())}) <- {ins}"
            for k, (cls, kw, ins) in enumerate(self.nodes))

    def build(self, dtype: str):
        """The functional Keras model; weights from `seed` as CnnCase.build (PReLU slopes U(0, 0.5))."""
        import keras

        inp = keras.Input(self.x.shape[1:], dtype=dtype)
        outs = []
        for k, (cls, kw, ins) in enumerate(self.nodes):
            args = [inp if i < 0 else outs[i] for i in ins]
            if cls == "op+":
                outs.append(args[0] + kw["c"])
            elif cls == "op*":
                outs.append(args[0] * kw["c"])
            else:
                layer = getattr(keras.layers, cls)(**kw, dtype=dtype, name=f"n{k}_{cls.lower()}")   # no clash with ops
                outs.append(layer(args if cls in MERGE_KINDS else args[0]))
        return random_weights(keras.Model(inp, outs[-1]), self.seed)


def _odd_pair(draw, lo=1, hi=3):
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


def _transpose_size(n: int, k: int, s: int, padding: str, output_padding) -> int:
    """A transposed convolution's output size along one axis (Keras' deconv_output_length, no dilation)."""
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    return (n - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + output_padding


def _image_node(draw, h: int, w: int, c: int):
    """One layer or op valid on an (h, w, c) grid, from the converter's families: (class, kwargs, grid)."""
    kind = draw(st.sampled_from(["DepthwiseConv2D", "SeparableConv2D", "Conv2D", "Conv2DTranspose", "Cropping2D",
                                 "UpSampling2D", "ZeroPadding2D", "Rescaling", "Normalization", "ReLU", "LeakyReLU",
                                 "PReLU", "ELU", "Activation", "LayerNormalization", "BatchNormalization", "Dense",
                                 "op+", "op*", "AveragePooling2D", "Permute", "AdaptiveAveragePooling2D",
                                 "AdaptiveMaxPooling2D", "GroupNormalization", "UnitNormalization",
                                 "RMSNormalization", *IDENTITIES]))
    if kind in ("DepthwiseConv2D", "SeparableConv2D", "Conv2D"):
        k = _odd_pair(draw)
        # TF's depthwise kernel takes equal strides only
        strides = draw(st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1)] if kind == "Conv2D" else [(1, 1), (2, 2)]))
        dilation = (1, 1) if strides != (1, 1) else draw(st.sampled_from([(1, 1), (2, 1), (2, 2)]))
        span = ((k[0] - 1) * dilation[0] + 1, (k[1] - 1) * dilation[1] + 1)
        padding = draw(st.sampled_from(["valid", "same"])) if span[0] <= h and span[1] <= w else "same"
        grid = (-(-h // strides[0]), -(-w // strides[1])) if padding == "same" else \
            ((h - span[0]) // strides[0] + 1, (w - span[1]) // strides[1] + 1)
        common = dict(kernel_size=k, strides=strides, padding=padding, dilation_rate=dilation)
        if kind == "Conv2D":
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            filters = groups * draw(st.integers(1, 2))
            return kind, dict(filters=filters, groups=groups, **common), (*grid, filters)
        m = draw(st.integers(1, 2))
        if kind == "DepthwiseConv2D":
            return kind, dict(depth_multiplier=m, use_bias=draw(st.booleans()), **common), (*grid, c * m)
        filters = draw(st.integers(1, 3))
        return kind, dict(filters=filters, depth_multiplier=m, **common), (*grid, filters)
    if kind == "Conv2DTranspose":
        k, s = _odd_pair(draw), draw(st.sampled_from([(1, 1), (2, 2), (2, 1)]))
        padding = draw(st.sampled_from(["valid", "same"]))
        out_pad = None if draw(st.booleans()) else tuple(draw(st.integers(0, si - 1)) for si in s)
        if out_pad is not None and padding == "same":   # Keras' size rule disagrees with TF's for even kernels
            k = (k[0] | 1, k[1] | 1)
        filters = draw(st.integers(1, 3))
        grid = (_transpose_size(h, k[0], s[0], padding, None if out_pad is None else out_pad[0]),
                _transpose_size(w, k[1], s[1], padding, None if out_pad is None else out_pad[1]))
        if min(grid) < 1 or max(grid) > 2 * MAX_GRID:
            return "ReLU", {}, (h, w, c)
        return kind, dict(filters=filters, kernel_size=k, strides=s, padding=padding, output_padding=out_pad), \
            (*grid, filters)
    if kind == "AveragePooling2D":
        return kind, dict(pool_size=(1, 2) if w > 1 else (1, 1), padding="same"), (h, -(-w // (2 if w > 1 else 1)), c)
    if kind == "Cropping2D":
        crop = ((draw(st.integers(0, (h - 1) // 2)), draw(st.integers(0, (h - 1) // 2))),
                (draw(st.integers(0, (w - 1) // 2)), draw(st.integers(0, (w - 1) // 2))))
        return kind, dict(cropping=crop), (h - sum(crop[0]), w - sum(crop[1]), c)
    if kind == "UpSampling2D":
        size = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
        return kind, dict(size=size, interpolation=draw(st.sampled_from(["nearest", "bilinear"]))), \
            (h * size[0], w * size[1], c)
    if kind == "ZeroPadding2D":
        pads = ((draw(st.integers(0, 2)), draw(st.integers(0, 1))), (draw(st.integers(0, 1)), draw(st.integers(0, 2))))
        return kind, dict(padding=pads), (h + sum(pads[0]), w + sum(pads[1]), c)
    if kind == "Rescaling":
        per_channel = draw(st.booleans())
        scale = ([round(draw(st.floats(-2, 2)), 3) for _ in range(c)] if per_channel
                 else round(draw(st.floats(-2, 2)), 3))
        return kind, dict(scale=scale, offset=round(draw(st.floats(-1, 1)), 3)), (h, w, c)
    if kind == "Normalization":   # variances down to 0: the 1e-7 floor of √variance
        variance = [draw(st.sampled_from([0.0, 1e-16, 0.25, 2.0])) for _ in range(c)]
        return kind, dict(mean=[round(draw(st.floats(-1, 1)), 3) for _ in range(c)], variance=variance,
                          invert=draw(st.booleans())), (h, w, c)
    if kind == "ReLU":
        return kind, dict(max_value=draw(st.sampled_from([None, 6.0, 0.5])),
                          negative_slope=draw(st.sampled_from([0.0, 0.1])),
                          threshold=draw(st.sampled_from([0.0, 0.3, 1.0]))), (h, w, c)
    if kind == "LeakyReLU":
        return kind, dict(negative_slope=draw(st.sampled_from([0.01, 0.3]))), (h, w, c)
    if kind == "PReLU":
        return kind, dict(shared_axes=draw(st.sampled_from([None, [1, 2]]))), (h, w, c)
    if kind == "ELU":
        return kind, dict(alpha=draw(st.sampled_from([1.0, 0.5]))), (h, w, c)
    if kind == "Activation":
        return kind, dict(activation=draw(st.sampled_from(NEW_ACTIVATIONS))), (h, w, c)
    if kind == "LayerNormalization":
        return kind, dict(axis=draw(st.sampled_from([-1, [1, 2, 3]])), epsilon=0.1), (h, w, c)
    if kind == "BatchNormalization":
        return kind, dict(epsilon=0.1), (h, w, c)
    if kind == "Dense":
        units = draw(st.integers(1, 3))
        return kind, dict(units=units), (h, w, units)
    if kind in ("op+", "op*"):
        return kind, dict(c=round(draw(st.floats(-3, 3)), 3)), (h, w, c)
    if kind == "Permute":
        dims = tuple(draw(st.permutations([1, 2, 3])))
        return kind, dict(dims=dims), tuple((h, w, c)[d - 1] for d in dims)
    if kind.startswith("Adaptive"):
        # TF's oneDNN float32 max-pool dies on an output width of 1 (docs/known-issues.md): ≥ 2 where it can be
        lo = 2 if kind == "AdaptiveMaxPooling2D" and w > 1 else 1
        if lo > w:
            kind = "AdaptiveAveragePooling2D"
        size = (draw(st.integers(1, h)), draw(st.integers(min(lo, w), w)))
        return kind, dict(output_size=size), (*size, c)
    if kind == "GroupNormalization":
        return kind, dict(groups=draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0])), epsilon=0.1), (h, w, c)
    if kind in ("UnitNormalization", "RMSNormalization"):
        return kind, dict(axis=-1), (h, w, c)
    return kind, dict(rate=0.3) if "Dropout" in kind else {}, (h, w, c)


def _sequence_node(draw, length: int, c: int):
    """One 1-D layer on an (L, C) grid."""
    kind = draw(st.sampled_from(["Conv1D", "Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D",
                                 "AveragePooling1D", "MaxPooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D",
                                 "SpatialDropout1D", "AdaptiveAveragePooling1D", "AdaptiveMaxPooling1D"]))
    if kind == "Conv1DTranspose" and length > MAX_GRID ** 2:   # a transpose at most doubles the sequence: ≤ 2·MAX_GRID²
        kind = "SpatialDropout1D"
    if kind == "Conv1DTranspose":
        k, s, padding = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.sampled_from(["valid", "same"]))
        out_pad = None if draw(st.booleans()) else draw(st.integers(0, s - 1))
        if out_pad is not None and padding == "same":   # Keras' size rule disagrees with TF's for even kernels
            k |= 1
        filters = draw(st.integers(1, 3))
        return kind, dict(filters=filters, kernel_size=k, strides=s, padding=padding, output_padding=out_pad), \
            (_transpose_size(length, k, s, padding, out_pad), filters)
    if kind in ("DepthwiseConv1D", "SeparableConv1D"):
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        d = draw(st.integers(1, 2))
        span = (k - 1) * d + 1
        padding = draw(st.sampled_from(["valid", "same"])) if span <= length else "same"
        out = -(-length // s) if padding == "same" else (length - span) // s + 1
        common = dict(kernel_size=k, strides=s, dilation_rate=d, padding=padding,
                      depth_multiplier=draw(st.integers(1, 2)), use_bias=draw(st.booleans()))
        if kind == "DepthwiseConv1D":
            return kind, common, (out, c * common["depth_multiplier"])
        filters = draw(st.integers(1, 3))
        return kind, dict(filters=filters, **common), (out, filters)
    if kind == "Conv1D":
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        padding = draw(st.sampled_from(["valid", "same", "causal"])) if k <= length else "same"
        out = length if padding == "causal" and s == 1 else (-(-length // s) if padding != "valid" else
                                                             (length - k) // s + 1)
        if padding == "causal":
            out = (length - 1) // s + 1
        filters = draw(st.integers(1, 3))
        return kind, dict(filters=filters, kernel_size=k, strides=s, padding=padding), (out, filters)
    if kind in ("AveragePooling1D", "MaxPooling1D"):
        p = draw(st.integers(1, min(2, length)))
        return kind, dict(pool_size=p, strides=p, padding="valid"), ((length - p) // p + 1, c)
    if kind == "ZeroPadding1D":
        pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        return kind, dict(padding=pads), (length + sum(pads), c)
    if kind == "Cropping1D":
        crop = (draw(st.integers(0, (length - 1) // 2)), draw(st.integers(0, (length - 1) // 2)))
        return kind, dict(cropping=crop), (length - sum(crop), c)
    if kind == "UpSampling1D":
        size = draw(st.integers(1, 2))
        return kind, dict(size=size), (length * size, c)
    if kind.startswith("Adaptive"):
        if kind == "AdaptiveMaxPooling1D" and length < 2:   # TF's oneDNN float32 max-pool dies on an output of 1
            kind = "AdaptiveAveragePooling1D"
        size = draw(st.integers(2 if kind == "AdaptiveMaxPooling1D" else 1, length))
        return kind, dict(output_size=size), (size, c)
    return kind, dict(rate=0.3), (length, c)


@st.composite
def graph_cases(draw, max_nodes: int = 6):
    # a random DAG: each node reads one earlier tensor (a layer, an op) or merges two of equal-enough grids
    h, w, c = draw(st.integers(2, 7)), draw(st.integers(2, 7)), draw(st.integers(1, 3))
    grids, nodes = [(h, w, c)], []          # grids[k + 1] is node k's output grid; grids[0] the input

    def pick():
        return draw(st.integers(0, len(grids) - 1))
    for _ in range(draw(st.integers(1, max_nodes))):
        if len(grids) > 1 and draw(st.integers(0, 3)) == 0:        # a merge of two tensors
            a, b = pick(), pick()
            ga, gb = grids[a], grids[b]
            kind = draw(st.sampled_from(MERGE_KINDS))
            if kind == "Concatenate" and len(ga) == len(gb) == 3:
                axis = draw(st.sampled_from([ax for ax in (1, 2, 3, -1) if all(
                    ga[i] == gb[i] for i in range(3) if i != (ax - 1 if ax > 0 else 2))] or [None]))
                if axis is not None:
                    i = axis - 1 if axis > 0 else 2
                    out = tuple(ga[j] + gb[j] if j == i else ga[j] for j in range(3))
                    nodes.append((kind, dict(axis=axis), (a - 1, b - 1)))
                    grids.append(out)
                    continue
            if kind != "Concatenate" and ga == gb:
                nodes.append((kind, {}, (a - 1, b - 1)))
                grids.append(ga)
                continue
            if kind != "Concatenate" and len(ga) == 3 and ga[2] == gb[-1]:
                # broadcast (H, W, C) with (1, 1, C) (EfficientNet's squeeze-and-excite) through a pooled branch
                nodes.append(("GlobalAveragePooling2D", dict(keepdims=True), (b - 1,)) if len(gb) == 3 else
                             ("Reshape", dict(target_shape=(1, 1, gb[-1])), (b - 1,)))
                grids.append((1, 1, ga[2]))
                nodes.append((kind, {}, (a - 1, len(grids) - 2)))
                grids.append(ga)
                continue
        src = pick()
        grid = grids[src]
        if len(grid) == 3 and max(grid[:2]) <= MAX_GRID:
            kind, kwargs, out = _image_node(draw, *grid)
        elif len(grid) == 3:
            kind, kwargs, out = "AveragePooling2D", dict(pool_size=2, padding="same"), \
                (-(-grid[0] // 2), -(-grid[1] // 2), grid[2])
        else:
            kind, kwargs, out = _sequence_node(draw, *grid)
        nodes.append((kind, kwargs, (src - 1,)))
        grids.append(out)
    if draw(st.booleans()):                  # a 1-D tail: the image as a sequence of pixels
        last = grids[-1]
        if len(last) == 3:
            nodes.append(("Reshape", dict(target_shape=(last[0] * last[1], last[2])), (len(grids) - 2,)))
            grids.append((last[0] * last[1], last[2]))
        for _ in range(draw(st.integers(1, 2))):
            kind, kwargs, out = _sequence_node(draw, *grids[-1])
            nodes.append((kind, kwargs, (len(grids) - 2,)))
            grids.append(out)
        if draw(st.booleans()):
            kind = draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D"]))
            nodes.append((kind, dict(keepdims=draw(st.booleans())), (len(grids) - 2,)))
            grids.append((grids[-1][-1],))
            if not nodes[-1][1]["keepdims"] and draw(st.booleans()):   # the vector repeated: a sequence again
                n = draw(st.integers(1, 3))
                nodes.append(("RepeatVector", dict(n=n), (len(grids) - 2,)))
                grids.append((n, grids[-1][0]))
    elif len(grids[-1]) == 3 and draw(st.integers(0, 3)) == 0:   # a 3-D tail: (h, w, c) as (h, w, 1, c), pooled
        last = grids[-1]
        nodes.append(("Reshape", dict(target_shape=(last[0], last[1], 1, last[2])), (len(grids) - 2,)))
        grids.append((last[0], last[1], 1, last[2]))
        kind = draw(st.sampled_from(["GlobalAveragePooling3D", "GlobalMaxPooling3D"]))
        nodes.append((kind, {}, (len(grids) - 2,)))
        grids.append((last[2],))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 16))
    x = np.random.default_rng(seed + 1).normal(0, 1, (n, h, w, c))
    return GraphCase(x, tuple(nodes), seed)


# ---- random piecewise-linear graph CNNs, for the Dense+ReLU form (hw5.convert.relu_only) -------------------

# every smooth activation of graph_cases made a member of the ReLU family (relu_only lowers those exactly)
PIECEWISE_LINEAR_ACTIVATIONS = {
    "elu": "leaky_relu", "selu": "relu6", "gelu": "relu", "silu": "hard_sigmoid", "swish": "relu6",
    "hard_silu": "hard_sigmoid", "hard_swish": "relu6", "softplus": "relu", "softsign": "hard_sigmoid",
    "exponential": "relu6", "mish": "leaky_relu", "sigmoid": "hard_sigmoid", "tanh": "relu6", "log_softmax": "relu"}


def _piecewise_linear_node(cls: str, kw: dict) -> tuple[str, dict]:
    if cls == "ELU":
        return "LeakyReLU", dict(negative_slope=0.3)
    if cls in ("LayerNormalization", "GroupNormalization", "UnitNormalization", "RMSNormalization"):
        return "BatchNormalization", dict(epsilon=0.1)   # per sample: a BatchNorm (per channel) in its place
    if cls == "Multiply":                                 # a product of two tensors: a max of them instead
        return "Maximum", kw
    if cls == "ReLU":                                     # threshold > 0 jumps (refused by name): none here
        return cls, {**kw, "threshold": 0.0}
    if cls == "Activation":
        return cls, dict(activation=PIECEWISE_LINEAR_ACTIVATIONS.get(kw["activation"], kw["activation"]))
    if cls == "UpSampling2D":                             # Keras computes bilinear in float32 even in float64
        return cls, {**kw, "interpolation": "nearest"}
    return cls, kw


@st.composite
def piecewise_linear_graph_cases(draw, max_nodes: int = 6):
    # graph_cases with every node relu_only cannot lower replaced by one it can, grids unchanged
    case = draw(graph_cases(max_nodes))
    return GraphCase(case.x, tuple((*_piecewise_linear_node(cls, kw), ins) for cls, kw, ins in case.nodes),
                     case.seed)


def random_weights(model, seed: int, alpha: tuple = (0.0, 0.5)):
    """`model` with every variable drawn from `seed`, in order: kernels (plain, depthwise, pointwise)
    N(0, 1/fan_in), BN scales U(0.5, 1.5) and variances U(0.05, 2) (away from 0), PReLU slopes U(*alpha),
    biases, BN offsets and means N(0, 0.5²); a Normalization layer's mean, variance and count are left as built."""
    rng = np.random.default_rng(seed)
    for var in model.variables:
        kind, shape = var.path.split("/")[-1], tuple(var.shape)
        if kind in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            value = rng.normal(0, 1 / np.sqrt(max(1, np.prod(shape[:-1]))), shape)
        elif kind in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape) if kind == "gamma" else rng.uniform(0.05, 2, shape)
        elif kind == "alpha":
            value = rng.uniform(*alpha, shape)
        elif kind in ("mean", "variance", "count"):
            continue
        else:
            value = rng.normal(0, 0.5, shape)
        var.assign(value.astype(var.dtype))
    return model
