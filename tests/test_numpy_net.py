# The NumPy network: max-pool by hand (loop and vectorized) against TF, neuron counts derived by our
# shape maths against Keras' output shapes, and bad input rejected.
import math

import keras
import numpy as np
import pytest
from hypothesis import given

import hw5.convert.activations
import hw5.convert.conv
import hw5.convert.fold
import hw5.convert.graph
import hw5.convert.layers
import hw5.convert.linear_maps
import hw5.convert.merges
import hw5.convert.network
import hw5.convert.normalization
import hw5.convert.registry
import hw5.convert.sparse
import hw5.convert.translations
import hw5.homework.forward
import hw5.homework.geometry
import hw5.homework.toeplitz
from hw5.homework.forward import part2_forward
from hw5.models import build_part2_model
from hw5.numpy_net import (
    Dense,
    MaxPool,
    NumpyNet,
    ReLU,
    Scale,
    Softmax,
    banded,
    from_keras,
    layer_table,
    max_pool2d,
    max_pool2d_vectorized,
)
from hw5.toeplitz import conv2d_as_dense
from hw5.weights import extract_weights
from tests import tolerances as tol
from tests.helpers import assert_exact, assert_within, convolution_calls, example_note, imports_and_calls
from tests.strategies import pool_cases


@given(pool_cases())
def test_max_pool2d_matches_tf(case):
    import tensorflow as tf

    x, pool, strides = case
    example_note(f"x {x.shape} {x.dtype}, pool {pool}, strides {strides}")
    expected = tf.nn.max_pool2d(tf.constant(x), pool, strides, "VALID").numpy()
    assert expected.dtype == x.dtype
    # max picks one of the inputs: no rounding, so the results must be identical
    assert_exact(max_pool2d(x, pool, strides), expected, f"loop max-pool, pool {pool}, strides {strides}")


@given(pool_cases())
def test_max_pool2d_loop_equals_vectorized(case):
    x, pool, strides = case
    example_note(f"x {x.shape} {x.dtype}, pool {pool}, strides {strides}")
    assert_exact(max_pool2d_vectorized(x, pool, strides), max_pool2d(x, pool, strides), "vectorized max-pool")


@given(pool_cases())
def test_max_pool_and_relu_commute(case):
    # max is monotone, so MaxPool∘ReLU == ReLU∘MaxPool: the homework's pool-then-ReLU order is no accident
    x, pool, strides = case
    example_note(f"x {x.shape} {x.dtype}, pool {pool}, strides {strides}")
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    assert_exact(relu(max_pool2d(x, pool, strides)), max_pool2d(relu(x), pool, strides), "pool/ReLU order")


def test_max_pool2d_homework_shape():
    x = np.arange(2 * 26 * 26 * 64, dtype=np.float32).reshape(2, 26, 26, 64)
    out = max_pool2d(x)
    assert out.shape == (2, 13, 13, 64)
    assert_exact(out, x[:, 1::2, 1::2, :], "pool of an increasing ramp takes each window's bottom-right")


@pytest.mark.parametrize("fn", [max_pool2d, max_pool2d_vectorized])
@pytest.mark.parametrize("x, kwargs, error, match", [
    (np.zeros((26, 26, 64)), {}, ValueError, r"x must be channels-last \(N, H, W, C\)"),
    (np.zeros((1, 26, 26, 64)), dict(pool_size=0), ValueError, "pool_size must be >= 1"),
    (np.zeros((1, 26, 26, 64)), dict(strides=(2,)), TypeError, "strides must be an int or a pair"),
    (np.zeros((1, 1, 26, 64)), {}, ValueError, "larger than the input height"),
    (np.zeros((1, 26, 1, 64)), {}, ValueError, "larger than the input width"),
    (np.zeros((1, 26, 26, 0)), {}, ValueError, r"x must be channels-last \(N, H, W, C\) with H, W, C >= 1"),
    (np.zeros((1, 0, 26, 1)), dict(padding="same"), ValueError, "with H, W, C >= 1"),
])
def test_max_pool2d_rejects_bad_input(fn, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(x, **kwargs)


@pytest.fixture(scope="module")
def untrained_part2():
    # the homework's Part-2 net with its initial weights, and its translation: built once for the tests below
    # that need only its shapes (the 784 × 43264 conv matrix takes a second to build)
    model = build_part2_model()
    return model, from_keras(model)


def test_neuron_counts_derived_equal_keras_shapes(untrained_part2):
    # our counts come from padding/stride/filters maths; Keras' from its own layers
    model, net = untrained_part2
    counts = {name: (shape, n) for name, shape, n in net.neuron_counts()}
    keras_shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert counts["conv"] == (keras_shapes["conv"], 26 * 26 * 64)
    assert counts["pool"] == (keras_shapes["pool"], 13 * 13 * 64)
    assert counts["relu"] == (keras_shapes["relu"], 10816)
    assert counts["dense"] == (keras_shapes["dense"], 1024)
    assert counts["output"] == (keras_shapes["output"], 10)
    assert [type(layer) for layer in net.layers] == [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax]


@pytest.mark.parametrize("module", [hw5.convert.network, hw5.homework.toeplitz, hw5.homework.geometry,
                                    hw5.homework.forward, hw5.convert.layers, hw5.convert.linear_maps,
                                    hw5.convert.translations, hw5.convert.fold, hw5.convert.sparse,
                                    hw5.convert.graph, hw5.convert.conv, hw5.convert.merges, hw5.convert.activations,
                                    hw5.convert.normalization, hw5.convert.registry])
def test_numpy_path_uses_no_convolution_function(module, untrained_part2):
    # homework rule: the NumPy network, its layers, the Keras translation and the matrix builders call no
    # convolution routine (and import no deep-learning framework)
    imported, called = imports_and_calls(module)
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "torch", "jax")
                or m.startswith(("scipy.signal", "scipy.ndimage"))}, imported
    assert not convolution_calls(called), called
    _, net = untrained_part2
    assert net.layers[0].W.shape == (784, 43264) and net.layers[0].b.shape == (43264,)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_keras_untrained_model_agrees(dtype):
    # fresh random weights: a check of the translation that needs no training
    keras.utils.set_random_seed(1)
    model = build_part2_model(dtype)
    net = from_keras(model)
    assert net.dtype == np.dtype(dtype)
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(dtype)
    expected = np.asarray(model(x))
    bound = tol.SOFTMAX_F32_ONE_IMAGE if dtype == "float32" else tol.SOFTMAX_F64_ALL_IMAGES
    assert_within(net.predict(x), expected, bound, f"untrained {dtype} net")
    assert_within(net.predict(x[..., 0]), expected, bound, "the same, (N, 28, 28) input")


def test_from_keras_general_sequential_with_same_padding_and_stride():
    # not just the homework net: 'same' padding, stride 2, a conv with ReLU, a Dense without activation
    keras.utils.set_random_seed(2)
    model = keras.Sequential([
        keras.Input((9, 7, 2)),
        keras.layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="relu", name="c"),
        keras.layers.MaxPooling2D((2, 2), strides=(1, 2), name="p"),
        keras.layers.Flatten(name="f"),
        keras.layers.Dense(4, name="d"),
        keras.layers.Dense(5, activation="softmax", name="o"),
    ])
    net = from_keras(model)
    x = np.random.default_rng(1).standard_normal((4, 9, 7, 2)).astype(np.float32)
    assert_within(net.predict(x), np.asarray(model(x)), tol.SOFTMAX_F32_ONE_IMAGE, "general net vs Keras")
    counts = {name: shape for name, shape, _ in net.neuron_counts()}
    assert counts["c"] == tuple(model.get_layer("c").output.shape[1:]) == (5, 7, 3)
    assert counts["p"] == tuple(model.get_layer("p").output.shape[1:]) == (4, 3, 3)
    assert math.prod(counts["p"]) == model.get_layer("d").input.shape[1]


def small_cnn():
    # conv (with its ReLU) → BatchNorm after the ReLU (a diagonal) → max-pool → flatten → dense softmax
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((5, 4, 1)), keras.layers.Conv2D(2, 2, activation="relu", name="c"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.MaxPooling2D(2, name="p"),
        keras.layers.Flatten(name="f"), keras.layers.Dense(3, activation="softmax", name="d")])


def test_layer_table_describes_every_layer():
    # the report's per-layer table: matrix size (a diagonal for BatchNorm after a non-linear layer), its
    # non-zeros, the neuron grid we derive beside Keras' own
    model = small_cnn()
    table = layer_table(from_keras(model), model)
    rows = [tuple(row.values()) for row in table]
    assert rows == [
        ("c", "Dense", "20 × 24", 4 * 3 * 2 * 4, (4, 3, 2), 24, (4, 3, 2), True),
        ("c.relu", "ReLU", "—", None, (4, 3, 2), 24, (4, 3, 2), True),
        ("bn", "Scale", "diagonal 24", 24, (4, 3, 2), 24, (4, 3, 2), True),
        ("p", "MaxPool", "—", None, (2, 1, 2), 4, (2, 1, 2), True),
        ("d", "Dense", "4 × 3", 12, (3,), 3, (3,), True),
        ("d.softmax", "Softmax", "—", None, (3,), 3, (3,), True)]
    assert list(table[0]) == ["layer", "kind", "matrix", "nonzeros", "derived", "neurons", "keras", "same"]


def test_layer_table_refuses_a_net_without_its_keras_layers():
    # a hand-made NumpyNet has no Keras layer per NumPy layer (sources): said, not an empty or cut-short table
    model = small_cnn()
    net = from_keras(model)
    hand_made = NumpyNet(net.input_shape, net.layers, net.dtype)
    with pytest.raises(TypeError, match=r"net must be a NumpyNet made by hw5\.numpy_net\.from_keras .* got NumpyNet "
                                        r"with 0 Keras layers for 6 NumPy layers"):
        layer_table(hand_made, model)


def test_banded_net_is_the_same_network():
    # banded() swaps only the image-to-image matrices for BandedDense (the same W, zero blocks skipped)
    from hw5.convert.layers import BandedDense

    model = small_cnn()
    plain = from_keras(model, dtype="float64")
    net = banded(plain)
    assert [type(layer) for layer in net.layers] == [BandedDense, ReLU, Scale, MaxPool, Dense, Softmax]
    assert net.layers[0].W is plain.layers[0].W and net.layers[0].b is plain.layers[0].b
    assert [(layer.name, layer.out_shape) for layer in net.layers] == [(layer.name, layer.out_shape)
                                                                      for layer in plain.layers]
    assert (net.input_shape, net.output_shape, net.keras_outputs, net.sources) == (
        plain.input_shape, plain.output_shape, plain.keras_outputs, plain.sources)
    x = np.random.default_rng(5).random((3, 5, 4, 1))
    assert_within(net.predict(x), plain.predict(x), tol.SOFTMAX_F64_ALL_IMAGES, "banded vs plain network")


def test_from_keras_rejects_unsupported_layers():
    # the message names the layer, its type and what is supported (tests/test_translate.py: more cases)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.CenterCrop(4, 4, name="crop"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="layer 'crop' of type CenterCrop has no NumPy translation; "
                                         "supported: Activation, ActivityRegularization, AdaptiveAveragePooling1D"):
        from_keras(model)


@pytest.mark.parametrize("model", ["model.keras", None, np.zeros(3)])
def test_extract_variables_refuses_what_is_not_a_model(model):
    from hw5.convert.variables import extract_variables

    with pytest.raises(TypeError, match=rf"^model must be a Keras model with trainable_variables, got "
                                        rf"{type(model).__name__}$"):
        extract_variables(model)


@pytest.mark.parametrize("x, error, match", [
    (np.zeros((2, 28, 27)), ValueError, r"x must have shape \(N, 28, 28\) or \(N, 28, 28, 1\)"),
    (np.zeros((28, 28)), ValueError, r"x must have shape"),
    (np.zeros((2, 28, 28, 3)), ValueError, r"x must have shape"),
    (np.zeros((0, 28, 28)), ValueError, r"with N >= 1"),
    (np.zeros((2, 28, 28), np.uint8), TypeError, r"x must hold floating-point values.*got dtype uint8"),
])
def test_predict_rejects_bad_input(x, error, match, untrained_part2):
    _, net = untrained_part2
    with pytest.raises(error, match=match):
        net.predict(x)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "2"])
def test_predict_batch_size_must_be_positive(untrained_part2, batch_size):
    _, net = untrained_part2
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        net.predict(np.zeros((2, 28, 28), np.float32), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 7])
def test_predict_in_batches_is_predict(batch_size):
    # batch_size only bounds memory: any split of the images gives the same probabilities, in order
    model = small_cnn()
    net = from_keras(model, dtype="float64")
    x = np.random.default_rng(6).random((5, 5, 4, 1))
    assert_within(net.predict(x, batch_size=batch_size), net.predict(x), tol.SOFTMAX_F64_ALL_IMAGES,
                  f"batch_size {batch_size}")


def test_hand_made_net_outputs_its_last_layers_grid():
    # a NumpyNet built by hand (no from_keras): output_shape None means the last layer's neuron grid, the
    # dtype that of its first Dense layer
    W1, W2 = np.arange(12.0).reshape(4, 3) / 10, np.ones((3, 2), np.float64)
    net = NumpyNet((2, 2, 1), [Dense(W1, np.zeros(3), "d1", (3,)), ReLU("r", (3,)),
                               Dense(W2, np.ones(2), "d2", (1, 2))])
    out = net.predict(np.ones((2, 2, 2), np.float32))
    assert net.dtype == np.float64 and out.dtype == np.float64 and out.shape == (2, 1, 2)
    assert_within(out, np.full((2, 1, 2), 1 + W1.sum()), tol.CONV_F64_VS_LOOP, "hand-made net")
    # a float32 net casts a float64 batch to float32 before its first layer: every output stays float32
    net32 = NumpyNet((2, 2, 1), [Dense(W1.astype(np.float32), np.zeros(3, np.float32), "d1", (3,)), ReLU("r", (3,))])
    assert [out.dtype for out in net32.forward(np.ones((2, 2, 2, 1)))] == [np.float32, np.float32]


def test_from_keras_translates_a_saved_and_loaded_model(tmp_path):
    # what the cache hands the tests and the report: a Sequential model loaded from a .keras file, whose
    # layers' symbolic inputs are not wired to each other — still the same network
    model = small_cnn()
    model.save(tmp_path / "small.keras")
    loaded = keras.models.load_model(tmp_path / "small.keras")
    x = np.random.default_rng(9).random((2, 5, 4, 1)).astype(np.float32)
    assert_exact(from_keras(loaded).predict(x), from_keras(model).predict(x), "loaded vs in-memory model")


def test_model_without_a_channel_axis_takes_its_input_as_keras_does():
    # a Keras model on (H, W) inputs (no channel axis) becomes a net on the same (H, W) shape — which a Conv1D
    # model reads as (L, C) — taking (N, H, W) and, like the Keras model, nothing else
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.Flatten(), keras.layers.Dense(3)])
    net = from_keras(model, dtype="float64")
    assert net.input_shape == (5, 4)
    x = np.random.default_rng(8).random((2, 5, 4))
    expected = np.asarray(model(x, training=False), np.float64)
    assert_within(net.predict(x), expected, tol.LAYER_F32_RTOL * np.abs(expected).max(), "(H, W) model")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 5, 4\) with N >= 1, got \(2, 5, 4, 1\)"):
        net.predict(x[..., None])


def test_the_grey_image_shortcut_is_for_one_channel_only():
    # (N, H, W) stands for (N, H, W, 1); a net of C = 2 channels whose first layer is not a Dense (nothing would
    # catch a wrong width there) refuses an (N, H, W) batch with our message, in forward() and predict(), instead
    # of NumPy's reshape error from inside the pooling
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.MaxPooling2D(), keras.layers.ReLU()])
    net = from_keras(model)
    assert not isinstance(net.layers[0], Dense)
    x = np.random.default_rng(10).normal(size=(3, 4, 4)).astype(np.float32)
    for call in (net.forward, net.predict):
        with pytest.raises(ValueError, match=r"^x must have shape \(N, 4, 4, 2\) with N >= 1, got \(3, 4, 4\)$"):
            call(x)


def test_a_net_without_layers_is_the_identity_in_its_dtype():
    # a Keras model of identities only (Dropout, Flatten) is a net with no layers: the input, flattened, in
    # the net's dtype
    model = keras.Sequential([keras.Input((3, 2, 1)), keras.layers.Dropout(0.5), keras.layers.Flatten()])
    net = from_keras(model, dtype="float64")
    assert net.layers == [] and net.output_shape == (6,)
    x = np.random.default_rng(7).random((2, 3, 2, 1)).astype(np.float32)
    assert_exact(net.predict(x), x.reshape(2, 6).astype(np.float64), "identity net")
    hand_made = NumpyNet((3, 2, 1), [], "float64", (6,))     # the homework's NumpyNet itself, not a graph
    assert_exact(hand_made.predict(x), x.reshape(2, 6).astype(np.float64), "hand-made net without layers")
    as_input = NumpyNet((3, 2, 1), [], "float64")           # no output shape: the output is the input, its grid
    assert_exact(as_input.predict(x), x.astype(np.float64), "net without layers nor output shape")


def test_part2_forward_written_out_is_the_part2_net_layer_by_layer():
    # hw5.homework.forward.part2_forward — the script's Part 2 (3) — on the Part-2 net with random weights and
    # biases (Keras starts biases at 0, which would hide a dropped `+ b`), float64: every layer's output against
    # Keras' own layer outputs, for (N, 28, 28, 1) and (N, 28, 28) images; `conv=` replaces the conv matrix
    model = build_part2_model("float64")
    rng = np.random.default_rng(11)
    for variable in model.weights:
        variable.assign(rng.normal(scale=0.1, size=variable.shape))
    weights = extract_weights(model)
    x = rng.random((3, 28, 28, 1))
    outs = part2_forward(x, weights)
    probe = keras.Model(model.inputs[0], [layer.output for layer in model.layers])
    for layer, expected in zip(model.layers, probe(x), strict=True):
        expected = np.asarray(expected)
        assert_within(outs[layer.name], expected, tol.LAYER_F64_RTOL * np.abs(expected).max(),
                      f"part2_forward's {layer.name} vs Keras'")
    assert_within(outs["output"].sum(axis=1), np.ones(3), tol.SOFTMAX_F64_ALL_IMAGES, "softmax rows sum to 1")
    W, b = conv2d_as_dense(weights["conv/kernel"], weights["conv/bias"], (28, 28, 1))   # = the loop's (test_toeplitz)
    assert_exact(part2_forward(x[..., 0], weights, (W, b))["output"], outs["output"], "(N, 28, 28) images")
    doubled = part2_forward(x, weights, (2 * W, 2 * b))["conv"]          # doubling is exact in floating point
    assert_exact(doubled, 2 * outs["conv"], "conv= is the conv layer used")
    weights32 = {name: w.astype(np.float32) for name, w in weights.items()}
    assert {out.dtype for out in part2_forward(x, weights32).values()} == {np.dtype(np.float32)}   # the weights'
    # logits in the thousands whose row maxima lie > 745 apart (exp underflows to 0 below −745): the softmax
    # needs the shift by each row's own max — by none it overflows, by the batch's max a row turns 0/0
    big = dict(weights, **{"output/kernel": weights["output/kernel"] * 5000.0})
    logits = outs["dense"] @ big["output/kernel"] + big["output/bias"]
    assert np.ptp(logits.max(axis=1)) > 745 and logits.max() > 710, "the precondition of this check"
    model.get_layer("output").kernel.assign(big["output/kernel"])
    expected = np.asarray(model(x))
    assert_within(part2_forward(x, big, (W, b))["output"], expected, tol.SOFTMAX_F64_ALL_IMAGES,
                  "softmax of huge logits")


def test_print_net_summarises_layers_shapes_and_non_zeros(untrained_part2):
    # print(net) is one line per layer with its grid and, for a matrix, its shape and stored non-zeros —
    # not the matrices themselves; a sparse net counts its stored entries
    model, net = untrained_part2
    lines = repr(net).splitlines()
    assert lines[0] == "NumpyNet(input (28, 28, 1), float32, 7 layers)"
    W = net.layers[0].W
    assert lines[1].split() == ["Dense", "conv", "->", "(26,", "26,", "64)", "784", "x", "43264,",
                                f"{np.count_nonzero(W):,}", "non-zeros"]
    assert lines[2].split() == ["MaxPool", "pool", "->", "(13,", "13,", "64)"]
    assert [line.split()[:2] for line in lines[3:]] == [["ReLU", "relu"], ["Dense", "dense"], ["ReLU", "dense.relu"],
                                                        ["Dense", "output"], ["Softmax", "output.softmax"]]
    assert len(repr(net)) < 1000
    sparse = from_keras(model, sparse=True)
    assert repr(sparse).splitlines()[1].split()[-2] == f"{sparse.layers[0].W.nnz:,}" == f"{26 * 26 * 64 * 9:,}"
    scaled = NumpyNet((2, 1, 1), [Scale(np.array([0.0, 2.0]), np.zeros(2), "bn", (2,))], "float64")
    assert repr(scaled).splitlines()[1].split()[-4:] == ["(2,)", "2,", "1", "non-zeros"]   # its diagonal d


def test_a_net_keeps_only_the_values_still_to_be_read():
    # predict drops each layer's output after its last reader: a chain of DEPTH Dense layers holds about two layer
    # outputs at once (the one it reads and the one it writes), never all DEPTH of them — measured by tracemalloc,
    # which NumPy reports its array buffers to
    import tracemalloc

    width, depth, n = 256, 8, 512
    # layer outputs held at once, at most: measured 2.06 (two outputs, plus the small objects tracemalloc also
    # counts); keeping every output would be 8.06 (depth); 3 leaves room for a temporary without nearing depth
    at_once = 3
    rng = np.random.default_rng(11)
    net = NumpyNet((width,), [Dense(rng.normal(size=(width, width)) / 16, np.zeros(width), f"d{k}", (width,))
                              for k in range(depth)])
    x = rng.normal(size=(n, width))                   # allocated before tracing: not counted
    tracemalloc.start()
    try:
        net.predict(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= at_once * x.nbytes, f"predict held {peak / x.nbytes:.2f} layer outputs at once, more than {at_once}"


def test_a_net_refuses_what_is_not_a_network():
    # the input layout is one of two; a layer appended after the net was built (no inputs entry for it) is an
    # error when the net runs, never a layer silently left out
    with pytest.raises(ValueError, match=r"^input_layout must be one of \('channels_last', 'channels_first'\), "
                                         r"got 'NCHW'$"):
        NumpyNet((2, 2, 1), [], "float64", input_layout="NCHW")
    net = NumpyNet((3,), [ReLU("r", (3,))], "float64")
    net.layers.append(ReLU("r2", (3,)))
    with pytest.raises(ValueError, match="zip"):
        net.predict(np.ones((1, 3)))
