# Each export is re-read by someone else's code and gives the network's output: ONNX by onnxruntime (and
# onnx.checker), NNet by a small reader written here and by Marabou's reader, the Keras file by
# keras.saving.load_model, the .npz by NumPy alone. Files are written atomically. The heavy runs (Part 2 on
# all 10,000 test images, Part 1's Dense+ReLU form on 1,000) are in the opt-in `heavy` tier.
import time

import numpy as np
import pytest

from hw5.convert.export import atomic_write, npz_predict, run_onnx, to_keras, to_nnet, to_npz, to_onnx
from hw5.convert.export.keras_dense import keras_file_metadata
from hw5.convert.export.onnx_graph import op_types
from hw5.convert.relu_only import logits_model, relu_only
from hw5.numpy_net import from_keras
from tests.helpers import OTHERS, assert_within, keras_outputs
from tests.tolerances import EXPORT_F32_RTOL, MARABOU_EVAL_RTOL, RELU_ONLY_F64_RTOL


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
