"""Atomic file writing for the exports: a temporary name in the target's directory, then os.replace."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a fresh temporary path beside `path`, then rename it to `path`.

    Raises ValueError naming `path` when its directory is missing or not writable (before any work); on
    any failure of `write` the temporary file is removed and nothing is left at `path`.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory, not a file name")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise ValueError(f"path {str(path)!r}: directory {str(directory)!r} does not exist or is not writable")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp's 0600 would make the export private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dense_array(W):
    """A matrix as a NumPy array (scipy.sparse densified)."""
    return W.toarray() if hasattr(W, "toarray") else W
