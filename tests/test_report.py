# The report itself: a quick configuration of `hw5 report` must yield the grader's document — every homework
# heading, the authors, the code, Part 2's summary, the derived neuron counts — within the page budget, with
# working links and no blank or half-empty pages. Runs last (MODULE_ORDER).
import json
import os
import re
import shutil
import subprocess
import sys
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pytest

from tests import early

pytestmark = pytest.mark.training

# at least one test per report section, plus the layer benchmarks cut short and their summary
QUICK_TESTS = [
    "tests/test_data.py::test_load_fashion_mnist_shapes_and_dtypes",
    "tests/test_training.py::test_part1_reaches_homework_bar",
    "tests/test_training.py::test_part1_gradient_updates_are_recorded_and_real",
    "tests/test_models.py::test_part2_model_order_input_and_size",
    "tests/test_compare.py::test_part2_trained_and_accuracy_recorded",
    "tests/test_weights.py::test_extract_weights_copies_trained_variables",
    "tests/test_compare.py::test_part2_numpy_network_is_fully_connected",
    "tests/test_compare.py::test_part2_forward_written_out_equals_the_general_network",
    "tests/test_compare.py::test_part2_conv_layer_as_fully_connected_layer",
    "tests/test_compare.py::test_one_image_same_softmax",
    "tests/test_compare_layers.py::test_part2_chosen_image_layer_by_layer",
    "tests/test_compare_layers.py::test_part1_layer_table_neurons_derived_equal_keras",
    "tests/test_bench.py::test_bench_conv_layer",
    "tests/test_bench.py::test_bench_matmul_peak",
    "tests/test_bench.py::test_bench_toeplitz_build",
    "tests/test_bench.py::test_bench_summary",
]
USERS = ["Ada", "grace_h-2"]
QUICK_BENCH = ["--benchmark-max-time=0.05", "--benchmark-min-rounds=2", "--benchmark-warmup=off"]
# what a grader must find in the hand-in PDF's text: the code that converts and computes, what the script prints
# (Part 2's summary with its parameter counts, the weights, the neuron counts derived from padding, stride and
# filters, the updates, the accuracy)
PDF_MUST_HOLD = [
    "def conv2d_as_dense_loop(", "def part2_forward(", "def max_pool2d(", "def derive_output_shape(",
    "def extract_weights(", "def build_part2_model(", "def build_part1_model(", "def fit(", "def unsure_image(",
    "Total params: 11,087,498", "10,250", "conv/kernel", "in all", "20: batch loss",
    "Part 1 (a): test accuracy", "⌊(28 − 3 + 2·0) / 1⌋ + 1 = 26", "neurons: 26 · 26 · 64 = 43,264",
    "neurons: 13 · 13 · 64 = 10,816", "max |TensorFlow - NumPy| =",
]
FULL_MUST_HOLD = ["def conv2d_as_dense(", "def toeplitz_indices(", "def _run(", "Appendix — every test"]
HANDIN_PAGES, ALL_PAGES = 6, 16   # page budgets: the hand-in PDF (graded items only); the full report
ROOT = Path(__file__).resolve().parent.parent   # QUICK_TESTS are relative to it
AFTER_HOMEWORK_ID, AFTER_HOMEWORK = "p1-fc", "Part 1's CNN as a fully-connected network too"  # after Part 2 (5)


def report_command(out, *args) -> list[str]:
    # `hw5 report` in a fresh process, as a user runs it (shares the model cache: nothing retrains)
    return [sys.executable, "-m", "hw5.deliver.cli", "report", "--out", str(out), *args]


def run_report(out, *args, env=None):
    return subprocess.run(report_command(out, *args), capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=900)


def prepare_quick_report(workdir):
    out = workdir / "report"
    users = [arg for name in USERS for arg in ("--user", name)]
    return (report_command(out, *users, *QUICK_TESTS, *QUICK_BENCH, "-p", "no:cacheprovider"), ROOT,
            {"HW5_BENCH_DIR": str(out / "bench")})


# started by conftest.py as soon as both trained models are there (tests/early.py), it runs beside the suite
early.register("quick-report", fixture="quick_report", prepare=prepare_quick_report, needs=("part1", "part2"))


@pytest.fixture(scope="module")
def quick_report(part1, part2, progress):
    progress("waiting for the quick report (HTML and PDF; started early in a subprocess)")
    workdir, done = early.result("quick-report")
    return workdir / "report", done


def pdf_text(pdf, first=None, last=None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_report_html_has_every_section(quick_report, part1):
    from hw5.deliver.report import ITEMS

    out, done = quick_report
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = (out / "report.html").read_text()
    wanted = ["CS/DS 541 Homework 5 — Ada, grace_h-2", *(html_escape(h) for _, h, _ in ITEMS), "Appendix — every test",
              "Time budget", "training, Part 1", "the ten slowest tests"]
    missing = [s for s in wanted if s not in page]
    assert not missing, f"report.html lacks {missing}"
    assert "author not set" not in page
    assert f"{part1.log.test_accuracy:.4f}" in page
    assert not list(out.glob(".report-*")) and not list(out.glob(".homework-*")), "temporary files left behind"
    assert (out / "homework.html").is_file()
    meta = json.loads((out / "report.json").read_text())
    assert meta["users"] == USERS and meta["pytest_exit_code"] == 0 and meta["pdf"] is True


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (make setup installs it)")
def test_report_pdf_holds_the_homework_and_its_code(quick_report, part1):
    from hw5.deliver.report import HOMEWORK_ITEMS, ITEMS

    out, done = quick_report
    pdf = out / "report.pdf"
    assert pdf.is_file(), done.stdout[-3000:]
    text = pdf_text(pdf)
    flat = " ".join(text.split())                                     # headings may wrap in the layout
    missing = [h for item, h, _ in ITEMS if item in HOMEWORK_ITEMS and " ".join(h.split()) not in flat]
    assert not missing, f"the PDF lacks the headings {missing}"
    assert "CS/DS 541 Homework 5 — Ada, grace_h-2" in flat
    missing = [s for s in FULL_MUST_HOLD if s not in text]
    assert not missing, f"the PDF lacks {missing}"
    assert f"{part1.log.test_accuracy:.4f}" in text                   # Part 1 accuracy
    assert re.search(r"\d+ passed, 0 failed", text)                    # the verdict on page 1


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (make setup installs it)")
def test_handin_pdf_holds_the_graded_items_only(quick_report, part1):
    # the homework view of the same run: every graded heading, what the script prints and the code, nothing
    # ungraded, no badges or test counts in the body (one closing line names the full report's count)
    from hw5.deliver.report import HOMEWORK_ITEMS, ITEMS

    out, done = quick_report
    pdf, page = out / "homework.pdf", (out / "homework.html").read_text()
    assert pdf.is_file(), done.stdout[-3000:]
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    missing = [h for item, h, _ in ITEMS if item in HOMEWORK_ITEMS and " ".join(h.split()) not in flat]
    assert not missing, f"the hand-in PDF lacks the headings {missing}"
    assert "CS/DS 541 Homework 5 — Ada, grace_h-2" in flat
    missing = [s for s in PDF_MUST_HOLD if s not in text]
    assert not missing, f"the hand-in PDF lacks {missing}"
    assert f"{part1.log.test_accuracy:.4f}" in text
    ungraded = [h for item, h, _ in ITEMS if item not in HOMEWORK_ITEMS] + ["Appendix", "Time budget"]
    assert [h for h in ungraded if h in flat] == []
    assert not re.search(r'class="hw5-(passed|failed|not-run|missing|reported)"', page)     # no badges
    counts = re.findall(r"\d+ passed", flat)
    assert len(counts) == 1 and "The full verification report of the same run" in flat, counts


@pytest.mark.skipif(not shutil.which("pdfinfo"), reason="poppler-utils not installed (make setup installs it)")
def test_handin_pdf_keeps_its_budget_and_its_contents_page_numbers_are_right(quick_report):
    from hw5.deliver.report import HOMEWORK_ITEMS, ITEMS

    out, _ = quick_report
    pdf = out / "homework.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1)) <= HANDIN_PAGES
    page = (out / "homework.html").read_text()
    numbers = dict(re.findall(r'<a href="#([\w-]+)">.*?</a></td><td>.*?</td><td>(\d+)</td>', page))
    assert sorted(numbers) == sorted(HOMEWORK_ITEMS), numbers
    headings = {item: h for item, h, _ in ITEMS}
    for item, number in numbers.items():   # each listed page shows that section's heading
        words = " ".join(pdf_text(pdf, int(number), int(number)).split())
        assert " ".join(headings[item].split()) in words, (item, number)


@pytest.mark.skipif(not shutil.which("pdfinfo"), reason="poppler-utils not installed (make setup installs it)")
def test_report_pdf_keeps_the_page_budget_and_links(quick_report):
    out, _ = quick_report
    pdf = out / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages <= ALL_PAGES
    dests = subprocess.run(["pdfinfo", "-dests", str(pdf)], capture_output=True, text=True, check=True).stdout
    # the grader's part ends on the page where the next section begins (its named destination; its heading
    # also stands in page 1's contents), or on the page before when nothing of Part 2 (5) precedes it there
    starts = int(re.search(rf'^\s*(\d+) .*"{AFTER_HOMEWORK_ID}"', dests, re.M).group(1))
    ends = starts if pdf_text(pdf, starts, starts).split(AFTER_HOMEWORK)[0].strip() else starts - 1
    assert ends <= ALL_PAGES, f"page 1 to the end of Part 2 (5) takes {ends} pages"
    assert all(item in dests for item in ("p1a", "p2-4", "p2-5")), dests[:2000]  # the contents' links survive


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils not installed (make setup installs it)")
@pytest.mark.parametrize("name", ["report.pdf", "homework.pdf"])
def test_report_pdf_pages_are_not_blank_or_half_empty(quick_report, tmp_path, name):
    import matplotlib.image

    out, _ = quick_report
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out / name), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    for number, png in enumerate(pages, 1):
        gray = matplotlib.image.imread(png)[..., :3].mean(axis=2)
        ink_rows = np.flatnonzero((gray < 0.9).any(axis=1))
        used = (ink_rows.max() + 1) / len(gray) if ink_rows.size else 0.0   # down to the lowest ink
        assert used > 0.1, f"page {number} is blank"
        if number < len(pages):
            assert used > 0.5, f"page {number} of {len(pages)} is more than half empty (ink down to {used:.0%})"


def prepare_without_chromium(workdir):
    return (report_command(workdir, "tests/test_data.py::test_preprocess_scales_to_unit_interval",
                           "-p", "no:cacheprovider"), ROOT, {"HW5_CHROMIUM": "none"})


def prepare_cannot_run(workdir):
    (workdir / "report.html").write_text("previous report")
    return report_command(workdir, "tests/no_such_test_file.py", "-p", "no:cacheprovider"), ROOT, {}


# two short `hw5 report` runs, started early (tests/early.py)
early.register("report-without-chromium", fixture="report_without_chromium", prepare=prepare_without_chromium)
early.register("report-cannot-run", fixture="report_cannot_run", prepare=prepare_cannot_run)


@pytest.fixture
def report_without_chromium():
    return early.result("report-without-chromium")


@pytest.fixture
def report_cannot_run():
    return early.result("report-cannot-run")


def test_report_without_chromium_writes_html_and_says_how(report_without_chromium):
    out, done = report_without_chromium
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "report.html").is_file() and not (out / "report.pdf").exists()
    assert "apt-get install -y --no-install-recommends chromium" in done.stdout
    assert "author not set" in (out / "report.html").read_text()
    assert json.loads((out / "report.json").read_text())["pdf"] is False


def test_report_keeps_the_old_one_when_pytest_cannot_run(report_cannot_run):
    out, done = report_cannot_run
    assert done.returncode not in (0, 1)
    assert (out / "report.html").read_text() == "previous report"
    assert not list(out.glob(".report-*"))
    assert "no report written" in done.stdout


def test_report_json_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    # report.json is written atomically (hw5.convert.export.files.atomic_write): a disk that fails halfway
    # through the write leaves the old file, and no temporary beside it
    from hw5.deliver.report import write_json

    path = tmp_path / "report.json"
    path.write_text("{}")
    real = Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        real(self, text[:len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError, match="disk full"):
        write_json(path, {"users": ["jdoe"], "pdf": True})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"] and path.read_text() == "{}"
    write_json(path, {"pdf": False})
    assert json.loads(path.read_text()) == {"pdf": False} and [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("exit_code, pdf_bytes", [(0, "%PDF-1.4 stand-in"), (3, "half a pdf"), (0, "")])
def test_print_pdf_writes_a_whole_pdf_or_nothing(tmp_path, exit_code, pdf_bytes):
    # Chromium (a stand-in script) prints into a temporary file beside the target; a failed or empty print
    # raises and leaves neither the PDF nor the temporary file
    from hw5.deliver.pdf import print_pdf

    chromium = tmp_path / "chromium"
    chromium.write_text(f"#!/bin/sh\nfor a in \"$@\"; do case $a in --print-to-pdf=*) "
                        f"printf '%s' '{pdf_bytes}' > \"${{a#--print-to-pdf=}}\";; esac; done\nexit {exit_code}\n")
    chromium.chmod(0o755)
    (tmp_path / "in.html").write_text("<p>hi</p>")
    out = tmp_path / "out"
    if exit_code == 0 and pdf_bytes:
        print_pdf(tmp_path / "in.html", out / "report.pdf", str(chromium))
        assert (out / "report.pdf").read_text() == pdf_bytes and [p.name for p in out.iterdir()] == ["report.pdf"]
    else:
        with pytest.raises(RuntimeError, match=f"Chromium could not print the PDF \\(exit {exit_code}\\)"):
            print_pdf(tmp_path / "in.html", out / "report.pdf", str(chromium))
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--user", "Ada Lovelace"], "expected a name of letters, digits, '_' and '-'"),
    (["--user", "a", "--user", "b", "--user", "c", "--user", "d"], "at most 3 authors"),
])
def test_report_refuses_bad_user_names(tmp_path, args, message):
    done = run_report(tmp_path, *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "report.html").exists()


def test_the_appendix_folds_a_many_case_test_that_passed_and_lists_every_failure(monkeypatch):
    from hw5.deliver import report

    tests = {f"tests/test_p.py::test_case[{k}]": dict(outcome="passed", seconds=0.5, output="")
             for k in range(report.GROUP_CASES + 1)}
    tests |= {f"tests/test_p.py::test_few[{k}]": dict(outcome="passed", seconds=0.1, output="") for k in range(3)}
    tests |= {f"tests/test_q.py::test_many[{k}]": dict(outcome="failed" if k == 5 else "passed", seconds=0.1,
                                                     output="boom at 5") for k in range(report.GROUP_CASES + 4)}
    monkeypatch.setattr(report, "TESTS", tests)
    html = report.test_listing()
    assert f"test_case[…] — {report.GROUP_CASES + 1:,} cases, all passed" in html and "test_case[0]" not in html
    assert f"{0.5 * (report.GROUP_CASES + 1):.2f} s" in html
    assert all(f"test_few[{k}]" in html for k in range(3))                     # few cases: each its own line
    assert "test_many[5]" in html and "boom at 5" in html and "test_many[0]" in html   # a failure: all listed
