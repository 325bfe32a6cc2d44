"""The hand-in: `hw5 handin --user NAME ...` writes handin/homework5_<names>.zip, the PDF and one script.

The zip holds exactly ``homework5_<names>.pdf``, the homework view of the report (report/homework.pdf: the graded
items only; report/report.pdf keeps everything), and
``homework5_<names>.py``, generated from the package by hw5/amalgamation.py. The PDF is reused when
report/report.json names the same users, its test run passed (exit code 0) and the PDFs are newer than the
code (hw5/, tests/) and the trained models' cache entries; otherwise `hw5.report.main(["--user", ...])` runs
first. The zip is written under a temporary name and renamed: a failed step leaves no zip and says why.
"""
from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from hw5.deliver.amalgamation import amalgamate
from hw5.deliver.users import check_users, stem

PACKAGE_DIR = Path(__file__).resolve().parent.parent   # hw5/

class HandinError(RuntimeError):
    """A step of the hand-in failed; the message says which and why. No zip was written."""


def report_inputs(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """What a report depends on: the package, the tests, and the trained models' cache entries."""
    from hw5.deliver.cache import cache_dir

    checkout = package_dir.parent
    code = [*package_dir.rglob("*.py"), *package_dir.rglob("*.css"), *checkout.glob("tests/*.py"),
            checkout / "conftest.py", checkout / "pytest.ini"]
    cache = cache_dir()
    models = [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")] if cache.is_dir() else []
    return [p for p in code + models if p.is_file()]


def report_problem(report_dir: Path, users) -> str | None:
    """None if `report_dir`/homework.pdf can go into the zip of `users` as it is, else why it cannot."""
    pdf, meta = Path(report_dir) / "homework.pdf", Path(report_dir) / "report.json"
    for path in (pdf, Path(report_dir) / "report.pdf"):
        if not path.is_file():
            return f"{path} does not exist"
    try:
        info = json.loads(meta.read_text())
    except FileNotFoundError:
        return f"{meta} does not exist"
    except (OSError, ValueError) as exc:
        return f"{meta} is unreadable ({exc})"
    if not isinstance(info, dict) or info.get("users") != list(users):
        return f"it names {info.get('users') if isinstance(info, dict) else None}, not {list(users)}"
    if info.get("pytest_exit_code") != 0:
        return f"its test run did not pass (pytest exit code {info.get('pytest_exit_code')})"
    made = pdf.stat().st_mtime
    newer = [p for p in report_inputs() if p.stat().st_mtime > made]
    if newer:
        return f"{newer[0]}{f' and {len(newer) - 1} more files' if len(newer) > 1 else ''} changed since it was made"
    return None


def run_report(users, report_dir: Path) -> int:
    """`hw5 report --user NAME ... --out report_dir`; pytest's exit code (0: every test passed)."""
    from hw5.deliver.report import main

    return int(main([arg for name in users for arg in ("--user", name)] + ["--out", str(Path(report_dir).resolve())]))


def write_zip(path: Path, files: dict[str, bytes]) -> None:
    """Write the zip of `files` ({name: bytes}) atomically (hw5.convert.export.files.atomic_write): a temporary
    name, checked, then renamed; readable by its owner only. A failure leaves the old zip, or none, and no
    temporary file; a directory that cannot be made or written raises OSError."""
    from hw5.convert.export.files import atomic_write  # here, not at import: it loads the converter

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                zf.writestr(info, data)
        with zipfile.ZipFile(tmp) as zf:
            if zf.testzip() is not None or sorted(zf.namelist()) != sorted(files):
                raise HandinError(f"the zip written to {tmp} does not read back as {sorted(files)}")

    atomic_write(path, write, parents=True, mode=0o600)


def build(users, *, out_dir: Path = Path("handin"), report_dir: Path = Path("report"),
          report: Callable[[list[str], Path], int] | None = None,
          generate: Callable[[list[str], str], str] | None = None,
          say: Callable[[str], None] = print) -> Path:
    """Write `out_dir`/homework5_<names>.zip (the report's PDF and the generated script); its path.

    `report(users, report_dir)` makes the report when the one in `report_dir` cannot be reused and returns
    pytest's exit code (default: `run_report`); `generate(users, filename)` writes the script (default:
    hw5.amalgamation.amalgamate). Raises HandinError (nothing written) when a step fails.
    """
    users, report, generate = check_users(users), report or run_report, generate or amalgamate
    name, report_dir = stem(users), Path(report_dir)
    try:
        script = generate(users, f"{name}.py")  # first: a broken generator should not wait for a 10-minute report
    except (ValueError, SyntaxError) as exc:
        raise HandinError(f"cannot generate {name}.py: {exc}") from exc
    problem = report_problem(report_dir, users)
    if problem is None:
        say(f"reusing {report_dir / 'homework.pdf'}: it names {', '.join(users)} and is newer than the code and models")
    else:
        say(f"running the report first: {problem}")
        try:
            code = report(users, report_dir)
        except Exception as exc:  # a crash inside the report's own run: say so, write nothing
            raise HandinError(f"the report crashed ({type(exc).__name__}: {exc}), so there is no zip") from exc
        if code != 0:
            raise HandinError(f"the report failed (exit code {code}), so there is no zip: see "
                              f"{report_dir / 'report.html'} for the failing tests, fix them and run again")
        if (problem := report_problem(report_dir, users)) is not None:
            raise HandinError(f"the report ran but cannot be used: {problem}")
    path = Path(out_dir) / f"{name}.zip"
    write_zip(path, {f"{name}.pdf": (report_dir / "homework.pdf").read_bytes(), f"{name}.py": script.encode()})
    say(f"wrote {path}: {name}.pdf ({(report_dir / 'homework.pdf').stat().st_size / 1e6:.1f} MB, the graded items; "
        f"the full report stays in {report_dir / 'report.pdf'}) and {name}.py "
        f"({script.count(chr(10))} lines, run it with `python {name}.py [--quick]`)")
    return path
