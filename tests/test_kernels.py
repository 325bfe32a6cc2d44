# hw5.homework.kernels: TensorFlow's C++ start-up notices are dropped from every entry point (the package, the
# command, the hand-in script) under oneDNN on and off, without hiding anything else written to fd 2; the
# mechanism is proved on a stand-in module that writes the notices as TensorFlow does (straight to fd 2 at import),
# so a CPU where TensorFlow never writes them still tests it; kernels() names the kernels the figures come from.
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hw5.deliver.amalgamation import amalgamate
from hw5.homework.kernels import NOTICES

# what TensorFlow 2.21 writes on a CPU where it turns oneDNN on (seen on an AVX-512 VNNI/BF16 machine), twice
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = ("I0000 00:00:1796161198.648425    2567 port.cc:153] oneDNN custom operations are on. You may see slightly "
          "different numerical results due to floating-point round-off errors from different computation orders. "
          "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")
# a line of TensorFlow's that must still show (an error logged before its logging is set up)
OTHER = "E0000 00:00:1796161198.700000    2567 cuda_dnn.cc:8310] something real went wrong"
STAND_IN = f"""
import os
os.write(2, {(ABSL + chr(10) + ONEDNN + chr(10) + OTHER + chr(10)) * 2!r}.encode())
VALUE = 42
"""


def _noise(text: str) -> list[str]:
    """The lines of `text` that are TensorFlow start-up notices (as tests/test_handin.py has always matched them)."""
    return [line for line in text.splitlines()
            if re.match(r"^[IW]0000 ", line) or "oneDNN custom operations" in line or "absl::InitializeLog" in line]


def _run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": f"{tmp_path}", **env})


def test_notices_pattern_takes_the_notices_and_nothing_else():
    assert NOTICES.match(ABSL + "\n") and NOTICES.match(ONEDNN)
    for kept in (OTHER, "WARNING: something else", ONEDNN.replace("port.cc", "conv.cc"),
                 ONEDNN.replace("are on", "are off"), "Traceback (most recent call last):"):
        assert not NOTICES.match(kept), kept


def test_startup_notices_dropped_keeps_every_other_line(tmp_path):
    # the context manager: fd 2 written inside comes back without the notices, in order; fd 2 works after it
    done = _run(f"""
        import os, sys
        from hw5.homework.kernels import startup_notices_dropped
        with startup_notices_dropped():
            exec(compile({STAND_IN!r}, "stand-in", "exec"))
            sys.stderr.write("from Python\\n")
        os.write(2, b"after\\n")
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [OTHER, OTHER, "from Python", "after"]


def test_first_import_quiet_drops_the_notices_of_a_stand_in_module(tmp_path):
    # the finder hw5 installs for TensorFlow, on a stand-in that writes TensorFlow's notices to fd 2 at import:
    # the module arrives whole, the other line still shows, and the finder steps aside after its one import
    (tmp_path / "standin.py").write_text(STAND_IN)
    done = _run("""
        import sys
        from hw5.homework.kernels import FirstImportQuiet
        finder = FirstImportQuiet("standin")
        sys.meta_path.insert(0, finder)
        import standin
        print(standin.VALUE, standin.__name__, finder in sys.meta_path, sys.modules["standin"] is standin)
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["42", "standin", "False", "True"]
    assert done.stderr.splitlines() == [OTHER, OTHER]


def test_first_import_quiet_still_shows_why_an_import_failed(tmp_path):
    # a failing import is not hidden: its traceback and the lines written before it show, the notices do not
    (tmp_path / "broken.py").write_text(STAND_IN + "raise ImportError('the real reason')\n")
    done = _run("""
        import sys
        from hw5.homework.kernels import FirstImportQuiet
        sys.meta_path.insert(0, FirstImportQuiet("broken"))
        import broken
        """, tmp_path)
    assert done.returncode == 1
    assert "ImportError: the real reason" in done.stderr and OTHER in done.stderr
    assert _noise(done.stderr) == []


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "homework5_jdoe.py"
    path.write_text(amalgamate(["jdoe"], path.name))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                      keras.layers.Dense(2)]).save(path)
    return path


ENTRY_POINTS = {   # each imports TensorFlow its own way
    "import hw5, then keras": lambda script, model: [sys.executable, "-c", "import hw5.numpy_net, keras"],
    "python -m hw5.homework --help": lambda script, model: [sys.executable, "-m", "hw5.homework", "--help"],
    "hw5 convert": lambda script, model: [sys.executable, "-m", "hw5.deliver.cli", "convert", str(model),
                                          "--check", "2"],
    "the hand-in script --help": lambda script, model: [sys.executable, "-I", str(script), "--help"],
}


@pytest.mark.parametrize("onednn", ["0", "1"])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_entry_points_print_no_tensorflow_notice(entry, onednn, script, tiny_model, tmp_path):
    # the README's ways in, under oneDNN off and on (=1 brings the notices on any x86 CPU)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(ENTRY_POINTS[entry](script, tiny_model), cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**env, "TF_ENABLE_ONEDNN_OPTS": onednn})
    assert done.returncode == 0, done.stderr[-2000:]
    assert _noise(done.stdout + done.stderr) == []


def test_bare_tensorflow_does_print_the_notices_with_onednn_on(tmp_path):
    # the control: without hw5 the same environment does bring the lines, so the tests above prove something
    done = _run("import tensorflow", tmp_path, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3")
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("TensorFlow's oneDNN notice is an x86 Linux build's")
    assert any("oneDNN custom operations are on" in line for line in _noise(done.stderr)), done.stderr


@pytest.mark.parametrize("onednn, word", [("0", "off"), ("1", "on")])
def test_kernels_says_whether_onednn_is_on(onednn, word, tmp_path):
    done = _run("import hw5; from hw5.homework.kernels import kernels; print(kernels())", tmp_path,
                TF_ENABLE_ONEDNN_OPTS=onednn)
    assert done.returncode == 0, done.stderr
    info = Path("/proc/cpuinfo")
    flags = info.read_text() if info.is_file() else ""
    expected = "AVX-512" if re.search(r"\bavx512f\b", flags) else "AVX2" if re.search(r"\bavx2\b", flags) else ""
    assert re.fullmatch(rf"oneDNN {word} \(.*{expected}.*\)", done.stdout.strip()), done.stdout
