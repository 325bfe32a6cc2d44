# The package's layout is its architecture: three layers whose imports point one way only (README, file map),
# and the public names the README documents. The import graph is read from the source (ast), every import
# counted, at top level or inside a function, so a lazy import cannot hide a cycle or an upward arrow.
import ast
import importlib
from pathlib import Path

import pytest

import hw5

PACKAGE_DIR = Path(hw5.__file__).resolve().parent
# rank of each layer: a module may import modules of its own rank or lower, never higher
LAYERS = {"hw5.homework": 0, "hw5.convert": 1, "hw5.deliver": 2}
FACADE = 3   # hw5.data, hw5.numpy_net, ...: the public names, above everything


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    for layer, r in LAYERS.items():
        if module == layer or module.startswith(layer + "."):
            return r
    return FACADE


def package_imports(package_dir: Path) -> dict[str, set[str]]:
    """{module: the package modules it imports}, for every .py file under package_dir."""
    modules = {module_name(p): p for p in package_dir.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from hw5.convert import fold` imports the submodule if there is one
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name and t != "hw5"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_arrows(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if rank(b) > rank(a))


def test_package_has_no_import_cycle():
    assert find_cycle(package_imports(PACKAGE_DIR)) is None


def test_layers_import_only_downwards():
    # homework ← convert ← deliver ← the public facades: never the other way
    assert upward_arrows(package_imports(PACKAGE_DIR)) == []


def test_every_module_belongs_to_a_layer_or_is_a_facade():
    graph = package_imports(PACKAGE_DIR)
    facades = sorted(m for m in graph if rank(m) == FACADE and m != "hw5")   # hw5/__init__.py: the version
    assert facades == ["hw5.cache", "hw5.compare", "hw5.data", "hw5.models", "hw5.numpy_net", "hw5.toeplitz",
                       "hw5.weights"]


def test_structure_checks_see_a_cycle_and_an_upward_arrow(tmp_path):
    # meta: the checks above fail where they should — a cycle and an upward arrow put into a copy
    root = tmp_path / "hw5"
    for sub in ("homework", "convert", "deliver"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "homework" / "a.py").write_text("def f():\n    from hw5.convert.b import g\n")   # lazy, upward
    (root / "convert" / "b.py").write_text("from hw5.homework.a import f\n")
    (root / "deliver" / "c.py").write_text("from hw5.homework import a\n")
    global PACKAGE_DIR
    saved, PACKAGE_DIR = PACKAGE_DIR, root
    try:
        graph = package_imports(root)
        assert graph["hw5.deliver.c"] == {"hw5.homework.a"}
        assert find_cycle(graph) == ["hw5.convert.b", "hw5.homework.a", "hw5.convert.b"]
        assert upward_arrows(graph) == [("hw5.homework.a", "hw5.convert.b")]
    finally:
        PACKAGE_DIR = saved


# A `_name` is its module's own: no other module of the project imports it (a helper another module needs is public,
# and a test reaches a private helper through the public function that uses it).
PROJECT = ("hw5", "tests", "tools", "conftest")


def project_files(root: Path) -> list[Path]:
    """Every .py file of the project under root: hw5/, tests/, tools/ and conftest.py."""
    files = [p for top in PROJECT[:3] if (root / top).is_dir() for p in sorted((root / top).rglob("*.py"))]
    return files + [root / "conftest.py"] * (root / "conftest.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(root: Path) -> list[str]:
    """"file:line imports _name from module" for each `from <project module> import _name` in the project's files
    (at top level or inside a function; dunders such as __version__ are public), and "file:line uses _name of
    module" for `alias._name` where alias is a project module the file imported (`from hw5.homework import data`,
    `import hw5.convert.merges as merges`). Relative imports are resolved against the importing module's package."""
    offenders = []
    modules = {".".join(p.relative_to(root).with_suffix("").parts) for p in (root / "hw5").rglob("*.py")}
    for path in project_files(root):
        parts = path.relative_to(root).with_suffix("").parts
        own = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = own.split(".")[:len(parts) - 1]   # the package a relative import starts from
        tree, aliases = ast.parse(path.read_text(), filename=str(path)), {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.split(".")[0] in PROJECT})
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module.split(".")[0] not in PROJECT or module == own:
                continue
            offenders += [f"{path.relative_to(root)}:{node.lineno} imports {a.name} from {module}"
                          for a in node.names if _private(a.name)]
            aliases.update({a.asname or a.name: f"{module}.{a.name}" for a in node.names
                            if f"{module}.{a.name}" in modules})
        offenders += [f"{path.relative_to(root)}:{node.lineno} uses {node.attr} of {aliases[node.value.id]}"
                      for node in ast.walk(tree) if isinstance(node, ast.Attribute) and _private(node.attr)
                      and isinstance(node.value, ast.Name) and node.value.id in aliases]
    return offenders


def test_no_module_imports_another_modules_private_name():
    offenders = private_imports(PACKAGE_DIR.parent)
    assert offenders == [], "\n".join(offenders)


def test_private_import_check_sees_every_form(tmp_path):
    # meta: the check above fails where it should — top level, inside a function, a multi-line import, a
    # relative one; a module's own names, dunders and other libraries' privates are not its business
    (tmp_path / "hw5" / "convert").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "hw5" / "convert" / "a.py").write_text(
        "from hw5.homework.training import _inputs\n"
        "from hw5 import __version__\n"
        "from keras.src import _private\n"
        "def f():\n"
        "    from hw5.convert.b import (\n"
        "        public,\n"
        "        _hidden as shown,\n"
        "    )\n")
    (tmp_path / "hw5" / "convert" / "b.py").write_text("from .a import _mine\nfrom hw5.convert.b import _self\n")
    (tmp_path / "tests" / "test_x.py").write_text("import hw5\nfrom tests.helpers import _helper\n"
                                                  "from hw5.convert import b\nimport hw5.convert.a as a\n"
                                                  "b._hidden(a._inputs, b.public, b.__doc__)\n")
    (tmp_path / "conftest.py").write_text("from tools.mutants import _score\n")
    assert private_imports(tmp_path) == [
        "hw5/convert/a.py:1 imports _inputs from hw5.homework.training",
        "hw5/convert/a.py:5 imports _hidden from hw5.convert.b",
        "hw5/convert/b.py:1 imports _mine from hw5.convert.a",
        "tests/test_x.py:2 imports _helper from tests.helpers",
        "tests/test_x.py:5 uses _hidden of hw5.convert.b",
        "tests/test_x.py:5 uses _inputs of hw5.convert.a",
        "conftest.py:1 imports _score from tools.mutants"]


# The names README.md shows, by module: they keep working wherever the code lives.
PUBLIC_API = {
    "hw5.data": ["load_fashion_mnist", "preprocess", "data_source", "CLASS_NAMES", "DataError"],
    "hw5.models": ["build_part1_model", "build_part2_model", "TRAINING", "SEED"],
    "hw5.cache": ["train_part", "cache_dir"],
    "hw5.weights": ["extract_weights", "extract_variables"],
    "hw5.toeplitz": ["conv2d_as_dense", "conv2d_as_dense_loop", "conv2d_as_sparse", "conv_output_shape",
                     "derive_output_shape"],
    "hw5.numpy_net": ["from_keras", "from_onnx", "NumpyNet", "layer_table", "banded", "part2_forward"],
    "hw5.compare": ["agreement", "unsure_image", "layer_by_layer", "format_layer_diffs", "float64_twin"],
    "hw5.convert": ["from_keras", "from_onnx"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC_API))
def test_documented_names_import(module):
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC_API[module] if not hasattr(imported, name)]
    assert missing == []
    assert set(getattr(imported, "__all__", PUBLIC_API[module])) >= set(PUBLIC_API[module])


def test_public_from_keras_is_the_converters():
    # hw5.numpy_net.from_keras converts everything it converted before the move: BatchNorm, pooling, padding
    from hw5.convert.fold import from_keras
    from hw5.convert.registry import TRANSLATIONS
    from hw5.numpy_net import from_keras as public

    assert public is from_keras
    assert {"BatchNormalization", "AveragePooling2D", "ZeroPadding2D", "Conv2D", "Dense"} <= set(TRANSLATIONS)


def test_tiers_select_what_they_promise():
    # (here, not in test_helpers: mutmut runs that module in a copy without the Makefile)
    # `make test` (pytest.ini's addopts) leaves the `full` checks out; `make test-full` (CI) runs them and every
    # property; `hw5 report` runs both tiers; none of the three runs an opt-in tier (slow, heavy, architectures)
    import configparser
    import re
    import shlex
    from pathlib import Path

    from _pytest.mark.expression import Expression

    from hw5.deliver.report import REPORT_TIERS

    root = Path(__file__).resolve().parent.parent
    ini = configparser.ConfigParser()
    ini.read(root / "pytest.ini")
    addopts = shlex.split(ini["pytest"]["addopts"])
    quick = addopts[addopts.index("-m") + 1]
    full = re.search(r'^test-full:.*\n(?:.*\n)*?\t.*pytest -m "([^"]+)"', (root / "Makefile").read_text(), re.M)[1]
    registered = {line.split(":")[0].strip() for line in ini["pytest"]["markers"].strip().splitlines()}

    def runs(expression, *marks):
        assert set(marks) <= registered, marks
        return Expression.compile(expression).evaluate(lambda name: name in marks)

    for marks, in_quick, in_full, in_report in [
            ((), True, False, True), (("full",), False, True, True), (("property",), True, True, True),
            (("full", "training"), False, True, True), (("heavy",), False, False, False),
            (("heavy", "property"), False, False, False), (("architectures",), False, False, False),
            (("slow",), False, False, False), (("slow", "full"), False, False, False)]:
        assert (runs(quick, *marks), runs(full, *marks), runs(REPORT_TIERS, *marks)) == (
            in_quick, in_full, in_report), marks


def test_every_test_module_has_its_place_in_the_run_order():
    # conftest.MODULE_ORDER runs the suite in the homework's order with test_report last; a module left out
    # would sort after it
    from conftest import MODULE_ORDER

    modules = sorted(p.stem for p in Path(__file__).parent.glob("test_*.py"))
    assert sorted(MODULE_ORDER) == modules and MODULE_ORDER[-1] == "test_report"


# tools/mutants.py's classifier (here, not in a module of the mutation run's test selection: mutmut runs those
# from mutants/, where tools/ is not copied)
def test_the_mutation_scores_wording_class_takes_messages_and_onnx_name_stems_only():
    # tools/mutants.py counts a surviving mutant as equivalent when it changes only a raise's message text or an
    # Emitter stem (a value's name); an ONNX op type or any other string is a real change
    from tools.mutants import is_message_wording

    original = ('def f(e, x):\n    if x is None:\n        raise ValueError("x is None")\n'
                '    return e.node("Mul", [x, e.const(2.0, "two")], "scaled", axis=1)\n')
    same = [original.replace('"x is None"', '"XXx is NoneXX"'), original.replace('"two"', '"XXtwoXX"'),
            original.replace('"scaled"', '"XXscaledXX"'), original.replace(', "two")', ', None)'),
            original.replace(', "two")', ')'), original.replace(', "scaled", axis=1)', ', axis=1)')]
    real = [original.replace('"Mul"', '"XXMulXX"'), original.replace("2.0", "3.0"),
            original.replace("axis=1", "axis=2")]
    assert [is_message_wording(original, m) for m in same] == [True] * 6
    assert [is_message_wording(original, m) for m in real + [original]] == [False] * 4
