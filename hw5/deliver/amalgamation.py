"""The hand-in script generator: the homework's modules pasted into one runnable file, like SQLite's sqlite3.c.

`amalgamate(authors, filename)` returns the text of homework5_<names>.py: the modules of MODULES of the
homework layer, hw5/homework/, in that order (run.py last: its ``main()`` runs the homework), under a 3-line
header naming the course, the authors, the package version and git commit, and how to run it. It

* follows the homework layer's imports, at top level or inside functions: a module one of them imports is
  pasted before its importer; an import from the package's other layers (hw5.convert, hw5.deliver, or the
  facade modules hw5.x), or ``import hw5.x`` (whose names stay qualified), stops it with a message naming
  the importer and the layer;
* removes ``from hw5.homework.x import a, b`` (one line or several; ``a as c`` becomes ``c = a``; a block left empty
  gets ``pass``), every ``from __future__`` (once at the top) and ``if __name__ == "__main__":`` blocks (one
  at the end calls ``main()``), and turns the first line of each module docstring into the rule that heads
  its section (``# ==== Step 1 — data: ... ====``);
* drops top-level definitions nothing uses (what main() cannot reach), and the imports they alone needed, and
  a function's import of what the script's top-level imports already bind (a deferred ``import keras``);
* hoists the other top-level imports into one block, and refuses a script that imports at top level anything
  but the standard library, NumPy, TensorFlow and Keras, binds a top-level name twice, takes a name a module
  does not define, or does not compile;
* pastes the first module, PRELUDE (kernels.py: TensorFlow's start-up notices dropped), between the standard
  library's imports and the third-party ones, which it runs inside ``with startup_notices_dropped():`` (GUARD),
  since importing Keras imports TensorFlow.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = "hw5"
PACKAGE = "hw5.homework"                                   # the layer the script holds, and only it
WHERE = PACKAGE.replace(".", "/")                          # hw5/homework, in messages
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "homework"
# what main() reaches
MODULES = ("kernels", "data", "models", "training", "weights", "toeplitz", "forward", "compare", "run")
PRELUDE, GUARD = MODULES[0], "startup_notices_dropped"   # the module before the third-party imports, and its guard
OTHER_LAYERS = {  # the package's other layers, which the script must not contain, and why
    "hw5.convert": "the general converter (hw5/convert/), which the homework's run never reaches",
    "hw5.deliver": "the evidence and delivery layer (hw5/deliver/: cache, report, hand-in, command line)",
}
SCRIPT_PACKAGES = {"numpy", "tensorflow", "keras"}  # besides the standard library, at the script's top level


def _hw5_module(node: ast.AST, where: str) -> str | None:
    """The homework module an import statement takes names from (None: not the package's); an import from
    the package's other layers (or its public facade) is refused, naming it."""
    if isinstance(node, ast.Import):
        if any(a.name.split(".")[0] == ROOT for a in node.names):
            raise ValueError(f"{where}: `import {ROOT}...` keeps names qualified; write `from {PACKAGE}.x import name`")
        return None
    if not isinstance(node, ast.ImportFrom):
        return None
    module = node.module or ""
    if node.level == 0 and module.split(".")[0] != ROOT:
        return None
    for layer, what in OTHER_LAYERS.items():
        if node.level == 0 and (module == layer or module.startswith(layer + ".")):
            raise ValueError(f"{where} imports {module}, from {what}: the hand-in script holds {WHERE}/ alone")
    parts = module[len(PACKAGE) + 1:].split(".") if node.level == 0 and module.startswith(PACKAGE + ".") else []
    if len(parts) != 1 or not parts[0]:
        raise ValueError(f"{where}: import from a module of {PACKAGE} by name (`from {PACKAGE}.x import name`), "
                         f"not `from {'.' * node.level}{module} import ...`")
    return parts[0]


def _parse(name: str, package_dir: Path) -> tuple[str, ast.Module, list[tuple[str, bool]]]:
    """(source, tree, [(imported package module, at top level?)]) of package module `name`."""
    path = package_dir / f"{name}.py"
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    top = {id(node) for node in tree.body}
    deps = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == ROOT:
            raise ValueError(f"{WHERE}/{name}.py line {node.lineno} uses the name {ROOT!r}")
        if (module := _hw5_module(node, f"{WHERE}/{name}.py line {getattr(node, 'lineno', '?')}")) is not None:
            deps.append((module, id(node) in top))
    return text, tree, deps


def module_order(modules=MODULES, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """`modules` in order, each preceded by the package modules it imports (and theirs) not yet listed."""
    order = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        importer = f"{WHERE}/{chain[-1]}.py imports {PACKAGE}.{name}" if chain else f"MODULES lists {name!r}"
        if name in chain:
            raise ValueError(f"import cycle at top level: {' -> '.join(chain + (name,))}")
        if not (package_dir / f"{name}.py").is_file():
            raise ValueError(f"{importer}, but {package_dir / (name + '.py')} does not exist")
        for dep, top_level in _parse(name, package_dir)[2]:
            if not (dep in chain + (name,) and not top_level):  # a lazy import of a module being pasted is fine
                visit(dep, chain + (name,))
        order.append(name)

    for module in modules:
        visit(module, ())
    return order


def _line_span(lines: list[str], node: ast.stmt, where: str) -> tuple[int, int]:
    """0-based [start, end) lines of a statement that has its lines to itself."""
    start, end = node.lineno - 1, node.end_lineno
    if lines[start][:node.col_offset].strip() or lines[end - 1][node.end_col_offset:].split("#")[0].strip():
        raise ValueError(f"{where} line {node.lineno}: put this statement on lines of its own")
    return start, end


def _bound_names(node: ast.stmt) -> list[str]:
    """Names a top-level statement binds (def, class, assignment targets)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def _section(name: str, text: str, tree: ast.Module, imports: dict) -> tuple[str, list[str]]:
    """Module `name`'s code for the script, and the names it binds at top level.

    Top-level imports are removed and recorded in `imports` ({local name: (from module or None, name)});
    package-internal imports are removed everywhere (an alias becomes an assignment, an emptied block `pass`).
    """
    where, lines = f"{WHERE}/{name}.py", text.splitlines(keepends=True)
    edits: dict[int, tuple[int, str]] = {}  # first line -> (end line, replacement)
    bound = []
    for parent in ast.walk(tree):
        for body in (getattr(parent, f, None) for f in ("body", "orelse", "finalbody")):
            if not isinstance(body, list):
                continue
            internal = [n for n in body if _hw5_module(n, where) is not None]
            for node in body:
                if not isinstance(node, (ast.Import, ast.ImportFrom)) or (parent is not tree and node not in internal):
                    continue  # a lazy standard-library or third-party import stays where it is
                start, end = _line_span(lines, node, where)
                indent = " " * node.col_offset
                if node in internal:
                    new = "".join(f"{indent}{a.asname} = {a.name}\n" for a in node.names if a.asname)
                    bound += [a.asname for a in node.names if a.asname and parent is tree]
                    if not new and len(internal) == len(body) and node is body[0]:
                        new = f"{indent}pass\n"  # the block held only package imports
                elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    new = ""
                else:  # hoisted into the script's import block
                    new = ""
                    for a in node.names:
                        key = (node.module, a.name) if isinstance(node, ast.ImportFrom) else (None, a.name)
                        local = a.asname or (a.name if key[0] else a.name.split(".")[0])
                        if imports.setdefault(local, (key, where))[0] != key:
                            raise ValueError(f"{where} line {node.lineno}: {local!r} means {key} here but "
                                             f"{imports[local][0]} in {imports[local][1]}")
                edits[start] = (end, new)
    if (doc := ast.get_docstring(tree, clean=True)) is not None:   # its first line: the section's title
        start, end = _line_span(lines, tree.body[0], where)
        edits[start] = (end, f"# ==== {doc.splitlines()[0]} {'=' * max(4, 104 - len(doc.splitlines()[0]))}\n")
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in {getattr(n, "id", None) for n in ast.walk(node.test)}:
            edits[node.lineno - 1] = (node.end_lineno, "")  # `if __name__ == "__main__":` goes
        else:
            bound += _bound_names(node)
    out, i = [], 0
    while i < len(lines):
        end, new = edits.get(i, (i + 1, lines[i]))
        out.append(new)
        i = end
    return re.sub(r"\n{4,}", "\n\n\n", "".join(out)).strip("\n") + "\n", bound


def _import_block(imports: dict) -> tuple[str, str]:
    """(standard library, third party) import lines, isort-like: `import x` lines before `from x import ...`."""
    groups: dict[bool, list[str]] = {True: [], False: []}
    froms: dict[tuple[bool, str], list[str]] = {}
    for local, ((module, name), where) in sorted(imports.items(), key=lambda kv: (kv[1][0][0] or "", kv[1][0][1])):
        root = (module or name).split(".")[0]
        std = root in sys.stdlib_module_names
        if not std and root not in SCRIPT_PACKAGES:
            raise ValueError(f"{where} imports {module or name} at top level; the script may import only the "
                             f"standard library and {sorted(SCRIPT_PACKAGES)} there (import others inside a function)")
        if module is None:
            groups[std].append(f"import {name}" + (f" as {local}" if local != name.split(".")[0] else ""))
        else:
            froms.setdefault((std, module), []).append(name + (f" as {local}" if local != name else ""))
    for (std, module), names in sorted(froms.items()):
        groups[std].append(f"from {module} import {', '.join(sorted(names))}")
    std, third = ("\n".join(sorted(g, key=lambda line: line.startswith("from"))) for g in (groups[True], groups[False]))
    return std, third


def _provenance(package_dir: Path, paths: list[Path]) -> str:
    """'hw5 <version>, git commit <sha>' (+ ' with uncommitted changes'), or what of it is known."""
    init = package_dir.parent / "__init__.py"   # hw5/__init__.py holds the version
    version = next((n.value.value for n in (ast.parse(init.read_text()).body if init.is_file() else [])
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__version__"), "?")
    git = ["git", "-C", str(package_dir)]
    try:
        commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", *map(str, paths)], capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{ROOT} {version}, git commit unknown"
    return f"{ROOT} {version}, git commit {commit[:12]}" + (" with uncommitted changes" if dirty else "")


def amalgamate(authors: list[str], filename: str, modules=MODULES, package_dir: Path = PACKAGE_DIR) -> str:
    """The text of the script `filename` by `authors`: `modules` (and their package imports) as one file."""
    package_dir = Path(package_dir)
    order = module_order(modules, package_dir)
    imports, sections, owner, trees, defines = {}, [], {}, {}, {}
    for name in order:
        where = f"{WHERE}/{name}.py"
        text, trees[name], _ = _parse(name, package_dir)
        code, bound = _section(name, text, trees[name], imports)
        for key in bound:
            if key in owner:
                raise ValueError(f"{where} binds {key!r} at top level, and so does {owner[key]}: the script would "
                                 f"keep only one of them")
            owner[key] = where
        defines[name] = set(bound)
        sections.append(code)
    for key in sorted(set(owner) & set(imports)):
        raise ValueError(f"{owner[key]} binds {key!r} at top level, and {imports[key][1]} imports a {key!r}: "
                         f"the script would keep only one of them")
    for name, tree in trees.items():  # what a module imports from another at top level, it re-exports
        defines[name] |= {a.asname or a.name for node in tree.body if _hw5_module(node, name) for a in node.names}
    for name, tree in trees.items():  # the names taken from a module must exist at its top level
        for node in ast.walk(tree):
            if (dep := _hw5_module(node, name)) is not None and (
                    missing := [a.name for a in node.names if a.name not in defines[dep]]):
                raise ValueError(f"{WHERE}/{name}.py line {node.lineno} imports {missing} from {PACKAGE}.{dep}, "
                                 f"which does not define them at top level")
    paths = [package_dir / f"{name}.py" for name in order]
    file, users = filename, list(authors)
    header = f"""# {file} -- CS/DS 541 Homework 5, by {", ".join(users)}.
# Generated from the {ROOT} package ({_provenance(package_dir, paths)}); not edited by hand.
# Run: python {file} [--quick]   (needs NumPy and TensorFlow/Keras; --quick: a short check that it runs)
\"\"\"CS/DS 541 Homework 5 by {", ".join(users)}: Part 1 and Part 2 in one run -- see main() at the end.\"\"\"
from __future__ import annotations

"""
    if owner.get("main") != f"{WHERE}/{order[-1]}.py" or "sys" not in imports:
        raise ValueError(f"{WHERE}/{order[-1]}.py, the last module, must define main() and import sys")
    guarded = PRELUDE in order   # the script's package; a hand-made one (the generator's tests) may lack it
    if guarded and (order[0] != PRELUDE or owner.get(GUARD) != f"{WHERE}/{PRELUDE}.py"):
        raise ValueError(f"{WHERE}/{PRELUDE}.py must come first and define {GUARD}(), which the script's "
                         f"third-party imports run in")
    _import_block(imports)   # every module's top-level imports are checked, used in the end or not
    guard = f"with {GUARD}():   # Step 0: importing Keras imports TensorFlow\n    pass\n"   # its imports: below
    pasted = [sections[0], guard, *sections[1:]] if guarded else sections
    body = _shake("\n\n".join(pasted) + '\n\nif __name__ == "__main__":\n    sys.exit(main())\n')
    used = {n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name)}
    std, third = _import_block({k: v for k, v in imports.items() if k in used})
    if guarded:
        body = body.replace(guard, guard.replace("    pass\n", "".join(f"    {line}\n" for line in third.splitlines())))
    elif third:
        std = f"{std}\n\n{third}"
    body = _drop_repeated_imports(body, {k: v[0] for k, v in imports.items() if k in used})
    script = f"{header}{std}\n\n{body}"
    compile(script, file, "exec")  # a SyntaxError here is a bug of this generator
    return script


def _drop_repeated_imports(body: str, top: dict) -> str:
    """`body` without the imports inside functions that bind only what the script's top-level imports `top`
    ({local name: (from module or None, name)}) already bind the same way (a module's deferred `import keras`,
    where the script imports Keras first thing), and the blank line such an import alone was followed by. A
    block such an import is all of stays as it is."""
    lines = body.splitlines(keepends=True)
    drop = set()
    for parent in ast.walk(ast.parse(body)):
        if not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for block in (n.body for n in ast.walk(parent) if isinstance(getattr(n, "body", None), list)):
            repeated = [node for node in block if isinstance(node, (ast.Import, ast.ImportFrom)) and all(
                top.get(a.asname or (a.name if isinstance(node, ast.ImportFrom) else a.name.split(".")[0]))
                == ((node.module, a.name) if isinstance(node, ast.ImportFrom) else (None, a.name))
                for a in node.names)]
            if len(repeated) < len(block):
                drop |= {k for node in repeated for k in range(node.lineno - 1, node.end_lineno)}
    for k in sorted(drop):   # a blank line that closed a group of imports now gone goes too
        if k + 1 < len(lines) and not lines[k + 1].strip() and (k + 1) not in drop and (
                k - 1 in drop or not lines[k - 1].lstrip().startswith(("import ", "from "))):
            drop.add(k + 1)
    return "".join(line for k, line in enumerate(lines) if k not in drop)


def _shake(body: str) -> str:
    """`body` without the top-level definitions that nothing else in it uses — what main() cannot reach, like
    a tree-shaking bundler — (repeated until none is left), one blank line between top-level statements."""
    while True:
        tree, lines = ast.parse(body), body.splitlines(keepends=True)
        loads = [{n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                 for node in tree.body]
        dead = [node for k, node in enumerate(tree.body) if (names := _bound_names(node)) and not any(
            set(names) & used for j, used in enumerate(loads) if j != k)]
        if not dead:
            return re.sub(r"\n\n\n+(?=\S)", "\n\n", body)
        for node in reversed(dead):   # from the bottom, so that earlier line numbers stay right
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
            del lines[start:node.end_lineno]
        body = "".join(lines)
