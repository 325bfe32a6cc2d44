"""The onnx wheel's conformance data as a peer suite of from_onnx: the 82 PyTorch modules the PyTorch team exported
(onnx/backend/test/data/pytorch-converted/, each model.onnx with test_data_set_0/{input_0,output_0}.pb — PyTorch's
own output). Every case converts and equals the stored output, or is refused for one of REFUSALS' documented
reasons; none is wrong, none crashes. The cases are read from the installed wheel, so an onnx upgrade brings its
new ones; OUTCOME counts them for the docs' and the report's table.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from hw5.convert.onnx_in import from_onnx
from hw5.convert.reference import OUTPUT_RTOL

PEER = Path(onnx.__file__).parent / "backend" / "test" / "data" / "pytorch-converted"
CASES = sorted(p.name for p in PEER.iterdir() if (p / "model.onnx").is_file()) if PEER.is_dir() else []

# reason -> the refusal's message (a ValueError from from_onnx): what a user would be doing, and why it is refused
REFUSALS = {
    "3-D convolution or pooling (not supported; 1-D and 2-D are)": r"has a 3-D input .* \(3-D convolution and "
                                                                   r"pooling are not\)",
    "integer input: an embedding lookup, no map of real vectors": r"has element type INT64; float or double",
    "an op without a translation (Exp, Abs: refused by name with the supported list)": r"has op type (Exp|Abs), "
                                                                                       r"which has no translation",
}
# onnxruntime cannot run these (PRelu-6's per-channel slope, lifted to opset 13, no longer broadcasts), so the
# self-check has no reference and refuses; with check=False the net must still equal PyTorch's stored output
NO_REFERENCE = r"onnxruntime cannot run the model, so it has no reference"
OUTCOME: Counter = Counter()


def _tensor(path: Path) -> np.ndarray:
    proto = onnx.TensorProto()
    proto.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(proto)


def _refusal(message: str) -> str | None:
    return next((reason for reason, pattern in REFUSALS.items() if re.search(pattern, message)), None)


def test_the_peer_data_is_there():
    assert len(CASES) >= 80, f"expected the onnx wheel's ~82 pytorch-converted cases in {PEER}, found {len(CASES)}"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pytorch_converted_case_equals_pytorch_or_is_refused_by_name(case, dtype):
    folder = PEER / case
    x, expected = (_tensor(folder / "test_data_set_0" / f"{n}_0.pb") for n in ("input", "output"))
    try:
        net = from_onnx(folder / "model.onnx", dtype=dtype)
        outcome = "ok"
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message.strip(), f"{case}: a refusal is one line, got {message!r}"
        if re.search(NO_REFERENCE, message):
            net, outcome = from_onnx(folder / "model.onnx", dtype=dtype, check=False), "ok, no onnxruntime reference"
        else:
            reason = _refusal(message)
            assert reason is not None, f"{case}: refused for an undocumented reason: {message}"
            OUTCOME[(dtype, f"refused: {reason}")] += 1
            return
    got = net.predict(x.astype(dtype))
    # PyTorch's output is float32: its own rounding is float32's whatever our dtype
    bound = OUTPUT_RTOL[np.dtype(np.float32)] * float(np.abs(expected).max())
    assert got.shape == expected.shape[0:1] + got.shape[1:] and got.size == expected.size, (got.shape, expected.shape)
    diff = float(np.abs(got.reshape(expected.shape).astype(np.float64) - expected).max())
    assert diff <= bound, f"{case} ({np.dtype(dtype).name}): max |ours − PyTorch's| = {diff:.3e} > {bound:.3e}"
    OUTCOME[(dtype, outcome)] += 1


def test_peer_outcome_counts():
    """After the cases (file order): every case accounted for, per dtype, none wrong or crashed (those fail
    above); the counts into the report's architectures section."""
    from hw5.deliver import report
    from tests.helpers import report_section

    if not OUTCOME:
        pytest.skip("the peer cases were not run in this session")
    for dtype in (np.float32, np.float64):
        counted = sum(n for (dt, _), n in OUTCOME.items() if dt is dtype)
        assert counted in (0, len(CASES)), f"{np.dtype(dtype).name}: {counted} of {len(CASES)} cases counted"
    outcomes = sorted({what for _, what in OUTCOME})
    report_section("arch", report.section(
        "ONNX in: the onnx wheel's pytorch-converted cases (PyTorch's own modules and outputs)",
        report.paragraph(f"{len(CASES)} models the PyTorch team exported (Conv1d/2d/3d with groups, dilation and "
                         "padding, ConvTranspose2d, pooling with stride, padding and dilation, BatchNorm, PReLU, the "
                         "padding modules, activations), each converted by <code>from_onnx</code> and compared with "
                         "the output PyTorch stored beside it; a refusal must be one of the documented reasons. "
                         "None is wrong, none crashes (either fails its test)."),
        report.table(["outcome", "float32", "float64"],
                     [(what, OUTCOME[(np.float32, what)], OUTCOME[(np.float64, what)]) for what in outcomes],
                     "ok, no onnxruntime reference: onnxruntime cannot run the file (PRelu-6's per-channel slope "
                     "no longer broadcasts once lifted to opset 13), so the self-check is off and the net is "
                     "compared with PyTorch's stored output alone.")),
        key=f"{sum(n for (dt, w), n in OUTCOME.items() if dt is np.float32 and w.startswith('ok'))} of {len(CASES)} "
            f"PyTorch cases")


# ---- files written by the real exporters (tests/data/onnx, made by tools/make_onnx_fixtures.py): PyTorch 2.13's
# TorchScript exporter (NCHW; BatchNorm folded by it, or kept in the _bn files) and tf2onnx 1.17 from Keras
# (NHWC input, Transposes around the convs); each NAME.npz holds x and the framework's own output y ----------

FIXTURES = Path(__file__).parent / "data" / "onnx"
FILES = sorted(p.name for p in FIXTURES.glob("*.onnx"))
LAYOUT = {"keras_nhwc": "channels_last", "conv1d_nchw": "channels_last"}   # the rest: NCHW images
# the Dense+ReLU form of each file, or why there is none (mixed_nchw's hardswish is x · relu6(x + 3)/6)
NO_DENSE_RELU = {"mixed_nchw": r"not piecewise linear"}


def _stem(name: str) -> str:
    return name.removesuffix(".onnx").removesuffix("_opset17").removesuffix("_bn")


@pytest.mark.parametrize("name", FILES)
def test_an_exporters_file_equals_the_framework_and_goes_dense_relu(name):
    from hw5.convert.relu_only import relu_only

    data = np.load(FIXTURES / f"{_stem(name)}.npz")
    x, y = data["x"], data["y"]
    net = from_onnx(FIXTURES / name)
    assert net.input_layout == LAYOUT.get(_stem(name), "channels_first")
    bound = OUTPUT_RTOL[np.dtype(np.float32)] * float(np.abs(y).max())
    diff = float(np.abs(net.predict(x).reshape(y.shape) - y).max())
    assert diff <= bound, f"{name}: max |ours − the exporting framework's| = {diff:.3e} > {bound:.3e}"
    if _stem(name) in NO_DENSE_RELU:
        with pytest.raises(ValueError, match=NO_DENSE_RELU[_stem(name)]):
            relu_only(net)
        return
    flat = relu_only(net)
    assert {type(layer).__name__ for layer in flat.layers} <= {"Dense", "ReLU"}
    diff = float(np.abs(flat.predict(x).reshape(y.shape) - y).max())   # no softmax in these: the output itself
    assert diff <= bound, f"{name}, Dense+ReLU: max |diff| = {diff:.3e} > {bound:.3e}"


def test_the_fixtures_are_there():
    assert {_stem(n) for n in FILES} == {"resnet_nchw", "vgg_nchw", "mixed_nchw", "conv1d_nchw", "keras_nhwc"}
