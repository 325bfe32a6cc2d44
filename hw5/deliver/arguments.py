"""The `hw5` command's checks of what a user types, made before any work: every refusal is one line on stderr
and exit 2 (never a traceback). argparse types for numbers, a parser whose errors are one line, the model file
checked for what it is (missing, a directory, empty, not a zip/HDF5 file) without importing Keras, and the
output paths checked and reserved (`Outputs`) so that a refusal leaves no file behind."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"   # at offset 0 of a file written by h5py/Keras
SUFFIX = {"keras": ".keras", "npz": ".npz"}   # the writers that insist on their file name's suffix


class Refused(Exception):
    """A bad argument, an unreadable file or an unsupported layer: exit 2 with this one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line, `PROG: error: MESSAGE (see PROG --help)`, exit 2 (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def at_least(minimum: int, what: str):
    """argparse type: an integer ≥ `minimum`, refused as 'expected <what>, got ...'."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive = at_least(1, "a positive integer")
seed = at_least(0, "a non-negative integer seed")   # NumPy's and Keras' seeds are non-negative


def writable_directory(text: str) -> Path:
    """argparse type: a directory that is, or can be made, writable (its nearest existing ancestor takes a file)."""
    path = Path(text)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {str(existing)!r} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".hw5-probe.")
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot write in {str(existing)!r}: {exc.strerror or exc}") \
            from None
    os.close(fd)
    os.unlink(probe)
    return path


def check_model_file(name: str, onnx: bool = False) -> Path:
    """The path of MODEL if it looks like a Keras model file (or, with `onnx`, an .onnx file); Refused saying
    what it is otherwise.

    A .keras file must be a whole zip archive holding config.json; a .h5 file must start with HDF5's signature.
    Keras itself reports a truncated archive as 'File not found', hence these checks before it reads the file.
    An .onnx file must be readable and not empty here; from_onnx reads and checks the rest."""
    path, kinds = Path(name), ".keras/.h5/.onnx" if onnx else ".keras/.h5"
    if not path.exists():
        raise Refused(f"model {name!r}: no such file (MODEL is a {kinds} file, or part1/part2)")
    if path.is_dir():
        raise Refused(f"model {name!r}: a directory, not a {kinds} file")
    if path.suffix not in (".keras", ".h5", *((".onnx",) if onnx else ())):
        raise Refused(f"model {name!r}: not a {kinds} file name (MODEL is a {kinds} file, or part1/part2)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        raise Refused(f"model {name!r} cannot be read: {exc.strerror or exc}") from None
    if not head:
        raise Refused(f"model {name!r}: an empty file (0 bytes), not a {'ONNX' if path.suffix == '.onnx' else 'Keras'} "
                      f"model")
    if path.suffix == ".onnx":
        return path
    if path.suffix == ".h5":
        if head != HDF5_SIGNATURE:
            raise Refused(f"model {name!r} is corrupt: not an HDF5 file (no HDF5 signature at its start)")
        return path
    if not zipfile.is_zipfile(path):
        raise Refused(f"model {name!r} is corrupt: not a Keras archive (a .keras file is a zip archive; "
                      f"this one is not a whole zip file — truncated?)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise Refused(f"model {name!r} is corrupt: not a readable Keras archive ({exc})") from None
    if bad is not None:
        raise Refused(f"model {name!r} is corrupt: {bad!r} in the archive fails its CRC check")
    if "config.json" not in names:
        raise Refused(f"model {name!r} is corrupt: not a Keras archive (a zip without config.json)")
    return path


class Outputs:
    """The files a command writes, checked before any work and written all or none.

    `Outputs({"onnx": Path(...), ...}, model=...)` refuses a directory, a missing or unwritable directory, a
    suffix the writer would refuse, the same path twice, the model's own path, and reserves a temporary name
    beside each (the proof that its directory takes files). `staged(fmt)` is where to write; `commit()` renames
    every staged file to its name; `discard()` (or leaving the `with` block by an exception) removes them."""

    def __init__(self, paths: dict, model: Path | None = None):
        self.paths = {fmt: Path(path) for fmt, path in paths.items()}
        self.staging: dict[str, Path] = {}
        seen = {} if model is None else {model.resolve(): "MODEL"}
        try:
            for fmt, path in self.paths.items():
                where = f"--{fmt} {str(path)!r}"
                if path.is_dir():
                    raise Refused(f"{where}: a directory, not a file name")
                if fmt in SUFFIX and path.suffix != SUFFIX[fmt]:
                    raise Refused(f"{where}: the file name must end with {SUFFIX[fmt]}")
                directory = path.parent
                if not directory.is_dir():
                    raise Refused(f"{where}: directory {str(directory)!r} does not exist")
                key = path.resolve()
                if key in seen:
                    raise Refused(f"{where}: the same file as {seen[key]}")
                seen[key] = f"--{fmt}"
                try:
                    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=path.suffix)
                except OSError as exc:
                    raise Refused(f"{where}: cannot write in {str(directory)!r}: {exc.strerror or exc}") from None
                os.close(fd)
                self.staging[fmt] = Path(tmp)
        except BaseException:
            self.discard()
            raise

    def staged(self, fmt: str) -> Path:
        return self.staging[fmt]

    def commit(self) -> None:
        for fmt, tmp in list(self.staging.items()):
            os.replace(tmp, self.paths[fmt])
            del self.staging[fmt]

    def discard(self) -> None:
        for tmp in self.staging.values():
            tmp.unlink(missing_ok=True)
        self.staging.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return 2
