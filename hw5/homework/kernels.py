"""Step 0 — TensorFlow imported without its C++ start-up notices; the CPU kernels the figures come from.

On a CPU where TensorFlow turns oneDNN on (AVX-512 VNNI/BF16, AMX), `import tensorflow` writes notices
straight to file descriptor 2 before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot reach them.
`startup_notices_dropped()` points fd 2 at a temporary file while the import runs, then writes back every line
but those notices (NOTICES): an error, a warning or a traceback still shows, and no kernel changes.
`FirstImportQuiet` does the same for the first import of a module from anywhere (hw5/__init__.py installs it
for TensorFlow, so no hw5 entry point prints the notices). `kernels()` names what computed the figures:
oneDNN on or off and the CPU flags that decide it; the same seed repeats the figures where both are the same.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import re
import sys
import tempfile
from importlib.abc import Loader, MetaPathFinder
from pathlib import Path

NOTICES = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$|"
                     r"I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\. ")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # TensorFlow's logged C++ lines: none (set it to see them)
CPU_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"),
             ("amx_tile", "AMX"))   # /proc/cpuinfo's flags that decide whether TensorFlow turns oneDNN on
DIGITS = "same seed, same digits on this kind of CPU; where the kernels differ, the last digit may move"


@contextlib.contextmanager
def startup_notices_dropped():
    """Inside: fd 2 goes to a temporary file; after: all it caught but the NOTICES lines goes to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not NOTICES.match(line)))


class FirstImportQuiet(MetaPathFinder):
    """A sys.meta_path entry: the first import of `name` (or of a module beneath it, or by another package,
    as Keras imports TensorFlow) runs its code inside startup_notices_dropped(); the entry then leaves
    sys.meta_path. It finds the module with the finders after it and only wraps the loader (QuietLoader)."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = QuietLoader(spec.loader)
        return spec


class QuietLoader(Loader):
    """`loader` with its module's code run inside startup_notices_dropped(); afterwards the module names
    `loader` itself again (its __loader__ and __spec__.loader), as if imported plainly."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):   # is_package, get_resource_reader ...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        try:
            with startup_notices_dropped():
                self.loader.exec_module(module)
        finally:
            module.__loader__ = module.__spec__.loader = self.loader


def kernels() -> str:
    """'oneDNN on (AVX2, AVX-512, VNNI, BF16)': TensorFlow's own answer, and the CPU's flags that decide it."""
    try:
        from tensorflow.python.util import _pywrap_util_port as port
        onednn = "on" if port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):   # TensorFlow's internal API: it may move
        onednn = "on or off (unknown)"
    info = Path("/proc/cpuinfo")
    words = set(re.findall(r"\w+", info.read_text())) if info.is_file() else set()
    flags = [name for flag, name in CPU_FLAGS if flag in words] or [platform.machine() or "CPU unknown"]
    return f"oneDNN {onednn} ({', '.join(flags)})"
