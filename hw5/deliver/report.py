"""Step 8 — report: the homework's evidence, laid out for a grader, as HTML (pytest-html) and an A4 PDF.

The tests are the source of every figure: while they run, each adds HTML to the section of the homework
item it proves (`contribute`, via tests.helpers.report_section) and its outcome is recorded (`record_test`).
At the end of the run `document()` lays it all out, in the homework's order:

    page 1      title, authors, date, verdict (N passed, M failed), contents: item, key figure, pass/fail, link
    Part 1      (a) test accuracy, (b) gradient updates            each: what was done, and the code doing it
    Part 2      (1) architecture ... (5) the same softmax
    then        Part 1's CNN as a fully-connected network, benchmarks, environment and data
    appendix    every test, compact, failures expanded with their output

`main()` (`hw5 report`, `make report`) runs the suite with benchmarks on and writes report/report.html,
report/report.pdf (printed by headless Chromium) and report/report.json (authors, date, exit code), each
under a temporary name and renamed, so a crashed run never leaves half a report.
"""
from __future__ import annotations

import datetime
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hw5.deliver.figures import (  # noqa: F401
    bench_figure,
    code,
    epoch_table,
    esc,
    figure,
    image_figure,
    model_summary,
    paragraph,
    pre,
    probabilities_figure,
    section,
    table,
    toeplitz_figure,
    training_curves,
)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_PDF = ("install Chromium (Debian: `sudo apt-get install -y --no-install-recommends chromium`) and run "
              "`make report` again, or open report/report.html in a browser and print it to PDF")
PRINT_CSS = Path(__file__).with_name("report.css")

# ---- the document: one section per homework item, in the homework's order ------------------------------

# (id, heading, the code that does it: "module:qualname" shown under the section's evidence)
ITEMS = [
    ("p1a", "Part 1 (a) — test accuracy of our CNN", ["hw5.homework.models:build_part1_model"]),
    ("p1b", "Part 1 (b) — gradient updates on the training set", ["hw5.homework.training:fit"]),
    ("p2-1", "Part 2 (1) — the architecture", ["hw5.homework.models:build_part2_model"]),
    ("p2-2", "Part 2 (2) — the extracted weights", ["hw5.homework.weights:extract_weights"]),
    ("p2-3", "Part 2 (3) — the NumPy forward pass", [
        "hw5.homework.numpy_net:NumpyNet.forward", "hw5.homework.layers:Dense", "hw5.homework.layers:max_pool2d",
        "hw5.homework.layers:ReLU", "hw5.homework.layers:Softmax"]),
    ("p2-4", "Part 2 (4) — the conv layer as a fully-connected layer", [
        "hw5.homework.toeplitz:conv_output_shape", "hw5.homework.toeplitz:_axis_geometry",
        "hw5.homework.toeplitz:toeplitz_indices",
        "hw5.homework.toeplitz:conv2d_as_dense"]),
    ("p2-5", "Part 2 (5) — the same softmax from TensorFlow and from NumPy", ["hw5.homework.compare:agreement"]),
    ("p1-fc", "Part 1's CNN as a fully-connected network too", [
        "hw5.convert.fold:from_keras", "hw5.convert.translations:_batch_normalization",
        "hw5.convert.linear_maps:batch_norm_scale"]),
    ("arch", "Real CNN architectures as fully-connected networks", [
        "hw5.convert.graph:translate", "hw5.convert.conv:conv_csc", "hw5.deliver.architectures:measure"]),
    ("bench", "Benchmarks — the dense path against the convolution", []),
    ("env", "Environment, data and known issues", []),
]
ITEM_IDS = [item for item, _, _ in ITEMS]
HOMEWORK_ITEMS = ITEM_IDS[:7]          # page 1 to the end of these: the grader's part (≤ 8 pages)
# item id -> [(test node id, html)], filled by the tests during the run
CONTRIBUTIONS: dict[str, list[tuple[str, str]]] = {}
KEY_FIGURES: dict[str, str] = {}
# test node id -> {"outcome", "seconds", "output"}, filled by conftest's pytest_runtest_logreport
TESTS: dict[str, dict] = {}
# what else the run spent time on (e.g. "training, Part 1") -> seconds or a word ("loaded from the cache")
TIMINGS: dict[str, float | str] = {}


def contribute(item: str, test: str, fragment: str, key: str | None = None) -> None:
    """Record `fragment` (HTML) for section `item`, credited to `test`; `key`: the contents' key figure."""
    if item not in ITEM_IDS:
        raise ValueError(f"item must be one of {ITEM_IDS}, got {item!r}")
    CONTRIBUTIONS.setdefault(item, []).append((test, fragment))
    if key is not None:
        KEY_FIGURES[item] = key


def record_test(report) -> None:
    """Fold one pytest phase report (setup/call/teardown) into TESTS: the worst outcome wins."""
    entry = TESTS.setdefault(report.nodeid, dict(outcome="passed", seconds=0.0, output=""))
    entry["seconds"] += report.duration
    if report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry["output"] += report.longreprtext
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        entry["output"] = getattr(report, "wasxfail", "") or (report.longrepr[2] if isinstance(
            report.longrepr, tuple) else "")


def _source(ref: str):
    module, _, qualname = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def item_status(item: str) -> str:
    """'passed' when every test that contributed to `item` passed, 'failed' if one did not, 'missing'."""
    outcomes = [TESTS.get(test, {}).get("outcome", "passed") for test, _ in CONTRIBUTIONS.get(item, [])]
    if not outcomes:
        return "missing"
    return "passed" if all(o in ("passed", "xfailed") for o in outcomes) else "failed"


def verdict() -> str:
    counts = {}
    for entry in TESTS.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    words = [f"{counts.pop('passed', 0)} passed", f"{counts.pop('failed', 0)} failed"]
    return ", ".join(words + [f"{n} {what}" for what, n in sorted(counts.items())])


def _badge(status: str) -> str:
    word = {"passed": "pass", "failed": "FAIL", "missing": "no evidence"}[status]
    return f'<span class="hw5-{status}">{word}</span>'


def title_page(users: list[str], extra_rows=()) -> str:
    authors = ", ".join(users) if users else "author not set (hw5 report --user NAME)"
    rows = "".join(
        f'<tr><td><a href="#{item}">{esc(heading)}</a></td><td>{esc(KEY_FIGURES.get(item, "–"))}</td>'
        f"<td>{_badge(item_status(item))}</td></tr>" for item, heading, _ in ITEMS)
    return (f'<div class="hw5-title"><h1>CS/DS 541 Homework 5 — {esc(authors)}</h1>'
            f'<p class="hw5-meta">{datetime.date.today().isoformat()} · verdict: <b>{esc(verdict())}</b>'
            f'{"".join(extra_rows)}</p>'
            f'<p class="hw5-claim">Part 1 trains a Keras CNN on Fashion-MNIST past 90 % test accuracy. Part 2 '
            f'builds the homework net exactly, extracts its weights, rewrites its conv layer as the weight matrix '
            f'of a fully-connected layer, and shows that a NumPy network of matrix multiplies, a max-pool loop, '
            f'ReLU and softmax gives TensorFlow&#39;s softmax. Every figure below comes from a test of this run; '
            f'each section shows the code that does the work.</p>'
            f'<table class="hw5-table hw5-contents"><thead><tr><th>homework item</th><th>key figure</th>'
            f'<th>result</th></tr></thead><tbody>{rows}</tbody></table></div>')


def item_section(item: str, heading: str, refs: list[str]) -> str:
    parts = [fragment for _, fragment in CONTRIBUTIONS.get(item, [])]
    if not parts:
        parts = [paragraph("<i>No evidence: the tests that produce it did not run or failed before it "
                           "(see the appendix).</i>")]
    if refs:
        parts.append(f'<div class="hw5-block"><h3>The code</h3>{code(*map(_source, refs))}</div>')
    return (f'<section id="{item}" class="hw5-item hw5-item-{item}"><h2>{esc(heading)} '
            f'{_badge(item_status(item))}</h2>{"".join(parts)}</section>')


def test_listing() -> str:
    """Every test, one line each, grouped by module; failures expanded with their output."""
    modules: dict[str, list[str]] = {}
    for nodeid, entry in TESTS.items():
        path, _, name = nodeid.partition("::")
        name = name.encode("ascii", "backslashreplace").decode("unicode_escape")  # pytest's escaped ids
        line = (f'<div class="hw5-test hw5-test-{entry["outcome"]}"><span class="hw5-mark">'
                f'{ {"passed": "✓", "failed": "✗", "error": "✗"}.get(entry["outcome"], "–") }</span> '
                f'{esc(name)} <span class="hw5-dur">{entry["seconds"]:.2f} s</span></div>')
        if entry["outcome"] in ("failed", "error"):
            line += pre("\n".join(entry["output"].splitlines()[-80:]), "hw5-failure")
        modules.setdefault(path, []).append(line)
    body = "".join(f'<div class="hw5-module"><div class="hw5-module-name">{esc(path)}</div>{"".join(lines)}</div>'
                   for path, lines in modules.items())
    return (f'<section id="appendix" class="hw5-item hw5-appendix"><h2>Appendix — every test of this run '
            f'({esc(verdict())})</h2><div class="hw5-listing">{body}</div></section>')


def time_budget(run_seconds: float) -> str:
    """Where this run's time went: training per part, the checks, the benchmarks, and the slowest tests."""
    bench = sum(e["seconds"] for nodeid, e in TESTS.items() if "test_bench.py::test_bench_" in nodeid)
    tests = sum(e["seconds"] for e in TESTS.values())
    fmt = lambda v: f"{v:.1f} s" if isinstance(v, (int, float)) else v  # noqa: E731
    rows = [*((label, fmt(v)) for label, v in TIMINGS.items()),
            ("checks (every test's setup, call and teardown, benchmarks excluded)", fmt(tests - bench)),
            ("benchmarks (pytest-benchmark rounds)", fmt(bench)),
            ("the whole pytest run, to this page", fmt(run_seconds)),
            ("set-up (venv, packages) and printing the PDF", "outside pytest: `make report` prints them")]
    slowest = sorted(TESTS.items(), key=lambda kv: -kv[1]["seconds"])[:10]
    return (table(["", "time"], rows, "time budget of this run (training time is inside the first test that "
                                      "needed the model)", "hw5-env") +
            table(["the ten slowest tests", "seconds"], [(n, f"{e['seconds']:.2f}") for n, e in slowest]))


def document(users: list[str], meta_rows=(), run_seconds: float = 0.0) -> str:
    """The whole report body: title page and contents, one section per item, the test appendix."""
    sections = "".join(item_section(*item) for item in ITEMS)
    return (f'<div id="hw5-document">{title_page(users, meta_rows)}{sections}{test_listing()}'
            f'<div class="hw5-block"><h3>Time budget</h3>{time_budget(run_seconds)}</div></div>')


# ---- environment -------------------------------------------------------------------------------------

def environment() -> dict[str, str]:
    """Versions, CPU and data provenance for the report's environment table."""
    import platform

    import keras
    import numpy
    import tensorflow

    from hw5.homework.data import data_source

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    source = data_source()
    return {"Python": platform.python_version(), "TensorFlow": tensorflow.__version__, "Keras": keras.__version__,
            "NumPy": numpy.__version__, "CPU": f"{cpu} ({os.cpu_count()} cores)", "Platform": platform.platform(),
            "Data": f"{source.directory} ({source.origin}); SHA-256 of all 4 decompressed files verified",
            **{f"SHA-256 {name}": digest for name, digest in source.sha256.items()}}


# ---- driver ------------------------------------------------------------------------------------------

def find_chromium() -> str | None:
    """$HW5_CHROMIUM (a path, or "none" to skip the PDF), else the first Chromium on PATH."""
    chosen = os.environ.get("HW5_CHROMIUM")
    if chosen:
        return None if chosen.lower() == "none" else shutil.which(chosen)
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str, timeout: float = 120) -> None:
    """Print `html_path` to `pdf_path` with headless Chromium (with a PDF outline), atomically."""
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory() as profile:
        tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--generate-pdf-document-outline", f"--print-to-pdf={tmp}", f"{html_path.as_uri()}?collapsed=all"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"Chromium could not print the PDF (exit {done.returncode}): {done.stderr[-2000:]}")
        os.replace(tmp, pdf_path)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def main(argv=None) -> int:
    """`hw5 report [--out DIR] [--user NAME ...] [pytest args...]`: run the suite with benchmarks and write
    DIR/report.html, DIR/report.pdf and DIR/report.json (DIR defaults to ./report). Returns pytest's exit code."""
    import argparse

    import pytest

    from hw5.deliver.users import MAX_USERS, user_name

    parser = argparse.ArgumentParser(prog="hw5 report", description=main.__doc__)
    parser.add_argument("--out", default="report", help="output directory (default: report)")
    parser.add_argument("--user", action="append", default=[], type=user_name,
                        help=f"an author's name for the first page (repeatable, up to {MAX_USERS})")
    options, argv = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if len(options.user) > MAX_USERS:
        parser.error(f"--user: at most {MAX_USERS} authors, got {len(options.user)}")
    out = Path(options.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp_html = out / f".report-{os.getpid()}.html"
    checkout = Path(__file__).resolve().parents[2]   # hw5/deliver/report.py -> the checkout
    if not (checkout / "tests").is_dir():
        print("hw5 report runs the test suite: use it from a source checkout (tests/ not found beside hw5/)")
        return 4
    started = time.perf_counter()
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")  # the evidence gets >= 100 examples per property
    print(f"[hw5] running the suite with benchmarks; the report goes to {out}/report.html", flush=True)
    cwd = os.getcwd()
    os.chdir(checkout)  # pytest.ini's testpaths, and test ids given as tests/..., are relative to the checkout
    try:
        users = [arg for name in options.user for arg in ("--hw5-user", name)]
        code = pytest.main(["--bench", f"--html={tmp_html}", "--self-contained-html", f"--css={PRINT_CSS}",
                            *users, *argv])
    finally:
        os.chdir(cwd)
    if code not in (0, 1) or not tmp_html.exists():   # interrupted, internal error, no tests: keep the old one
        tmp_html.unlink(missing_ok=True)
        print(f"[hw5] pytest exited with {int(code)}; no report written")
        return int(code) or 1
    os.replace(tmp_html, out / "report.html")
    print(f"[hw5] wrote {out / 'report.html'}", flush=True)
    meta = dict(users=options.user, pytest_exit_code=int(code), verdict=verdict(),
                created=datetime.datetime.now().isoformat(timespec="seconds"), pdf=False)
    chromium = find_chromium()
    if chromium is None:
        print(f"[hw5] no PDF: Chromium not found; {HOW_TO_PDF}")
    else:
        print("[hw5] printing the PDF with headless Chromium", flush=True)
        try:
            print_pdf(out / "report.html", out / "report.pdf", chromium)
            meta["pdf"] = True
            print(f"[hw5] wrote {out / 'report.pdf'}")
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"[hw5] no PDF: {exc}; {HOW_TO_PDF}")
            code = int(code) or 1
    _write_json(out / "report.json", meta)
    print(f"[hw5] report done in {time.perf_counter() - started:.0f} s (pytest exit code {int(code)})")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
