# keras.applications as fully-connected networks (issue 20, items 6–8): the opt-in `architectures` tier
# (`make architectures`; excluded from the default run like `slow`). Seven real architectures at 32×32×3 with
# random weights and BatchNorm statistics, converted with sparse=True, against Keras' model(x, training=False)
# one image at a time; float32 within tolerances.ARCHITECTURE_RTOL of the output's scale, the same
# architecture rebuilt in float64 (hw5.compare.float64_twin) within 1e-9. MobileNetV2 at 224×224×3 in ≤ 60 s
# and ≤ 6 GiB. The measured table goes to bench/architectures.json for the report.
import datetime
import json

import numpy as np
import pytest

from hw5.compare import float64_twin
from hw5.deliver.architectures import ARCHITECTURES, JSON_PATH, build, keras_reference, measure_in_subprocess
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, report_section

ROWS: dict = {}
MOBILENET_V2_224_SECONDS = 60          # the issue's budget for converting MobileNetV2 at 224×224×3
MOBILENET_V2_224_PEAK_GIB = 6


def keep_row(name: str, row: dict) -> None:
    # a measured row into bench/architectures.json at once, in the order of ARCHITECTURES, so that the report's
    # table later in the same run reads it as this run's; the file's other rows stay (a partial run, -k, replaces
    # only its own)
    ROWS[name] = row
    merge_rows(JSON_PATH, ROWS, [*ARCHITECTURES, "MobileNetV2@224"])


def merge_rows(path, kept: dict, order) -> None:
    """`kept` (name -> row, this run's) over the rows already in `path`, written back in `order`."""
    old = {r["name"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    merged = {**old, **kept}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([merged[n] for n in order if n in merged], indent=1))


def measured_table(path, how: str, absent: str = "Not measured in this run"):
    """(rows, written this run?, the paragraph saying an earlier run wrote them — [] if this one did) of a
    measured table for the report; None, after saying in the report how to measure it, if `path` is absent."""
    from hw5.deliver import evidence, report

    if not path.exists():
        report_section("arch", report.paragraph(f"{absent}: {how}"), ran=False)
        return None
    fresh = evidence.written_this_run(path)
    written = datetime.datetime.fromtimestamp(path.stat().st_mtime).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    earlier = [] if fresh else [report.paragraph(
        f"Not measured in this run: the table below is from an earlier run, which wrote <code>{path}</code> "
        f"on {written}. {how}")]
    return json.loads(path.read_text()), fresh, earlier


def test_a_measured_row_is_in_the_file_at_once(tmp_path, monkeypatch):
    # each row is written as it is measured, in the order of ARCHITECTURES, beside the file's other rows: the
    # report's table, later in the same run, reads this run's rows from a file this run wrote
    monkeypatch.setattr(f"{__name__}.JSON_PATH", tmp_path / "bench" / "architectures.json")
    monkeypatch.setattr(f"{__name__}.ROWS", {})
    JSON_PATH.parent.mkdir()
    JSON_PATH.write_text(json.dumps([{"name": "VGG16", "from": "earlier"}, {"name": "MobileNet", "from": "earlier"}]))
    keep_row("MobileNet", {"name": "MobileNet", "from": "now"})
    assert json.loads(JSON_PATH.read_text()) == [{"name": "MobileNet", "from": "now"},
                                                 {"name": "VGG16", "from": "earlier"}]
    keep_row("MobileNetV2@224", {"name": "MobileNetV2@224", "from": "now"})
    assert [r["name"] for r in json.loads(JSON_PATH.read_text())] == ["MobileNet", "VGG16", "MobileNetV2@224"]

@pytest.mark.architectures
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_float32_sparse_equals_keras(name):
    # in a fresh process (its own peak memory): convert, compare on 4 images, time batch 32 both ways
    row = measure_in_subprocess(name)
    keep_row(name, row)
    bound = tol.ARCHITECTURE_RTOL["float32"] * row["output_scale"]
    assert row["max_abs_diff"] <= bound, f"{name}: max |Keras − NumPy| {row['max_abs_diff']:.3e} > {bound:.3e}"
    assert row["bytes_per_nonzero"] <= 12


@pytest.mark.architectures
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_float64_equals_keras(name):
    # the same architecture and weights in float64: equal to 1e-9 of the output's scale
    model = float64_twin(build(name))
    x = np.random.default_rng(2).uniform(0, 1, (2, 32, 32, 3))
    expected = keras_reference(model, x)
    actual = from_keras(model, sparse=True).predict(x)
    assert actual.dtype == np.float64
    assert_within(actual, expected, tol.ARCHITECTURE_RTOL["float64"] * np.abs(expected).max(), f"{name} float64")


@pytest.mark.architectures
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_onnx_equals_keras(name, tmp_path):
    # the sparse float32 net written as ONNX (matrices dense as Gemm when the net fits 2 GB dense, else kept as
    # their entries; external data past 2 GB) and run by onnxruntime: equal to Keras on 2 images
    from hw5.convert.export import run_onnx, to_onnx

    model = build(name)
    x = np.random.default_rng(3).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    expected = keras_reference(model, x)
    path = to_onnx(from_keras(model, sparse=True, check=False), tmp_path / f"{name}.onnx")
    assert_within(run_onnx(path, x), expected, tol.ARCHITECTURE_RTOL["float32"] * np.abs(expected).max(),
                  f"{name}: onnxruntime vs Keras")


@pytest.mark.architectures
def test_mobilenet_v2_at_224_converts_in_budget_and_equals_keras():
    # ~301 M multiply-adds, dense ~5,400 GiB: sparse=True in ≤ 60 s and ≤ 6 GiB, equal to Keras on 4 images
    row = measure_in_subprocess("MobileNetV2", 224, images=4, timing=False)
    keep_row("MobileNetV2@224", {**row, "name": "MobileNetV2@224"})
    assert 290e6 < row["nonzeros"] < 310e6
    assert row["convert_seconds"] <= MOBILENET_V2_224_SECONDS
    assert row["peak_gib"] <= MOBILENET_V2_224_PEAK_GIB
    bound = tol.ARCHITECTURE_RTOL["float32"] * row["output_scale"]
    assert row["max_abs_diff"] <= bound


def test_architectures_table_for_the_report():
    # default run: the table `make architectures` measured (bench/architectures.json), one row per architecture;
    # every row within its bound and ≤ 12 bytes per stored entry. Written in this run: its figures (badge "pass");
    # left by an earlier run: the same figures, under when that run wrote them (badge "not run", no key figure);
    # no file: how to measure it ("not run")
    from hw5.deliver import report

    table = measured_table(JSON_PATH, "<code>make architectures</code> converts the seven keras.applications "
                                      "models and writes the table.")
    if table is None:
        return
    rows, fresh, earlier = table
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    report_section("arch", *earlier, report.section(
        "keras.applications (random weights and BatchNorm statistics) as sparse fully-connected networks",
        report.paragraph("Every linear layer is one explicit scipy.sparse CSR matrix holding exactly its multiply-adds "
                         "on real inputs; the network is a graph of such matrices, merges and elementwise steps run "
                         "in topological order. Each row: converted in a fresh process with "
                         "<code>from_keras(model, sparse=True)</code>, compared with Keras on 4 images; timings at "
                         "batch 32 (best of a few rounds, 2 cores shared)."),
        report.table(["model", "input", "Keras layers", "NumPy layers", "matrices", "non-zeros", "bytes / nnz",
                      "convert s", "peak GiB", "max |Keras − NumPy| (of scale)", "Keras ms/img", "NumPy ms/img",
                      "ratio"],
                     [(r["name"], f"{r['size']}²×3", r["keras_layers"], r["numpy_layers"], r["matrices"],
                       f"{r['nonzeros']:,}", f"{r['bytes_per_nonzero']:.2f}", f"{r['convert_seconds']:.1f}",
                       f"{r['peak_gib']:.2f}", f"{r['max_abs_diff']:.1e} ({r['output_scale']:.2g})",
                       fmt(r.get("keras_ms_per_image"), ".2f"), fmt(r.get("numpy_ms_per_image"), ".2f"),
                       fmt(r.get("ratio"), ".1f")) for r in rows],
                     "The NumPy forward pass is one single-threaded sparse matrix product per linear layer (scipy); "
                     "Keras runs fused multi-threaded convolutions. The ratio is bounded by scipy's sparse × dense "
                     "throughput (~1 GFLOP/s here) against oneDNN's convolutions.")),
        key=f"{len(rows)} models" if fresh else None, ran=fresh)
    for r in rows:
        assert r["max_abs_diff"] <= tol.ARCHITECTURE_RTOL["float32"] * r["output_scale"], r
        assert r["bytes_per_nonzero"] <= 12, r


# ---- the onnx wheel's model-zoo CNNs at 224² (hw5.deliver.onnx_zoo): converted sparse from the ONNX file and
# checked against onnxruntime where the estimate fits this machine, else refused with the estimate -------------

ZOO_ROWS: dict = {}


def keep_zoo_row(row: dict) -> None:
    from hw5.deliver.onnx_zoo import JSON_PATH as ZOO_PATH
    from hw5.deliver.onnx_zoo import MODELS

    ZOO_ROWS[row["name"]] = row
    merge_rows(ZOO_PATH, ZOO_ROWS, MODELS)


def _zoo_models():
    from hw5.deliver.onnx_zoo import MODELS

    return list(MODELS)


@pytest.mark.architectures
@pytest.mark.parametrize("name", _zoo_models())
def test_onnx_zoo_model_equals_onnxruntime_or_is_refused_for_memory(name):
    from hw5.deliver.onnx_zoo import measure_in_subprocess as measure_zoo

    row = measure_zoo(name)
    keep_zoo_row(row)
    assert row["multiply_adds"] > 0
    if row["refused"]:
        assert row["estimate_gib"] > row["usable_gib"], row
        return
    assert row["max_abs_diff"] <= tol.ARCHITECTURE_RTOL["float32"] * row["output_scale"], row
    assert row["bytes_per_nonzero"] <= 12, row


def test_onnx_zoo_table_for_the_report():
    # as the keras.applications table: bench/onnx_zoo.json written this run (badge "pass"), by an earlier run
    # (its figures under when, "not run"), or absent (how to measure it, "not run")
    from hw5.deliver import report
    from hw5.deliver.onnx_zoo import JSON_PATH as ZOO_PATH

    table = measured_table(ZOO_PATH, "<code>make architectures</code> converts the onnx wheel's model-zoo CNNs and "
                                     "writes the table.", "The ONNX model zoo: not measured in this run")
    if table is None:
        return
    rows, fresh, earlier = table
    fmt = lambda r, k, f: "—" if r.get(k) is None else format(r[k], f)  # noqa: E731
    report_section("arch", *earlier, report.section(
        "The onnx wheel's model-zoo CNNs at 224×224 (seeded random weights) from their ONNX files",
        report.paragraph("Each model: the memory its sparse matrices need, estimated from the file before any is "
                         "built; past 75 % of this machine's available memory it is refused with that figure. The "
                         "rest: <code>from_onnx(path, sparse=True)</code> in a fresh process (its self-check against "
                         "onnxruntime included), the logits compared with onnxruntime's on 2 images."),
        report.table(["model", "ops", "multiply-adds", "estimate GiB", "outcome", "matrices", "non-zeros",
                      "bytes / nnz", "convert s", "peak GiB", "max |onnxruntime − NumPy| (of scale)",
                      "onnxruntime ms/img", "NumPy ms/img"],
                     [(r["name"], ", ".join(r["ops"]), f"{r['multiply_adds'] / 1e9:.2f} G", f"{r['estimate_gib']:.1f}",
                       f"refused (> {r['usable_gib']:.1f} GiB usable)" if r["refused"] else "converted",
                       fmt(r, "matrices", "d"), fmt(r, "nonzeros", ","), fmt(r, "bytes_per_nonzero", ".2f"),
                       fmt(r, "convert_seconds", ".1f"), fmt(r, "peak_gib", ".2f"),
                       "—" if r["refused"] else f"{r['max_abs_diff']:.1e} ({r['output_scale']:.2g})",
                       fmt(r, "onnxruntime_ms_per_image", ".1f"), fmt(r, "numpy_ms_per_image", ".1f"))
                      for r in rows],
                     "The multiply-adds count the padding taps (an upper bound); a converted model's non-zeros are "
                     "its matrices' stored entries.")),
        key=f"{sum(not r['refused'] for r in rows)} of {len(rows)} zoo models" if fresh else None, ran=fresh)
    for r in rows:
        if not r["refused"]:
            assert r["max_abs_diff"] <= tol.ARCHITECTURE_RTOL["float32"] * r["output_scale"], r
