"""What a test run records for its documents: the sections' evidence, each test's outcome, the run's timings.

While the tests run, each adds HTML to the section of the homework item it proves (`contribute`, via
tests.helpers.report_section) — `handin=True` for what the hand-in PDF shows too, `ran=False` for a fragment that
only says the section's figures were not produced in this run (an opt-in tier did not run) — and each outcome is
recorded (`record_test`, from conftest). A section's status (`item_status`) follows from both: 'passed',
'failed', 'not-run' or 'missing'. hw5.deliver.report lays the full report out of it, hw5.deliver.handin_view
the hand-in PDF (the graded items only).

`start_run()` (conftest's pytest_sessionstart) empties the records and notes when the run started;
`written_this_run(path)` tells a file this run wrote from one an earlier run left (e.g. bench/architectures.json).
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

# ---- the document: one section per homework item, in the homework's order ------------------------------

# (id, heading, the code that does it: "module:qualname" shown under the section's evidence)
ITEMS = [
    ("p1a", "Part 1 (a) — test accuracy of our CNN", ["hw5.homework.models:build_part1_model"]),
    ("p1b", "Part 1 (b) — gradient updates on the training set", ["hw5.homework.training:fit"]),
    ("p2-1", "Part 2 (1) — the architecture", ["hw5.homework.models:build_part2_model"]),
    ("p2-2", "Part 2 (2) — the extracted weights", ["hw5.homework.weights:extract_weights"]),
    ("p2-3", "Part 2 (3) — the NumPy forward pass", [
        "hw5.homework.forward:part2_forward", "hw5.homework.forward:max_pool2d",
        "hw5.convert.network:NumpyNet._run", "hw5.convert.layers:Dense"]),
    ("p2-4", "Part 2 (4) — the conv layer as a fully-connected layer", [
        "hw5.homework.toeplitz:conv2d_as_dense_loop", "hw5.homework.geometry:conv_output_shape",
        "hw5.homework.geometry:axis_geometry", "hw5.homework.toeplitz:toeplitz_indices",
        "hw5.homework.toeplitz:conv2d_as_dense"]),
    ("p2-5", "Part 2 (5) — the same softmax from TensorFlow and from NumPy", [
        "hw5.homework.compare:unsure_image", "hw5.homework.compare:agreement"]),
    ("p1-fc", "Part 1's CNN as a fully-connected network too", [
        "hw5.convert.fold:from_keras", "hw5.convert.translations:_batch_normalization",
        "hw5.convert.linear_maps:batch_norm_scale"]),
    ("arch", "Real CNN architectures as fully-connected networks", [
        "hw5.convert.graph:translate", "hw5.convert.conv:conv_csc", "hw5.deliver.architectures:measure"]),
    ("others", "The network in others' hands", [
        "hw5.convert.relu_only:relu_only", "hw5.convert.verify:local_robustness"]),
    ("verify", "hw5 verify on CIFAR-sized CNNs — sizes and time to an answer", [
        "hw5.convert.bounds:interval_bounds", "hw5.convert.bigm:BigMHighs", "hw5.deliver.verify_table:measure"]),
    ("bench", "Benchmarks — the dense path against the convolution", []),
    ("env", "Environment, data and known issues", []),
]
ITEM_IDS = [item for item, _, _ in ITEMS]
HOMEWORK_ITEMS = ITEM_IDS[:7]          # the graded items: the hand-in PDF holds these only
REPORTED = {"bench": "reported"}       # sections whose figures are reported, not asserted: no pass badge
# the code each graded item shows in the hand-in PDF: what the script runs for it, short enough to check
HANDIN_CODE = {
    "p1a": ["hw5.homework.models:build_part1_model"],
    "p1b": ["hw5.homework.training:fit", "hw5.homework.training:_callbacks"],
    "p2-1": ["hw5.homework.models:build_part2_model"],
    "p2-2": ["hw5.homework.weights:extract_weights"],
    "p2-3": ["hw5.homework.forward:part2_forward", "hw5.homework.forward:max_pool2d"],
    "p2-4": ["hw5.homework.toeplitz:conv2d_as_dense_loop", "hw5.homework.toeplitz:derive_output_shape"],
    "p2-5": ["hw5.homework.compare:unsure_image", "hw5.homework.compare:agreement"],
}
# item id -> [(test node id, html)], filled by the tests during the run; HANDIN: the parts for the hand-in PDF
CONTRIBUTIONS: dict[str, list[tuple[str, str]]] = {}
HANDIN: dict[str, list[str]] = {}
KEY_FIGURES: dict[str, str] = {}
# item id -> the tests whose contribution holds figures produced in this run (every contribution but ran=False)
PRODUCED: dict[str, list[str]] = {}
# test node id -> {"outcome", "seconds", "output"}, filled by conftest's pytest_runtest_logreport
TESTS: dict[str, dict] = {}
# what else the run spent time on (e.g. "training, Part 1") -> seconds or a word ("loaded from the cache")
TIMINGS: dict[str, float | str] = {}
# when the run started: "time" (time.time(), what a file's mtime is compared with) and "clock"
# (time.perf_counter(), for the run's duration); set by start_run
STARTED: dict[str, float] = {}
# the run's records, emptied when a test session starts (start_run, from conftest's pytest_sessionstart)
RECORDS = (CONTRIBUTIONS, HANDIN, KEY_FIGURES, PRODUCED, TESTS, TIMINGS, STARTED)


def start_run() -> None:
    """Empty the run's records and note when the run started (STARTED)."""
    for registry in RECORDS:
        registry.clear()
    STARTED.update(time=time.time(), clock=time.perf_counter())


def written_this_run(path: Path) -> bool:
    """Whether the file `path` was last written during this run: it exists and its mtime is not before the
    run's start (STARTED["time"]). False when no run start was recorded (no test session)."""
    started = STARTED.get("time")
    return started is not None and path.is_file() and path.stat().st_mtime >= started


def contribute(item: str, test: str, fragment: str, key: str | None = None, handin: bool = False,
               ran: bool = True) -> None:
    """Record `fragment` (HTML) for section `item`, credited to `test`; `key`: the contents' key figure;
    `handin`: the fragment belongs in the hand-in PDF too (a graded item's evidence); `ran=False`: the fragment
    only says that the section's figures were not produced in this run (it is shown, but is no evidence, and
    has no key figure)."""
    if item not in ITEM_IDS:
        raise ValueError(f"item must be one of {ITEM_IDS}, got {item!r}")
    if handin and item not in HOMEWORK_ITEMS:
        raise ValueError(f"only the graded items {HOMEWORK_ITEMS} go into the hand-in PDF, not {item!r}")
    if not ran and key is not None:
        raise ValueError(f"{item!r}: a fragment whose figures were not produced (ran=False) has no key figure, "
                         f"got {key!r}")
    CONTRIBUTIONS.setdefault(item, []).append((test, fragment))
    if ran:
        PRODUCED.setdefault(item, []).append(test)
    if handin:
        HANDIN.setdefault(item, []).append(fragment)
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


def source_of(ref: str):
    """The object a code reference names: "module:qualname" (e.g. "hw5.homework.forward:max_pool2d",
    "hw5.convert.network:NumpyNet.forward"), imported; what a section shows under "The code"."""
    module, _, qualname = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def item_status(item: str) -> str:
    """The status of section `item`, from its contributions and their tests' outcomes (a test still running
    counts as passed):

    'missing'  nothing contributed;
    'failed'   a contributing test failed or errored, or one that produced figures did not pass (e.g. skipped
               after contributing);
    'not-run'  every contribution said its figures were not produced in this run (ran=False), and none of
               those tests failed (passed, or skipped: the tier was not selected);
    'passed'   otherwise: figures were produced, and every test that produced them passed (or xfailed).
    """
    outcome = lambda test: TESTS.get(test, {}).get("outcome", "passed")  # noqa: E731
    contributors = [test for test, _ in CONTRIBUTIONS.get(item, [])]
    if not contributors:
        return "missing"
    if any(outcome(test) in ("failed", "error") for test in contributors):
        return "failed"
    produced = [outcome(test) for test in PRODUCED.get(item, [])]
    if not produced:
        return "not-run"
    return "passed" if all(o in ("passed", "xfailed") for o in produced) else "failed"


def verdict() -> str:
    counts = {}
    for entry in TESTS.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    words = [f"{counts.pop('passed', 0)} passed", f"{counts.pop('failed', 0)} failed"]
    return ", ".join(words + [f"{n} {what}" for what, n in sorted(counts.items())])


