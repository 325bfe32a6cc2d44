"""The hand-in PDF: the homework's view of the same test run as the full report.

`document(users, pages)` lays out only what is graded — title, authors, date, a contents table with page
numbers, then Part 1 (a), (b) and Part 2 (1)–(5), each with what the hand-in script prints for it (the tests
compute those lines with the script's own functions from the same trained models) and the code that does
it — and one closing line naming the full verification report. No pass/fail badges, no test counts in the
body: the full report (report.pdf) has those, and everything that is not graded.

`print_pdf(html_path, pdf_path, chromium, users)` prints it twice: Chromium cannot number pages in a table, so
the first print's named destinations (`pdfinfo -dests`: one per section id) give the page numbers that the
second print shows.
"""
from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from pathlib import Path

from hw5.deliver import evidence
from hw5.deliver.figures import code, esc, paragraph
from hw5.deliver.pdf import print_pdf as print_html
from hw5.homework.kernels import DIGITS, kernels

HANDIN_CSS = Path(__file__).with_name("report.css")
BASE_CSS = """
body { margin: 0; }
.hw5-handin h1 { font-size: 20px; margin: 0 0 4px; }
.hw5-handin .hw5-contents td:last-child { text-align: right !important; width: 3em; }
.hw5-handin .hw5-item { break-before: auto; }
.hw5-closing { margin-top: 10px; font-size: 10.5px; color: #333; border-top: 1px solid #bbb; padding-top: 4px; }
"""


def _section(item: str, heading: str) -> str:
    parts = evidence.HANDIN.get(item) or [paragraph("<i>No evidence: the tests that produce it did not "
                                                          "run; see the full report.</i>")]
    refs = evidence.HANDIN_CODE.get(item, [])
    listing = f'<div class="hw5-block"><h3>The code</h3>{code(*map(evidence.source_of, refs))}</div>' if refs else ""
    return (f'<section id="{item}" class="hw5-item hw5-item-{item}"><h2>{esc(heading)}</h2>'
            f'{"".join(parts)}{listing}</section>')


def document(users: list[str], pages: dict[str, int] | None = None, full_report: str = "report/report.pdf") -> str:
    """The hand-in PDF's HTML, self-contained; `pages`: section id -> page number (None: not known yet)."""
    import tensorflow

    pages = pages or {}
    authors = ", ".join(users) if users else "author not set (hw5 report --user NAME)"
    graded = [(item, heading) for item, heading, _ in evidence.ITEMS if item in evidence.HOMEWORK_ITEMS]
    rows = "".join(f'<tr><td><a href="#{item}">{esc(heading)}</a></td><td>{esc(evidence.KEY_FIGURES.get(item, ""))}'
                   f'</td><td>{pages.get(item, "–")}</td></tr>' for item, heading in graded)
    outcomes = [entry["outcome"] for entry in evidence.TESTS.values()]
    checks = (f"The full verification report of the same run, {full_report}, holds every check "
              f"({outcomes.count('passed')} passed, {outcomes.count('failed') + outcomes.count('error')} failed), "
              f"the benchmarks, the environment and the converter beyond the homework.")
    body = (f'<div class="hw5-title"><h1>CS/DS 541 Homework 5 — {esc(authors)}</h1>'
            f'<p class="hw5-meta">{datetime.date.today().isoformat()} · files: homework5_{"_".join(users) or "…"}.py '
            f'(run it: <code>python homework5_{"_".join(users) or "…"}.py</code>, 2–5 minutes on 2 cores) and this '
            f'PDF<br>figures from TensorFlow {esc(tensorflow.__version__)} on this CPU: its kernels {esc(kernels())} '
            f'— {esc(DIGITS)}</p>'
            f'<p class="hw5-claim">Part 1 trains a Keras CNN on Fashion-MNIST past 90 % test accuracy. Part 2 builds '
            f'the homework net exactly, extracts its weights, rewrites its conv layer as the weight matrix of a '
            f'fully-connected layer and shows that a NumPy network of matrix multiplies, a max-pool loop, ReLU and '
            f'softmax gives TensorFlow&#39;s softmax. Each section shows what the script prints for that item and '
            f'the code that does it.</p>'
            f'<table class="hw5-table hw5-contents"><thead><tr><th>homework item</th><th>key figure</th>'
            f'<th>page</th></tr></thead><tbody>{rows}</tbody></table></div>'
            + "".join(_section(item, heading) for item, heading in graded)
            + f'<p class="hw5-closing">{esc(checks)}</p>')
    style = HANDIN_CSS.read_text() + BASE_CSS
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>CS/DS 541 Homework 5 — {esc(authors)}</title>'
            f'<style>{style}</style></head><body><div id="hw5-document" class="hw5-handin">{body}</div></body></html>')


def section_pages(pdf: Path) -> dict[str, int]:
    """Section id -> page, from the PDF's named destinations (Chromium writes one per element id)."""
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        return {}
    out = subprocess.run([pdfinfo, "-dests", str(pdf)], capture_output=True, text=True, timeout=60).stdout
    found = {}
    for line in out.splitlines():   # "     3 [ XYZ   34  712 null      ] "p2-1""
        if (m := re.match(r"\s*(\d+)\s+\[.*\]\s+\"(.+)\"\s*$", line)) and m[2] in evidence.HOMEWORK_ITEMS:
            found[m[2]] = int(m[1])
    return found


def write_html(path: Path, users: list[str], pages: dict[str, int] | None = None) -> None:
    """The hand-in document at `path`, atomically (a failure leaves the old file, or none, and no temporary)."""
    from hw5.convert.export.files import atomic_write  # here, not at import: it loads the converter

    atomic_write(path, lambda tmp: tmp.write_text(document(users, pages)), parents=True)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str, users: list[str]) -> dict[str, int]:
    """Print the hand-in HTML to `pdf_path` with its contents' page numbers (two passes); the pages found."""
    print_html(html_path, pdf_path, chromium)
    pages = section_pages(pdf_path)
    if pages:
        write_html(html_path, users, pages)
        print_html(html_path, pdf_path, chromium)
    return pages
