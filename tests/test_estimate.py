# hw5.convert.estimate: every output's size said before any work, within ESTIMATE_SIZE_FACTOR of the file
# then written (both ONNX routes: dense Gemm and the sparse column entries); `hw5 convert` prints the estimates
# before converting and writing, and refuses in one line, exit 2, nothing written, when one would exceed the
# memory it may use — the available figure monkeypatched, never allocated.
import pytest

from hw5.deliver.cli import main
from tests.tolerances import ESTIMATE_MEMORY_FACTOR, ESTIMATE_SIZE_FACTOR

FORMATS = ("onnx", "nnet", "keras", "npz")


def small_cnn(shape=(10, 10, 3)):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def form():
    from hw5.convert.relu_only import relu_only
    from hw5.numpy_net import from_keras

    return relu_only(from_keras(small_cnn()))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("estimate")
    small_cnn().save(folder / "m.keras")
    return folder / "m.keras"


def assert_near(what, estimated, real):
    __tracebackhide__ = True
    ratio = estimated / real
    assert 1 / ESTIMATE_SIZE_FACTOR <= ratio <= ESTIMATE_SIZE_FACTOR, \
        f"{what}: estimated {estimated:,} B, written {real:,} B (ratio {ratio:.3f})"


def test_estimate_file_sizes_near_the_written_files(form, tmp_path):
    # each format's estimate against the file the exporter writes from the same Dense+ReLU net
    from hw5.convert import export
    from hw5.convert.estimate import estimate

    rows = [r for r in estimate(form, FORMATS) if r["kind"] == "file"]
    assert [r["output"] for r in rows] == [f"--{fmt}" for fmt in FORMATS]
    for fmt, row in zip(FORMATS, rows, strict=True):
        path = tmp_path / f"m.{fmt}"
        getattr(export, f"to_{fmt}")(form, path)
        assert_near(fmt, row["bytes"], path.stat().st_size)


def test_estimate_onnx_sparse_route_near_the_written_file(form, tmp_path, monkeypatch):
    # past to_onnx's dense limit the matrices are written as column entries (Gather): the estimate follows
    from hw5.convert import estimate as est
    from hw5.convert.export import onnx_graph, to_onnx

    monkeypatch.setattr(onnx_graph, "LIMIT", 1024)
    monkeypatch.setattr(est, "LIMIT", 1024)
    to_onnx(form, tmp_path / "m.onnx")
    assert "Gather" in onnx_graph.op_types(tmp_path / "m.onnx")
    written = sum(p.stat().st_size for p in tmp_path.iterdir())   # past the limit: m.onnx + m.onnx.data
    assert_near("onnx (sparse)", est.onnx_bytes(form), written)


def test_estimate_chain_width_depth_nonzeros(form):
    # the Dense+ReLU row: the widest hidden layer, the Dense count, the stored entries, as the net has them
    from hw5.convert.estimate import estimate
    from hw5.convert.relu_only import cost_table, width_and_depth

    width, depth = width_and_depth(form)
    nnz = sum(r["nonzeros"] for r in cost_table(form) if r["kind"].startswith("Dense"))
    assert estimate(form, ())[0]["what"].startswith(f"width {width:,}, depth {depth}, non-zeros {nnz:,}")


def test_convert_prints_estimates_before_converting_and_writing(saved, tmp_path, capsys, monkeypatch):
    # the from_keras estimate before the conversion, every output's before the check and before any write
    from hw5.convert import export

    seen = {}
    real = export.to_nnet

    def spy(net, path, **kw):
        seen["out"] = capsys.readouterr().out
        seen["files"] = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
        return real(net, path, **kw)

    monkeypatch.setattr(export, "to_nnet", spy)
    assert main(["convert", str(saved), "--relu-only", "--nnet", str(tmp_path / "m.nnet")]) == 0
    text = seen["out"]
    assert text.index("from_keras its matrices") < text.index("converted in")
    assert text.index("re-read by Marabou's NNet reader") < text.index("Keras and NumPy on")
    assert seen["files"] == []


def test_convert_refuses_past_available_memory_and_writes_nothing(saved, tmp_path, capsys, monkeypatch):
    # usable memory (75 % of MemAvailable) set to 20 MiB: from_keras's few KiB fit, Marabou's re-read
    # (144 B a dense weight + 16 MiB) does not → one line naming the way out, exit 2, no file
    from hw5.convert import estimate as est

    monkeypatch.setattr(est, "available_memory", lambda: int(20 * 2 ** 20 / est.MEMORY_SHARE))
    argv = ["convert", str(saved), "--relu-only", "--nnet", str(tmp_path / "m.nnet"), "--npz", str(tmp_path / "m.npz")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "re-read by Marabou's NNet reader (peak memory)" in out
    assert len(err.strip().splitlines()) == 1 and "--nnet re-read by Marabou's NNet reader would need" in err
    assert "--no-reread nnet" in err and "nothing written" in err
    assert list(tmp_path.iterdir()) == []
    # the way out it names works: the file written, not re-read
    assert main([*argv, "--no-reread", "nnet"]) == 0
    assert "not re-read (--no-reread nnet)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nnet", "m.npz"]


def test_convert_refuses_no_reread_of_a_file_not_asked(saved, tmp_path, capsys):
    assert main(["convert", str(saved), "--npz", str(tmp_path / "m.npz"), "--no-reread", "onnx"]) == 2
    assert "--no-reread onnx: no --onnx file is asked for" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


READ = """
import sys
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
fmt, path = sys.argv[1], sys.argv[2]
if fmt == "nnet":
    from maraboupy.MarabouNetworkNNet import MarabouNetworkNNet as read
else:
    import numpy as np
    import onnxruntime
    def read(p):
        s = onnxruntime.InferenceSession(p, providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: np.zeros((4, int(sys.argv[3])), np.float32)})
base = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")   # VmHWM := VmRSS
kept = read(path)
print(rss("VmHWM") - base)
"""


@pytest.mark.heavy
@pytest.mark.parametrize("fmt", ["nnet", "onnx"])
def test_estimate_reread_peak_near_the_readers_own(fmt, tmp_path):
    # each reader's resident memory on a 12×12×3 CNN's file (0.75 M dense weights) in a fresh process: measured
    # NNet 105.7 MB (estimate 1.18×), ONNX 16.1 MB (1.42×); seen red with the factors 14 B a weight and 20×
    import math
    import subprocess
    import sys

    from hw5.convert import export
    from hw5.convert.estimate import estimate
    from hw5.convert.relu_only import relu_only
    from hw5.numpy_net import from_keras

    pytest.importorskip("maraboupy" if fmt == "nnet" else "onnxruntime")
    net = relu_only(from_keras(small_cnn((12, 12, 3))))
    path = tmp_path / f"m.{fmt}"
    getattr(export, f"to_{fmt}")(net, path)
    row = [r for r in estimate(net, [fmt]) if r["what"].startswith("re-read")][0]
    out = subprocess.run([sys.executable, "-c", READ, fmt, str(path), str(math.prod(net.input_shape))],
                         capture_output=True, text=True, check=True).stdout
    measured = int(out.split()[-1])
    ratio = row["bytes"] / measured
    assert 1 / ESTIMATE_MEMORY_FACTOR <= ratio <= ESTIMATE_MEMORY_FACTOR, \
        f"{fmt} re-read: estimated {row['bytes']:,} B, measured {measured:,} B (ratio {ratio:.2f})"
