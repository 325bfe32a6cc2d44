# Each export is re-read by someone else's code and gives the network's output: ONNX by onnxruntime (and
# onnx.checker), NNet by a small reader written here and by Marabou's reader, the Keras file by
# keras.saving.load_model, the .npz by NumPy alone. Files are written atomically. The heavy runs (Part 2 on
# all 10,000 test images, Part 1's Dense+ReLU form on 1,000) are in the opt-in `heavy` tier.
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw5.convert.export import atomic_write, npz_predict, run_onnx, to_keras, to_nnet, to_npz, to_onnx
from hw5.convert.export.keras_dense import keras_file_metadata
from hw5.convert.export.onnx_graph import op_types
from hw5.convert.relu_only import logits_model, relu_only
from hw5.numpy_net import INPUT, from_keras
from tests.helpers import (
    OTHERS,
    Cube,
    assert_exact,
    assert_within,
    example_note,
    inception_cnn,
    keras_outputs,
    one_layer_model,
    residual_cnn,
)
from tests.strategies import graph_cases
from tests.tolerances import EXPORT_F32_RTOL, MARABOU_EVAL_RTOL, ONNX_VS_NUMPY_RTOL, RELU_ONLY_F64_RTOL


@pytest.fixture(scope="module")
def small():
    # conv ('same', relu), BatchNorm after it, a 'same' 3×3 max-pool, a dense softmax: every chain layer kind
    import keras

    model = keras.Sequential([keras.Input((7, 6, 2)), keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(3, 2, padding="same"),
                              keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    rng = np.random.default_rng(0)
    for var in model.variables:
        var.assign(rng.uniform(0.5, 1.5, var.shape) if "variance" in var.path else rng.normal(0, 0.5, var.shape))
    x = rng.random((20, 7, 6, 2)).astype(np.float32)
    return model, x, keras_outputs(model, x), keras_outputs(logits_model(model), x)


def _rtol(reference):
    return EXPORT_F32_RTOL * float(np.abs(reference).max())


def test_onnx_chain_uses_gemm_and_onnx_ops(small, tmp_path):
    model, x, probs, _ = small
    path = to_onnx(from_keras(model), tmp_path / "chain.onnx")
    assert op_types(path) == ["Add", "Flatten", "Gemm", "MaxPool", "Mul", "Relu", "Reshape", "Softmax", "Transpose"]
    assert_within(run_onnx(path, x), probs, _rtol(probs), "onnxruntime vs Keras (softmax)")


def test_onnx_relu_only_uses_gemm_and_relu_only(small, tmp_path):
    # what Dense-only readers load: Gemm (its attributes written out) and Relu on a flat [N, 7·6·2] input, the
    # batch flattened channels-last (x.reshape(N, -1), as the file says; channels-first would be another net)
    import onnx

    model, x, _, logits = small
    path = to_onnx(relu_only(from_keras(model)), tmp_path / "relu.onnx")
    assert op_types(path) == ["Gemm", "Relu"]
    onnx_file = onnx.load(str(path))
    assert [d.dim_value for d in onnx_file.graph.input[0].type.tensor_type.shape.dim] == [0, 84]
    assert all({a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} == dict(
        alpha=1.0, beta=1.0, transA=0, transB=0) for node in onnx_file.graph.node if node.op_type == "Gemm")
    props = {p.key: p.value for p in onnx_file.metadata_props}
    assert props["input_flattening"] == "x.reshape(N, -1) of an (N, H, W, C) batch"
    assert props["input_image_shape"] == "7,6,2" and "x.reshape(N, -1)" in onnx_file.doc_string
    assert_within(run_onnx(path, x), logits, _rtol(logits), "onnxruntime vs Keras logits")
    assert_within(run_onnx(path, x.reshape(len(x), -1)), logits, _rtol(logits), "onnxruntime, flat input")
    channels_first = run_onnx(path, x.transpose(0, 3, 1, 2).reshape(len(x), -1))
    assert np.abs(channels_first - logits).max() > 100 * _rtol(logits), "the order is not channels-last"


def read_nnet(path):
    # the test's own NNet reader, from the format's description (sisl/NNet): (weights, biases, header)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("//")]
    row = lambda i: [float(v) for v in lines[i].rstrip(",").split(",")]  # noqa: E731
    n_layers = int(row(0)[0])
    sizes = [int(v) for v in row(1)]
    header = dict(min=row(3), max=row(4), mean=row(5), range=row(6))
    at, weights, biases = 7, [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        weights.append(np.array([row(at + k) for k in range(fan_out)]).reshape(fan_out, fan_in))
        biases.append(np.array([row(at + fan_out + k)[0] for k in range(fan_out)]))
        at += 2 * fan_out
    assert len(weights) == n_layers and at == len(lines)
    return weights, biases, header


def test_nnet_read_back_by_our_reader_and_marabou(small, tmp_path):
    pytest.importorskip("maraboupy", reason="maraboupy has wheels for CPython 3.11 on x86-64 Linux only")
    from hw5.convert.verify import read_network

    model, x, _, logits = small
    path = to_nnet(relu_only(from_keras(model)), tmp_path / "net.nnet")
    weights, biases, header = read_nnet(path)
    assert "// input [N, 84]: x.reshape(N, -1) of an (N, H, W, C) = (N, 7, 6, 2) batch" in path.read_text()
    assert header == dict(min=[0.0] * 84, max=[1.0] * 84, mean=[0.0] * 85, range=[1.0] * 85)
    a = x.reshape(len(x), -1).astype(np.float64)
    for k, (W, b) in enumerate(zip(weights, biases, strict=True)):
        a = a @ W.T + b
        a = np.maximum(a, 0) if k < len(weights) - 1 else a
    assert_within(a, logits, _rtol(logits), "our NNet reader vs Keras logits")
    marabou = read_network(path)
    theirs = np.stack([marabou.evaluateWithoutMarabou(image.reshape(1, -1))[0].ravel() for image in x])
    assert_within(theirs, logits, _rtol(logits), "Marabou's NNet reader vs Keras logits")


def test_nnet_refuses_a_net_with_max_pooling(small, tmp_path):
    with pytest.raises(ValueError, match=r"must be a Dense/ReLU chain.*layer 2 .* is a Scale"):
        to_nnet(from_keras(small[0]), tmp_path / "net.nnet")
    assert list(tmp_path.iterdir()) == []


def test_keras_export_loads_back(small, tmp_path):
    import keras

    model, x, _, logits = small
    path = to_keras(relu_only(from_keras(model)), tmp_path / "dense.keras")
    # a flat Input and Dense layers only (no Flatten: Dense-only readers refuse it); the order said in the file
    loaded = keras.saving.load_model(path)
    assert {type(layer).__name__ for layer in loaded.layers} == {"Dense"}
    assert loaded.input_shape == (None, 84) and loaded.inputs[0].name == "flat_7x6x2_hwc"
    stated = keras_file_metadata(path)["hw5"]
    assert stated["input_flattening"] == "x.reshape(N, -1) of an (N, H, W, C) batch"
    assert stated["input_image_shape"] == "7,6,2"
    assert_within(keras_outputs(loaded, x.reshape(len(x), -1)), logits, _rtol(logits),
                  "Keras Dense-only model vs Keras logits")


def test_npz_runs_with_numpy_alone(small, tmp_path):
    model, x, probs, logits = small
    assert_within(npz_predict(to_npz(from_keras(model), tmp_path / "chain.npz"), x), probs, _rtol(probs), "npz")
    assert_within(npz_predict(to_npz(relu_only(from_keras(model)), tmp_path / "r.npz"), x), logits, _rtol(logits),
                  "npz, Dense+ReLU (sparse matrices as triplets)")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(tmp_path / "out.onnx", fail)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="does not exist or is not writable"):
        atomic_write(tmp_path / "missing" / "out.onnx", fail)


@pytest.mark.heavy
@pytest.mark.training
def test_onnx_part2_all_test_images(part2, test_images, tmp_path, progress):
    x, _ = test_images
    path = to_onnx(from_keras(part2.model), tmp_path / "part2.onnx")
    progress("onnxruntime: Part 2 on all 10,000 test images")
    started = time.perf_counter()
    theirs = run_onnx(path, x)
    seconds = time.perf_counter() - started
    probs = part2.model.predict(x, batch_size=1000, verbose=0)
    same = float((theirs.argmax(1) == probs.argmax(1)).mean())
    OTHERS["onnx-part2"] = ("onnxruntime", "ONNX (Part 2)", ", ".join(op_types(path)), len(x),
                            float(np.abs(theirs - probs).max()), same, seconds)
    assert same == 1.0
    assert_within(theirs, probs, EXPORT_F32_RTOL, "onnxruntime vs Keras, Part 2 softmax")


@pytest.mark.heavy
@pytest.mark.training
def test_onnx_relu_only_part1_on_1000_images(part1, test_images, tmp_path, progress):
    x = test_images[0][:1000]
    progress("Part 1 as Dense+ReLU → ONNX (1.4 GB) → onnxruntime on 1,000 test images")
    path = to_onnx(relu_only(from_keras(part1.model)), tmp_path / "part1.onnx")
    started = time.perf_counter()
    theirs = run_onnx(path, x, batch_size=250)
    seconds = time.perf_counter() - started
    logits = logits_model(part1.model).predict(x, batch_size=250, verbose=0)
    same = float((theirs.argmax(1) == logits.argmax(1)).mean())
    OTHERS["onnx-part1"] = ("onnxruntime", "ONNX, Dense+ReLU (Part 1)", ", ".join(op_types(path)), len(x),
                            float(np.abs(theirs - logits).max()), same, seconds)
    path.unlink()
    assert same == 1.0
    assert_within(theirs, logits, _rtol(logits), "onnxruntime vs Keras logits, Part 1 Dense+ReLU")


def test_marabou_rtol_is_looser_than_float64():
    # the named tolerances keep their order: Marabou's solver ≥ float32 runtimes ≥ float64 arithmetic
    assert MARABOU_EVAL_RTOL >= EXPORT_F32_RTOL > RELU_ONLY_F64_RTOL


# ---- graphs and every NumPy layer type through ONNX (issue 30 item 3) -------------------------------------

@pytest.mark.parametrize("build", [residual_cnn, inception_cnn], ids=["residual", "inception"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_onnx_graph_cnn_equals_keras(build, sparse, tmp_path):
    # the graph, not the layer list: a branch read from the wrong node is off by O(1); never a Conv. sparse:
    # the matrices kept as their entries (Gather, Mul, ReduceSum), as for a net past 2 GB dense
    model = build()
    x = np.random.default_rng(1).normal(0, 2, (16, *model.input_shape[1:])).astype(np.float32)
    expected = keras_outputs(model, x)
    path = to_onnx(from_keras(model, sparse=sparse), tmp_path / "g.onnx", densify=not sparse)
    ops = op_types(path)
    assert "Conv" not in ops and ("Gather" in ops) == sparse and ("Gemm" in ops) != sparse
    assert {"Add", "Clip"} <= set(ops) if build is residual_cnn else "Concat" in ops
    assert_within(run_onnx(path, x), expected, _rtol(expected), f"onnxruntime vs Keras ({model.name})")


def _layer_cases():
    # one NumPy net per layer type (and per ONNX composition of a type): (id, layer, input grid); the slopes,
    # thresholds and caps are the ones the converter makes (float32-rounded where Keras rounds them)
    from hw5.convert.activations import FUNCTIONS, AlphaELU, Elementwise, LogSoftmax
    from hw5.convert.gathers import Gather, WindowMax
    from hw5.convert.layers import BandedDense, Scale, Sigmoid, Tanh
    from hw5.convert.normalization import LayerNorm, RMSNorm, UnitNorm
    from hw5.convert.onnx_in.ops.resize import LRN
    from hw5.convert.relus import ClippedReLU, PReLU
    from hw5.numpy_net import Dense, MaxPool, ReLU, Softmax

    rng = np.random.default_rng(0)
    img, n = (4, 5, 3), 60
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    cases = [("Dense", Dense(rng.normal(size=(n, 7)), rng.normal(size=7), "d", (7,)), img),
             ("BandedDense", BandedDense(np.kron(np.eye(5), rng.normal(size=(12, 6))), rng.normal(size=30), "bd",
                                         (5, 3, 2)), img),
             ("Scale", Scale(rng.normal(size=n), rng.normal(size=n), "s", img), img),
             ("MaxPool", MaxPool(img, (3, 2), (2, 1), "mp", (2, 5, 3), "same"), img),
             ("MaxPool-global", MaxPool(img, (4, 5), (4, 5), "gmp", (3,)), img),
             ("Softmax", Softmax("sm", img), img), ("LogSoftmax", LogSoftmax("ls", img), img),
             ("ReLU", ReLU("r", img), img),
             ("Sigmoid", Sigmoid("sg", img), img), ("Tanh", Tanh("t", img), img),
             ("PReLU", PReLU(rng.uniform(0, 0.5, n), "p", img), img),
             ("AlphaELU", AlphaELU(0.5, "e", img), img),
             ("LayerNorm", LayerNorm((2,), rng.normal(size=(1, 1, 3)), rng.normal(size=(1, 1, 3)), 1e-3, "ln", img),
              img),
             ("LayerNorm-hw", LayerNorm((0, 1), None, None, 1e-5, "ln2", img), img),
             # rms_scaling: x itself over √(var + ε), γ; over one axis and two, ε large enough to matter
             ("LayerNorm-rms", LayerNorm((2,), rng.normal(size=(1, 1, 3)), None, 1e-3, "ln3", img, True), img),
             ("LayerNorm-rms-hw", LayerNorm((0, 1), rng.normal(size=(4, 5, 1)), None, 0.5, "ln4", img, True), img),
             # GroupNormalization: the height split into 2 groups of 2 rows, statistics over each group's rows,
             # its width and channels, γ and β per row
             ("LayerNorm-group", LayerNorm((1, 2, 3), rng.normal(size=(2, 2, 1, 1)), rng.normal(size=(2, 2, 1, 1)),
                                           1e-3, "gn", img, grid=(2, 2, 5, 3)), img),
             # RMSNormalization over the channels, and over (H, W) with a scale along the grid's last axes
             ("RMSNorm", RMSNorm((2,), rng.normal(size=3), 1e-6, "rms", img), img),
             ("RMSNorm-hw", RMSNorm((0, 1), rng.normal(size=(5, 3)), 0.5, "rms2", img), img),
             # UnitNormalization over (H, C); an ε of 5 clamps ~30 % of the channel norms (median 6 here): ONNX's
             # Max both ways
             ("UnitNorm", UnitNorm((0, 2), 1e-12, "un", img), img),
             ("UnitNorm-eps", UnitNorm((2,), 5.0, "un2", img), img),
             # windows of 3 over the flat input, a padded one (−1) among them: ONNX MaxPool with pads
             ("WindowMax", WindowMax(np.array([[5, 2, 0], [59, 58, -1], [30, -1, -1]]), "wm", (3,)), img),
             # a transpose of the grid (Permute, channels-first flattening) and a selection with a repeat
             ("Gather", Gather(np.arange(n).reshape(img).transpose(2, 0, 1).ravel(), "g", (3, 4, 5)), img),
             ("Gather-select", Gather(np.array([7, 0, 7, 59]), "gs", (4,)), img),
             ("LRN", LRN(3, 0.5, 0.75, 2.0, (4, 5, 3), "lrn", (4, 5, 3)), img)]   # 4 channels first
    for top, slope, theta in [(6.0, 0.0, 0.0), (None, f32(0.3), 0.0), (None, 0.0, 0.5), (6.0, 0.1, 0.5),
                              (4.0, 0.2, 0.0), (None, 0.1, -1.0)]:
        cases.append((f"ClippedReLU-{top}-{slope}-{theta}", ClippedReLU(top, slope, theta, "c", img,
                                                                        cut=f32(theta)), img))
    cases += [(f"Elementwise-{kind}", Elementwise(kind, kind, img), img) for kind in FUNCTIONS]
    return cases


def _merge_cases():
    from hw5.convert.merges import Concat, Merge

    grids = ((4, 5, 3), (1, 1, 3))
    cases = [(f"Merge-{kind}", Merge(kind, grids, "m", (4, 5, 3))) for kind in
             ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Divide")]
    return cases + [("Concat", Concat(2, ((4, 5, 3), (4, 5, 3)), "cat", (4, 5, 6)))]


def _grid_net(layers, inputs, dtype, image=(4, 5, 3)):
    from hw5.numpy_net import NumpyNet

    return NumpyNet(image, layers, np.dtype(dtype), inputs=inputs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", _layer_cases(), ids=lambda c: c[0])
def test_onnx_every_layer_type_equals_numpy(case, dtype, tmp_path):
    # each layer after a Dense (so it reads a computed value): onnxruntime equals net.predict
    from hw5.numpy_net import Dense

    _, layer, grid = case
    rng = np.random.default_rng(2)
    size = int(np.prod(grid))
    first = Dense(np.eye(size) + rng.normal(0, 0.1, (size, size)), rng.normal(size=size), "in", grid)
    net = _grid_net([first, layer], [[INPUT], [0]], dtype, grid)
    x = rng.normal(0, 3, (8, *grid)).astype(dtype)
    expected = net.predict(x)
    path = to_onnx(net, tmp_path / "layer.onnx")
    assert_within(run_onnx(path, x).reshape(len(x), -1), expected.reshape(len(x), -1), _onnx_atol(net, expected),
                  f"onnxruntime vs NumPy ({case[0]}, {dtype})")


def _onnx_atol(net, expected) -> float:
    # ONNX_VS_NUMPY_RTOL of the output's scale; float32's where a float64 net has a gelu (its Erf in float32)
    gelu = any(getattr(layer, "kind", None) == "gelu" for layer in net.layers)
    rtol = ONNX_VS_NUMPY_RTOL["float32" if gelu else np.dtype(net.dtype).name]
    return rtol * max(1.0, float(np.abs(expected).max()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", _merge_cases(), ids=lambda c: c[0])
def test_onnx_every_merge_equals_numpy(case, dtype, tmp_path):
    # two branches of the input, the second pooled to (1, 1, C) for the broadcasting merges: node order matters
    from hw5.numpy_net import Dense, MaxPool

    _, merge = case
    rng = np.random.default_rng(3)
    second = merge.in_shapes[1]
    branch = (Dense(rng.normal(size=(60, 60)), rng.normal(size=60), "b", (4, 5, 3)) if second == (4, 5, 3) else
              MaxPool((4, 5, 3), (4, 5), (4, 5), "gp", second))
    net = _grid_net([Dense(rng.normal(size=(60, 60)), rng.normal(size=60), "a", (4, 5, 3)), branch, merge],
                    [[INPUT], [INPUT], [0, 1]], dtype)
    x = rng.normal(0, 1, (8, 4, 5, 3)).astype(dtype)
    expected = net.predict(x)
    assert_within(run_onnx(to_onnx(net, tmp_path / "m.onnx"), x), expected, _onnx_atol(net, expected),
                  f"onnxruntime vs NumPy ({case[0]}, {dtype})")


def test_onnx_exports_every_numpy_layer_type():
    # every NumPy layer class the converter makes (a dataclass with an out_shape in its layer modules) has an
    # ONNX export, and the cases above try each one
    from hw5.convert.layers import BandedDense
    from hw5.convert.rules import ONNX
    from tests.test_rules import layer_types

    made = layer_types()
    assert {cls for cls in made if next((t for t in cls.__mro__ if t in ONNX), None) is None} == set()
    tried = {type(layer) for _, layer, _ in _layer_cases()} | {type(m) for _, m in _merge_cases()}
    assert made - tried <= {BandedDense}      # a Dense by its class (the same Gemm)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(case=graph_cases(), densify=st.booleans())
def test_onnx_random_graph_cnns_equal_numpy(dtype, case, densify, tmp_path_factory):
    # every drawn graph CNN (branches, merges, keras.ops nodes, every converter layer) exports and runs in
    # onnxruntime equal to net.predict, its matrices dense (Gemm) or kept as entries (Gather)
    example_note(case.describe())
    net = from_keras(case.build(dtype), sparse=not densify, check=False)
    x = case.x.astype(dtype)
    expected = net.predict(x)
    path = to_onnx(net, tmp_path_factory.mktemp("g") / "g.onnx", densify=densify)
    assert_within(run_onnx(path, x).reshape(len(x), -1), expected.reshape(len(x), -1), _onnx_atol(net, expected),
                  f"onnxruntime vs NumPy ({dtype}, densify={densify}; a Dense+ReLU graph's output is flat)")


def test_onnx_refuses_a_layer_type_without_export_by_name(tmp_path):
    # a NumPy layer class with no ONNX entry: refused before anything is written, naming layer and type
    net = _grid_net([Cube("cube", (4, 5, 3))], [[INPUT]], "float32")
    with pytest.raises(ValueError, match="layer 'cube' of type Cube has no ONNX export; exported: .*Merge"):
        to_onnx(net, tmp_path / "c.onnx")
    assert list(tmp_path.iterdir()) == []


def test_onnx_past_the_size_limit_stores_external_data(tmp_path, monkeypatch):
    # a file past protobuf's 2 GB keeps its weights in `<file>.data` beside it, as readable as the file, and runs
    import hw5.convert.export.onnx_graph as onnx_graph

    model = residual_cnn()
    x = np.random.default_rng(4).normal(0, 2, (4, 8, 7, 3)).astype(np.float32)
    net = from_keras(model)
    monkeypatch.setattr(onnx_graph, "LIMIT", 1000)     # the residual CNN's few kB stand for > 2 GB
    path = to_onnx(net, tmp_path / "big.onnx", densify=True)
    data = tmp_path / "big.onnx.data"
    assert data.stat().st_size > 1000 and data.stat().st_mode & 0o777 == path.stat().st_mode & 0o777
    assert_within(run_onnx(path, x), net.predict(x), _onnx_atol(net, net.predict(x)), "external data")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_relu_then_relu6_loads_in_onnxruntime(dtype, tmp_path):
    # onnxruntime fuses Relu → Clip and fails on a Clip with double bounds ("Unexpected data type for Clip 'min'
    # input of 11", found by hypothesis): a float64 net's ReLU6 after a ReLU must still load and equal NumPy
    import keras

    x = keras.Input((2, 2, 1), dtype=dtype)
    model = keras.Model(x, keras.layers.Activation("relu6", dtype=dtype)(keras.layers.Activation("relu",
                                                                                                  dtype=dtype)(x)))
    net = from_keras(model)
    images = np.random.default_rng(8).normal(0, 5, (6, 2, 2, 1)).astype(dtype)
    path = to_onnx(net, tmp_path / "r.onnx")
    assert_within(run_onnx(path, images), net.predict(images), ONNX_VS_NUMPY_RTOL[dtype] * 6,   # of outputs ≤ 6
                  "relu → relu6")


@pytest.mark.parametrize("case", _layer_cases() + [(name, m, (4, 5, 3)) for name, m in _merge_cases()],
                         ids=lambda c: c[0])
def test_npz_stores_every_layer_type_by_its_fields(case, tmp_path):
    # no layer type has an encoding of its own: its dataclass fields are the file, and the net read back is the
    # same net — bit for bit (the same arrays, the same layer code; a BandedDense comes back as the Dense it is,
    # whose one matmul rounds its sums in another order than the bands do); a merge reads a ReLU and the input
    from hw5.convert.export.npz import npz_net

    _, layer, grid = case
    rng = np.random.default_rng(6)
    two = len(getattr(layer, "in_shapes", ())) == 2
    if two:
        from hw5.numpy_net import ReLU

        net = _grid_net([ReLU("first", grid), layer], [[INPUT], [0, INPUT]], "float64", grid)
        layer.in_shapes = (grid, grid)
    else:
        net = _grid_net([layer], [[INPUT]], "float64", grid)
    x = rng.normal(0, 3, (5, *grid))
    back = npz_net(to_npz(net, tmp_path / "one.npz"))
    assert [type(a).__name__ for a in back.layers] == [type(a).__name__.replace("Banded", "") for a in net.layers]
    assert back.inputs == net.inputs and back.output == net.output
    if type(layer).__name__ == "BandedDense":
        assert_within(back.predict(x), net.predict(x), ONNX_VS_NUMPY_RTOL["float64"] * np.abs(net.predict(x)).max(),
                      "the Dense of a BandedDense")
    else:
        np.testing.assert_array_equal(back.predict(x), net.predict(x))


@pytest.mark.parametrize("build", [residual_cnn, inception_cnn], ids=["residual", "inception"])
def test_npz_of_a_graph_equals_keras(build, tmp_path):
    # a graph's branches and merges through the .npz (the file holds each layer's inputs): NumPy alone equals
    # Keras; and its Dense+ReLU chain (relu_only) too
    model = build()
    x = np.random.default_rng(9).normal(0, 1, (4, *model.input_shape[1:])).astype(np.float32)
    expected = keras_outputs(model, x)
    net = from_keras(model)
    assert_within(npz_predict(to_npz(net, tmp_path / "g.npz"), x), expected.reshape(len(x), -1), _rtol(expected),
                  f"npz vs Keras ({model.name})")
    logits = keras_outputs(logits_model(model), x)
    assert_within(npz_predict(to_npz(relu_only(net), tmp_path / "r.npz"), x), logits.reshape(len(x), -1),
                  _rtol(logits), f"npz of the Dense+ReLU chain vs Keras' logits ({model.name})")


def test_npz_refuses_what_it_cannot_store_and_keeps_numpy_scalars(tmp_path):
    # a layer type with no rules (no class to rebuild it from) and a non-net are refused before anything is
    # written; a field holding a NumPy scalar (a slope read off a float32 array) is stored as the number it is
    from hw5.convert.export.npz import npz_net
    from hw5.convert.relus import ClippedReLU

    with pytest.raises(ValueError, match=r"^layer 'cube' of type Cube has no \.npz export$"):
        to_npz(_grid_net([Cube("cube", (4, 5, 3))], [[INPUT]], "float32"), tmp_path / "c.npz")
    with pytest.raises(TypeError, match=r"^net must be a NumpyNet, got dict$"):
        to_npz({}, tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []
    layer = ClippedReLU(np.float32(6.0), np.float32(0.25), 0.0, "c", (4, 5, 3))
    net = _grid_net([layer], [[INPUT]], "float32")
    back = npz_net(to_npz(net, tmp_path / "s.npz"))
    assert (back.layers[0].max_value, back.layers[0].negative_slope) == (6.0, 0.25)
    x = np.random.default_rng(2).normal(0, 4, (3, 4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


def test_npz_keeps_the_output_node_the_dtype_and_the_grids_and_refuses_pickles(tmp_path):
    # what the file says about the graph comes back as it was: an output node that is not the last layer, a
    # float32 net's dtype, grids as tuples; a file holding an object array (a pickle) is refused, not unpickled;
    # a name without .npz is refused by name
    import scipy.sparse as sp

    from hw5.convert.export.npz import npz_net
    from hw5.numpy_net import Dense, ReLU

    rng = np.random.default_rng(3)
    W = rng.normal(size=(60, 6)) * (rng.random((60, 6)) < 0.3)
    W[-1, :], W[:, -1] = 0, 0                           # a sparse matrix's last row and column hold nothing
    layers = [Dense(sp.csr_matrix(W.astype(np.float32)), rng.normal(size=6).astype(np.float32), "d", (2, 3)),
              ReLU("r", (2, 3))]
    net = _grid_net(layers, [[INPUT], [0]], "float32")
    net.output, net.output_shape = 0, (6,)              # the Dense's output, before the ReLU, as a vector
    back = npz_net(to_npz(net, tmp_path / "o.npz"))
    assert back.output == 0 and back.dtype == np.float32 and back.output_grid() == (6,)
    assert type(back.layers[0].out_shape) is tuple and back.layers[0].out_shape == (2, 3)
    assert back.layers[0].W.shape == (60, 6) and sp.issparse(back.layers[0].W)
    x = rng.normal(size=(4, 4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    np.savez(tmp_path / "evil.npz", graph=np.array([{"layers": []}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        npz_net(tmp_path / "evil.npz")
    with pytest.raises(ValueError, match=r"^path must end with \.npz, got '.*o\.zip'$"):
        to_npz(net, tmp_path / "o.zip")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_exponential_caps_at_the_same_point_as_numpy(dtype, tmp_path):
    # exp(min(x, log(max)·(1 − 1e-6))): finite for any input, in NumPy and in the ONNX file alike (a cap past
    # log(max) gives inf in onnxruntime for large x)
    from hw5.convert.activations import Elementwise
    from hw5.convert.network import NumpyNet

    net = NumpyNet((3,), [Elementwise("exponential", "exp", (3,))], dtype)
    x = np.array([[1e4, 1.0, -5.0]], dtype)
    ours, theirs = net.predict(x), run_onnx(to_onnx(net, tmp_path / "exp.onnx"), x)
    assert np.isfinite(ours).all() and np.isfinite(theirs).all()
    assert np.allclose(theirs, ours, rtol=ONNX_VS_NUMPY_RTOL[dtype], atol=0)


def test_a_one_channel_channels_first_net_takes_n_h_w_and_its_npz_keeps_the_layout(tmp_path):
    # a channels-first image of one channel (1, H, W) is also taken as (N, H, W), the same values (H ≠ W, so the
    # message names the axes in order); the .npz stores the layout, and a file written before it had one reads as
    # channels-last (the layout every earlier file had)
    import json

    import keras

    from hw5.convert.export.npz import npz_net

    model = one_layer_model((1, 5, 7), lambda: keras.layers.Conv2D(2, 3, data_format="channels_first"))
    net = from_keras(model, dtype="float64")
    x = np.random.default_rng(37).normal(size=(2, 1, 5, 7))
    assert_exact(net.predict(x[:, 0]), net.predict(x), "(N, H, W) for (N, 1, H, W)")
    with pytest.raises(ValueError, match=r"^x must have shape \(N, 5, 7\) or \(N, 1, 5, 7\) with N >= 1"):
        net.predict(x[:, :, :4])
    back = npz_net(to_npz(net, tmp_path / "cf.npz"))
    assert back.input_layout == "channels_first"
    assert_exact(back.predict(x[:, 0]), net.predict(x), "the .npz net on (N, H, W)")
    with np.load(tmp_path / "cf.npz") as f:
        arrays = dict(f)
    graph = json.loads(str(arrays["graph"]))
    del graph["input_layout"]
    np.savez(tmp_path / "old.npz", **(arrays | {"graph": np.array(json.dumps(graph))}))
    assert npz_net(tmp_path / "old.npz").input_layout == "channels_last"
