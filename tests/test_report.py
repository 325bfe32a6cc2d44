# The report itself: a quick configuration of `hw5 report` must yield HTML with every section, a PDF with
# pages whose text holds the key figures, and a first page that is not blank. Runs last (MODULE_ORDER).
import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.training

# one test per report section, plus the layer benchmarks (cut short) and their summary
QUICK_TESTS = [
    "tests/test_data.py::test_load_fashion_mnist_shapes_and_dtypes",
    "tests/test_training.py::test_part1_reaches_homework_bar",
    "tests/test_training.py::test_part1_gradient_updates_are_recorded_and_real",
    "tests/test_models.py::test_part2_model_order_input_and_size",
    "tests/test_weights.py::test_extract_weights_copies_trained_variables",
    "tests/test_toeplitz.py::test_homework_toeplitz_matrix_shape",
    "tests/test_compare.py::test_part2_trained_and_accuracy_recorded",
    "tests/test_compare.py::test_one_image_same_softmax_float32",
    "tests/test_compare.py::test_all_test_images_same_softmax_float32",
    "tests/test_bench.py::test_bench_conv_layer",
    "tests/test_bench.py::test_bench_matmul_peak",
    "tests/test_bench.py::test_bench_toeplitz_build",
    "tests/test_bench.py::test_bench_summary",
]
SECTIONS = [
    "CS/DS 541 Homework 5", "Environment", "TensorFlow", "SHA-256 t10k-images-idx3-ubyte.gz",
    "Homework evidence at a glance", "Part 1 test accuracy", "Data: Fashion-MNIST, verified",
    "Part 1: our CNN", "first 20 gradient updates", "Part 2: the homework architecture",
    "neurons (our derivation)", "weights extracted from model.trainable_variables",
    "as a dense (Toeplitz) matrix", "Part 2: test image", "all 10,000 test images, float32",
    "Benchmarks: the conv layer as a dense matrix", "matmul peak", "data:image/png;base64,",
]
QUICK_BENCH = ["--benchmark-max-time=0.05", "--benchmark-min-rounds=2", "--benchmark-warmup=off"]


def run_report(out, *args, env=None):
    # `hw5 report` in a fresh process, as a user runs it (shares the model cache: nothing retrains)
    env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "hw5.cli", "report", "--out", str(out), *args],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def quick_report(part1, part2, tmp_path_factory, progress):
    out = tmp_path_factory.mktemp("report")
    progress("generating a quick report in a subprocess (HTML and PDF)")
    done = run_report(out, *QUICK_TESTS, *QUICK_BENCH, "-p", "no:cacheprovider",
                      env={"HW5_BENCH_DIR": str(out / "bench")})
    return out, done


def test_report_html_has_every_section(quick_report, part1):
    out, done = quick_report
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = (out / "report.html").read_text()
    missing = [s for s in SECTIONS if s not in page]
    assert not missing, f"report.html lacks {missing}"
    assert f"{part1.log.test_accuracy:.4f}" in page
    assert not list(out.glob(".report-*")), "temporary files left behind"


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (make setup installs it)")
def test_report_pdf_has_pages_and_key_figures(quick_report, part1):
    out, done = quick_report
    pdf = out / "report.pdf"
    assert pdf.is_file(), done.stdout[-3000:]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 3
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{part1.log.test_accuracy:.4f}" in text                     # Part 1 accuracy
    assert "max |TF − NumPy|" in text or "max |TF - NumPy|" in text    # the equality figures ...
    html = (out / "report.html").read_text()
    diff = re.search(r"one image \(#\d+\): max \|TF − NumPy\| softmax</td><td>([^<]+)</td>", html).group(1)
    assert re.fullmatch(r"\d\.\d{3}e[-+]\d+", diff) and diff in text  # ... with the measured value
    assert "Part 2: test image" in text and "Benchmarks" in text


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils not installed (make setup installs it)")
def test_report_pdf_first_page_is_not_blank(quick_report, tmp_path):
    import matplotlib.image

    out, _ = quick_report
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(out / "report.pdf"),
                    str(tmp_path / "page")], check=True)
    pixels = matplotlib.image.imread(next(tmp_path.glob("page*.png")))[..., :3]
    ink = (pixels.mean(axis=2) < 0.9).mean()
    assert ink > 0.01, f"only {ink:.2%} of page 1 is not white"


def test_report_without_chromium_writes_html_and_says_how(tmp_path):
    done = run_report(tmp_path, "tests/test_data.py::test_preprocess_scales_to_unit_interval",
                      "-p", "no:cacheprovider", env={"HW5_CHROMIUM": "none"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "report.html").is_file() and not (tmp_path / "report.pdf").exists()
    assert "apt-get install -y --no-install-recommends chromium" in done.stdout


def test_report_keeps_the_old_one_when_pytest_cannot_run(tmp_path):
    (tmp_path / "report.html").write_text("previous report")
    done = run_report(tmp_path, "tests/no_such_test_file.py", "-p", "no:cacheprovider")
    assert done.returncode not in (0, 1)
    assert (tmp_path / "report.html").read_text() == "previous report"
    assert not list(tmp_path.glob(".report-*"))
    assert "no report written" in done.stdout
