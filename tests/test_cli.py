# The `hw5` command: train (from the cache here) prints accuracy and time; bad arguments are refused.
import subprocess
import sys

import pytest

from hw5.deliver.cli import main


@pytest.mark.training
def test_cli_train_prints_accuracy_and_time(part1, capsys):
    # the session fixture filled the cache, so this loads and evaluates without training
    assert main(["train", "--part", "1"]) == 0
    out = capsys.readouterr().out
    assert f"part 1: test accuracy {part1.log.test_accuracy:.4f} on 10,000 test images (loaded from cache" in out
    assert f"time to 90% test accuracy: {part1.log.time_to_target:.1f} s of training" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "expected a positive integer, got 0"),
    (["train", "--epochs", "two"], "expected a positive integer, got 'two'"),
    (["train", "--part", "3"], "invalid choice: 3"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required: command"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    # a valid .keras (its max-pool has no Dense form without --relu-only) and broken files a user may hand in
    import keras

    folder = tmp_path_factory.mktemp("models")
    model = keras.Sequential([keras.Input((6, 5, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.save(folder / "m.keras")
    whole = (folder / "m.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    (folder / "text.keras").write_text("a text file, not a model\n")
    (folder / "empty.keras").write_bytes(b"")
    (folder / "fake.h5").write_text("not HDF5\n")
    (folder / "dir.keras").mkdir()
    return folder


# (argv, what the one line must name); {m} the models' folder, {out} an empty folder for outputs
BAD_INVOCATIONS = [
    (["convert", "{m}/m.keras", "--seed", "-1"], "argument --seed: expected a non-negative integer seed, got -1"),
    (["convert", "{m}/m.keras", "--seed", "1.5"], "argument --seed: expected a non-negative integer seed"),
    (["convert", "{m}/m.keras", "--check", "0"], "argument --check: expected a positive integer, got 0"),
    (["convert", "{m}/m.keras", "--check", "-1"], "argument --check: expected a positive integer, got -1"),
    (["convert", "{m}/m.keras", "--check", "abc"], "argument --check: expected a positive integer, got 'abc'"),
    (["convert", "{m}/m.keras", "--onnx", "{out}/no/such/dir/m.onnx"], "--onnx '{out}/no/such/dir/m.onnx': directory"),
    (["convert", "{m}/m.keras", "--onnx", "/proc/x.onnx"], "--onnx '/proc/x.onnx': cannot write in '/proc'"),
    (["convert", "{m}/m.keras", "--npz", "{out}"], "--npz '{out}': a directory, not a file name"),
    (["convert", "{m}/m.keras", "--relu-only", "--onnx", "{out}/a", "--nnet", "{out}/a"],
     "--nnet '{out}/a': the same file as --onnx"),
    (["convert", "{m}/m.keras", "--onnx", "{m}/m.keras"], "--onnx '{m}/m.keras': the same file as MODEL"),
    (["convert", "{m}/m.keras", "--relu-only", "--keras", "{out}/d.h5"],
     "--keras '{out}/d.h5': the file name must end"),
    (["convert", "{m}/m.keras", "--nnet", "{out}/m.nnet"], "--nnet needs --relu-only"),
    (["convert", "{m}/m.keras", "--onnx", "{out}/m.onnx", "--keras", "{out}/m.keras"], "--keras: layer"),
    (["convert", "{m}/missing.keras"], "model '{m}/missing.keras': no such file"),
    (["convert", "{m}/dir.keras"], "model '{m}/dir.keras': a directory"),
    (["convert", "{m}/empty.keras"], "model '{m}/empty.keras': an empty file"),
    (["convert", "{m}/truncated.keras"], "model '{m}/truncated.keras' is corrupt: not a Keras archive"),
    (["convert", "{m}/text.keras"], "model '{m}/text.keras' is corrupt: not a Keras archive"),
    (["convert", "{m}/fake.h5"], "model '{m}/fake.h5' is corrupt: not an HDF5 file"),
    (["convert", "{m}/m.keras", "--bogus"], "unrecognized arguments: --bogus"),
    (["convert"], "the following arguments are required: MODEL"),
    (["train", "--part", "3"], "argument --part: invalid choice: 3"),
    (["train", "--seed", "x"], "argument --seed: expected a non-negative integer seed, got 'x'"),
    (["train", "--seed", "-2"], "argument --seed: expected a non-negative integer seed, got -2"),
    (["handin"], "the following arguments are required: --user"),
    (["handin", "--user", "a.b"], "argument --user: expected a name of letters, digits, '_' and '-', got 'a.b'"),
    (["handin", "--user", "a", "--user", "a"], "--user: the names must differ"),
    (["handin", "--user", "a", "--out", "/proc/x"], "argument --out: '/proc/x': cannot write in '/proc'"),
    (["handin", "--user", "a", "--out", "{m}/m.keras/zips"],
     "argument --out: '{m}/m.keras/zips': '{m}/m.keras' is a file"),
]


@pytest.mark.parametrize("argv, message", BAD_INVOCATIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_cli_bad_invocation_is_one_line_and_exit_2(models, tmp_path, argv, message):
    # run as a user runs it: a fresh interpreter, `python -m hw5.deliver.cli ...`
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(p.name for p in models.iterdir())
    argv = [a.format(m=models, out=out) for a in argv]
    run = subprocess.run([sys.executable, "-m", "hw5.deliver.cli", *argv], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    lines = run.stderr.splitlines()
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert len(lines) == 1 and message.format(m=models, out=out) in lines[0], run.stderr
    assert list(out.iterdir()) == [] and sorted(p.name for p in models.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cli_convert_help_states_needs_defaults_and_exit_codes():
    # --help names what each option needs, its default, the check inputs and the three exit codes
    run = subprocess.run([sys.executable, "-m", "hw5.deliver.cli", "convert", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and run.stderr == ""
    text = " ".join(run.stdout.split())
    for needle in ["--nnet needs --relu-only", "(default 16;", "(default 0)", "uniform [0, 1]", "--seed S",
                   "Fashion-MNIST test images", "all or none", "exit codes:",
                   "0 every figure", "1 a figure past its tolerance", "2 a bad argument"]:
        assert needle in text, needle


def test_cli_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    # a command stopped by Ctrl-C: the shell's 130 and one line, never a traceback
    import hw5.deliver.cli as cli

    def stopped(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", stopped)
    assert cli.main(["train"]) == cli.INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
