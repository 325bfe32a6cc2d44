"""Atomic file writing, the package's one implementation: a temporary name in the target's directory, then
os.replace — a reader sees the old file or the whole new one, never a part. The exports, the training cache, the
report's files and the hand-in zip all write through `atomic_write`.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path, write: Callable[[Path], None], *, parents: bool = False, mode: int | None = None) -> Path:
    """Call `write(tmp)` on a fresh temporary path beside `path`, then rename it to `path`; returns `path`.

    On any failure of `write` (or of the rename) the temporary file is removed: `path` keeps what it held before
    (nothing, if it did not exist). `mode`: the file's permission bits; None gives 0o666 & ~umask, what open()
    gives a new file (mkstemp's own 0o600 would make the file private). A path that is a directory raises
    ValueError. `parents=False` (a path the user named): its directory must exist and be writable, else
    ValueError naming `path`, before any work. `parents=True` (the package's own files: cache, report,
    hand-in): missing directories are made, and a directory that cannot be made or written raises the OSError
    that says why.
    """
    path = Path(path)
    if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777):
        raise ValueError(f"mode must be None or permission bits in [0, 0o777], got {mode!r}")
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory, not a file name")
    directory = path.parent if str(path.parent) else Path(".")
    if parents:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir() or not os.access(directory, os.W_OK):
        raise ValueError(f"path {str(path)!r}: directory {str(directory)!r} does not exist or is not writable")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dense_array(W):
    """A matrix as a NumPy array (scipy.sparse densified)."""
    return W.toarray() if hasattr(W, "toarray") else W
