"""Step 8 — report: the homework's evidence, laid out for a grader, as HTML (pytest-html) and an A4 PDF.

The tests are the source of every figure: while they run, each adds HTML to the section of the homework
item it proves (`contribute`, via tests.helpers.report_section) and its outcome is recorded (`record_test`).
At the end of the run `document()` lays it all out, in the homework's order:

    page 1      title, authors, date, verdict (N passed, M failed), contents: item, key figure, badge, link
    Part 1      (a) test accuracy, (b) gradient updates            each: what was done, and the code doing it
    Part 2      (1) architecture ... (5) the same softmax
    then        Part 1's CNN as a fully-connected network, benchmarks, environment and data
    appendix    every test, compact, failures expanded with their output

Each section's badge (its heading and its contents row) follows evidence.item_status: "pass", "FAIL", "no
evidence", or "not run" when its tests only said that its figures were not produced in this run (an opt-in tier).

`main()` (`hw5 report`, `make report`) runs the suite with benchmarks on and writes report/report.html and
report/report.pdf (printed by headless Chromium: everything), report/homework.html and report/homework.pdf
(the graded items only, hw5.deliver.handin_view: the hand-in PDF) and report/report.json (authors, date, exit
code), each under a temporary name and renamed, so a crashed run never leaves half a report.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hw5.deliver.evidence import (  # noqa: F401  (the tests reach them as report.X)
    CONTRIBUTIONS,
    HANDIN,
    HANDIN_CODE,
    HOMEWORK_ITEMS,
    ITEM_IDS,
    ITEMS,
    KEY_FIGURES,
    PRODUCED,
    RECORDS,
    REPORTED,
    TESTS,
    TIMINGS,
    contribute,
    item_status,
    record_test,
    source_of,
    verdict,
)
from hw5.deliver.figures import (  # noqa: F401
    bench_figure,
    code,
    console,
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
from hw5.deliver.pdf import HOW_TO_PDF, find_chromium, print_pdf

PRINT_CSS = Path(__file__).with_name("report.css")
# the run's records (what the tests contributed, their outcomes), and printing to PDF, live beside this module

# a section's status (evidence.item_status) -> the word of its badge; 'not-run': its figures come from a tier
# this run did not select, and its contributions say so (grey, never the green of 'pass')
BADGE_WORDS = {"passed": "pass", "failed": "FAIL", "not-run": "not run", "missing": "no evidence"}


def _badge(status: str, item: str = "") -> str:
    if item in REPORTED and status == "passed":   # its figures are reported (targets "not met" included)
        return f'<span class="hw5-reported">{REPORTED[item]}</span>'
    return f'<span class="hw5-{status}">{BADGE_WORDS[status]}</span>'


def title_page(users: list[str], extra_rows=()) -> str:
    authors = ", ".join(users) if users else "author not set (hw5 report --user NAME)"
    rows = "".join(
        f'<tr><td><a href="#{item}">{esc(heading)}</a></td><td>{esc(KEY_FIGURES.get(item, "–"))}</td>'
        f"<td>{_badge(item_status(item), item)}</td></tr>" for item, heading, _ in ITEMS)
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
        parts.append(f'<div class="hw5-block"><h3>The code</h3>{code(*map(source_of, refs))}</div>')
    return (f'<section id="{item}" class="hw5-item hw5-item-{item}"><h2>{esc(heading)} '
            f'{_badge(item_status(item), item)}</h2>{"".join(parts)}</section>')


# a parametrized test with more cases than this is one line when every case passed (the peer suites have ~1,000)
GROUP_CASES = 12


def _test_line(name: str, entry: dict) -> str:
    return (f'<div class="hw5-test hw5-test-{entry["outcome"]}"><span class="hw5-mark">'
            f'{ {"passed": "✓", "failed": "✗", "error": "✗"}.get(entry["outcome"], "–") }</span> '
            f'{esc(name)} <span class="hw5-dur">{entry["seconds"]:.2f} s</span></div>')


def test_listing() -> str:
    """Every test, one line each, grouped by module; failures expanded with their output; a parametrized test
    of more than GROUP_CASES cases that all passed is one line (its case count and total time)."""
    cases: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for nodeid, entry in TESTS.items():
        path, _, name = nodeid.partition("::")
        name = name.encode("ascii", "backslashreplace").decode("unicode_escape")  # pytest's escaped ids
        cases.setdefault((path, name.partition("[")[0]), []).append((name, entry))
    modules: dict[str, list[str]] = {}
    for (path, function), group in cases.items():
        lines = modules.setdefault(path, [])
        if len(group) > GROUP_CASES and all(entry["outcome"] == "passed" for _, entry in group):
            seconds = sum(entry["seconds"] for _, entry in group)
            lines.append(_test_line(f"{function}[…] — {len(group):,} cases, all passed", dict(outcome="passed",
                                                                                               seconds=seconds)))
            continue
        for name, entry in group:
            line = _test_line(name, entry)
            if entry["outcome"] in ("failed", "error"):
                line += pre("\n".join(entry["output"].splitlines()[-80:]), "hw5-failure")
            lines.append(line)
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
    from hw5.homework.kernels import DIGITS, kernels

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    source = data_source()
    return {"Python": platform.python_version(), "TensorFlow": tensorflow.__version__, "Keras": keras.__version__,
            "NumPy": numpy.__version__, "CPU": f"{cpu} ({os.cpu_count()} cores)",
            "TensorFlow's CPU kernels": f"{kernels()}: {DIGITS}", "Platform": platform.platform(),
            "Data": f"{source.directory} ({source.origin}); SHA-256 of all 4 decompressed files verified",
            **{f"SHA-256 {name}": digest for name, digest in source.sha256.items()}}


# ---- driver ------------------------------------------------------------------------------------------

def write_json(path: Path, data: dict) -> None:
    """`data` as JSON at `path`, atomically (a failure leaves the old file, or none, and no temporary file)."""
    from hw5.convert.export.files import atomic_write  # here, not at import: it loads the converter

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)), parents=True)


# what the report runs: the quick tier and the `full` checks (pytest.ini's markers); the opt-in tiers stay out.
# A `-m` among the user's pytest args comes later and wins.
REPORT_TIERS = "not slow and not heavy and not architectures"


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
    tmp_html, tmp_handin = out / f".report-{os.getpid()}.html", out / f".homework-{os.getpid()}.html"
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
        code = pytest.main(["--bench", "-m", REPORT_TIERS, f"--html={tmp_html}", "--self-contained-html",
                            f"--css={PRINT_CSS}", f"--hw5-handin-html={tmp_handin}", *users, *argv])
    finally:
        os.chdir(cwd)
    if code not in (0, 1) or not tmp_html.exists() or not tmp_handin.exists():   # interrupted, internal error,
        tmp_html.unlink(missing_ok=True)                                              # no tests: keep the old one
        tmp_handin.unlink(missing_ok=True)
        print(f"[hw5] pytest exited with {int(code)}; no report written")
        return int(code) or 1
    os.replace(tmp_html, out / "report.html")
    os.replace(tmp_handin, out / "homework.html")
    print(f"[hw5] wrote {out / 'report.html'} (everything) and {out / 'homework.html'} (the graded items)", flush=True)
    meta = dict(users=options.user, pytest_exit_code=int(code), verdict=verdict(),
                created=datetime.datetime.now().isoformat(timespec="seconds"), pdf=False)
    chromium = find_chromium()
    if chromium is None:
        print(f"[hw5] no PDF: Chromium not found; {HOW_TO_PDF}")
    else:
        print("[hw5] printing the PDF with headless Chromium", flush=True)
        try:
            from hw5.deliver import handin_view

            print_pdf(out / "report.html", out / "report.pdf", chromium)
            handin_view.print_pdf(out / "homework.html", out / "homework.pdf", chromium, options.user)
            meta["pdf"] = True
            print(f"[hw5] wrote {out / 'report.pdf'} and {out / 'homework.pdf'} (the hand-in PDF)")
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"[hw5] no PDF: {exc}; {HOW_TO_PDF}")
            code = int(code) or 1
    write_json(out / "report.json", meta)
    print(f"[hw5] report done in {time.perf_counter() - started:.0f} s (pytest exit code {int(code)})")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
