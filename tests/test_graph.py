# Real CNN architectures are fully-connected networks too: random small *graph* CNNs (branches, merges,
# keras.ops nodes, every converter layer) translated by hw5.convert (graph.py, fold.py and the registries)
# against Keras' own model(x, training=False), float32 and float64, dense and sparse, plain and fused.
# Reference: Keras, one image at a time (README, Known issues); bounds from tests/tolerances.py.
import math
import tracemalloc

import keras
import numpy as np
import pytest
from hypothesis import example, given

from hw5.convert.layers import Dense, Scale
from hw5.convert.network import INPUT, NumpyNet
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, example_note, keras_outputs
from tests.strategies import GraphCase, graph_cases

RNG = np.random.default_rng(20)

# The traps, as explicit regressions:
# 'same' Conv2DTranspose with stride 2 and output_padding: Keras' output size (n−1)·s + k − 2·(k//2) + p and
# TF's placement of the kernel (conv2d's 'same' padding on the output grid).
TRANSPOSE_SAME = GraphCase(RNG.normal(size=(2, 3, 4, 2)), (
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=(1, 0)), (-1,)),
), seed=1)
# bilinear upsampling: TF's half-pixel rule clamps at the borders, so every corner copies its input corner.
BILINEAR_CORNERS = GraphCase(RNG.normal(size=(1, 3, 4, 2)), (
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (-1,)),), seed=2)
# depthwise output channel c·m + j (not j·C + c), grouped output channel co reading group co // (C_out/g).
CHANNEL_ORDER = GraphCase(RNG.normal(size=(1, 4, 4, 2)), (
    ("DepthwiseConv2D", dict(kernel_size=2, depth_multiplier=3), (-1,)),
    ("Conv2D", dict(filters=4, kernel_size=1, groups=2), (0,))), seed=3)
# Concatenate keeps its inputs' order, along any axis (here the rows, then the channels).
CONCAT_ORDER = GraphCase(RNG.normal(size=(1, 3, 2, 2)), (
    ("Dense", dict(units=3), (-1,)), ("Concatenate", dict(axis=1), (-1, -1)),
    ("Concatenate", dict(axis=-1), (-1, 0)), ("Cropping2D", dict(cropping=((1, 0), (0, 1))), (2,))), seed=4)
# Normalization divides by max(√variance, 1e-7): a zero variance is not a division by zero.
NORMALIZATION_FLOOR = GraphCase(RNG.normal(size=(1, 2, 2, 3)), (
    ("Normalization", dict(mean=[0.5, -0.25, 0.0], variance=[0.0, 1e-16, 4.0]), (-1,)),), seed=5)
# MobileNetV3's hard-swish: x · ReLU6(x + 3) · (1/6), with keras.ops nodes between layers, and a
# squeeze-and-excite product broadcasting (1, 1, C) over (H, W, C).
HARD_SWISH_SE = GraphCase(RNG.normal(size=(2, 3, 3, 2)) * 4, (
    ("op+", dict(c=3.0), (-1,)), ("ReLU", dict(max_value=6.0), (0,)), ("op*", dict(c=1 / 6), (1,)),
    ("Multiply", {}, (-1, 2)), ("GlobalAveragePooling2D", dict(keepdims=True), (3,)),
    ("Activation", dict(activation="sigmoid"), (4,)), ("Multiply", {}, (3, 5))), seed=6)
TRAPS = [TRANSPOSE_SAME, BILINEAR_CORNERS, CHANNEL_ORDER, CONCAT_ORDER, NORMALIZATION_FLOOR, HARD_SWISH_SE]


def check_graph(case: GraphCase, dtype: str) -> None:
    model = case.build(dtype)
    x = case.x.astype(dtype)
    expected = keras_outputs(model, x)
    rtol = tol.GRAPH_RTOL[dtype]
    if dtype == "float64" and any(kw.get("interpolation") == "bilinear" or kw.get("activation") == "gelu"
                                  for _, kw, _ in case.nodes):
        rtol = tol.KERAS_FLOAT32_INSIDE_F64
    bound = rtol * max(1.0, float(np.abs(expected).max(initial=0.0)))
    for sparse in (False, True):
        for fuse in (False, True):
            net = from_keras(model, sparse=sparse, fuse=fuse)
            actual = net.predict(x)
            assert actual.dtype == np.dtype(dtype)
            assert_within(actual, expected, bound, f"{dtype} NumPy net (sparse={sparse}, fuse={fuse}) vs Keras")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(case=graph_cases())
@example(case=TRANSPOSE_SAME)
@example(case=BILINEAR_CORNERS)
@example(case=CHANNEL_ORDER)
@example(case=CONCAT_ORDER)
@example(case=NORMALIZATION_FLOOR)
@example(case=HARD_SWISH_SE)
def test_random_graph_cnns_match_keras(dtype, case):
    example_note(case.describe())
    check_graph(case, dtype)


def test_bilinear_upsampling_corners_copy_the_input_corners():
    # the exact claim under the trap: weights (1, 0) at the borders, so corners are copies
    net = from_keras(BILINEAR_CORNERS.build("float64"))
    out = net.predict(BILINEAR_CORNERS.x)[0]
    x = BILINEAR_CORNERS.x[0]
    for r, c in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        np.testing.assert_array_equal(out[r, c], x[r, c])


def test_depthwise_output_channel_is_c_times_m_plus_j():
    # a kernel of one tap whose value names (c, j): output channel c·m + j must read input channel c times it
    model = keras.Sequential([keras.Input((1, 1, 2)), keras.layers.DepthwiseConv2D(1, depth_multiplier=3,
                                                                                  use_bias=False)])
    model.layers[0].kernel.assign(np.arange(1, 7, dtype="float32").reshape(1, 1, 2, 3))   # K[c, j] = 3c + j + 1
    out = from_keras(model, sparse=True).predict(np.array([[[[1.0, 10.0]]]], "float32"))
    np.testing.assert_array_equal(out.ravel(), [1, 2, 3, 40, 50, 60])


def _taps_inside(size: int, k: int, s: int, d: int, padding: str) -> int:
    """Σ over output positions of the kernel taps that land inside the input, along one axis (TF's rule)."""
    span = (k - 1) * d + 1
    out = -(-size // s) if padding == "same" else (size - span) // s + 1
    pad = max((out - 1) * s + span - size, 0) // 2 if padding == "same" else 0
    return sum(0 <= i * s + t * d - pad < size for i in range(out) for t in range(k))


@pytest.mark.parametrize("layer, c_in, per_pair", [
    (lambda: keras.layers.Conv2D(6, (3, 2), strides=2, padding="same"), 4, 4 * 6),
    (lambda: keras.layers.Conv2D(6, 3, padding="same", dilation_rate=2, groups=2), 4, 2 * 6),
    (lambda: keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), 4, 4 * 2),
])
def test_sparse_conv_stores_one_entry_per_real_multiply_add(layer, c_in, per_pair):
    # stored entries == the multiply-adds a direct convolution does on real (non-padding) inputs:
    # (taps inside along the rows) · (along the columns) · (channel pairs); ≤ 12 bytes each (int32 indices)
    keras_layer = layer()
    model = keras.Sequential([keras.Input((7, 6, c_in)), keras_layer])
    model.set_weights([np.full(w.shape, 0.5, "float32") for w in model.get_weights()])   # no zero weights
    cfg = keras_layer.get_config()
    (kh, kw), (sh, sw), (dh, dw) = cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"]
    expected = _taps_inside(7, kh, sh, dh, cfg["padding"]) * _taps_inside(6, kw, sw, dw, cfg["padding"]) * per_pair
    W = from_keras(model, sparse=True).layers[0].W
    assert W.format == "csr" and W.nnz == expected
    assert W.indices.dtype == np.int32 and (W.data.nbytes + W.indices.nbytes) / W.nnz <= 12
    assert W.nnz == np.count_nonzero(from_keras(model).layers[0].W)   # the dense matrix has the same entries


def test_dense_build_above_the_limit_is_refused_before_allocating():
    # 64×64×8 → Conv2D(8, 'same'): a 32,768 × 32,768 float32 matrix, 4 GiB
    model = keras.Sequential([keras.Input((64, 64, 8)), keras.layers.Conv2D(8, 3, padding="same", name="big")])
    with pytest.raises(ValueError, match=r"layer 'big' of type Conv2D: its dense 32,768 × 32,768 matrix would take "
                                         r"4\.0 GiB, above the limit of 2\.0 GiB: convert with .*sparse=True"):
        from_keras(model)
    assert from_keras(model, sparse=True).layers[0].W.nnz == 62 * 62 * 9 * 64 + 4 * 62 * 6 * 64 + 4 * 4 * 64
    with pytest.raises(ValueError, match="0.0 GiB"):
        from_keras(keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3, name="big")]), dense_limit=10)
    # the limit is inclusive: a 16 × 4 float32 matrix (256 bytes) builds at dense_limit=256, not at 255
    small = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3, name="small")])
    assert from_keras(small, dense_limit=256).layers[0].W.nbytes == 256
    with pytest.raises(ValueError, match="would take 0.0 GiB"):
        from_keras(small, dense_limit=255)


def test_a_source_without_build_options_builds_dense_within_the_default_limit():
    # a Source built without the options (sparse, limit): a dense matrix, the default limit
    from hw5.convert.registry import DENSE_LIMIT_BYTES, Source, check_dense, matrix

    layer = keras.layers.Dense(2, name="d")
    src = Source(layer, {}, (3,), {}, np.dtype("float32"))
    M = matrix(src, np.array([0, 2]), np.array([1, 0]), [5.0, 7.0], 3, 2)
    assert type(M) is np.ndarray and M.dtype == np.float32
    np.testing.assert_array_equal(M, [[0.0, 5.0], [0.0, 0.0], [7.0, 0.0]])
    check_dense(src, 1, DENSE_LIMIT_BYTES // 4)   # exactly the default limit: accepted
    with pytest.raises(ValueError, match=r"layer 'd' of type Dense: .* above the limit of 2\.0 GiB"):
        check_dense(src, 1, DENSE_LIMIT_BYTES // 4 + 1)
    # GiB are 1024³ bytes in both figures (100 GiB would print as 99.7 in units of 1025³)
    big = Source(layer, {}, (3,), {}, np.dtype("float64"), limit=100 * 1024**3)
    with pytest.raises(ValueError, match=r"its dense 1 × 13,555,990,529 matrix would take 101\.0 GiB, above the "
                                         r"limit of 100\.0 GiB"):
        check_dense(big, 1, 101 * 1024**3 // 8 + 1)


def test_folding_batch_norm_does_not_copy_the_map_to_float64():
    # 32×32×3 → Conv2D(16, 'same') + BatchNormalization: a 201 MB float32 matrix (the issue measured a 1.2 GB
    # peak); folding scales it in place through float64 blocks (hw5.convert.fold.BLOCK_BYTES, 16 MB): no
    # float64 copy (402 MB), no second float32 copy (201 MB)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3, padding="same"),
                              keras.layers.BatchNormalization()])
    matrix = 32 * 32 * 3 * 32 * 32 * 16 * 4
    tracemalloc.start()
    try:
        net = from_keras(model, fuse=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(net.layers) == 1 and net.layers[0].W.nbytes == matrix
    assert peak < 1.5 * matrix, f"peak {peak / 1e6:.0f} MB for a {matrix / 1e6:.0f} MB matrix"


def test_a_shared_output_is_not_folded_into_one_consumer():
    # conv → BN and conv → ReLU: folding BN into the conv would change what the ReLU branch reads
    inp = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    out = keras.layers.Add()([keras.layers.BatchNormalization(name="bn")(conv), keras.layers.ReLU()(conv)])
    model = keras.Model(inp, out)
    model.get_layer("bn").moving_mean.assign([0.5, -0.5])
    for fuse in (False, True):
        net = from_keras(model, dtype="float64", fuse=fuse)
        assert isinstance(net, NumpyNet) and any(isinstance(layer, Scale) for layer in net.layers)
        x = RNG.normal(size=(2, 4, 4, 2))
        assert_within(net.predict(x), keras_outputs(model, x.astype("float32")).astype(np.float64),
                      tol.GRAPH_RTOL["float32"] * 10, "shared conv output")


def test_a_chain_is_the_special_case_of_a_graph():
    # Part 2's architecture (untrained): still [Dense, MaxPool, ReLU, Dense, ReLU, Dense, Softmax], each node
    # reading the one before it
    from hw5.models import build_part2_model

    net = from_keras(build_part2_model())
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "MaxPool", "ReLU", "Dense", "ReLU", "Dense",
                                                              "Softmax"]
    assert net.inputs == [[INPUT], *[[k] for k in range(6)]] and net.output == 6 and isinstance(net.layers[0], Dense)


def test_a_hand_made_graph_outputs_its_last_node_or_the_one_it_names():
    # NumpyNet's defaults (what relu_only builds): no output → the last node, no output_shape → its grid;
    # output names another node, or INPUT the input itself (from_keras sets both; Keras' graphs end at the output)
    from hw5.convert.layers import ReLU

    W1, W2 = np.arange(12.0).reshape(4, 3) - 5, np.arange(6.0).reshape(3, 2) - 2
    layers = [Dense(W1, np.array([1.0, -2.0, 0.5]), "a", (3,)), ReLU("r", (3,)), Dense(W2, np.zeros(2), "b", (2,))]
    x = RNG.normal(size=(5, 4))
    hidden = x @ W1 + [1.0, -2.0, 0.5]
    net = NumpyNet((4,), layers, np.float64)
    assert_within(net.predict(x), np.maximum(hidden, 0) @ W2, tol.GRAPH_RTOL["float64"], "the last node")
    assert net.predict(x).shape == (5, 2)
    x32 = x.astype(np.float32)          # any floating dtype is taken, and cast to the net's
    np.testing.assert_array_equal(net.predict(x32), net.predict(x32.astype(np.float64)))
    first = NumpyNet((4,), layers, np.float64, output_shape=(3, 1), output=0)
    assert_within(first.predict(x), hidden[..., None], tol.GRAPH_RTOL["float64"], "node 0, on the grid asked for")
    identity = NumpyNet((4,), layers, np.float64, output_shape=(2, 2), output=INPUT)
    np.testing.assert_array_equal(identity.predict(x), x.reshape(5, 2, 2))
    with pytest.raises(ValueError, match=r"inputs must list each layer's inputs: got 1 entries for 3 layers"):
        NumpyNet((4,), layers, np.float64, inputs=[[INPUT]])


def test_a_layer_without_a_numpy_node_passes_on_the_node_it_reads():
    # Dropout has no NumPy layer: its output is the node it reads — here the input, after a branch of two
    # convs was translated (whichever order Keras lists the nodes of one depth in, the last node translated
    # before it is a conv); and a merge layer called on one tensor is still a merge (Keras' Add([x]) is x)
    L, f64 = keras.layers, dict(dtype="float64")
    x = keras.Input((3, 3, 2), **f64)
    other = L.Conv2D(2, 1, name="b2", **f64)(L.Conv2D(2, 1, name="b1", **f64)(x))
    model = keras.Model(x, L.Subtract(**f64)([L.Dropout(0.5, **f64)(x), L.Add(**f64)([other])]))
    images = RNG.normal(size=(2, 3, 3, 2))
    expected = keras_outputs(model, images)
    assert_within(from_keras(model).predict(images), expected, tol.GRAPH_RTOL["float64"] * np.abs(expected).max(),
                  "x − b2(b1(x))")


def test_the_nets_dtype_is_its_first_layers_not_its_inputs():
    # a float32 input feeding float64 layers: Keras computes in float64, so does the net
    x = keras.Input((3,), dtype="float32")
    model = keras.Model(x, keras.layers.Dense(2, dtype="float64")(x))
    net = from_keras(model)
    assert net.dtype == np.float64 and net.layers[0].W.dtype == np.float64


def test_consumers_count_the_models_output_as_a_reader():
    # fold merges a linear node into the one it reads only when that one has a single reader: the model's
    # output is a reader too — of the last node by default, of the node `output` names, of none for INPUT
    from hw5.convert.layers import ReLU

    layers = [Dense(np.eye(3), np.zeros(3), "a", (3,)), ReLU("r", (3,)), Dense(np.eye(3), np.zeros(3), "b", (3,))]
    branch = [[INPUT], [0], [0]]                     # a feeds r and b
    assert NumpyNet((3,), layers, np.float64).consumers() == [1, 1, 1]
    assert NumpyNet((3,), layers, np.float64, inputs=branch).consumers() == [2, 0, 1]
    assert NumpyNet((3,), layers, np.float64, inputs=branch, output=0).consumers() == [3, 0, 0]
    assert NumpyNet((3,), layers, np.float64, inputs=branch, output=1).consumers() == [2, 1, 0]
    assert NumpyNet((3,), layers, np.float64, output=INPUT).consumers() == [1, 1, 0]


@pytest.mark.parametrize("build, match", [
    (lambda i: keras.layers.LSTM(2, name="rnn")(keras.layers.Reshape((16, 2))(i)),
     r"layer 'rnn' of type LSTM has no NumPy translation; supported: Activation, .*Conv2DTranspose"),
    (lambda i: keras.ops.sin(i), r"keras\.ops call '\w+' of type Sin has no NumPy translation; supported: Add"),
])
def test_unsupported_nodes_are_refused_by_name_type_and_supported_list(build, match):
    inp = keras.Input((4, 4, 2))
    with pytest.raises(ValueError, match=match):
        from_keras(keras.Model(inp, build(inp)))


def test_dense_on_any_rank_is_the_kernel_at_every_position():
    # Dense on (H, W, C): I ⊗ kernel, as many stored entries as positions × kernel entries
    model = keras.Sequential([keras.Input((2, 3, 4)), keras.layers.Dense(5)])
    net = from_keras(model, sparse=True, dtype="float64")
    assert net.layers[0].W.nnz == 6 * 4 * 5 and math.prod(net.layers[0].out_shape) == 30


@pytest.mark.parametrize("shape", [(7,), (6, 3), (1, 6, 3)])
def test_a_vector_or_a_sequence_input_is_taken_as_keras_shapes_it(shape):
    # the input shape as Keras has it: (n,) an MLP's, (L, C) a Conv1D model's — not read as an (H, W) image
    keras.utils.set_random_seed(5)
    front = [keras.layers.Conv1D(4, 3, padding="same", dtype="float64"), keras.layers.MaxPooling1D(2, dtype="float64"),
             keras.layers.Flatten(dtype="float64")] if len(shape) == 2 else []
    model = keras.Sequential([keras.Input(shape, dtype="float64"), *front,
                              keras.layers.Dense(3, activation="relu", dtype="float64"),
                              keras.layers.Dense(2, dtype="float64")])
    net = from_keras(model)
    assert net.input_shape == shape
    x = RNG.normal(size=(3, *shape))
    assert_within(net.predict(x), keras_outputs(model, x), tol.GRAPH_RTOL["float64"], f"input {shape}")
    with pytest.raises(ValueError, match=rf"x must have shape \(N, {', '.join(map(str, shape))}\)"):
        net.predict(RNG.normal(size=(3, *shape[:-1], shape[-1] + 1)))
    with pytest.raises(TypeError, match="x must hold floating-point values"):
        net.predict(np.zeros((3, *shape), np.int64))


def test_keras_ops_arithmetic_with_constants_is_a_diagonal():
    # x − 2, 1 − x, x / 4 (the keras.ops nodes `-` and `/` make) as Scale layers; 1 / x is refused by name
    inp = keras.Input((2, 2, 1), dtype="float64")
    model = keras.Model(inp, (1.0 - (inp - 2.0)) / 4.0)
    net = from_keras(model)
    assert all(isinstance(layer, Scale) for layer in net.layers) and len(net.layers) == 3
    x = RNG.normal(size=(2, 2, 2, 1))
    assert_within(net.predict(x), keras_outputs(model, x), tol.GRAPH_RTOL["float64"], "x − 2, 1 − x, x / 4")
    with pytest.raises(ValueError, match="of type TrueDivide: only division of a tensor by a non-zero constant"):
        from_keras(keras.Model(inp, 1.0 / inp))


def test_layer_table_and_layer_by_layer_work_on_graphs():
    # MobileNetV3's hard-swish graph: keras.ops nodes are rows of the table (named after the op), the sparse
    # matrices count their stored entries, and layer_by_layer finds every Keras layer within tolerance
    from hw5.compare import layer_by_layer
    from hw5.numpy_net import layer_table

    model = HARD_SWISH_SE.build("float32")
    net = from_keras(model, sparse=True)
    rows = layer_table(net, model)
    assert [row["same"] for row in rows] == [True] * len(net.layers)
    assert rows[0]["kind"] == "Scale" and rows[0]["matrix"].startswith("diagonal")
    diffs, first = layer_by_layer(model, net, HARD_SWISH_SE.x.astype("float32"))
    assert first is None and {d.layer for d in diffs} == {layer.name for layer in model.layers[1:]}


def test_call_arguments_flatten_like_keras_tree():
    # a node's call arguments (args, kwargs) as keras.tree.flatten orders them: nested lists/tuples in order,
    # dict values by sorted key — the positions translate() reads constants from
    from hw5.convert.graph import tree_flatten

    arguments = ([1, (2, [3])], {"b": 5, "a": [4, {"z": 7, "y": 6}]})
    assert tree_flatten(arguments) == keras.tree.flatten(arguments) == [1, 2, 3, 4, 6, 7, 5]
