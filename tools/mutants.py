"""`make mutants`: mutation testing of the conversion core with mutmut, and its score.

mutmut (configured in pyproject.toml's [tool.mutmut]) copies hw5/ into mutants/, makes one-line changes
("mutants") to the conversion core (pyproject.toml's only_mutate: hw5/homework/ toeplitz, forward, geometry
and hw5/convert/'s core and op families), and runs the fast
tests that reach each mutated function (no trained model; hypothesis profile `mutants`: derandomized, no
example database). A mutant the tests fail on is killed; one they pass on survived: either a test is
missing or the change makes no difference a user could see (an equivalent mutant).

The score is killed / (mutants − equivalent), per module. Equivalent mutants are
  - listed one by one in mutation/equivalent.txt (`name | the mutated line | reason`; an entry whose
    line no longer matches the mutant is reported as stale and not excluded), and
  - as one class, wording: mutants that change only the text of a string literal inside a
    `raise` statement (the error type and every computed part of the message stay), or of the `stem` an
    ONNX function passes to the Emitter (e.const(v, "w"), e.node(op, xs, "relu")): it only names a value,
    and Emitter.fresh keeps every name unique.
The summary (score, time, machine load, every survivor with its diff) is printed and written to
mutation/summary.txt; the exit code is 1 if a non-equivalent mutant survived.

    python tools/mutants.py [--max-children N] [--quick | --report] [--modules PATH ...]

--quick keeps mutants/ from the last run: mutmut re-tests only the mutants of changed functions, then this
script re-tests the mutants that were not killed last time (after adding a test), except those listed in
equivalent.txt (a full run re-tests them too); mutmut itself starts over
when pyproject.toml's test selection or pytest arguments changed. The full run (default, mutants/ removed
first) is the one to quote. --modules tests and scores only the mutants of the named files (each one of
only_mutate; mutmut still generates all of them): the score of those modules, said so in the summary's
header. --report runs nothing: it scores mutants/ as it stands (a run
that was stopped has mutants not yet tested; they get their own column and the summary says it is not a score).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mutation"
EQUIVALENT = OUT / "equivalent.txt"
MUTMUT = Path(sys.executable).with_name("mutmut")
# a timeout: the mutant made a test loop or crawl; a segfault or an abort: it crashed the test process (scipy
# reading or writing a sparse matrix through indices the mutant broke: conv._pointwise with groups=2 segfaults,
# conv_csc's pixel r·w − c aborts with SIGABRT, exit 134 — both reproduced by hand). mutmut calls the abort
# "suspicious" (it knows no name for exit code −6); here it is named from the stored exit code. Either way the
# tests did not pass. A floating-point exception (SIGFPE, −8): a mutant of float64_twin's widening leaves a model
# float32, and TensorFlow's oneDNN float32 max-pool raises SIGFPE on an AdaptiveMaxPooling output width of 1 — the
# crash the converter refuses to call Keras on (reference.fatal_in_keras).
CRASHED = {"segfault", "abort", "fpe"}
CAUGHT = {"killed", "timeout", *CRASHED}
CRASHES = {-6: "abort", 134: "abort", -8: "fpe", 136: "fpe"}


def mutmut(*args: str) -> int:
    # One TensorFlow thread per worker: mutmut forks every worker from a process that has run the suite, and
    # TensorFlow's thread pools do not survive a fork — a large op (a 10,816 × 1,024 initializer) in a worker
    # then waits forever, which mutmut records as a timeout (docs/test-strength.md).
    env = dict(os.environ, HYPOTHESIS_PROFILE="mutants", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    return subprocess.run([str(MUTMUT), *args], cwd=ROOT, env=env).returncode


def results() -> dict[str, tuple[str, str]]:
    """mutant name -> (source file, status), from mutmut's state in mutants/."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    out = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        out |= {name: (str(path), CRASHES.get(code) or status_by_exit_code[code])
                for name, code in data.exit_code_by_key.items()}
    return out


def functions(name: str, path: str) -> tuple[str, str]:
    """(original function source, mutated function source) of a mutant."""
    import libcst as cst
    from mutmut.mutation import diff_apply

    pair = diff_apply.read_functions_from_index(name, path)
    if pair is None:
        module = diff_apply.read_mutants_module(path)
        pair = diff_apply.read_original_function(module, name), diff_apply.read_mutant_function(module, name)
    return tuple(cst.Module([f]).code.strip() for f in pair)


def diff(name: str, path: str) -> list[str]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return [line for line in get_diff_for_mutant(name, path=path).splitlines()
            if line[:1] in "-+" and not line.startswith(("---", "+++"))]


# the Emitter methods whose `stem` argument only names an ONNX value (Emitter.fresh appends "/<count>", so
# every name stays unique and none is the graph's "input" or "output"): method -> the stem's position
STEM_ARGS = {"const": 1, "node": 2, "fresh": 0}


class _Cosmetic(ast.NodeTransformer):
    """Blanks what cannot change behaviour: the string literals of a `raise` (its message) and the `stem` of an
    Emitter call (STEM_ARGS: dropped, whatever it was — a string, None, or absent, when the default stem applies)."""

    def visit_Raise(self, node):
        for n in ast.walk(node):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                n.value = ""
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr in STEM_ARGS:
            k = STEM_ARGS[node.func.attr]
            node.args = node.args[:k] + node.args[k + 1:]
            node.keywords = [kw for kw in node.keywords if kw.arg != "stem"]
        return node


def is_message_wording(original: str, mutated: str) -> bool:
    """True if the two functions differ, and only in the text of a `raise`'s string literals or in an Emitter
    stem (a value's name, STEM_ARGS: changed, made None or dropped)."""
    if ast.dump(ast.parse(original)) == ast.dump(ast.parse(mutated)):
        return False
    a, b = (ast.dump(_Cosmetic().visit(ast.parse(text))) for text in (original, mutated))
    return a == b


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_equivalent() -> dict[str, tuple[str, str]]:
    """mutant name -> (its mutated line, reason), from mutation/equivalent.txt."""
    entries = {}
    for n, line in enumerate(EQUIVALENT.read_text().splitlines() if EQUIVALENT.exists() else [], 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            name, rest = line.split(" | ", 1)
            mutated, reason = rest.rsplit(" | ", 1)
        except ValueError:
            raise SystemExit(f"{EQUIVALENT}:{n}: expected `name | mutated line | reason`, got {line!r}") from None
        entries[name.strip()] = (squash(mutated), reason.strip())
    return entries


def module_name(path: str) -> str:
    """hw5/convert/network.py -> hw5.convert.network: the prefix of its mutants' names."""
    return path.removesuffix(".py").replace("/", ".")


def score(elapsed: float | None, load_before: tuple, load_after: tuple,
          modules: list[str] | None = None) -> tuple[str, bool]:
    found = results()
    equivalent = load_equivalent()
    if modules:
        prefixes = tuple(module_name(path) + "." for path in modules)
        found = {name: value for name, value in found.items() if name.startswith(prefixes)}
        equivalent = {name: value for name, value in equivalent.items() if name.startswith(prefixes)}
    per_module: dict[str, Counter] = {}
    survivors, stale, listed_killed = [], [], []
    for name, (path, status) in sorted(found.items()):
        count = per_module.setdefault(path, Counter())
        count["mutants"] += 1
        if status == "not checked":   # a stopped run: neither killed nor survived
            count["unchecked"] += 1
            continue
        if status in CAUGHT:
            count["killed"] += 1
            count["timeout"] += status == "timeout"
            count["crash"] += status in CRASHED
            if name in equivalent:
                listed_killed.append(name)
            continue
        changes = diff(name, path)
        plus = squash(" ".join(line[1:] for line in changes if line.startswith("+")))
        if name in equivalent and equivalent[name][0] == plus:
            count["equivalent"] += 1
        elif status == "survived" and is_message_wording(*functions(name, path)):
            count["equivalent"] += 1
            count["wording"] += 1
        else:
            if name in equivalent:
                stale.append(name)
            count["survived"] += 1
            survivors.append((name, status, changes))
    stale += sorted(set(equivalent) - set(found))

    total = Counter()
    for count in per_module.values():
        total.update(count)
    width = max(len(path) for path in per_module) if per_module else 20
    rows = [f"{'module':<{width}} {'mutants':>7} {'killed':>6} {'equivalent':>10} {'survived':>8} {'untested':>8}"
            "  score"]
    for path, count in [*sorted(per_module.items()), ("total", total)]:
        relevant = count["mutants"] - count["equivalent"] - count["unchecked"]
        pct = 100.0 * count["killed"] / relevant if relevant else 100.0
        rows.append(f"{path:<{width}} {count['mutants']:>7} {count['killed']:>6} {count['equivalent']:>10} "
                    f"{count['survived']:>8} {count['unchecked']:>8}  {count['killed']}/{relevant} = {pct:.1f} %")
    partial = (["", f"NOT A SCORE: {total['unchecked']} of {total['mutants']} mutants are not yet tested (the run was "
                "stopped, or is still going); the percentages are of the tested ones."] if total["unchecked"] else [])
    lines = [
        "Mutation testing of the conversion core (mutmut 3.8.1; `make mutants`, tools/mutants.py)",
        f"score = killed / (mutants − equivalent); equivalent = {total['equivalent'] - total['wording']} listed in "
        f"mutation/equivalent.txt + {total['wording']} wording (a string literal inside `raise`, or an ONNX "
        f"value's name stem)",
        *([f"modules: {len(modules)} of only_mutate's files, named by --modules (the rest not tested here)"]
          if modules else []),
        "", *rows, *partial, "",
        f"killed includes {total['timeout']} timeout(s), mutants whose tests ran past mutmut's time limit, and "
        f"{total['crash']} crash(es) (segfault, abort or floating-point exception), mutants that crashed the"
        " test process",
        ("time: not measured (--report scored mutants/ as it stands)" if elapsed is None else
         f"time: {elapsed / 60:.1f} min on {os.cpu_count()} cores; load average (1, 5, 15 min) "
         f"{' '.join(f'{v:.1f}' for v in load_before)} before, {' '.join(f'{v:.1f}' for v in load_after)} after"),
        "",
        f"survivors ({len(survivors)}):" if survivors else
        "survivors so far: none" if total["unchecked"] else "survivors: none — every non-equivalent mutant is killed",
    ]
    for name, status, changes in survivors:
        lines += [f"  {name}: {status}", *(f"      {line}" for line in changes)]
    if stale:
        lines += ["", "stale entries in mutation/equivalent.txt (mutant gone or its mutated line changed):",
                  *(f"  {name}" for name in stale)]
    if listed_killed:
        lines += ["", "listed as equivalent but killed (remove them from mutation/equivalent.txt):",
                  *(f"  {name}" for name in listed_killed)]
    return "\n".join(lines) + "\n", not survivors and not total["unchecked"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2,
                        help="mutants tested in parallel (default: the number of cores)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="keep mutants/ and re-test only changed functions and last run's survivors")
    mode.add_argument("--report", action="store_true", help="run nothing: score mutants/ as it stands")
    parser.add_argument("--modules", nargs="+", metavar="PATH",
                        help="test and score only these files of only_mutate (e.g. hw5/convert/network.py)")
    args = parser.parse_args(argv)
    only = [path for path in args.modules or [] if not (ROOT / path).is_file()]
    if only:
        parser.error(f"--modules: no such file {only[0]!r}")
    names = [module_name(path) + ".*" for path in args.modules or []]
    os.chdir(ROOT)   # mutmut reads pyproject.toml and mutants/ from the working directory
    load_before, started = os.getloadavg(), time.perf_counter()
    code = 0
    if args.report:
        if not (ROOT / "mutants").exists():
            print("tools/mutants.py: no mutants/ to report on; run `make mutants` first", file=sys.stderr)
            return 2
    elif args.quick and (ROOT / "mutants").exists():
        # timeouts again too; not the mutants listed as equivalent (they survive by definition: a full run
        # re-tests them, and reports an entry whose mutant got killed)
        equivalent = load_equivalent()
        previous = [name for name, (_, status) in results().items() if status != "killed" and name not in equivalent
                    and (not names or name.startswith(tuple(n[:-1] for n in names)))]
        code = mutmut("run", "--max-children", str(args.max_children), *names)
        retest = [name for name in previous if results().get(name, ("", ""))[1] not in CAUGHT]
        if code == 0 and retest:
            code = mutmut("run", "--max-children", str(args.max_children), *retest)
    else:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        code = mutmut("run", "--max-children", str(args.max_children), *names)
    elapsed = time.perf_counter() - started
    if code != 0:
        print(f"mutmut run failed (exit {code}); no score", file=sys.stderr)
        return code
    text, clean = score(None if args.report else elapsed, load_before, os.getloadavg(), args.modules)
    OUT.mkdir(exist_ok=True)
    tmp = OUT / ".summary.txt.tmp"
    tmp.write_text(text)
    os.replace(tmp, OUT / "summary.txt")
    print("\n" + text, end="")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
