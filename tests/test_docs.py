# The documentation against the code: every dotted `hw5.…` name in docs/*.md and README.md resolves, every
# hw5/, tests/, tools/ and docs/ path they give exists, and docs/adding-a-layer.md's example runs as written.
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

# hw5.a.b…: not part of a longer word, a path (.venv/bin/hw5, report/hw5.pdf) or a file name (.hw5-cache); the
# `hw5 convert` command has no dot, and a sentence's full stop is not an identifier
NAME = re.compile(r"(?<![\w./-])hw5(?:\.[A-Za-z_]\w*)+")
# a repository path: hw5/convert/fold.py, tests/test_export.py::test_… (the test id dropped), hw5/*.py (a glob)
PATH = re.compile(r"(?<![\w./-])(?:hw5|tests|tools|docs)/[\w./*-]*")


def resolve(name: str) -> bool:
    """Whether `name` is a module, or an attribute path in one: the longest importable prefix, then getattr."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def mentions(pattern: re.Pattern, text: str, where: str) -> list[tuple[str, str]]:
    """(file:line, match) for every match of `pattern` in `text`."""
    return [(f"{where}:{n}", m.group()) for n, line in enumerate(text.splitlines(), 1) for m in pattern.finditer(line)]


def doc_mentions(pattern: re.Pattern) -> list[tuple[str, str]]:
    return [hit for doc in DOCS for hit in mentions(pattern, doc.read_text(), str(doc.relative_to(ROOT)))]


def path_exists(path: str) -> bool:
    path = path.rstrip(".,;:")
    return any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()


def test_every_dotted_hw5_name_in_the_docs_resolves():
    hits = doc_mentions(NAME)
    assert len(hits) > 50                               # the docs name the API: a broken pattern finds nothing
    unresolved = [f"{where}: {name}" for where, name in hits if not resolve(name)]
    assert unresolved == [], "names in the docs that do not resolve:\n" + "\n".join(unresolved)


def test_every_repository_path_in_the_docs_exists():
    hits = doc_mentions(PATH)
    assert len(hits) > 30
    missing = [f"{where}: {path}" for where, path in hits if not path_exists(path)]
    assert missing == [], "paths in the docs that do not exist:\n" + "\n".join(missing)


def test_the_doc_checks_see_a_wrong_name_and_a_wrong_path():
    # the checkers themselves: a renamed class, a module that is gone, a sentence's full stop, a CLI word and a
    # path that is not a name; a missing file, a glob that matches nothing
    text = ("`hw5.convert.network.NumpyNet`, `hw5.convert.graph.GraphNet` and hw5.homework.registry. Run `hw5 "
            "convert` or .venv/bin/hw5; see hw5/convert/rules.py, tests/test_registry_owners.py and hw5/*.pyx.")
    names = [name for _, name in mentions(NAME, text, "t.md")]
    assert names == ["hw5.convert.network.NumpyNet", "hw5.convert.graph.GraphNet", "hw5.homework.registry"]
    assert [resolve(name) for name in names] == [True, False, False]
    assert resolve("hw5.convert.relu_only.relu_only") and resolve("hw5.homework") and not resolve("hw5.nothing")
    paths = [path for _, path in mentions(PATH, text, "t.md")]
    assert paths == ["hw5/convert/rules.py", "tests/test_registry_owners.py", "hw5/*.pyx."]
    assert [path_exists(path) for path in paths] == [True, False, False]


def python_blocks(doc: Path) -> list[str]:
    """The ```python fenced blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```$", doc.read_text(), re.S | re.M)


def test_adding_a_layer_example_runs():
    # docs/adding-a-layer.md's example — a user's own Keras layer through from_keras, relu_only, ONNX, npz and the
    # error bound, each compared with Keras by the example's own asserts — as one script in a fresh process
    blocks = python_blocks(ROOT / "docs" / "adding-a-layer.md")
    assert len(blocks) >= 3
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"the example exits {run.returncode}:\n{run.stderr[-3000:]}"
    assert "UnitClip: from_keras, relu_only, ONNX, npz and the error bound agree with Keras" in run.stdout
