# `hw5 convert`: a small saved model converted, lowered and exported, every figure within tolerance (exit 0);
# bad input refused in one line with exit 2 and no file left behind (the whole table, run as a user runs it:
# tests/test_cli.py); the layer table in binary units with its names whole.
import numpy as np
import pytest

from hw5.deliver.cli import main
from tests.helpers import inception_cnn, residual_cnn


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("convert")
    model = keras.Sequential([keras.Input((6, 5, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(folder / "m.keras")
    from tests.test_layouts import cf_cnn

    cf_cnn().save(folder / "cf.keras")
    sigmoid = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid", name="squash")])
    sigmoid.save(folder / "sigmoid.keras")
    (folder / "corrupt.keras").write_bytes(b"not a zip")
    import onnx
    from onnx import helper

    from tests.onnx_models import model as onnx_model
    from tests.onnx_models import resnet_like

    onnx.save(resnet_like(), folder / "resnet.onnx")
    onnx.save(onnx_model([helper.make_node("Exp", ["x"], ["y"], name="expo")], (3,)), folder / "exp.onnx")
    (folder / "corrupt.onnx").write_bytes(b"\x08\x07 not a protobuf of a model")
    return folder


def test_convert_writes_every_export_and_checks_it(saved, tmp_path, capsys):
    out = [f"--{fmt}={tmp_path / f'm.{fmt}'}" for fmt in ("onnx", "nnet", "keras", "npz")]
    assert main(["convert", str(saved / "m.keras"), "--relu-only", "--check", "8", *out]) == 0
    text = capsys.readouterr().out
    assert "non-zeros" in text and "NumPy (logits) on 8 inputs" in text
    assert text.count(": ok") == 5 and "TOO FAR" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.nnet", "m.npz", "m.onnx"]


def test_convert_an_nchw_onnx_model_through_every_export_against_onnxruntime(saved, tmp_path, capsys):
    out = [f"--{fmt}={tmp_path / f'm.{fmt}'}" for fmt in ("onnx", "nnet", "keras", "npz")]
    assert main(["convert", str(saved / "resnet.onnx"), "--relu-only", "--check", "8", *out]) == 0
    text = capsys.readouterr().out
    assert "NumPy (logits) on 8 inputs: max |onnxruntime − it|" in text
    assert text.count(": ok") == 5 and "TOO FAR" not in text
    assert "x.reshape(N, -1) of an (N, C, H, W) = (N, 3, 8, 8) batch, channels-first (NCHW)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.nnet", "m.npz", "m.onnx"]


def test_convert_a_channels_first_keras_cnn_through_every_export(saved, tmp_path, capsys):
    # checked against the model's channels-last twin (TensorFlow's own NCHW conv adds this model's last bias
    # wrong, and has no NCHW kernel at all without oneDNN); every file says its input is channels-first
    out = [f"--{fmt}={tmp_path / f'cf.{fmt}'}" for fmt in ("onnx", "nnet", "keras", "npz")]
    assert main(["convert", str(saved / "cf.keras"), "--relu-only", "--check", "8", *out]) == 0
    text = capsys.readouterr().out
    assert "(Keras: the channels-first model's channels-last twin" in text
    assert text.count(": ok") == 5 and "TOO FAR" not in text
    # said once converted and once a flat file (ONNX, NNet, Keras; the .npz keeps net.input_layout itself)
    assert text.count("x.reshape(N, -1) of an (N, C, H, W) = (N, 3, 8, 8) batch, channels-first (NCHW)") == 4


# Marabou's NNet reader is a Python loop over the weights: the 16×16 ResNet's Dense+ReLU file (width ~2,000)
# takes it ~80 s and ~3.4 GiB, the VGG's ~60 s, so those two run in the heavy tier
@pytest.mark.parametrize("name, order", [
    pytest.param("resnet_nchw.onnx", "(N, C, H, W) = (N, 3, 16, 16)", marks=pytest.mark.heavy),
    pytest.param("vgg_nchw_opset17.onnx", "(N, C, H, W) = (N, 3, 16, 16)", marks=pytest.mark.heavy),
    ("keras_nhwc.onnx", "(N, H, W, C) = (N, 12, 12, 3)")])
def test_convert_an_exporters_file_to_flat_onnx_and_nnet(name, order, tmp_path, capsys):
    # the ONNX-input issue's acceptance run: PyTorch's ResNet- and VGG-style files and tf2onnx's NHWC one
    from pathlib import Path

    path = Path(__file__).parent / "data" / "onnx" / name
    flat = [f"--onnx={tmp_path / 'flat.onnx'}", f"--nnet={tmp_path / 'flat.nnet'}"]
    assert main(["convert", str(path), "--relu-only", "--check", "8", *flat]) == 0
    text = capsys.readouterr().out
    assert text.count(": ok") == 3 and "max |onnxruntime − it|" in text and order in text


@pytest.mark.parametrize("args, message", [
    (["{dir}/missing.keras"], "no such file"),
    (["{dir}/missing.onnx"], "no such file (MODEL is a .keras/.h5/.onnx file, or part1/part2)"),
    (["{dir}/corrupt.onnx"], "error: model file '{dir}/corrupt.onnx' cannot be read as ONNX (truncated or not"),
    (["{dir}/exp.onnx"], "node 'expo' has op type Exp, which has no translation; supported: Add, "),
    (["{dir}/corrupt.keras"], "is corrupt: not a Keras archive"),
    (["{dir}/sigmoid.keras", "--relu-only"], "layer 'squash.sigmoid' (Sigmoid) is not piecewise linear"),
    (["{dir}/m.keras", "--nnet", "{tmp}/m.nnet"], "--nnet needs --relu-only"),
    (["{dir}/m.keras", "--onnx", "{tmp}/no/such/dir/m.onnx"], "does not exist"),
    (["{dir}/m.keras", "--keras", "{tmp}/m.keras"], "has no Dense form"),
])
def test_convert_refuses_bad_input_in_one_line(saved, tmp_path, capsys, args, message):
    argv = ["convert", *(a.format(dir=saved, tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message.format(dir=saved) in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_convert_table_names_whole_sizes_in_binary_units():
    # a name past 40 characters is printed whole, its column as wide; bytes as KiB/MiB/GiB (powers of 2)
    from hw5.convert.estimate import size
    from hw5.deliver.convert_cmd import format_cost_table

    long = "a_dense_layer_whose_name_is_far_longer_than_forty_characters"
    rows = [dict(layer=long, kind="Dense", matrix=(3, 2), nonzeros=6, neurons=2, bytes=3 * 2 ** 20),
            dict(layer="re_lu", kind="ReLU", matrix=None, nonzeros=None, neurons=2, bytes=0)]
    lines = format_cost_table(rows).splitlines()
    assert lines[1].startswith(long + " Dense") and lines[2].startswith("re_lu" + " " * (len(long) - 4) + "ReLU")
    assert lines[0].index("kind") == lines[1].index("Dense") == lines[2].index("ReLU")
    assert lines[1].endswith("3.0 MiB") and "MB" not in format_cost_table(rows).replace("MiB", "")
    assert [size(n) for n in (0, 1536, 2 ** 20, 5 * 2 ** 29)] == ["0.0 KiB", "1.5 KiB", "1.0 MiB", "2.5 GiB"]
    assert "carried" not in lines[0]   # a net that is not relu_only's has no carried neurons


def test_convert_table_of_a_relu_only_net_shows_the_carried_neurons():
    # relu_only's cost table: per layer the neurons that carry other branches through it, a column of its own
    from hw5.deliver.convert_cmd import format_cost_table

    rows = [dict(layer="conv+bn", kind="Dense", matrix=(8, 6), nonzeros=9, neurons=6, bytes=216, carried=4),
            dict(layer="act", kind="ReLU", matrix=None, nonzeros=None, neurons=6, bytes=0, carried=4),
            dict(layer="head", kind="Dense", matrix=(6, 3), nonzeros=18, neurons=3, bytes=84, carried=0)]
    lines = format_cost_table(rows).splitlines()
    assert lines[0].endswith("carried") and [line.split()[-1] for line in lines[1:]] == ["4", "4", "0"]


def test_convert_sparse_only_when_the_converter_has_it(saved, capsys):
    import inspect

    from hw5.numpy_net import from_keras

    code = main(["convert", str(saved / "m.keras"), "--sparse", "--check", "2"])
    if "sparse" in inspect.signature(from_keras).parameters:
        assert code == 0
    else:
        assert code == 2 and "no sparse option" in capsys.readouterr().err
    assert np.isfinite(code)


@pytest.mark.parametrize("build", [residual_cnn, inception_cnn], ids=["residual", "inception"])
def test_convert_graph_to_onnx_and_back(build, tmp_path, capsys):
    # a graph leaves through --onnx (it exited 2 with "layer 'add' of type Merge has no ONNX export"):
    # the file, re-read by onnxruntime, within the tolerance of Keras
    model = build()
    model.save(tmp_path / "g.keras")
    assert main(["convert", str(tmp_path / "g.keras"), "--onnx", str(tmp_path / "g.onnx"), "--check", "8"]) == 0
    text = capsys.readouterr().out
    assert text.count(": ok") == 2 and "TOO FAR" not in text and "onnxruntime, 8 inputs" in text
    assert (tmp_path / "g.onnx").is_file()
