# The hand-in: `hw5 handin` zips the report's PDF with one script generated from the package (hw5.amalgamation);
# the script runs where hw5, scipy, pytest and matplotlib cannot be imported, and prints the homework's evidence.
# References: the package itself (train_part on the same quick configuration), tests/tolerances.py, and
# hand-made packages for the generator's rules. A stand-in report directory spares the real report run.
import ast
import collections
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import zipfile

import numpy as np
import pytest

from hw5.data import CLASS_NAMES
from hw5.deliver import handin
from hw5.deliver.amalgamation import MODULES, amalgamate, module_order
from hw5.deliver.cli import main as cli
from hw5.homework.kernels import DIGITS
from hw5.homework.run import QUICK_SUBSET
from tests import early
from tests import tolerances as tol
from tests.helpers import convolution_calls, imports_and_calls

BLOCKED = ("hw5", "pytest", "scipy", "matplotlib", "hypothesis")  # what the script's environment lacks
SITECUSTOMIZE = f'''import sys

class _NotInstalled:  # the hand-in check: these packages do not exist here
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed here)", name=name)

sys.meta_path.insert(0, _NotInstalled())
'''
MAX_SCRIPT_LINES = 600   # the hand-in issue's 600 lines a grader reads in minutes, Step 0 (TensorFlow's start-up
                         # notices dropped, its CPU kernels named) included
STEP_LINE = re.compile(r"^\s*(\d+)/(\d+) .*loss: ")  # Keras' progress bar, one drawing per gradient update


def stand_in_report(directory, users, exit_code=0):
    # what `hw5 report --user ...` leaves behind: report.pdf (everything), homework.pdf (the graded items) and
    # report.json; the PDFs dated a day ahead so that files the other engineers save meanwhile do not make it stale
    directory.mkdir(parents=True, exist_ok=True)
    for name, what in (("report.pdf", "full report"), ("homework.pdf", "hand-in PDF")):
        pdf = directory / name
        pdf.write_bytes(f"%PDF-1.4 stand-in for the {what} of ".encode() + " ".join(users).encode())
        os.utime(pdf, (time.time() + 86400, time.time() + 86400))
    (directory / "report.json").write_text(json.dumps(
        {"users": list(users), "pytest_exit_code": exit_code, "created": "2026-11-24T12:00:00"}))
    return directory


def stub_script(users, filename):
    # the generator's stand-in where only the zip and the report logic are under test
    return f"# {filename} by {', '.join(users)}: a stand-in\n"


def must_not_run(users, report_dir):
    raise AssertionError(f"the report ran for {users} although {report_dir} could be reused")


def quiet(_message):
    pass


def make_bare_python(root):
    # a Python that sees this venv's packages minus BLOCKED: a venv whose .pth adds our site-packages (without
    # running its .pth files, so hw5's editable install is not on the path either) and a blocking sitecustomize
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next(root.glob("lib/python*/site-packages"))
    (site / "packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return root / "bin" / "python"


def prepare_quick_run(workdir):
    # one zip for "jdoe", unzipped, its script run with --quick in the bare environment
    path = handin.build(["jdoe"], out_dir=workdir / "handin", report_dir=stand_in_report(workdir / "report", ["jdoe"]),
                        report=must_not_run, say=quiet)
    run_dir = workdir / "unzipped"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(run_dir)
    return [str(make_bare_python(workdir / "bare-venv")), "-I", str(run_dir / "homework5_jdoe.py"), "--quick"], \
        run_dir, {}


# started by conftest.py when the tests are collected (tests/early.py): the script trains beside the suite
early.register("handin-quick-run", fixture="quick_run", prepare=prepare_quick_run, timeout=600)


@pytest.fixture(scope="module")
def quick_run():
    workdir, done = early.result("handin-quick-run")
    print(f"homework5_jdoe.py --quick ran in its own process (tests/early.py), exit {done.returncode}")
    return (workdir / "handin" / "homework5_jdoe.zip", (workdir / "unzipped" / "homework5_jdoe.py").read_text(),
            done)


@pytest.fixture(scope="module")
def bare_python(quick_run):
    return early.JOBS["handin-quick-run"].workdir / "bare-venv" / "bin" / "python"


@pytest.mark.parametrize("users", [["jdoe"], ["ann", "bob_2"], ["a-1", "B", "c_3"]])
def test_handin_zip_holds_exactly_the_pdf_and_the_script(users, tmp_path):
    report_dir = stand_in_report(tmp_path / "report", users)
    path = handin.build(users, out_dir=tmp_path / "handin", report_dir=report_dir, report=must_not_run, say=quiet)
    stem = "homework5_" + "_".join(users)
    assert path == tmp_path / "handin" / f"{stem}.zip"
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{stem}.zip"]  # no temporary file left
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [f"{stem}.pdf", f"{stem}.py"]
        assert zf.read(f"{stem}.pdf") == (report_dir / "homework.pdf").read_bytes()   # the graded items only
        script = zf.read(f"{stem}.py").decode()
    assert script.startswith(f"# {stem}.py -- CS/DS 541 Homework 5, by {', '.join(users)}.")


@pytest.mark.parametrize("argv, message", [
    (["handin"], "the following arguments are required: --user"),
    (["handin", "--user", "j doe"], "expected a name of letters, digits, '_' and '-', got 'j doe'"),
    (["handin", "--user", "../x"], "got '../x'"),
    (["handin", "--user", "jöe"], "got 'jöe'"),
    (["handin", "--user", ""], "got ''"),
    (["handin", "--user", "a", "--user", "b", "--user", "c", "--user", "d"], "give 1 to 3 names, got 4"),
    (["handin", "--user", "a", "--user", "a"], "the names must differ"),
])
def test_handin_refuses_bad_names(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("hw5.deliver.report.main", lambda argv: pytest.fail(f"bad names reached the report: {argv}"))
    with pytest.raises(SystemExit) as exit_info:
        cli([*argv, "--out", str(tmp_path / "handin"), "--report", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "handin").exists()


@pytest.mark.parametrize("users, error, match", [
    ("jdoe", TypeError, "users must be a list of names"),
    ([], ValueError, "give 1 to 3 names, got 0"),
    (["a", "b;rm"], ValueError, r"--user 'b;rm': a name may hold only letters"),
    (["a", 7], ValueError, "--user 7"),
])
def test_handin_build_rejects_bad_users(users, error, match, tmp_path):
    with pytest.raises(error, match=match):
        handin.build(users, out_dir=tmp_path, report_dir=tmp_path, report=must_not_run, generate=stub_script,
                     say=quiet)


@pytest.mark.parametrize("stale, reason", [
    ("other names", "it names ['someone'], not ['jdoe']"),
    ("failed run", "its test run did not pass (pytest exit code 1)"),
    ("no json", "report.json does not exist"),
    ("no pdf", "homework.pdf does not exist"),
    ("no full report", "report/report.pdf does not exist"),
    ("older than the code", "changed since it was made"),
    ("older than a trained model", "model.keras changed since it was made"),
])
def test_handin_runs_the_report_unless_it_is_fresh(stale, reason, tmp_path, monkeypatch):
    report_dir = stand_in_report(tmp_path / "report", ["someone"] if stale == "other names" else ["jdoe"],
                                 exit_code=1 if stale == "failed run" else 0)
    pdf = report_dir / "homework.pdf"
    if stale == "no json":
        (report_dir / "report.json").unlink()
    if stale == "no pdf":
        pdf.unlink()
    if stale == "no full report":
        (report_dir / "report.pdf").unlink()
    if stale == "older than the code":
        os.utime(pdf, (0, 0))
    if stale == "older than a trained model":  # newer than every code file, older than a model trained since
        monkeypatch.setenv("HW5_CACHE_DIR", str(tmp_path / "cache"))
        code = max(p.stat().st_mtime for p in handin.report_inputs())
        entry = tmp_path / "cache" / "part2-0123456789abcdef"
        entry.mkdir(parents=True)
        (entry / "model.keras").write_bytes(b"weights")
        os.utime(pdf, (code + 1, code + 1))
        os.utime(entry / "model.keras", (code + 2, code + 2))
    calls, said = [], []

    def report(users, directory):
        calls.append((users, directory))
        stand_in_report(directory, users)
        return 0

    path = handin.build(["jdoe"], out_dir=tmp_path / "handin", report_dir=report_dir, report=report,
                        generate=stub_script, say=said.append)
    assert calls == [(["jdoe"], report_dir)]
    assert reason in said[0]
    assert path.is_file()
    # and now the report is fresh: a second hand-in reuses it
    handin.build(["jdoe"], out_dir=tmp_path / "handin", report_dir=report_dir, report=must_not_run,
                 generate=stub_script, say=said.append)
    assert said[-2].startswith("reusing")


def test_handin_failing_report_leaves_no_zip(tmp_path, monkeypatch, capsys):
    # through the command: hw5.report.main gets the names and the report directory, and fails
    argvs = []
    monkeypatch.setattr("hw5.deliver.report.main", lambda argv: argvs.append(argv) or 1)
    monkeypatch.setattr(handin, "amalgamate", stub_script)
    stand_in_report(tmp_path / "report", ["someone"])  # a report of other authors: not reusable
    out = tmp_path / "handin"
    assert cli(["handin", "--user", "ann", "--user", "bob", "--out", str(out), "--report",
                str(tmp_path / "report")]) == 1
    assert argvs == [["--user", "ann", "--user", "bob", "--out", str((tmp_path / "report").resolve())]]
    assert "no zip written: the report failed (exit code 1)" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_handin_unwritable_script_stops_before_the_report(tmp_path):
    def broken(users, filename):
        raise ValueError("hw5/layers.py imports scipy.special at top level")

    with pytest.raises(handin.HandinError, match=r"cannot generate homework5_jdoe.py: hw5/layers.py imports scipy"):
        handin.build(["jdoe"], out_dir=tmp_path / "handin", report_dir=tmp_path / "report", report=must_not_run,
                     generate=broken, say=quiet)
    assert not (tmp_path / "handin").exists()


def test_handin_crashing_report_leaves_no_zip(tmp_path):
    def crash(users, directory):
        raise OSError("could not find class definition")

    with pytest.raises(handin.HandinError, match=r"the report crashed \(OSError: could not find class definition\)"):
        handin.build(["jdoe"], out_dir=tmp_path / "handin", report_dir=tmp_path / "report", report=crash,
                     generate=stub_script, say=quiet)
    assert not (tmp_path / "handin").exists()


def test_handin_report_that_runs_but_stays_unusable_gives_no_zip(tmp_path):
    with pytest.raises(handin.HandinError, match="the report ran but cannot be used: .*homework.pdf does not exist"):
        handin.build(["jdoe"], out_dir=tmp_path / "handin", report_dir=tmp_path / "report",
                     report=lambda users, directory: 0, generate=stub_script, say=quiet)
    assert not (tmp_path / "handin").exists()


def test_handin_zip_write_failure_keeps_the_old_zip(tmp_path, monkeypatch):
    report_dir = stand_in_report(tmp_path / "report", ["jdoe"])
    out = tmp_path / "handin"
    build = dict(out_dir=out, report_dir=report_dir, report=must_not_run, generate=stub_script, say=quiet)
    old = handin.build(["jdoe"], **build).read_bytes()
    real = zipfile.ZipFile.writestr

    def second_write_fails(self, info, data, *args, **kwargs):
        if self.namelist():
            raise OSError("disk full")
        return real(self, info, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", second_write_fails)
    with pytest.raises(OSError, match="disk full"):
        handin.build(["jdoe"], **build)
    assert [p.name for p in out.iterdir()] == ["homework5_jdoe.zip"]  # the temporary file is gone
    assert (out / "homework5_jdoe.zip").read_bytes() == old


def test_handin_zip_is_its_owners_alone(tmp_path):
    # the zip is written 0600 whatever the umask (a student's hand-in), through the one atomic writer
    handin.write_zip(tmp_path / "new" / "h.zip", {"a.txt": b"a"})
    assert (tmp_path / "new" / "h.zip").stat().st_mode & 0o777 == 0o600


def test_handin_view_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    # hw5.deliver.handin_view.write_html writes atomically: a failure while writing keeps what was there
    from hw5.deliver import handin_view

    path = tmp_path / "homework.html"
    path.write_text("old")
    real = type(path).write_text

    def half_then_full(self, text, *args, **kwargs):
        real(self, text[:len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(handin_view, "document", lambda users, pages: "<html>the hand-in</html>")
    monkeypatch.setattr(type(path), "write_text", half_then_full)
    with pytest.raises(OSError, match="disk full"):
        handin_view.write_html(path, ["jdoe"])
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["homework.html"] and path.read_text() == "old"


def test_atomic_write_makes_parents_sets_the_mode_and_refuses_a_bad_mode(tmp_path):
    # the writer every file of the package goes through (hw5.convert.export.files): parents=True makes the
    # directories (the cache, the report, the zip), mode sets the bits whatever the umask, None gives the umask's
    from hw5.convert.export.files import atomic_write

    old = os.umask(0o022)
    try:
        made = atomic_write(tmp_path / "a" / "b" / "f.json", lambda p: p.write_text("{}"), parents=True)
        private = atomic_write(tmp_path / "g.json", lambda p: p.write_text("{}"), mode=0o600)
    finally:
        os.umask(old)
    assert (made.read_text(), made.stat().st_mode & 0o777, private.stat().st_mode & 0o777) == ("{}", 0o644, 0o600)
    for bad in (0o1000, -1, True, "644"):
        with pytest.raises(ValueError, match=r"^mode must be None or permission bits in \[0, 0o777\], got "):
            atomic_write(tmp_path / "h.json", lambda p: p.write_text("{}"), mode=bad)
    assert not (tmp_path / "h.json").exists()


def test_script_runs_alone_and_prints_the_evidence(quick_run, bare_python, tmp_path):
    _, _, done = quick_run
    for name in BLOCKED:  # the environment really lacks them
        probe = subprocess.run([str(bare_python), "-I", "-c", f"import {name}"], cwd=tmp_path, capture_output=True,
                               text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, (name, probe.stderr[-500:])
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    updates = [int(m) for m in re.findall(r"^update +(\d+): batch loss \d\.\d+, batch accuracy", out, re.M)]
    assert updates[:5] == [1, 2, 3, 4, 5]
    bar = [STEP_LINE.match(line) for line in re.split(r"[\r\n\b]+", re.sub(r"\x1b\[[0-9;]*m", "", out))]
    drawn = [(int(m[1]), int(m[2])) for m in bar if m]
    assert [k for k, steps in drawn if steps == QUICK_SUBSET // 128][:5] == [1, 2, 3, 4, 5]  # Part 1's first 5
    assert re.search(r"^Part 1 \(a\): test accuracy 0\.\d{4} on 10,000 test images \(model\.evaluate\)$", out, re.M)
    assert "Trainable params: 11,087,498" in out
    assert re.search(rf"^TensorFlow's CPU kernels: oneDNN (on|off) \(.+\) -- {re.escape(DIGITS)}$", out, re.M)
    assert re.search(r"^conv/kernel +\(3, 3, 1, 64\) +float32 +576 values$", out, re.M)    # Part 2 (2)
    assert re.search(r"^in all +11,087,498$", out, re.M)
    assert "⌊(28 − 3 + 2·0) / 1⌋ + 1 = 26" in out and "neurons: 26 · 26 · 64 = 43,264" in out
    assert "⌊(26 − 2 + 2·0) / 2⌋ + 1 = 13" in out and "neurons: 13 · 13 · 64 = 10,816" in out
    assert "W 784 x 43,264 (389,376 non-zeros" in out                                       # 26·26·64·9
    tf_probs, np_probs = softmax_table(out)
    assert np.abs(tf_probs - np_probs).max() <= tol.SOFTMAX_F32_ONE_IMAGE
    printed = float(re.search(r"^max \|TensorFlow - NumPy\| = (\S+);", out, re.M)[1])
    assert printed <= tol.SOFTMAX_F32_ONE_IMAGE and "np.allclose(TF, NumPy, rtol=1e-5, atol=1e-6): True" in out
    assert tf_probs.argmax() == np_probs.argmax()


def softmax_table(out: str) -> tuple[np.ndarray, np.ndarray]:
    # Part 2 (5)'s table: class, TF and NumPy in fixed decimals, then both in scientific notation, then |diff|
    rows = re.findall(r"^(.{12}) +(\d\.\d{8}) +(\d\.\d{8}) +(\S+e[-+]\d+) +(\S+e[-+]\d+) +\S+$",
                      out.split("=== Part 2 (5)")[1], re.M)
    assert [row[0].strip() for row in rows] == list(CLASS_NAMES)
    for row in rows:   # the two notations print the same numbers
        assert abs(float(row[1]) - float(row[3])) <= 5e-9 and abs(float(row[2]) - float(row[4])) <= 5e-9
    return tuple(np.array([float(row[i]) for row in rows]) for i in (3, 4))


def test_script_prints_no_tensorflow_log_line(quick_run):
    # its first screen is the homework, not TensorFlow's C++ logging (which reads like errors)
    done = quick_run[2]
    noise = [line for line in (done.stdout + done.stderr).splitlines()
             if re.match(r"^[IWE]0000 ", line) or "oneDNN custom operations" in line or "absl::InitializeLog" in line]
    assert noise == []


def test_script_is_short_and_every_top_level_name_is_used(quick_run):
    # ≤ MAX_SCRIPT_LINES lines a grader reads in minutes, nothing main() cannot reach, the graded code marked
    _, script, _ = quick_run
    assert script.count("\n") <= MAX_SCRIPT_LINES
    tree = ast.parse(script)
    loads = [{n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
             for node in tree.body]
    for k, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            names = ({node.name} if hasattr(node, "name") else
                     {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
            assert any(names & used for j, used in enumerate(loads) if j != k), f"unused: {names}"
    assert "# Part 2 (3)" in script and "# Part 2 (4)" in script
    assert re.search(r"^def part2_forward\(.*# Part 2 \(3\)$", script, re.M)
    assert re.search(r"^def conv2d_as_dense_loop\(.*# Part 2 \(4\)$", script, re.M)


# train_part on the script's quick configuration, in a process of its own started early (tests/early.py)
PACKAGE_QUICK = f"""
import json
from hw5.cache import train_part
from hw5.data import load_fashion_mnist, preprocess
part1 = train_part(1, epochs=1, subset={QUICK_SUBSET}, cache="cache")
part2 = train_part(2, epochs=1, subset={QUICK_SUBSET}, cache="cache")
from hw5.compare import unsure_image
_, (x_test, y_test) = load_fashion_mnist()
index = unsure_image(part2.model.predict(preprocess(x_test), batch_size=1000, verbose=0), y_test)
probs = part2.model.predict(preprocess(x_test[index:index + 1]), verbose=0)[0]   # one image, as the script does
print(json.dumps(dict(accuracy=part1.log.test_accuracy, updates=part1.log.updates, index=index,
                      probs=probs.tolist())))
"""
early.register("package-quick-training", fixture="package_quick", prepare=early.python(PACKAGE_QUICK))


@pytest.fixture(scope="module")
def package_quick():
    _, done = early.result("package-quick-training")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_script_reproduces_the_package_training(quick_run, package_quick):
    # same seed, subset, epoch, batch and schedule as train_part: the same numbers, to the printed digit
    out = quick_run[2].stdout
    assert f"Part 1 (a): test accuracy {package_quick['accuracy']:.4f} on" in out
    for u in package_quick["updates"]:
        assert f"update {u['update']:3d}: batch loss {u['loss']:.4f}, batch accuracy {u['accuracy']:.4f}" in out
    assert f"test image {package_quick['index']} (label" in out     # the same rule picks the same image
    tf_probs, _ = softmax_table(out)
    assert [f"{p:.8e}" for p in tf_probs] == [f"{p:.8e}" for p in np.asarray(package_quick["probs"], np.float32)]


def test_script_imports_no_hw5_and_calls_no_convolution(quick_run):
    _, script, _ = quick_run
    imported, called = imports_and_calls(script)
    assert not {m for m in imported if m and m.split(".")[0] == "hw5"}, imported
    # Conv2D is the Keras layer the TensorFlow models are built from; nothing else may look like a convolution
    assert convolution_calls(called) == {"Conv2D"}, called
    tree = ast.parse(script)
    builders = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                and "Conv2D" in imports_and_calls(ast.get_source_segment(script, node))[1]}
    assert builders == {"build_part1_model", "build_part2_model"}
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top - set(sys.stdlib_module_names) <= {"numpy", "tensorflow", "keras"}, top  # no scipy, pytest, hw5...


def test_script_compiles_with_no_duplicate_top_level_names(quick_run):
    _, script, _ = quick_run
    compile(script, "homework5_jdoe.py", "exec")
    tree = ast.parse(script)
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [alias.asname or alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    assert {name: n for name, n in collections.Counter(names).items() if n > 1} == {}
    futures = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
    assert len(futures) == 1 and tree.body[1] is futures[0]  # right after the docstring
    mains = [node for node in tree.body if isinstance(node, ast.If) and "__name__" in ast.dump(node.test)]
    assert len(mains) == 1 and tree.body[-1] is mains[0]


def test_script_header_is_three_lines_a_grader_can_use(quick_run):
    # course, authors, provenance and how to run it; nothing about files the grader does not have
    _, script, _ = quick_run
    header = script.split('"""')[0].splitlines()
    assert len(header) == 3 and all(line.startswith("# ") for line in header), header
    assert header[0] == "# homework5_jdoe.py -- CS/DS 541 Homework 5, by jdoe."
    assert re.fullmatch(r"# Generated from the hw5 package \(hw5 \d+\.\d+\.\d+, git commit ([0-9a-f]{12}|unknown)"
                        r"( with uncommitted changes)?\); not edited by hand\.", header[1]), header[1]
    assert header[2].startswith("# Run: python homework5_jdoe.py [--quick]")
    assert not re.search(r"tools/|tests/|amalgamation|hw5/|make ", "\n".join(header))
    # each pasted module is headed by its docstring's first line, in the generator's order, main's module last
    from hw5.deliver.amalgamation import PACKAGE_DIR

    titles = re.findall(r"^# ==== (.+?) =+$", script, re.M)
    firsts = [ast.get_docstring(ast.parse((PACKAGE_DIR / f"{m}.py").read_text())).splitlines()[0]
              for m in module_order()]
    assert titles == firsts and module_order()[-1] == MODULES[-1] == "run"


# ---- the generator's rules, on small hand-made packages ------------------------------------------------

MAIN = "import sys\n\n\ndef main():\n    print(run())\n    return 0\n"


def package(tmp_path, **modules):
    root = tmp_path / "pkg"
    root.mkdir()
    for name, text in modules.items():
        (root / f"{name}.py").write_text(text)
    return root


def test_amalgamation_follows_and_removes_package_imports(tmp_path):
    root = package(
        tmp_path,
        top='"""Top: uses b at import time, c lazily."""\nfrom __future__ import annotations\n\n'
            "from hw5.homework.b import base\n\n\ndef lazy():\n"
            "    from hw5.homework.c import (\n        one,\n        two,\n    )\n"
            "    from hw5.homework.b import base as b2\n    return one() + two() + b2()\n\n\n"
            "def only_import():\n    from hw5.homework.c import one\n\n\ndef run():\n    only_import()\n"
            "    return base() + lazy()\n\n\nif __name__ == '__main__':\n    raise SystemExit('not here')\n",
        b="def base():\n    return 100\n",
        c="import math\n\n\ndef one():\n    return math.floor(1.5)\n\n\ndef two():\n    return 2\n",
        main="from hw5.homework.top import base, run  # noqa: F401 (top re-exports b's base)\n" + MAIN)
    assert module_order(("top", "main"), root) == ["b", "c", "top", "main"]
    script = amalgamate(["t"], "t.py", modules=("top", "main"), package_dir=root)
    assert "hw5" not in "".join(line for line in script.splitlines(True) if not line.startswith("#"))
    assert "b2 = base" in script and "    pass\n" in script and script.count("from __future__") == 1
    assert script.count("__name__") == 1
    namespace = {"__name__": "t"}
    exec(compile(script, "t.py", "exec"), namespace)
    assert namespace["run"]() == 100 + (1 + 2 + 100)


def test_amalgamation_drops_a_deferred_import_the_script_already_made(tmp_path):
    # `import math` inside a function, where the script imports math at top level anyway: dropped with the blank
    # line after it; an import that binds something else (`as m`, another module) or is its block's only
    # statement stays
    root = package(
        tmp_path,
        top="import math\n\n\ndef floor():\n    return math.floor(1.5)\n",
        lazy="def run():\n    import math\n\n    import math as m\n    import cmath\n\n"
             "    return floor() + math.ceil(0.5) + m.ceil(0.5) + int(cmath.sqrt(4).real)\n\n\n"
             "def alone():\n    if True:\n        import math\n    return math.pi\n",
        main="from hw5.homework.top import floor  # noqa: F401\nfrom hw5.homework.lazy import alone, run\n" + MAIN
             .replace("print(run())", "print(run(), alone())"))
    script = amalgamate(["t"], "t.py", modules=("top", "lazy", "main"), package_dir=root)
    run = script[script.index("def run():"):script.index("def alone():")]
    assert run.startswith("def run():\n    import math as m\n    import cmath\n\n    return"), run
    assert "        import math\n    return math.pi" in script   # its block's only statement
    namespace = {"__name__": "t"}
    exec(compile(script, "t.py", "exec"), namespace)
    assert namespace["run"]() == 1 + 1 + 1 + 2


F_IN_B = "def f():\n    pass\n"


@pytest.mark.parametrize("modules, match", [
    (dict(top="from hw5.deliver.cache import train_part\n"),
     r"hw5/homework/top.py line 1 imports hw5.deliver.cache, from the evidence and delivery layer .*: the hand-in "
     r"script holds hw5/homework/ alone"),
    (dict(top="def f():\n    from hw5.convert.fold import from_keras\n"),
     r"hw5/homework/top.py line 2 imports hw5.convert.fold, from the general converter"),
    (dict(top="from hw5.data import preprocess\n"), r"not `from hw5.data import ...`"),
    (dict(top="def f():\n    from hw5.homework.nope import g\n"),
     r"hw5/homework/top.py imports hw5.homework.nope, but .*nope.py does not exist"),
    (dict(top="import hw5.homework.b\n", b=""), r"`import hw5...` keeps names qualified"),
    (dict(top="from hw5 import b\n", b=""), r"not `from hw5 import ...`"),
    (dict(top="import scipy.sparse\n"), r"hw5/homework/top.py imports scipy.sparse at top level"),
    (dict(top="from hw5.homework.b import f\n\n\ndef f():\n    pass\n", b=F_IN_B),
     r"hw5/homework/top.py binds 'f' at top level, and so does hw5/homework/b.py"),
    (dict(top="from hw5.homework.b import g\n", b=F_IN_B),
     r"imports \['g'\] from hw5.homework.b, which does not define"),
    (dict(top="import os; from hw5.homework.b import f\n", b=F_IN_B), r"put this statement on lines of its own"),
])
def test_amalgamation_refuses_what_it_cannot_paste(modules, match, tmp_path):
    root = package(tmp_path, main="from hw5.homework.top import run\n" + MAIN, **modules)
    (root / "top.py").write_text((root / "top.py").read_text() + "\n\ndef run():\n    return 1\n")
    with pytest.raises(ValueError, match=match):
        amalgamate(["t"], "t.py", modules=("top", "main"), package_dir=root)
