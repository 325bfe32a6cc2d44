# Keras layers with data_format="channels_first" (hw5.convert.layouts) and Permute (hw5.convert.gathers): every
# layer type that has a data_format, channels-first, one layer alone in a model against Keras' own layer in float32
# and float64, dense and sparse — the NumPy net takes the channels-first tensor as Keras holds it, x.reshape(N, -1),
# and hands on Keras' channels-first grid (Flatten: Keras flattens channels-first tensors channels-last). Then a
# channels-first CNN through relu_only and every export, the layout said in each file; the permutations themselves;
# the re-indexing's refusal of a layer it cannot re-index; Permute and RepeatVector (Gathers); the scalar-input
# refusal.
import keras
import numpy as np
import pytest

from hw5.convert.inspect import check_rtol
from hw5.convert.layouts import channels_first, to_first, to_last
from hw5.convert.reference import channels_last_twin, keras_reference
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal, keras_outputs
from tests.helpers import one_layer_model as build

L = keras.layers
CF = "channels_first"
CASES = {
    "Conv2D same, stride 2, relu": ((3, 7, 6), lambda: L.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                                                                data_format=CF)),
    "Conv2D grouped, dilated (2, 1)": ((4, 7, 6), lambda: L.Conv2D(4, (3, 2), dilation_rate=(2, 1), groups=2,
                                                                  data_format=CF)),
    "DepthwiseConv2D ×2, same": ((3, 6, 5), lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                                                      data_format=CF)),
    "SeparableConv2D stride 2": ((2, 7, 6), lambda: L.SeparableConv2D(3, 3, strides=2, data_format=CF)),
    "Conv2DTranspose stride 2, output_padding 1": ((2, 4, 3), lambda: L.Conv2DTranspose(
        3, 3, strides=2, output_padding=1, data_format=CF)),
    "Conv1D stride 2": ((3, 9), lambda: L.Conv1D(2, 3, strides=2, data_format=CF)),
    "Conv1DTranspose stride 2": ((2, 5), lambda: L.Conv1DTranspose(3, 3, strides=2, data_format=CF)),
    "DepthwiseConv1D ×2, same": ((3, 7), lambda: L.DepthwiseConv1D(3, depth_multiplier=2, padding="same",
                                                                   data_format=CF)),
    "SeparableConv1D stride 2": ((2, 9), lambda: L.SeparableConv1D(3, 3, strides=2, data_format=CF)),
    "MaxPooling2D same 3, stride 2": ((3, 7, 6), lambda: L.MaxPooling2D(3, strides=2, padding="same",
                                                                        data_format=CF)),
    "MaxPooling1D 2": ((3, 7), lambda: L.MaxPooling1D(2, data_format=CF)),
    "AveragePooling2D same 3, stride 1": ((2, 5, 6), lambda: L.AveragePooling2D(3, strides=1, padding="same",
                                                                                data_format=CF)),
    "AveragePooling1D same 3, stride 2": ((2, 7), lambda: L.AveragePooling1D(3, strides=2, padding="same",
                                                                             data_format=CF)),
    "GlobalMaxPooling2D keepdims": ((3, 4, 5), lambda: L.GlobalMaxPooling2D(data_format=CF, keepdims=True)),
    "GlobalAveragePooling2D": ((3, 4, 5), lambda: L.GlobalAveragePooling2D(data_format=CF)),
    "GlobalMaxPooling1D": ((3, 6), lambda: L.GlobalMaxPooling1D(data_format=CF)),
    "GlobalAveragePooling1D keepdims": ((3, 6), lambda: L.GlobalAveragePooling1D(data_format=CF, keepdims=True)),
    "AdaptiveAveragePooling2D 9 × 6 → (4, 4)": ((2, 9, 6), lambda: L.AdaptiveAveragePooling2D(4, data_format=CF)),
    "AdaptiveMaxPooling2D 7 × 5 → (3, 2)": ((3, 7, 5), lambda: L.AdaptiveMaxPooling2D((3, 2), data_format=CF)),
    "AdaptiveAveragePooling1D 10 → 4": ((2, 10), lambda: L.AdaptiveAveragePooling1D(4, data_format=CF)),
    "AdaptiveMaxPooling1D 7 → 3": ((3, 7), lambda: L.AdaptiveMaxPooling1D(3, data_format=CF)),
    "ZeroPadding2D ((1, 2), (0, 1))": ((2, 4, 3), lambda: L.ZeroPadding2D(((1, 2), (0, 1)), data_format=CF)),
    "ZeroPadding1D (2, 1)": ((2, 5), lambda: L.ZeroPadding1D((2, 1), data_format=CF)),
    "Cropping2D ((1, 0), (2, 1))": ((2, 5, 6), lambda: L.Cropping2D(((1, 0), (2, 1)), data_format=CF)),
    "UpSampling2D nearest (2, 3)": ((2, 3, 4), lambda: L.UpSampling2D((2, 3), data_format=CF)),
    "UpSampling2D bilinear": ((2, 3, 4), lambda: L.UpSampling2D(2, interpolation="bilinear", data_format=CF)),
    "Flatten": ((3, 4, 5), lambda: L.Flatten(data_format=CF)),
    "Flatten of a sequence": ((3, 4), lambda: L.Flatten(data_format=CF)),
    "SpatialDropout2D": ((3, 4, 5), lambda: L.SpatialDropout2D(0.5, data_format=CF)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("what", list(CASES))
def test_a_channels_first_layer_is_its_keras_layer(what, dtype):
    shape, make = CASES[what]
    model = build(shape, make, dtype)
    x = np.random.default_rng(33).normal(size=(3, *shape)).astype(dtype)
    expected = keras_reference(model, x)   # its channels-last twin: the same weights, Keras' NHWC kernels
    try:
        direct = keras_outputs(model, x)     # Keras' own channels-first run, where TensorFlow has the kernel
    except Exception:  # noqa: BLE001 — no NCHW kernel here (float64; float32 without oneDNN)
        direct = None
    if direct is not None:                   # the twin is the model: Keras' own run agrees where it runs
        assert_within(direct, expected, tol.LAYER_F32_RTOL * max(1.0, np.abs(expected).max()), f"{what}: twin")
    for sparse in (False, True):
        net = from_keras(model, sparse=sparse)
        rtol = check_rtol(model, net)        # float32's where Keras computes in float32 inside (bilinear)
        assert_within(net.predict(x), expected, rtol * max(1.0, np.abs(expected).max()),
                      f"{what} ({dtype}, sparse={sparse}) vs Keras")
        grid = net.output_grid()
        assert grid == tuple(model.layers[-1].output.shape[1:]), what    # Keras' channels-first grid
        assert net.input_layout == (CF if len(shape) == 3 else "channels_last")


def test_a_channels_first_softmax_activation_runs_over_keras_last_axis():
    # Keras' softmax runs over the output's last axis — the width here, not the channels. Where TensorFlow has an
    # NCHW conv kernel (float32, oneDNN) Keras is the reference; elsewhere the model has no channels-last twin (its
    # softmax axis depends on the layout), the self-check says Keras cannot run it, and the reference is the
    # linear conv's twin with keras.ops.softmax over the last axis
    model = build((2, 5, 6), lambda: L.Conv2D(3, 2, activation="softmax", data_format=CF), "float32")
    x = np.random.default_rng(40).normal(size=(3, 2, 5, 6)).astype(np.float32)
    linear = build((2, 5, 6), lambda: L.Conv2D(3, 2, data_format=CF), "float32")
    expected = np.asarray(keras.ops.softmax(keras_reference(linear, x), axis=-1))
    try:
        np.testing.assert_allclose(keras_outputs(model, x), expected, atol=tol.LAYER_F32_RTOL)
        net = from_keras(model)
    except Exception as error:   # no NCHW kernel on this CPU
        assert "NHWC" in str(error) or "NCHW" in str(error), error
        with pytest.raises(ValueError, match="Keras itself cannot run the model here"):
            from_keras(model)
        net = from_keras(model, check=False)
    assert_within(net.predict(x), expected, tol.LAYER_F32_RTOL, "softmax over the width")


@pytest.mark.parametrize("make, why", [
    (lambda x: L.Dense(2)(L.Conv2D(2, 1, data_format=CF)(x)), "a Dense on a channels-first image"),
    (lambda x: L.Flatten()(L.Reshape((4, 4, 3))(L.Conv2D(3, 1, data_format=CF)(x))), "a Reshape"),
    (lambda x: L.Conv2D(2, 1, data_format=CF, activation="softmax")(x), "a softmax over the width"),
    (lambda x: L.Conv2D(2, 1)(L.Conv2D(4, 1, data_format=CF)(x)), "a channels-last layer among channels-first ones"),
    (lambda x: L.Concatenate(axis=2)([L.Conv2D(3, 1, data_format=CF)(x), x]), "a Concatenate along the height"),
    (lambda x: keras.ops.add(L.Conv2D(3, 1, data_format=CF)(x), 1.0), "a keras.ops node"),
    (lambda x: L.Concatenate(axis=-2)([L.Conv2D(3, 1, data_format=CF)(x), x]), "a Concatenate along axis −2"),
    (lambda x: L.PReLU()(L.Conv2D(2, 1, data_format=CF)(x)), "a PReLU's per-position slopes on an image"),
    (lambda x: L.Activation("softmax")(L.Conv2D(2, 1, data_format=CF)(x)), "a softmax layer over the width"),
])
def test_a_model_whose_meaning_depends_on_the_layout_has_no_twin(make, why):
    # the twin rewrites only what it knows to be layout-free; anything else and there is none (the reference is
    # then Keras' own run)
    x = keras.Input((3, 4, 4))
    assert channels_last_twin(keras.Model(x, make(x))) is None, why
    assert channels_last_twin(keras.Model(x, L.Conv2D(2, 1)(x))) is None       # nothing channels-first: no twin


TWINNED = {   # a channels-first model whose every layer has a channels-last twin: (input shape, model body)
    "BatchNormalization over axis 1 of a sequence": ((3, 9), lambda x: L.BatchNormalization(axis=1)(
        L.Conv1D(2, 3, data_format=CF)(x))),
    "Concatenate over axis −3": ((3, 4, 4), lambda x: L.Concatenate(axis=-3)([L.Conv2D(2, 1, data_format=CF)(x), x])),
    "PReLU on the flat vector": ((3, 4, 4), lambda x: L.PReLU()(L.Flatten(data_format=CF)(
        L.Conv2D(2, 3, data_format=CF)(x)))),
    "PReLU with a shared axis on the flat vector": ((3, 4, 4), lambda x: L.PReLU(shared_axes=[1])(
        L.Flatten(data_format=CF)(L.Conv2D(2, 3, data_format=CF)(x)))),
    "an Activation layer": ((2, 5, 4), lambda x: L.Activation("relu")(L.Conv2D(3, 2, data_format=CF)(x))),
    "an Add of two branches": ((2, 5, 4), lambda x: L.Add()([L.Conv2D(2, 1, data_format=CF)(x), x])),
}


def assert_is_its_twin(model, x):
    """The twin exists, takes (N, *spatial, C) for any N, holds no channels-first layer and no channel axis but the
    last; and the reference computed through it is the NumPy net's value on x (an independent translation:
    hw5.convert.layouts re-indexes the channels-last translations), float32 both."""
    twin = channels_last_twin(model)
    assert twin is not None
    shape = tuple(model.inputs[0].shape)
    assert tuple(twin.inputs[0].shape) == (None, *shape[2:], shape[1])
    for layer in twin.layers:
        config = layer.get_config()
        assert config.get("data_format", "channels_last") == "channels_last", layer.name
        if type(layer).__name__ in ("BatchNormalization", "Concatenate"):
            assert config["axis"] == -1, layer.name
    expected = keras_reference(model, x)
    assert_within(from_keras(model, check=False).predict(x), expected, tol.LAYER_F32_RTOL * np.abs(expected).max(),
                  "the twin's reference vs the NumPy net")


@pytest.mark.parametrize("what", list(TWINNED))
def test_a_layout_free_model_has_a_channels_last_twin(what):
    shape, body = TWINNED[what]
    keras.utils.set_random_seed(48)
    x = keras.Input(shape)
    model = keras.Model(x, body(x))
    assign_normal(model.weights, 49)
    assert_is_its_twin(model, np.random.default_rng(50).normal(size=(3, *shape)).astype(np.float32))


def test_a_twin_is_channels_last_whatever_keras_default_layout():
    # under image_data_format() == "channels_first" (a model ported from PyTorch) a layer built without a
    # data_format is channels-first; its twin must name channels_last, not leave it to the default
    keras.utils.set_random_seed(51)
    before = keras.config.image_data_format()
    keras.config.set_image_data_format(CF)
    try:
        x = keras.Input((3, 5, 6))
        model = keras.Model(x, L.ReLU()(L.Conv2D(2, 3)(x)))
        assert model.layers[1].data_format == CF
        assign_normal(model.weights, 52)
        assert_is_its_twin(model, np.random.default_rng(53).normal(size=(2, 3, 5, 6)).astype(np.float32))
    finally:
        keras.config.set_image_data_format(before)


def test_a_scalar_input_model_has_no_twin():
    x = keras.Input(())
    assert channels_last_twin(keras.Model(x, L.Conv2D(1, 1, data_format=CF)(L.Reshape((1, 1, 1))(x)))) is None


def cf_cnn():
    """A channels-first CNN: conv, BatchNorm over axis 1, ReLU6, max-pool, a residual Add, flatten, dense."""
    keras.utils.set_random_seed(34)
    x = keras.Input((3, 8, 8))
    a = L.Conv2D(4, 3, padding="same", data_format=CF)(x)
    a = L.BatchNormalization(axis=1)(a)
    a = L.ReLU(max_value=6.0)(a)
    b = L.Conv2D(4, 1, data_format=CF)(x)
    a = L.MaxPooling2D(2, data_format=CF)(L.Add()([a, b]))
    a = L.Conv2D(2, 3, data_format=CF, activation="relu")(a)
    out = L.Dense(3, activation="softmax")(L.Flatten(data_format=CF)(a))
    model = keras.Model(x, out)
    assign_normal(model.weights, 35, scale=0.5)
    return model


def test_a_channels_first_cnn_goes_through_relu_only_and_every_export(tmp_path):
    import onnx

    from hw5.convert.export import npz_predict, run_onnx, to_keras, to_nnet, to_npz, to_onnx
    from hw5.convert.relu_only import relu_only

    model = cf_cnn()
    x = np.random.default_rng(36).uniform(0, 1, (5, 3, 8, 8)).astype(np.float32)
    probs = keras_reference(model, x)
    head = model.layers[-1]                       # Dense(3, softmax): the logits are its input times its kernel
    logits = keras_reference(keras.Model(model.inputs[0], head.input), x) @ head.kernel.numpy() + head.bias.numpy()
    net = from_keras(model)
    assert net.input_layout == CF

    def close(ours, theirs, what):
        scale = max(1.0, float(np.abs(theirs).max()))
        assert_within(np.asarray(ours).reshape(theirs.shape), theirs, tol.GRAPH_RTOL["float32"] * scale, what)

    close(run_onnx(to_onnx(net, tmp_path / "graph.onnx"), x), probs, "the graph's ONNX export, onnxruntime")
    close(npz_predict(to_npz(net, tmp_path / "g.npz"), x), probs, "npz")
    flat = relu_only(net)
    assert {type(layer).__name__ for layer in flat.layers} == {"Dense", "ReLU"}
    close(flat.predict(x), logits, "the Dense+ReLU form vs Keras' logits")
    dense = onnx.load(to_onnx(flat, tmp_path / "flat.onnx"))
    assert {n.op_type for n in dense.graph.node} <= {"Gemm", "Relu", "MatMul", "Add"}
    props = {p.key: p.value for p in dense.metadata_props}
    assert props["input_layout"] == "flat, channels-first"
    close(run_onnx(tmp_path / "flat.onnx", x.reshape(len(x), -1)), logits, "the Dense+ReLU ONNX file")
    assert "(N, C, H, W) = (N, 3, 8, 8) batch, channels-first" in to_nnet(flat, tmp_path / "f.nnet").read_text()
    loaded = keras.saving.load_model(to_keras(flat, tmp_path / "flat.keras"))
    assert loaded.inputs[0].name == "flat_3x8x8_chw"
    close(np.asarray(loaded(x.reshape(len(x), -1))), logits, "the Dense-only Keras file")


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7), (4, 1, 1, 2)])
def test_the_permutations_are_numpys_transposes_and_each_others_inverse(shape):
    x = np.random.default_rng(37).normal(size=shape)
    last = np.moveaxis(x, 0, -1)
    np.testing.assert_array_equal(x.ravel()[to_last(shape)], last.ravel())
    np.testing.assert_array_equal(last.ravel()[to_first(last.shape)], x.ravel())


def test_a_translation_whose_layers_cannot_be_re_indexed_is_refused_by_name():
    # every translation of a layer with a data_format starts with a matrix or a window max; one that did not
    # (here a Scale first) would be re-indexed wrong, so it is refused naming the layer and the layer type
    from hw5.convert.layers import Dense, Scale
    from hw5.convert.registry import Source

    layer = L.Conv2D(2, 1, data_format=CF, name="odd")
    src = Source(layer, layer.get_config(), (2, 3, 3), {}, np.dtype("float64"))
    scale = Scale(np.ones(18), np.zeros(18), "s", (3, 3, 2))
    dense = Dense(np.eye(18), np.zeros(18), "d", (3, 3, 2))
    with pytest.raises(ValueError, match=r"^layer 'odd' of type Conv2D: channels_first: its Scale layer cannot be "
                                         r"re-indexed$"):
        channels_first(lambda s: ([scale, dense], (3, 3, 2)), src)
    with pytest.raises(ValueError, match="its Scale layer cannot be re-indexed"):
        channels_first(lambda s: ([dense, scale], (3, 3, 2)), src)   # per-position values after the last matrix


@pytest.mark.parametrize("dims, shape", [((2, 1), (3, 4)), ((3, 1, 2), (2, 3, 4)), ((1, 3, 2), (2, 3, 4)),
                                         ((2, 3, 1), (2, 1, 4)), ((1, 2), (3, 4))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_permute_is_keras_permute(dims, shape, dtype):
    model = keras.Sequential([keras.Input(shape, dtype=dtype), L.Permute(dims, dtype=dtype),
                              L.Flatten(dtype=dtype), L.Dense(3, dtype=dtype)])
    assign_normal(model.weights, 38)
    x = np.random.default_rng(39).normal(size=(4, *shape)).astype(dtype)
    net = from_keras(model)
    expected = keras_outputs(model, x)
    rtol = tol.LAYER_F64_RTOL if dtype == "float64" else tol.LAYER_F32_RTOL
    assert_within(net.predict(x), expected, rtol * max(1.0, np.abs(expected).max()), f"Permute{dims}")
    moved = [type(layer).__name__ for layer in net.layers]
    assert moved == (["Dense"] if dims == tuple(sorted(dims)) else ["Gather", "Dense"])   # the identity: no layer


@pytest.mark.parametrize("n, features", [(3, 5), (1, 4), (4, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_repeat_vector_is_keras_repeat_vector(n, features, dtype):
    # RepeatVector(n): the grid (n, F), each row the input — a Gather, values moved, so equal to Keras exactly;
    # then a Dense reads the (n, F) grid, and the Dense+ReLU form composes the selection into its matrix
    from hw5.convert.relu_only import relu_only

    model = keras.Sequential([keras.Input((features,), dtype=dtype), L.RepeatVector(n, dtype=dtype)])
    x = np.random.default_rng(43).normal(size=(4, features)).astype(dtype)
    net = from_keras(model)
    np.testing.assert_array_equal(net.predict(x).reshape(4, n, features), keras_outputs(model, x))
    assert [type(layer).__name__ for layer in net.layers] == ["Gather"] and net.output_grid() == (n, features)
    head = keras.Sequential([keras.Input((features,), dtype=dtype), L.RepeatVector(n, dtype=dtype),
                             L.Dense(3, dtype=dtype)])
    assign_normal(head.weights, 44)
    expected = keras_outputs(head, x)
    rtol = tol.LAYER_F64_RTOL if dtype == "float64" else tol.LAYER_F32_RTOL
    assert_within(relu_only(from_keras(head)).predict(x), expected, rtol * max(1.0, np.abs(expected).max()),
                  f"RepeatVector({n}) then Dense, Dense+ReLU form")


def test_a_scalar_input_is_refused_as_having_no_features():
    model = keras.Sequential([keras.Input(()), L.Flatten(name="f")])
    with pytest.raises(ValueError, match=r"^model has the input shape \(None,\): no axis besides the batch \(one "
                                         r"number a sample\), so there are no features .*"
                                         r"keras\.Input\(shape=\(1,\)\)"):
        from_keras(model)


@pytest.mark.parametrize("make", [lambda: L.GlobalAveragePooling3D(), lambda: L.GlobalMaxPooling3D(keepdims=True),
                                  lambda: L.GlobalAveragePooling3D(data_format=CF, keepdims=True),
                                  lambda: L.GlobalMaxPooling3D(data_format=CF)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_global_3d_pool_is_its_keras_layer(make, dtype):
    # the one 3-D layer family that comes for free: one window over every position, the 2-D pool on (D·H, W, C)
    model = build((3, 4, 2, 5), make, dtype)
    x = np.random.default_rng(42).normal(size=(3, 3, 4, 2, 5)).astype(dtype)
    net = from_keras(model)
    expected = keras_reference(model, x)
    assert_within(net.predict(x), expected, check_rtol(model, net) * max(1.0, np.abs(expected).max()),
                  f"{model.layers[-1].get_config()}")
    assert net.output_grid() == tuple(model.layers[-1].output.shape[1:])


def test_the_other_3d_layers_are_refused_by_name():
    for layer in (L.Conv3D(2, 2), L.MaxPooling3D(2), L.AveragePooling3D(2), L.ZeroPadding3D(1), L.Cropping3D(1),
                  L.UpSampling3D(2), L.Conv3DTranspose(2, 2), L.AdaptiveAveragePooling3D(2), L.AdaptiveMaxPooling3D(2)):
        model = keras.Sequential([keras.Input((4, 4, 4, 2)), layer])
        with pytest.raises(ValueError, match=rf"of type {type(layer).__name__} has no NumPy translation"):
            from_keras(model)

