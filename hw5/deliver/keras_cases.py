"""The cases of Keras' own layer tests (the installed wheel's keras/src/layers/*/…_test.py), read, never imported.

read_cases(path) parses a Keras test module with `ast` — never imports it (it imports pytest, absl and the
backends' test utilities) — and yields a Case per layer each test method builds, per parameter set of its
`@parameterized.parameters / named_parameters / product` decorator (one set, `-`, for an undecorated method).
How: the module's top-level assignments (TEST_PARAMETERS, list comprehensions, itertools.product) and the
decorator arguments are evaluated in a restricted namespace (itertools, numpy as np, a few builtins, no
__import__); then the method's body — its assignments and expression statements, `if`/`with`/`for` followed —
runs in that namespace with the case's parameters bound and stubs for `self`, `layers`, `ops`, `models`,
`backend`: `layers.X(...)` records a built layer (class X, its args and kwargs), calling it or its `build` /
`compute_output_shape` records the input shape (batch axis included), `self.run_layer_test(layers.X,
init_kwargs=..., input_shape=... | input_data=...)` records both. A statement that fails to evaluate is skipped;
a case the reader cannot complete is an Unreadable with the reason, never dropped.

hw5.deliver.keras_peer runs the cases against from_keras.
"""
from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

KERAS_LAYERS = Path(__import__("importlib.util").util.find_spec("keras").origin).parent / "src" / "layers"
FILES = tuple(f"convolutional/{n}_test.py" for n in ("conv", "depthwise_conv", "separable_conv", "conv_transpose")) \
    + tuple(f"{family}/{p.name}" for family in ("pooling", "reshaping", "normalization", "activations")
            for p in sorted((KERAS_LAYERS / family).glob("*_test.py"))) + ("merging/merging_test.py",)
SAFE_BUILTINS = {n: getattr(__import__("builtins"), n) for n in (
    "range", "list", "dict", "tuple", "set", "zip", "len", "str", "int", "float", "bool", "enumerate", "sorted",
    "min", "max", "abs", "sum", "any", "all", "map", "filter", "reversed", "isinstance", "ValueError", "TypeError",
    "None", "True", "False", "print", "round", "slice", "object", "Exception", "NotImplementedError")}


@dataclass
class Case:
    """One layer a Keras test builds: `shape` is its input shape, batch axis first (a tuple of two for a merge)."""
    file: str
    method: str
    case_id: str
    layer: str
    args: tuple
    kwargs: dict
    shape: tuple | None           # None: built inside a raises-block and never called (Keras refuses the arguments)
    expects_error: bool = False   # built inside self.assertRaises / pytest.raises
    cls: str = ""                 # the test class (two classes of a file may have a method of the same name)

    @property
    def id(self) -> str:
        """file::Class::method[case_id], as pytest names the Keras test: unique among a run's cases."""
        return f"{self.file}::{self.cls}::{self.method}[{self.case_id}]"


@dataclass
class Unreadable:
    file: str
    method: str
    case_id: str
    reason: str


class _Any:
    """A stub that absorbs every attribute access and call (self.assertEqual, models.Model, layer.get_config)."""
    def __getattr__(self, name):
        return _Any()

    def __call__(self, *args, **kwargs):
        return _Any()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True   # a stubbed assertRaises swallows what its block raises


def _shape(value) -> tuple | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (_Shaped, np.ndarray)) for v in value):
        return tuple(tuple(v.shape) for v in value)
    if isinstance(value, (list, tuple)) and len(value) > 1 and all(isinstance(v, tuple) and _shape(v) for v in value):
        return tuple(value)   # run_layer_test(input_shape=(shape, shape)): a merge of two inputs
    if isinstance(value, (_Shaped, np.ndarray)):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)) and all(isinstance(d, int) or d is None for d in value):
        return tuple(value)
    return None


@dataclass
class _Shaped:
    shape: tuple


@dataclass
class _Built:
    """A layer the test constructed: its class name and arguments, and the first shape it was called on."""
    layer: str
    args: tuple
    kwargs: dict
    in_raises: bool
    shape: tuple | None = None

    def _see(self, value):
        if self.shape is None:
            self.shape = _shape(value)
        return _Any()

    def __call__(self, value, *args, **kwargs):
        return self._see(value)

    def __getattr__(self, name):
        if name in ("build", "compute_output_shape", "compute_output_spec"):
            return lambda value, *a, **k: self._see(value)
        return _Any()


class _Recorder:
    """Holds the layers built while one case's body runs, and whether a raises-block is open."""
    def __init__(self):
        self.built: list[_Built] = []
        self.raises = 0

    def layer(self, name: str):
        def make(*args, **kwargs):
            if name in ("Input", "InputLayer"):
                shape = kwargs.get("batch_shape") or (kwargs.get("batch_size"),) + tuple(
                    kwargs.get("shape", args[0] if args else ()))
                return _Shaped(tuple(shape))
            built = _Built(name, args, kwargs, self.raises > 0)
            self.built.append(built)
            return built
        make.layer_name = name
        return make

    def run_layer_test(self, layer_cls, init_kwargs=None, input_shape=None, input_data=None, **ignored):
        name = getattr(layer_cls, "layer_name", None)
        if name is None:
            raise TypeError(f"run_layer_test of {layer_cls!r}, not a keras layer class")
        built = _Built(name, (), dict(init_kwargs or {}), self.raises > 0)
        built.shape = _shape(input_data if input_data is not None else input_shape)
        self.built.append(built)

    def raising(self, *args, **kwargs):
        recorder = self

        class Block(_Any):
            def __enter__(self):
                recorder.raises += 1
                return self

            def __exit__(self, *exc):
                recorder.raises -= 1
                return True
        return Block()


def _namespace(recorder: _Recorder) -> dict:
    stub_self = type("Self", (_Any,), {"run_layer_test": staticmethod(recorder.run_layer_test),
                                        "assertRaises": staticmethod(recorder.raising),
                                        "assertRaisesRegex": staticmethod(recorder.raising)})()
    layers = type("Layers", (), {"__getattr__": lambda s, name: recorder.layer(name)})()
    ops = SimpleNamespace(**{n: getattr(np, n) for n in ("ones", "zeros", "arange", "reshape", "array")},
                          convert_to_tensor=np.asarray, cast=lambda x, *a, **k: np.asarray(x))
    backend = SimpleNamespace(backend=lambda: "tensorflow", config=SimpleNamespace(
        image_data_format=lambda: "channels_last", floatx=lambda: "float32"), floatx=lambda: "float32",
        convert_to_numpy=np.asarray, convert_to_tensor=np.asarray)
    pytest = SimpleNamespace(raises=recorder.raising, mark=_Any(), skip=_Any())
    return {"__builtins__": SAFE_BUILTINS, "np": np, "numpy": np, "itertools": itertools, "self": stub_self,
            "layers": layers, "ops": ops, "models": _Any(), "backend": backend, "pytest": pytest,
            "testing": _Any(), "parameterized": _Any()}


def _eval(node: ast.AST, ns: dict):
    return eval(compile(ast.Expression(node), "<keras test>", "eval"), ns)


def _run(stmts: list, ns: dict, recorder: _Recorder) -> None:
    """The body's statements in `ns`: assignments and expressions evaluated, if/with/for followed, failures skipped."""
    for stmt in stmts:
        try:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
                exec(compile(ast.Module([stmt], []), "<keras test>", "exec"), ns)
            elif isinstance(stmt, ast.If):
                _run(stmt.body if _eval(stmt.test, ns) else stmt.orelse, ns, recorder)
            elif isinstance(stmt, ast.With):
                blocks = [_eval(item.context_expr, ns) for item in stmt.items]
                for block in blocks:
                    block.__enter__()
                try:
                    _run(stmt.body, ns, recorder)
                finally:
                    for block in reversed(blocks):
                        block.__exit__(None, None, None)
            elif isinstance(stmt, ast.For):
                for item in list(_eval(stmt.iter, ns))[:8] if isinstance(stmt.target, ast.Name) else []:
                    ns[stmt.target.id] = item   # a loop over a name: its first 8 values
                    _run(stmt.body, ns, recorder)
        except Exception:   # noqa: BLE001 — a statement the stubs cannot run; the layers it built stay recorded
            continue


def _parameter_sets(fn: ast.FunctionDef, ns: dict) -> list[tuple[str, dict]]:
    """(case id, {argument: value}) per parameter set of the method's absl decorator; [('-', {})] if none."""
    names = [a.arg for a in fn.args.args[1:]]
    defaults = dict(zip(names[len(names) - len(fn.args.defaults):], (_eval(d, ns) for d in fn.args.defaults),
                        strict=True))
    for deco in fn.decorator_list:
        if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                and deco.func.attr in ("parameters", "named_parameters", "product")):
            continue
        kind = deco.func.attr
        if kind == "product":   # keyword lists, or positional lists of dicts, crossed
            grid = [[{k.arg: v} for v in _eval(k.value, ns)] for k in deco.keywords]
            grid += [list(_eval(a, ns)) for a in deco.args]
            sets = [{k: v for part in parts for k, v in part.items()} for parts in itertools.product(*grid)]
            return [("-".join(f"{k}={v}".replace(" ", "") for k, v in s.items()), {**defaults, **s}) for s in sets]
        items = [_eval(a, ns) for a in deco.args]
        if len(items) == 1 and isinstance(items[0], (list, map, filter)) or (
                len(items) == 1 and type(items[0]).__name__ == "generator"):
            items = list(items[0])
        out = []
        for k, item in enumerate(items):
            if isinstance(item, dict):
                item = dict(item)
                name = str(item.pop("testcase_name", k)) if kind == "named_parameters" else str(k)
                out.append((name, {**defaults, **item}))
            else:
                item = tuple(item) if isinstance(item, (tuple, list)) else (item,)
                name, item = (str(item[0]), item[1:]) if kind == "named_parameters" else (str(k), item)
                out.append((name, {**defaults, **dict(zip(names, item, strict=False))}))   # extras: **kwargs
        return out
    return [("-", defaults)]


def read_cases(path: Path, label: str | None = None) -> tuple[list[Case], list[Unreadable]]:
    """The Cases of one Keras test module, and what could not be read with the reason (see the module)."""
    label = label or path.name
    tree = ast.parse(path.read_text())
    recorder = _Recorder()   # one per file: the module's layer references (TEST_PARAMETERS' layers.Add) record in it
    module_ns = _namespace(recorder)
    for stmt in tree.body:   # `from keras.src.layers.activations import relu`: relu.ReLU is a layer class
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("keras.src.layers"):
            for alias in stmt.names:
                module_ns[alias.asname or alias.name] = module_ns["layers"]
    for stmt in tree.body:   # module-level constants (TEST_PARAMETERS, comprehensions, products), helpers
        if isinstance(stmt, (ast.Assign, ast.FunctionDef)):
            try:
                exec(compile(ast.Module([stmt], []), "<keras test>", "exec"), module_ns)
            except Exception:   # noqa: BLE001 — a constant built from what the stubs lack; its users unreadable
                pass
    cases, unreadable = [], []
    methods = [(cls.name, fn) for cls in tree.body if isinstance(cls, ast.ClassDef) for fn in cls.body
               if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test")]
    helpers = [fn for cls in tree.body if isinstance(cls, ast.ClassDef) for fn in cls.body
               if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("test")]
    for cls, fn in methods:
        try:
            sets = _parameter_sets(fn, module_ns)
        except Exception as exc:   # noqa: BLE001 — a decorator argument we cannot evaluate
            unreadable.append(Unreadable(label, fn.name, "*", f"decorator: {type(exc).__name__}: {exc}"))
            continue
        for case_id, params in sets:
            recorder.built, recorder.raises = [], 0
            ns = {**module_ns, "self": _namespace(recorder)["self"], **params}
            for helper in helpers:   # the class's own helpers (self._run_layer_test), run in the same namespace
                try:
                    exec(compile(ast.Module([helper], []), "<keras test>", "exec"), ns)
                except Exception:   # noqa: BLE001 — a decorated helper (classmethod): the tests calling it skip it
                    continue
                setattr(ns["self"], helper.name, (lambda f: lambda *a, **k: f(None, *a, **k))(ns[helper.name]))
            _run(fn.body, ns, recorder)
            if not recorder.built:
                unreadable.append(Unreadable(label, fn.name, case_id, "builds no layer the reader can see"))
            for k, built in enumerate(recorder.built):
                cid = case_id if len(recorder.built) == 1 else f"{case_id}#{k}"
                if built.shape is None and not built.in_raises:
                    unreadable.append(Unreadable(label, fn.name, cid, f"{built.layer}: no input shape found "
                                                                      "(the layer is not called on data)"))
                else:
                    cases.append(Case(label, fn.name, cid, built.layer, built.args, built.kwargs, built.shape,
                                      built.in_raises, cls))
    return cases, unreadable


def all_cases(files=FILES) -> tuple[list[Case], list[Unreadable]]:
    cases, unreadable = [], []
    for name in files:
        c, u = read_cases(KERAS_LAYERS / name, name)
        cases += c
        unreadable += u
    return cases, unreadable
