"""Printing a self-contained HTML document to an A4 PDF with headless Chromium, atomically."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_PDF = ("install Chromium (Debian: `sudo apt-get install -y --no-install-recommends chromium`) and run "
              "`make report` again, or open report/report.html in a browser and print it to PDF")


def find_chromium() -> str | None:
    """$HW5_CHROMIUM (a path, or "none" to skip the PDF), else the first Chromium on PATH."""
    chosen = os.environ.get("HW5_CHROMIUM")
    if chosen:
        return None if chosen.lower() == "none" else shutil.which(chosen)
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str, timeout: float = 120) -> None:
    """Print `html_path` to `pdf_path` with headless Chromium (with a PDF outline), atomically."""
    from hw5.convert.export.files import atomic_write  # here, not at import: it loads the converter

    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()

    def write(tmp: Path) -> None:   # an empty file when Chromium starts: it must leave a non-empty one
        with tempfile.TemporaryDirectory() as profile:
            cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-pdf-header-footer",
                   "--generate-pdf-document-outline", f"--print-to-pdf={tmp}", f"{html_path.as_uri()}?collapsed=all"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            raise RuntimeError(f"Chromium could not print the PDF (exit {done.returncode}): {done.stderr[-2000:]}")

    atomic_write(pdf_path, write, parents=True)
