# The run's records (hw5.deliver.evidence) and what they make of a section: its status ('passed', 'failed',
# 'not-run', 'missing'), its badge and its key figure on page 1, from synthetic records (no trained model, no
# report run); and every section's code reference resolves.
import datetime
import json
import os
import re
import time

import pytest


def test_every_section_code_reference_resolves():
    # a renamed function must fail here, not crash the report's assembly at the end of a long run
    from hw5.deliver.evidence import HANDIN_CODE, ITEMS, source_of

    for item, refs in [*((item, refs) for item, _, refs in ITEMS), *HANDIN_CODE.items()]:
        for ref in refs:
            assert callable(source_of(ref)), f"{item}: {ref}"


# ---- a section's status, badge and key figure, from synthetic records (no report run) ----------------------

@pytest.fixture
def records():
    # the run's records emptied for the test and put back after it (a `hw5 report` run is filling them)
    from hw5.deliver import evidence

    saved = [dict(registry) for registry in evidence.RECORDS]
    for registry in evidence.RECORDS:
        registry.clear()
    yield evidence
    for registry, contents in zip(evidence.RECORDS, saved, strict=True):
        registry.clear()
        registry.update(contents)


# each case: contributions (test, ran), the tests' outcomes, the status of the section "arch"
STATUS_CASES = {
    "figures, passed": ([("t1", True)], {"t1": "passed"}, "passed"),
    "figures, xfailed": ([("t1", True)], {"t1": "xfailed"}, "passed"),
    "only 'not produced', passed": ([("t1", False)], {"t1": "passed"}, "not-run"),
    "only 'not produced', skipped": ([("t1", False)], {"t1": "skipped"}, "not-run"),
    "only 'not produced', failed": ([("t1", False)], {"t1": "failed"}, "failed"),
    "'not produced' and figures": ([("t1", False), ("t2", True)], {"t1": "passed", "t2": "passed"}, "passed"),
    "'not produced' errored beside figures": ([("t1", False), ("t2", True)], {"t1": "error", "t2": "passed"},
                                              "failed"),
    "figures, then skipped": ([("t1", True)], {"t1": "skipped"}, "failed"),
    "figures, failed": ([("t1", True)], {"t1": "failed"}, "failed"),
    "nothing": ([], {}, "missing"),
}


@pytest.mark.parametrize("contributions, outcomes, status", STATUS_CASES.values(), ids=STATUS_CASES)
def test_item_status_passes_only_with_figures_of_this_run(records, contributions, outcomes, status):
    # "pass" needs a contribution that produced figures; "not run" when the contributions only say they were not
    for test, ran in contributions:
        records.contribute("arch", test, "<p>fragment</p>", ran=ran)
    for test, outcome in outcomes.items():
        records.TESTS[test] = dict(outcome=outcome, seconds=0.0, output="")
    assert records.item_status("arch") == status


def contents_rows(page: str) -> dict[str, tuple[str, str, str]]:
    # page 1's contents table: item id -> (key figure, badge class, badge word)
    return {item: (key, cls, word) for item, key, cls, word in re.findall(
        r'<tr><td><a href="#([\w-]+)">.*?</a></td><td>(.*?)</td><td><span class="hw5-([\w-]+)">(.*?)</span></td></tr>',
        page)}


def test_contents_and_badges_say_not_run_for_sections_whose_figures_were_not_produced(records):
    # a synthetic run: Part 1 (a) and the benchmarks measured, arch, others and p1b only say they were not
    from hw5.deliver import report

    records.contribute("p1a", "t_p1a", "<p>accuracy 0.91</p>", key="0.9100")
    records.contribute("bench", "t_bench", "<p>timings</p>", key="9× the work")
    for item in ("arch", "others", "p1b"):
        records.contribute(item, f"t_{item}", "<p>Not measured in this run.</p>", ran=False)
    records.TESTS.update({test: dict(outcome="passed", seconds=0.0, output="") for test in
                          ("t_p1a", "t_bench", "t_arch", "t_others", "t_p1b")})
    rows = contents_rows(report.title_page(["Ada"]))
    assert rows["p1a"] == ("0.9100", "passed", "pass")
    assert rows["bench"] == ("9× the work", "reported", "reported")
    for item in ("arch", "others", "p1b"):
        assert rows[item] == ("–", "not-run", "not run"), item
    assert rows["p2-1"] == ("–", "missing", "no evidence")
    arch = next(entry for entry in report.ITEMS if entry[0] == "arch")
    heading = re.search(r'<section id="arch".*?<h2>(.*?)</h2>', report.item_section(*arch)).group(1)
    assert heading.endswith('<span class="hw5-not-run">not run</span>') and "pass" not in heading


def test_reported_section_whose_benchmarks_did_not_run_says_not_run(records):
    # REPORTED ("bench") shows "reported" only for figures of this run, never for the note that they are missing
    from hw5.deliver import report

    records.contribute("bench", "t_bench", "<p>Not measured in this run.</p>", ran=False)
    records.TESTS["t_bench"] = dict(outcome="skipped", seconds=0.0, output="")
    assert contents_rows(report.title_page([]))["bench"] == ("–", "not-run", "not run")


def test_contribute_refuses_a_key_figure_for_figures_not_produced(records):
    with pytest.raises(ValueError, match="not produced .* has no key figure"):
        records.contribute("others", "t", "<p>Not measured in this run.</p>", key="0 runtimes", ran=False)
    assert records.item_status("others") == "missing"


def test_every_badge_has_a_style_and_not_run_is_not_green():
    from hw5.deliver import report

    css = re.sub(r"/\*.*?\*/", "", report.PRINT_CSS.read_text(), flags=re.S)   # comments out
    rules = {name: body for names, body in re.findall(r"([^{}]+)\{([^}]*)\}", css) for name in
             (n.strip() for n in names.split(","))}
    for status in report.BADGE_WORDS:
        assert f".hw5-{status}" in rules, f"report.css has no rule for the badge .hw5-{status}"
    color = lambda name: re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]+)", rules[name]).group(1)  # noqa: E731
    assert color(".hw5-not-run") not in (color(".hw5-passed"), color(".hw5-failed"))


@pytest.fixture
def nothing_measured(monkeypatch, tmp_path):
    # the default run: no bench/architectures.json, no heavy tier's rows, no benchmarks
    from tests import test_architectures, test_verify, test_verify_cifar

    monkeypatch.setattr(test_architectures, "JSON_PATH", tmp_path / "architectures.json")
    monkeypatch.setattr(test_verify, "OTHERS", {})
    monkeypatch.setattr(test_verify, "ROBUSTNESS", {})
    monkeypatch.setattr(test_verify_cifar, "MEASURED", {})


def _architectures():
    from tests.test_architectures import test_architectures_table_for_the_report

    test_architectures_table_for_the_report()


def _others():
    from tests.test_verify import test_report_the_network_in_others_hands

    test_report_the_network_in_others_hands()


def _verify():
    from tests.test_verify_cifar import test_report_verify_on_cifar_sized_cnns

    test_report_verify_on_cifar_sized_cnns()


def _bench():
    from tests.test_bench import test_bench_summary

    with pytest.raises(pytest.skip.Exception):
        test_bench_summary([], None)


@pytest.mark.parametrize("item, contributor", [("arch", _architectures), ("others", _others), ("verify", _verify),
                                               ("bench", _bench)])
def test_contributors_of_opt_in_figures_declare_them_not_run(records, nothing_measured, item, contributor):
    # the real contributors, with nothing measured: their section says "not run", with no key figure
    from hw5.deliver import report

    contributor()
    assert records.CONTRIBUTIONS[item], f"{item}: the contributor said nothing"
    assert records.item_status(item) == "not-run"
    assert contents_rows(report.title_page([]))[item] == ("–", "not-run", "not run")


# ---- a file of figures: written in this run, or left by an earlier one ------------------------------------

def test_run_start_is_recorded_when_the_session_starts():
    # conftest's pytest_sessionstart calls evidence.start_run: this session's start is known, and in the past
    from hw5.deliver import evidence

    assert evidence.STARTED["time"] <= time.time() and evidence.STARTED["clock"] <= time.perf_counter()


def test_written_this_run_compares_the_files_mtime_with_the_runs_start(records, tmp_path):
    path = tmp_path / "figures.json"
    path.write_text("[]")
    assert not records.written_this_run(path)                 # no run start recorded: nothing is this run's
    records.STARTED["time"] = started = time.time() - 3600
    for mtime, fresh in [(started + 1, True), (started, True), (started - 1, False)]:
        os.utime(path, (mtime, mtime))
        assert records.written_this_run(path) is fresh, mtime
    assert not records.written_this_run(tmp_path / "absent.json")


# two rows of bench/architectures.json, as `make architectures` writes them
ARCHITECTURE_ROWS = [
    dict(name="MobileNet", size=32, keras_layers=86, numpy_layers=60, matrices=33, nonzeros=818_232,
         bytes_per_nonzero=8.19, convert_seconds=0.1, peak_gib=0.64, max_abs_diff=8.8e-8, output_scale=1.0,
         keras_ms_per_image=0.5, numpy_ms_per_image=0.75, ratio=1.5),
    dict(name="MobileNetV2@224", size=224, keras_layers=154, numpy_layers=103, matrices=58, nonzeros=301_000_000,
         bytes_per_nonzero=8.3, convert_seconds=40.0, peak_gib=4.5, max_abs_diff=5.4e-7, output_scale=1.0,
         keras_ms_per_image=None, numpy_ms_per_image=None, ratio=None),
]
EARLIER_RUN = datetime.datetime(2024, 3, 5, 14, 7)   # local time


@pytest.fixture
def architectures_json(records, monkeypatch, tmp_path):
    # bench/architectures.json (at a path of the test's own) just written; the run started an hour ago
    from tests import test_architectures

    path = tmp_path / "architectures.json"
    path.write_text(json.dumps(ARCHITECTURE_ROWS))
    monkeypatch.setattr(test_architectures, "JSON_PATH", path)
    records.STARTED["time"] = time.time() - 3600
    return path


def arch_section() -> str:
    from hw5.deliver import report

    return report.item_section(*next(entry for entry in report.ITEMS if entry[0] == "arch"))


def test_architectures_table_written_in_this_run_passes(records, architectures_json):
    from hw5.deliver import report

    _architectures()
    assert records.item_status("arch") == "passed"
    assert contents_rows(report.title_page([]))["arch"] == ("2 models", "passed", "pass")
    section = arch_section()
    assert "818,232" in section and "301,000,000" in section
    assert "Not measured in this run" not in section and "earlier run" not in section


def test_architectures_table_left_by_an_earlier_run_says_not_run_and_when(records, architectures_json):
    # the same figures, shown under the date and time of the run that wrote them; no "pass", no key figure
    from hw5.deliver import report

    written = EARLIER_RUN.timestamp()
    os.utime(architectures_json, (written, written))
    _architectures()
    assert records.item_status("arch") == "not-run"
    assert contents_rows(report.title_page([]))["arch"] == ("–", "not-run", "not run")
    section = arch_section()
    assert "818,232" in section and "301,000,000" in section
    assert re.search(rf"Not measured in this run: the table below is from an earlier run, which wrote "
                     rf"<code>{re.escape(str(architectures_json))}</code> on 2024-03-05 14:07\b", section), section
