# Every convolution variant and the 1-D/cropping layers, one deterministic case per trap, against Keras: the
# random graph CNNs of test_graph.py draw these too, but not every geometry in a short run — here each one is
# pinned: Conv2DTranspose 'valid'/'same' with strides, kernel smaller than the stride, dilation and
# output_padding; grouped and dilated Conv2D; depthwise with a multiplier; separable; causal and strided Conv1D;
# MaxPooling1D 'same'; asymmetric cropping; adaptive pooling's overlapping windows. Reference: Keras' own layer
# in float64, one image at a time (hw5.convert.reference.keras_outputs, whose per-image calls and `keras_batch` —
# which convolutions a batched call would meet TF's strided-conv bug with — are tested last); and each NumPy
# layer's name and grid against the Keras layer's.
import itertools

import keras
import numpy as np
import pytest

from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal, keras_outputs
from tests.helpers import one_layer_model as build

F64 = "float64"
L = keras.layers
CASES = {
    "transpose valid, strides (2, 3)": ((4, 5, 2), lambda: L.Conv2DTranspose(3, (3, 2), strides=(2, 3))),
    "transpose same, stride 2": ((3, 4, 2), lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same")),
    "transpose valid, kernel < stride": ((3, 2, 1), lambda: L.Conv2DTranspose(2, 2, strides=3)),
    "transpose valid, output_padding 1": ((3, 3, 2), lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=1)),
    "transpose same, output_padding (2, 1)": ((3, 4, 1), lambda: L.Conv2DTranspose(
        2, 4, strides=3, padding="same", output_padding=(2, 1))),
    "conv grouped, same, strides (2, 1)": ((5, 6, 4), lambda: L.Conv2D(4, (3, 2), strides=(2, 1), padding="same",
                                                                         groups=2)),
    "conv dilated (2, 1), same": ((7, 6, 3), lambda: L.Conv2D(2, 3, dilation_rate=(2, 1), padding="same")),
    "depthwise ×2, same, stride 2": ((5, 6, 3), lambda: L.DepthwiseConv2D(3, strides=2, padding="same",
                                                                            depth_multiplier=2)),
    "depthwise dilated 2": ((6, 5, 2), lambda: L.DepthwiseConv2D(2, dilation_rate=2)),
    "separable ×2, same, stride 2": ((6, 5, 2), lambda: L.SeparableConv2D(3, 3, strides=2, padding="same",
                                                                            depth_multiplier=2)),
    "conv1d causal, dilation 2": ((9, 2), lambda: L.Conv1D(3, 3, padding="causal", dilation_rate=2)),
    "conv1d same, stride 2": ((8, 3), lambda: L.Conv1D(2, 3, strides=2, padding="same")),
    "maxpool1d same, 3 stride 2": ((8, 2), lambda: L.MaxPooling1D(3, strides=2, padding="same")),
    "maxpool1d valid 2": ((7, 3), lambda: L.MaxPooling1D(2)),
    "avgpool2d same 3, stride 1 (pads before)": ((5, 6, 2), lambda: L.AveragePooling2D(3, strides=1, padding="same")),
    "avgpool1d same 3, stride 2": ((7, 2), lambda: L.AveragePooling1D(3, strides=2, padding="same")),
    "cropping2d ((1, 2), (0, 1))": ((6, 5, 2), lambda: L.Cropping2D(((1, 2), (0, 1)))),
    "cropping1d (1, 2)": ((7, 2), lambda: L.Cropping1D((1, 2))),
}


@pytest.mark.parametrize("what", list(CASES))
def test_conv_variant_is_its_keras_layer(what):
    shape, make = CASES[what]
    model = build(shape, make)
    x = np.random.default_rng(23).normal(size=(2, *model.input_shape[1:]))
    expected = keras_outputs(model, x)
    for sparse in (False, True):
        net = from_keras(model, sparse=sparse)
        assert_within(net.predict(x), expected, tol.LAYER_F64_RTOL * max(1.0, np.abs(expected).max()),
                      f"{what} (sparse={sparse}) vs Keras")
        name, grid, _ = net.neuron_counts()[-1]
        assert (name, grid) == ("layer", tuple(model.layers[-1].output.shape[1:])), what


def _grid(**axes) -> list[dict]:
    """Every combination of the axes' values, as keyword dicts."""
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def _transpose_runs(kernel_size, strides, padding, output_padding, dilation_rate=1):
    # 'same' with output_padding 0 and an even kernel span: Keras asks TF for (n − 1)·s outputs, which conv1d's
    # 'same' rule maps back to n − 1 inputs, not n; TF's oneDNN kernel aborts (Keras cannot run the layer)
    return not (padding == "same" and output_padding == 0 and ((kernel_size - 1) * dilation_rate + 1) % 2 == 0)


# The 1-D siblings of the 2-D layers, each the 2-D translation on a (1, L, C) grid, over a grid of what their
# configs allow (Keras: no groups, no 'causal' for these three; a transpose's output_padding < its stride, and
# stride 1 where it is dilated): (layer, input (L, C), its keywords)
ONE_D = [("Conv1DTranspose", (7, 3), dict(filters=2, **kw)) for kw in [
    *_grid(kernel_size=(1, 2, 3), strides=(1, 2, 3), padding=("valid", "same")),
    *[kw for kw in _grid(kernel_size=(2, 3), strides=(2, 3), padding=("valid", "same"), output_padding=(0, 1, 2))
      if kw["output_padding"] < kw["strides"] and _transpose_runs(**kw)],
    *_grid(kernel_size=(2, 3), dilation_rate=(2, 3), padding=("valid", "same")),
    dict(kernel_size=3, strides=2, use_bias=False), dict(kernel_size=3, strides=2, activation="tanh")]] + [
    ("DepthwiseConv1D", (9, 2), kw) for kw in [
        *_grid(kernel_size=(1, 2, 3), strides=(1, 2, 3), padding=("valid", "same")),
        *_grid(kernel_size=(2, 3), dilation_rate=(2, 3), strides=(1, 2), padding=("valid", "same")),
        *_grid(kernel_size=(3,), depth_multiplier=(2, 3), strides=(1, 2), padding=("valid", "same")),
        dict(kernel_size=3, depth_multiplier=2, use_bias=False), dict(kernel_size=3, activation="relu")]] + [
    ("SeparableConv1D", (8, 3), dict(filters=2, **kw)) for kw in [
        *_grid(kernel_size=(1, 2, 3), strides=(1, 2, 3), padding=("valid", "same")),
        *_grid(kernel_size=(3,), dilation_rate=(2,), strides=(1, 2), depth_multiplier=(1, 2),
               padding=("valid", "same")),
        dict(kernel_size=2, depth_multiplier=2, use_bias=False), dict(kernel_size=3, activation="relu")]]


# a layer in float32 or float64 against Keras in the same dtype: the converter's own layer check (its comment
# gives the reason), relative to the output's scale
LAYER_RTOL = {"float32": tol.LAYER_F32_RTOL, "float64": tol.LAYER_F64_RTOL}


def _one_d_params():
    return [pytest.param(layer, shape, kw, dtype, id=f"{layer} {kw} {dtype}") for layer, shape, kw in ONE_D
            for dtype in ("float32", "float64")]


# TF's own CPU kernel of a transposed conv refuses a dilation > 1 (float64 always; float32 where oneDNN is off —
# oneDNN's float32 kernel runs it): no Keras reference there; test_dilated_transpose_is_the_transposed_dilated_conv
# checks those against their definition instead
TF_REFUSES_DILATED_TRANSPOSE = "do not yet support dilation rates larger than 1"


@pytest.mark.parametrize("layer, shape, kwargs, dtype", _one_d_params())
def test_1d_conv_sibling_is_its_keras_layer(layer, shape, kwargs, dtype):
    # Conv1DTranspose, DepthwiseConv1D, SeparableConv1D against Keras' own layer in the same dtype, dense and
    # sparse: the output, and the NumPy layer's name and grid against the Keras layer's
    model = build(shape, lambda: getattr(L, layer)(**kwargs), dtype)
    x = np.random.default_rng(25).normal(size=(2, *shape)).astype(dtype)
    try:
        expected = keras_outputs(model, x)
    except Exception as exc:   # noqa: BLE001 — TensorFlow's InvalidArgumentError, matched by its message
        if TF_REFUSES_DILATED_TRANSPOSE not in str(exc):
            raise
        pytest.skip(f"TensorFlow's {dtype} CPU kernel here refuses a dilated {layer}: no Keras reference")
    for sparse in (False, True):
        net = from_keras(model, sparse=sparse)
        assert_within(net.predict(x), expected, LAYER_RTOL[dtype] * max(1.0, np.abs(expected).max()),
                      f"{layer} {kwargs} (sparse={sparse}, {dtype}) vs Keras")
        name, grid, _ = net.neuron_counts()[-1]   # an activation is its own NumPy layer, "layer.<activation>"
        assert (name.split(".")[0], grid) == ("layer", tuple(model.layers[-1].output.shape[1:]))


@pytest.mark.parametrize("layer", ["Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D"])
def test_keras_gives_causal_padding_to_conv1d_alone(layer):
    # the 1-D siblings' grid above has 'valid' and 'same' only because that is all Keras lets these three take
    L.Conv1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"The `padding` argument must be .* Received: causal$"):
        getattr(L, layer)(kernel_size=3, padding="causal", **({} if layer == "DepthwiseConv1D" else {"filters": 2}))


@pytest.mark.parametrize("make", [
    lambda: L.Conv1DTranspose(3, 3, strides=2, output_padding=1, activation="relu", dtype=F64),
    lambda: L.DepthwiseConv1D(3, strides=2, depth_multiplier=2, activation="relu6", dtype=F64),
    lambda: L.SeparableConv1D(3, 2, padding="same", activation="leaky_relu", dtype=F64)],
    ids=["Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D"])
def test_1d_conv_sibling_goes_through_relu_only_and_onnx(make, tmp_path):
    # a 1-D sibling is matrices like any conv: its Dense+ReLU form (relu_only) is Keras' model, and onnxruntime
    # re-reads that form's ONNX file equal; float64 throughout
    from hw5.convert.export import run_onnx, to_onnx
    from hw5.convert.layers import Dense, ReLU
    from hw5.convert.relu_only import relu_only

    model = keras.Sequential([keras.Input((7, 2), dtype=F64), make(), L.Flatten(dtype=F64), L.Dense(3, dtype=F64)])
    assign_normal(model.weights, 26)
    x = np.random.default_rng(27).normal(size=(4, 7, 2))
    expected = keras_outputs(model, x)
    scale = max(1.0, float(np.abs(expected).max()))
    net = relu_only(from_keras(model))
    assert {type(layer) for layer in net.layers} <= {Dense, ReLU}
    assert_within(net.predict(x), expected, tol.RELU_ONLY_F64_RTOL * scale, "Dense+ReLU form vs Keras")
    path = to_onnx(net, tmp_path / "form.onnx")
    assert_within(run_onnx(path, x).reshape(expected.shape), expected,
                  (tol.RELU_ONLY_F64_RTOL + tol.ONNX_VS_NUMPY_RTOL["float64"]) * scale, "onnxruntime vs Keras")


@pytest.mark.parametrize("rank", [2, 1])
@pytest.mark.parametrize("padding, output_padding", [("valid", None), ("same", None), ("valid", 0), ("same", 0)])
def test_dilated_transpose_is_the_transposed_dilated_conv(padding, output_padding, rank):   # Keras: dilation ⇒ stride 1
    # TensorFlow's float64 CPU kernels refuse a dilated Conv2DTranspose or Conv1DTranspose, so the reference is
    # its definition: the gradient of Conv2D (Conv1D), i.e. the transpose of that conv's matrix (same kernel,
    # dilation, padding) on the output grid — whose matrix test_conv_variant_is_its_keras_layer checks against
    # Keras. Entries are kernel copies: exact.
    # check=False: from_keras's self-check compares with Keras, which cannot run this layer (it says so below)
    shape = (4, 5, 2)[2 - rank:]
    kernel = np.random.default_rng(24).normal(size=(3,) * rank + (3, 2))   # (kh, kw, C_out, C_in) or (k, …)
    transpose = keras.Sequential([keras.Input(shape, dtype=F64), getattr(L, f"Conv{rank}DTranspose")(
        3, 3, padding=padding, dilation_rate=2, output_padding=output_padding, use_bias=False,
        dtype=F64)])
    transpose.layers[-1].kernel.assign(kernel)
    out = tuple(transpose.layers[-1].compute_output_shape((None, *shape))[1:])
    conv = keras.Sequential([keras.Input(out, dtype=F64), getattr(L, f"Conv{rank}D")(
        2, 3, padding=padding, dilation_rate=2, use_bias=False, dtype=F64)])
    conv.layers[-1].kernel.assign(kernel)
    assert tuple(conv.layers[-1].output.shape[1:]) == shape
    W = from_keras(transpose, check=False).layers[0].W
    np.testing.assert_array_equal(W, from_keras(conv).layers[0].W.T)
    np.testing.assert_array_equal(from_keras(transpose, sparse=True, check=False).layers[0].W.toarray(), W)
    with pytest.raises(ValueError, match=r"^from_keras: Keras itself cannot run the model here \(InvalidArgument"
                                         r"Error: .*check=False\) returns the network unchecked$"):
        from_keras(transpose)


# UpSampling2D's interpolations beyond nearest, each TF's resize weights per axis (hw5.convert.resize_weights):
# odd and even sides, sizes (2, 3) and (3, 2), a 1 × 1 input, sides shorter than a kernel's reach (lanczos5 reads
# 10 inputs an axis, bicubic 4) where taps fall outside and the rest are renormalized, and a wide row, where
# exact positions would drift from TF's float32 ones by ~100 float32 ulps of a weight
RESIZE_KINDS = ["bilinear", "bicubic", "lanczos3", "lanczos5", "area"]
RESIZE_GRIDS = [((3, 4, 2), (2, 2)), ((5, 2, 1), (2, 3)), ((4, 3, 2), (3, 2)), ((1, 1, 3), (3, 2)), ((2, 7, 1), (4, 1)),
                ((1, 300, 1), (1, 3))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", RESIZE_KINDS)
def test_upsampling_interpolation_is_keras_resize(kind, dtype):
    # every grid, dense and sparse, against Keras in the model's dtype (TF resizes in float32 even in float64)
    for shape, size in RESIZE_GRIDS:
        model = keras.Sequential([keras.Input(shape, dtype=dtype), L.UpSampling2D(size, interpolation=kind,
                                                                                  dtype=dtype, name="layer")])
        x = np.random.default_rng(25).normal(size=(2, *shape)).astype(dtype)
        expected = keras_outputs(model, x)
        for sparse in (False, True):
            net = from_keras(model, sparse=sparse)
            assert_within(net.predict(x), expected, tol.RESIZE_RTOL * max(1.0, np.abs(expected).max()),
                          f"{kind} {shape} × {size} ({dtype}, sparse={sparse}) vs Keras")


@pytest.mark.parametrize("kind", RESIZE_KINDS)
def test_upsampling_by_one_is_the_identity(kind):
    # size 1 samples every input at its own centre: weight 1 on it, every other tap exactly 0 (no ~1e-17 sinc tails)
    from hw5.convert.resize_weights import WEIGHTS

    M = np.zeros((5, 5))
    for index, weight in WEIGHTS[kind](5, 1):
        np.add.at(M, (np.arange(5), index), weight)
    np.testing.assert_array_equal(M, np.eye(5))


def test_upsampling_refuses_an_interpolation_it_has_no_weights_for():
    # Keras' own resize refuses other names when the model is built; the translation alone names what it has
    from hw5.convert.registry import TRANSLATIONS, Source

    layer = L.UpSampling2D(2, interpolation="gaussian", name="up")
    src = Source(layer, layer.get_config(), (3, 3, 1), {}, np.dtype(F64))
    with pytest.raises(ValueError, match=r"^layer 'up' of type UpSampling2D: interpolation 'gaussian' is not "
                                         r"supported \(nearest, bilinear, bicubic, lanczos3, lanczos5, area\)$"):
        TRANSLATIONS["UpSampling2D"](src)


# Keras' AdaptiveAverage/MaxPooling1D/2D, (rank, input grid, output_size): along an axis of n inputs pooled to m,
# window i = [floor(i·n/m), ceil((i + 1)·n/m)) — PyTorch's rule — so windows overlap where m does not divide n
# (7 → 3: [0, 3), [2, 5), [4, 7)), repeat inputs where m > n, and m = 1 is the global pool
ADAPTIVE = [(1, (8, 3), 4), (1, (7, 2), 3), (1, (10, 1), 4), (1, (5, 2), 8), (1, (6, 2), 1), (1, (9, 1), 9),
            (2, (8, 8, 2), (4, 4)), (2, (7, 5, 2), (3, 2)), (2, (5, 7, 1), (3, 4)), (2, (3, 2, 2), (5, 7)),
            (2, (6, 5, 3), (1, 1)), (2, (13, 11, 1), (7, 3))]


def adaptive_pool_loop(x, size, kind: str):
    # the reference: each output's window [floor(i·n/m), ceil((i + 1)·n/m)) on every spatial axis, one at a time
    spatial, out = x.shape[1:-1], np.empty((len(x), *size, x.shape[-1]))
    for index in itertools.product(*(range(m) for m in size)):
        spans = (slice(i * n // m, -(-(i + 1) * n // m)) for i, n, m in zip(index, spatial, size, strict=True))
        window = x[(slice(None), *spans)]
        axes = tuple(range(1, 1 + len(size)))
        out[(slice(None), *index)] = window.max(axis=axes) if kind == "Max" else window.mean(axis=axes)
    return out


def _adaptive_params():
    # float32 max-pooling to one output along an axis left out: Keras pools with windows ceil(n/m) and one more,
    # and TF's float32 (oneDNN) max-pool of a window longer than the axis kills the process (SIGFPE, measured with
    # keras 3.15; its float64 kernel and the average pool run) — Keras cannot run the layer, the float64 case has it
    return [pytest.param(rank, shape, size, kind, dtype, id=f"{shape}->{size}-{kind}-{dtype}")
            for rank, shape, size in ADAPTIVE for kind in ("Average", "Max") for dtype in ("float32", "float64")
            if not (kind == "Max" and dtype == "float32" and 1 in np.atleast_1d(size))]


@pytest.mark.parametrize("rank, shape, size, kind, dtype", _adaptive_params())
def test_adaptive_pooling_is_keras_and_its_window_rule(rank, shape, size, kind, dtype):
    # Keras' layer equals the window rule (float64 loop), and the net equals Keras, dense and sparse: a max picks
    # one of the inputs (exact), an average is a sum of ≤ k_h·k_w terms (the layer check's tolerance)
    model = build(shape, lambda: getattr(L, f"Adaptive{kind}Pooling{rank}D")(size), dtype)
    x = np.random.default_rng(28).normal(size=(3, *shape)).astype(dtype)
    expected = keras_outputs(model, x)
    scale = max(1.0, float(np.abs(expected).max()))
    assert_within(expected, adaptive_pool_loop(x.astype(np.float64), expected.shape[1:-1], kind),
                  LAYER_RTOL[dtype] * scale, f"Keras' Adaptive{kind}Pooling{rank}D {shape} -> {size} vs the rule")
    for sparse in (False, True):
        net = from_keras(model, sparse=sparse)
        got = net.predict(x).reshape(expected.shape)
        if kind == "Max":
            np.testing.assert_array_equal(got, expected)
        else:
            assert_within(got, expected, LAYER_RTOL[dtype] * scale, f"{shape} -> {size} ({dtype}, sparse={sparse})")
        assert net.output_grid() == tuple(model.layers[-1].output.shape[1:])


@pytest.mark.parametrize("kind", ["Average", "Max"])
def test_adaptive_pooling_takes_keras_float32_window_bounds(kind):
    # Keras' TF backend computes i·n/m in float32 before floor and ceil: for 9,484 → 7,713 that moves a few window
    # bounds by one from the exact rule (measured: the loop above is off by O(1) there) — the net follows Keras
    model = build((9484, 1), lambda: getattr(L, f"Adaptive{kind}Pooling1D")(7713))
    x = np.random.default_rng(29).normal(size=(2, 9484, 1))
    expected = keras_outputs(model, x)
    assert np.abs(adaptive_pool_loop(x, (7713,), kind) - expected).max() > 0.1   # the trap is there
    got = from_keras(model, sparse=True).predict(x).reshape(expected.shape)
    assert_within(got, expected, tol.LAYER_F64_RTOL * max(1.0, np.abs(expected).max()), f"{kind} 9484 -> 7713")


def test_cropping_to_nothing_is_refused_by_the_translation():
    # Keras itself refuses such a layer when the model is built; the translation says so too when called alone
    from hw5.convert.registry import TRANSLATIONS, Source

    layer = L.Cropping2D(((2, 1), (0, 0)), name="crop")
    src = Source(layer, layer.get_config(), (3, 3, 1), {}, np.dtype(F64))
    with pytest.raises(ValueError, match=r"^layer 'crop' of type Cropping2D: crops the grid \(3, 3, 1\) to nothing$"):
        TRANSLATIONS["Cropping2D"](src)


def test_index_dtype_is_int32_while_every_index_fits():
    from hw5.convert.registry import index_dtype

    assert index_dtype(5, 2**31 - 2) is np.int32
    assert index_dtype(2**31 - 1) is np.int64 and index_dtype(3, 2**40) is np.int64


@pytest.mark.parametrize("too_big", ["n_in", "n_out", "entries"])
def test_a_sparse_matrix_takes_int64_indices_when_any_index_could_pass_int32(monkeypatch, too_big):
    # rows < n_in, columns < n_out, row pointers ≤ the entry count: each decides the index dtype. A real matrix
    # that needs int64 takes tens of GiB, so index_dtype is told that one size (5, 4 or 3: told apart by value)
    # is 2³¹; the CSR matrix built must then hold int64 indices and still be the same matrix
    from hw5.convert import registry
    from hw5.convert.registry import Source

    sizes = {"n_in": 5, "n_out": 4, "entries": 3}
    real = registry.index_dtype
    monkeypatch.setattr(registry, "index_dtype", lambda *args: real(*(2**31 if a == sizes[too_big] else a
                                                                      for a in args)))
    layer = L.Dense(4, name="d")
    src = Source(layer, {}, (5,), {}, np.dtype(F64), sparse=True)
    M = registry.matrix(src, np.array([0, 2, 4]), np.array([3, 1, 0]), [1.0, 2.0, 3.0], 5, 4)
    assert M.indices.dtype == np.int64 and M.indptr.dtype == np.int64, too_big
    np.testing.assert_array_equal(M.toarray(), [[0, 0, 0, 1], [0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [3, 0, 0, 0]])


@pytest.mark.parametrize("layer, grid, want", [
    (L.MaxPooling1D(2, name="p1"), (3, 3, 1), r"^layer 'p1' of type MaxPooling1D: needs a \(L, C\) input, got the grid "
                                               r"\(3, 3, 1\)$"),
    (L.AveragePooling2D(2, name="p2"), (6, 2), r"^layer 'p2' of type AveragePooling2D: needs a \(H, W, C\) input, got "
                                                r"the grid \(6, 2\)$"),
])
def test_a_layer_given_a_grid_of_the_wrong_rank_says_which_it_needs(layer, grid, want):
    # not reachable through Keras (it checks ranks itself): the translations called alone, as a registry user might
    from hw5.convert.registry import TRANSLATIONS, Source

    src = Source(layer, layer.get_config(), grid, {}, np.dtype(F64))
    with pytest.raises(ValueError, match=want):
        TRANSLATIONS[type(layer).__name__](src)


def test_a_sparse_conv_asks_for_indices_that_hold_its_rows_columns_and_entries(monkeypatch):
    # conv_csc's int32/int64 choice must cover rows (< n_in), columns (< n_out) and row pointers (≤ the entries, at
    # most one per output, kernel tap and channel pair): an int32 row pointer past 2³¹ entries would wrap silently
    from hw5.convert import conv

    asked, real = [], conv.index_dtype
    monkeypatch.setattr(conv, "index_dtype", lambda *sizes: asked.append(sizes) or real(*sizes))
    model = build((5, 4, 6), lambda: L.Conv2D(4, (3, 2), padding="same", groups=2))
    W = from_keras(model, sparse=True).layers[0].W
    n_in, n_out, bound = 5 * 4 * 6, 5 * 4 * 4, 5 * 4 * 4 * 3 * 2 * 3    # 3 input channels per group
    assert asked == [(n_in, n_out, bound)] and W.nnz <= bound
    assert W.indices.dtype == np.int32 and W.indptr.dtype == np.int32


def _built(make, shape):
    """(layer, its variables) of a Keras layer built on `shape`, named "k"."""
    from hw5.weights import extract_variables

    made = make()
    layer = type(made).from_config({**made.get_config(), "name": "k"})
    return layer, extract_variables(keras.Sequential([keras.Input(shape), layer]))


@pytest.mark.parametrize("make, shape, grid, config, want", [
    (lambda: L.Conv1D(2, 3), (6, 2), (3, 3, 1), {},
     r"layer 'k' of type Conv1D: needs an \(L, C\) input, got the grid \(3, 3, 1\)"),
    (lambda: L.DepthwiseConv2D(3), (5, 5, 2), (6, 2), {},
     r"layer 'k' of type DepthwiseConv2D: needs an \(H, W, C\) input, got the grid \(6, 2\)"),
    (lambda: L.DepthwiseConv2D(3), (5, 5, 2), (5, 5, 2), {"data_format": "channels_first"},
     r"layer 'k' of type DepthwiseConv2D: data_format 'channels_first' is not supported \(channels_last\)"),
    (lambda: L.Conv2D(2, 3), (5, 5, 1), (2, 5, 1), {},   # the Toeplitz geometry's own check, as for the homework
     r"kernel height 3 is larger than the input height 2 with padding='valid'"),
    (lambda: L.Conv2D(2, 3), (5, 5, 1), (5, 2, 1), {}, r"kernel width 3 is larger than the input width 2 with "
                                                       r"padding='valid'"),
])
def test_a_conv_handed_a_grid_it_cannot_read_says_why(make, shape, grid, config, want):
    # Keras checks these itself, so the converter meets them only when a translation is called alone (as a
    # registry user might): which input it needs, which axis is too small
    from hw5.convert.registry import TRANSLATIONS, Source

    layer, variables = _built(make, shape)
    src = Source(layer, {**layer.get_config(), **config}, grid, variables, np.dtype("float32"))
    with pytest.raises(ValueError, match=rf"^{want}$"):
        TRANSLATIONS[type(layer).__name__](src)


def test_a_conv_built_a_row_at_a_time_is_the_same_matrix(monkeypatch):
    # conv_csc generates the matrix a block of output rows at a time (CSC_BLOCK bounds the memory); with the
    # smallest block every output row is its own block: the same entries, bit for bit, as in one block
    from hw5.convert import conv

    model = build((6, 5, 2), lambda: L.Conv2D(3, 3, strides=(2, 1), padding="same"))
    whole = from_keras(model, sparse=True).layers[0].W
    monkeypatch.setattr(conv, "CSC_BLOCK", 1)
    rows = from_keras(model, sparse=True).layers[0].W
    assert rows.nnz == whole.nnz and (rows != whole).nnz == 0
    np.testing.assert_array_equal(rows.indices, whole.indices)


def test_keras_reference_calls_the_model_one_image_at_a_time_in_inference():
    # hw5.convert.reference.keras_outputs, the one Keras reference of the checks and the tests: model(x[i:i+1],
    # training=False) per image (TF 2.21's batched oneDNN conv bug, docs/known-issues.md), in order; batch=k
    # takes k at a time, the last call the rest
    from hw5.convert.reference import keras_outputs

    calls = []

    def model(x, training):
        calls.append((len(x), training))
        return 2 * x

    x = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    np.testing.assert_array_equal(keras_outputs(model, x), 2 * x)
    assert calls == [(1, False)] * 5
    calls.clear()
    np.testing.assert_array_equal(keras_outputs(model, x, batch=2), 2 * x)
    assert calls == [(2, False), (2, False), (1, False)]
    for bad in (0, 1.0, True):
        with pytest.raises(ValueError, match=r"^batch must be an int >= 1, got "):
            keras_outputs(model, x, batch=bad)
    with pytest.raises(ValueError, match=r"^x must hold at least one input"):
        keras_outputs(model, x[:0])


def test_keras_batch_is_one_exactly_where_a_convolution_has_a_stride():
    # `hw5 convert` calls Keras in batches of BATCH unless a convolution anywhere in the model (a nested model's
    # too; Conv1D is TF's conv2d with strides (1, s), the bug's own case) has a stride > 1; a pooling stride is not
    # a convolution's
    from hw5.convert.reference import BATCH, keras_batch

    def chain(*layers, shape=(8, 8, 1)):
        return keras.Sequential([keras.Input(shape), *layers])

    inner = chain(L.Conv2D(1, 2, strides=(1, 2)))
    assert keras_batch(chain(L.Conv2D(2, 3), L.MaxPooling2D(2), L.Flatten(), L.Dense(2))) == BATCH == 500
    assert keras_batch(chain(L.Conv2D(2, 3, strides=(1, 2)))) == 1
    assert keras_batch(chain(L.DepthwiseConv2D(3, strides=2))) == 1
    assert keras_batch(chain(L.Conv1D(2, 3, strides=2), shape=(9, 1))) == 1
    assert keras_batch(chain(inner, L.Flatten())) == 1

    class ConvBlock(keras.layers.Layer):   # a user's layer named like a convolution, with no strides of its own
        def call(self, x):
            return x

    assert keras_batch(chain(ConvBlock(), L.Flatten())) == BATCH


def test_keras_reference_never_calls_keras_on_a_model_it_would_die_on():
    # with oneDNN on, Keras' call of a float32 AdaptiveMaxPooling of output width 1 kills the process: the
    # reference refuses it by name first; without oneDNN it is Keras' own output
    from hw5.convert.reference import KerasCannotRun, keras_reference
    from hw5.homework.kernels import kernels

    model = keras.Sequential([keras.Input((5, 2)), L.AdaptiveMaxPooling1D(1)])
    x = np.random.default_rng(55).normal(size=(2, 5, 2)).astype(np.float32)
    if kernels().startswith("oneDNN on "):
        with pytest.raises(KerasCannotRun, match=r"^layer '\w+': TensorFlow's oneDNN float32 max-pool kills"):
            keras_reference(model, x)
    else:
        np.testing.assert_array_equal(keras_reference(model, x), x.max(axis=1, keepdims=True))


class CallLog:
    """A stand-in model: its call records each batch's length and returns the batch doubled."""

    def __init__(self):
        self.sizes = []

    def __call__(self, x, training):
        assert training is False
        self.sizes.append(len(x))
        return 2 * x


def test_keras_reference_calls_keras_one_input_at_a_time_unless_asked(monkeypatch):
    # one image at a time is right on every CPU (the oneDNN batched conv bug); a batch only where asked — on a
    # channels-first model, its channels-last twin is called in the batch asked for
    from hw5.convert import reference

    x = np.arange(10.0).reshape(5, 2)
    model = CallLog()
    np.testing.assert_array_equal(reference.keras_reference(model, x), 2 * x)
    assert model.sizes == [1] * 5
    model.sizes.clear()
    np.testing.assert_array_equal(reference.keras_reference(model, x, batch=2), 2 * x)
    assert model.sizes == [2, 2, 1]
    seen = []

    def spy(called, inputs, batch=1):
        seen.append((called, inputs.shape, batch))
        return keras_outputs(called, inputs, batch)   # tests.helpers' name for reference.keras_outputs itself

    monkeypatch.setattr(reference, "keras_outputs", spy)
    cf = keras.Sequential([keras.Input((2, 5, 4)), L.Conv2D(3, 2, data_format="channels_first")])
    images = np.random.default_rng(54).normal(size=(3, 2, 5, 4)).astype(np.float32)
    assert reference.keras_reference(cf, images, batch=2).shape == (3, 3, 4, 3)
    [(called, shape, batch)] = seen
    assert called is not cf and shape == (3, 5, 4, 2) and batch == 2   # the twin, on the moved images


@pytest.mark.parametrize("make, shape", [(lambda: L.AdaptiveMaxPooling2D((2, 1)), (5, 4, 2)),
                                         (lambda: L.AdaptiveMaxPooling1D(1), (5, 2))])
def test_an_adaptive_max_pool_keras_would_die_on_is_never_run_in_keras(make, shape):
    # TF's oneDNN float32 max-pool kills the process (SIGFPE) on an output width of 1: with oneDNN on, the
    # self-check refuses to call Keras, saying why, and check=False converts it — equal to the float64 model,
    # which Keras runs; without oneDNN Keras runs it and the self-check does too
    from hw5.compare import float64_twin
    from hw5.convert.reference import fatal_in_keras
    from hw5.homework.kernels import kernels

    model = keras.Sequential([keras.Input(shape), make()])
    x = np.random.default_rng(47).normal(size=(3, *shape)).astype(np.float32)
    if kernels().startswith("oneDNN on "):
        assert fatal_in_keras(model) is model.layers[-1]
        with pytest.raises(ValueError, match=r"Keras itself cannot run the model here \(layer '\w+': TensorFlow's "
                                             r"oneDNN float32 max-pool kills the process"):
            from_keras(model)
        net = from_keras(model, check=False)
    else:
        assert fatal_in_keras(model) is None
        net = from_keras(model)
    expected = keras_outputs(float64_twin(model), x.astype(np.float64))
    assert_within(net.predict(x), expected, tol.LAYER_F32_RTOL * np.abs(expected).max(), "adaptive max, width 1")
