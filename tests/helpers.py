"""Assertion helpers that say which operation, which case and which index failed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from hw5.convert.reference import keras_outputs  # noqa: F401  (the tests' name for the one Keras reference)

# where test_bench_summary leaves the benchmark summary for the terminal summary and the report
BENCH_SUMMARY = pytest.StashKey[dict]()
# hypothesis examples run per property test (counted by `example_note`)
EXAMPLES: dict[str, int] = {}


def example_note(text: str) -> None:
    """hypothesis.note() the case, and count it for the report."""
    import os

    from hypothesis import note

    note(text)
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    EXAMPLES[test] = EXAMPLES.get(test, 0) + 1


def report_section(item: str, *parts: str, key: str | None = None, handin: bool = False, ran: bool = True) -> None:
    """Add HTML `parts` to the report's section `item` (an id of hw5.deliver.report.ITEMS), credited to the
    running test (its outcome is the section's pass/fail); `key` is the item's key figure for the contents;
    `handin=True` puts the parts in the hand-in PDF's section of that item too (graded items only);
    `ran=False`: the parts only say that the section's figures were not produced in this run (an opt-in tier
    did not run): the section's badge says "not run", not "pass", unless another test produced them."""
    import os

    from hw5.deliver import report

    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    report.contribute(item, test, "".join(parts), key=key, handin=handin, ran=ran)


def worst(actual, expected) -> tuple[float, tuple]:
    """(max abs difference, index where it occurs)."""
    diff = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    if diff.size == 0:
        return 0.0, ()
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return float(diff[idx]), tuple(int(i) for i in idx)


def assert_within(actual, expected, atol, what: str) -> None:
    """|actual − expected| ≤ atol elementwise (atol a scalar or an array of per-element bounds)."""
    __tracebackhide__ = True
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = np.broadcast_to(np.asarray(atol, np.float64), diff.shape)
    bad = ~(diff <= bound)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {diff.size} elements out of tolerance; first at "
                             f"index {idx}: actual {actual[idx]!r}, expected {expected[idx]!r}, |diff| "
                             f"{diff[idx]:.3e} > {bound[idx]:.3e}; max |diff| {diff.max():.3e}")


def assert_exact(actual, expected, what: str) -> None:
    """Bitwise-equal values, same shape (a claim of copies, not of arithmetic)."""
    __tracebackhide__ = True
    assert np.shape(actual) == np.shape(expected), f"{what}: shape {np.shape(actual)} != {np.shape(expected)}"
    assert_array_equal(actual, expected, err_msg=what, strict=True)


def imports_and_calls(source) -> tuple[set, set]:
    """(modules imported, function names called) in `source`, a module or Python text; docstrings don't count."""
    import ast
    import inspect

    tree = ast.parse(source if isinstance(source, str) else inspect.getsource(source))
    imported, called = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return imported, called


def convolution_calls(called, allowed=("conv2d_as_dense", "conv2d_as_dense_loop", "conv2d_as_sparse")) -> set:
    """The names in `called` that look like a convolution routine, our Toeplitz builders (`allowed`) aside."""
    return {c for c in called if any(w in c.lower() for w in ("convolve", "correlate", "conv2d")) and c not in allowed}


def assert_matches_keras(model, net, x, actual, expected, atol, what: str, layer_rtol: float) -> None:
    """assert_within(actual, expected, atol), and on failure the layer-by-layer table of the worst image
    (hw5.compare.layer_by_layer): which Keras layer is the first beyond `layer_rtol` of its own scale."""
    __tracebackhide__ = True
    try:
        assert_within(actual, expected, atol, what)
    except AssertionError as exc:
        from hw5.compare import format_layer_diffs, layer_by_layer

        excess = np.abs(np.asarray(actual, np.float64) - expected) - np.broadcast_to(atol, np.shape(expected))
        image = int(np.argmax(excess.reshape(len(x), -1).max(axis=1)))
        rows, first = layer_by_layer(model, net, x[image:image + 1], rtol=layer_rtol)
        where = f"first beyond tolerance: Keras layer {first.layer!r}" if first else "no layer beyond tolerance"
        raise AssertionError(f"{exc}\nlayer by layer, image {image} ({where}):\n{format_layer_diffs(rows)}") from None


def magnitude_net(model, fuse: bool = False):
    """The float64 NumpyNet of `model` with every weight replaced by its magnitude and BatchNorm means by
    −|μ| (variances kept): its matrices are |W| and its biases |b|·|s| + |β| + |μ·s|, the scales of the
    terms Keras and NumPy round (tests.tolerances.network_atol). The model's weights are swapped for
    the translation and put back (cheaper than building a twin)."""
    from hw5.numpy_net import from_keras

    saved = [np.asarray(var.numpy()) for var in model.variables]
    try:
        for var, value in zip(model.variables, saved, strict=True):
            kind = var.path.split("/")[-1]
            if kind != "moving_variance":
                var.assign(-np.abs(value) if kind == "moving_mean" else np.abs(value))
        return from_keras(model, dtype="float64", fuse=fuse, check=False)   # a bound's net: the test checks the model's
    finally:
        for var, value in zip(model.variables, saved, strict=True):
            var.assign(value)


def net_atol(model, x, eps: float, tiny: float, fuse: bool = False) -> np.ndarray:
    """tests.tolerances.network_atol for `model` on x (float64 nets of the model and of its magnitudes)."""
    from hw5.numpy_net import from_keras
    from tests.tolerances import network_atol

    # check=False: these nets only size the bound (the test converts and compares the model itself)
    return network_atol(from_keras(model, dtype="float64", fuse=fuse, check=False), magnitude_net(model, fuse), x,
                        eps, tiny)


# "The network in others' hands" (report item "others"): row id -> (runtime, format, ops used, images,
# max |difference|, same-class fraction, seconds), filled by tests/test_export.py, test_milp.py and test_verify.py
OTHERS: dict[str, tuple] = {}
# the same report item's robustness table for the MILP readers and Marabou (tests/test_milp.py):
# (reader, file format, ε) -> its answer (test_milp.Answer, or hw5.convert.verify.Robustness for Marabou)
MILP_ROBUSTNESS: dict[tuple, object] = {}


def assign_normal(variables, seed: int, scale: float = 1.0) -> None:
    """Every Keras variable drawn from N(0, scale²), in order (Keras starts biases at 0, which would hide a dropped
    `+ b`); a BatchNorm variance as |draw| + 0.5, away from 0."""
    rng = np.random.default_rng(seed)
    for variable in variables:
        value = rng.normal(scale=scale, size=variable.shape)
        variable.assign(np.abs(value) + 0.5 if "variance" in variable.path else value)


def residual_cnn(seed: int = 0):
    # issue 30's residual CNN: conv → BN → ReLU → conv, plus a 1×1-conv shortcut, Add, ReLU6, max-pool,
    # global max-pool, Dense; BatchNorm statistics away from (0, 1) so folding them matters
    import keras

    L = keras.layers
    inp = keras.Input((8, 7, 3))
    a = L.ReLU()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(inp)))
    a = L.Conv2D(4, 3, padding="same")(a)
    x = L.ReLU(max_value=6)(L.Add()([a, L.Conv2D(4, 1)(inp)]))
    x = L.GlobalMaxPooling2D()(L.MaxPooling2D(2, padding="same")(x))
    model = keras.Model(inp, L.Dense(5)(x), name="resid")
    assign_normal(model.variables, seed)
    return model


def inception_cnn(seed: int = 0):
    # inception-style: parallel 1×1, 3×3 and pool → 1×1 branches of one tensor, Concatenate, ReLU, global
    # average pool, Dense softmax
    import keras

    L = keras.layers
    inp = keras.Input((7, 6, 2))
    stem = L.Conv2D(3, 3, padding="same", activation="relu")(inp)
    b1 = L.Conv2D(2, 1, activation="relu")(stem)
    b2 = L.Conv2D(3, 3, padding="same", activation="relu")(L.Conv2D(2, 1, activation="relu")(stem))
    b3 = L.Conv2D(2, 1)(L.MaxPooling2D(3, 1, padding="same")(stem))
    x = L.ReLU()(L.Concatenate()([b1, b2, b3]))
    model = keras.Model(inp, L.Dense(4, activation="softmax")(L.GlobalAveragePooling2D()(x)), name="inception")
    assign_normal(model.variables, seed)
    return model


@dataclass
class Cube:
    """A NumPy layer type no table knows (a new translation, a hand-made net): x ↦ x³, for the refusals."""
    name: str
    out_shape: tuple

    def __call__(self, x):
        return x ** 3


TINY_SIZE = 8   # the verifiers' CNN: Fashion-MNIST average-pooled to 8 × 8 × 1 (64 inputs)


def downsample(x: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 1) in [0, 1] → (N, 8, 8, 1): the central 24 × 24 crop, each 3 × 3 block averaged."""
    x = np.asarray(x, np.float32)[:, 2:26, 2:26, :]
    return x.reshape(len(x), TINY_SIZE, 3, TINY_SIZE, 3, 1).mean(axis=(2, 4))


def tiny_cnn(seed: int = 0):
    """The verifiers' CNN (conv 3×3×3 ReLU, max-pool 2, dense 10 logits), its weights drawn from `seed`."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((TINY_SIZE, TINY_SIZE, 1), name="image"), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling2D(2, name="pool"), keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, name="logits")], name="tiny_cnn")


def one_layer_model(shape, make, dtype: str = "float64"):
    """A one-layer model in `dtype` on `shape` ((H, W, C) an image, (L, C) a sequence, (C, H, W) channels-first)
    named "layer", `make()`'s layer rebuilt from its config, every weight drawn from N(0, 1) (biases too)."""
    import keras

    keras.utils.set_random_seed(21)
    made = make()
    layer = type(made).from_config({**made.get_config(), "dtype": dtype, "name": "layer"})
    model = keras.Sequential([keras.Input(shape, dtype=dtype), layer])
    assign_normal(layer.weights, 22)
    return model
