"""Why one wants the fully-connected form: a verifier (Marabou) answers questions about the network.

`small_cnn()` is a CNN small enough for a complete verifier — average-pool the 28×28 image to 7×7 inside the
model, a 3×3 conv with ReLU, a 2×2 max-pool, a dense layer to the 10 logits — and `train_small_cnn` trains it
on Fashion-MNIST in seconds, seeded. Lowered to Dense+ReLU (hw5.convert.relu_only) and exported to ONNX or
NNet, it is read by Marabou (through maraboupy), and `local_robustness` asks the L∞ question around an image
x of class c:

    is there an x' with |x' − x|∞ ≤ ε, 0 ≤ x' ≤ 1, and logit_j(x') ≥ logit_c(x') + margin for some j ≠ c?

one Marabou query per j. "unsat" for every j: proved robust at radius ε (for the network Marabou read, in its
arithmetic). "sat": Marabou's x' is a counterexample, which the caller replays through the Keras model.

maraboupy's `Marabou` module imports its TensorFlow parser, which calls tf.compat.v1.disable_v2_behavior()
for the whole process (Keras then no longer runs eagerly); so this module uses maraboupy's NNet and ONNX
network classes and MarabouCore directly — `Marabou.read_nnet(path)` is `MarabouNetworkNNet(path)`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def small_cnn(seed: int = 0):
    """AveragePooling2D 4 → (7, 7, 1); Conv2D 4×3×3 ReLU → (5, 5, 4); MaxPooling2D 2 → (2, 2, 4); Dense 10
    (logits, no softmax): in the Dense+ReLU form, 4 Dense layers and 196 ReLUs (hidden widths 100, 64, 32)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"), keras.layers.AveragePooling2D(4, name="downsample"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"), keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"), keras.layers.Dense(10, name="logits")], name="small_cnn")


def train_small_cnn(x_train, y_train, seed: int = 0, epochs: int = 2):
    """`small_cnn(seed)` trained with Adam (lr 1e-2, batch 256) on the given images (N, 28, 28, 1) in [0, 1]."""
    import keras

    from hw5.homework.training import make_deterministic

    make_deterministic(seed)
    model = small_cnn(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=256, epochs=epochs, shuffle=True, verbose=0)
    return model


def read_network(path):
    """A maraboupy network from an .onnx or .nnet file (NNet: no normalisation folded in, normalize=False)."""
    path = Path(path)
    if path.suffix == ".nnet":
        from maraboupy.MarabouNetworkNNet import MarabouNetworkNNet

        return MarabouNetworkNNet(str(path), normalize=False)
    if path.suffix == ".onnx":
        from maraboupy.MarabouNetworkONNX import MarabouNetworkONNX

        return MarabouNetworkONNX(str(path))
    raise ValueError(f"path must be an .onnx or .nnet file, got {str(path)!r}")


def marabou_outputs(path, x) -> np.ndarray:
    """The network in `path` evaluated by Marabou's solver itself (inputs fixed, outputs solved for), one
    image at a time: (N, outputs)."""
    rows = []
    for image in np.asarray(x):
        net = read_network(path)
        shape = np.asarray(net.inputVars[0]).shape
        rows.append(np.asarray(net.evaluateWithMarabou([image.reshape(shape)], filename="")[0]).ravel())
    return np.stack(rows)


def into_ball(found, x, epsilon: float, lower: float = 0.0, upper: float = 1.0, dtype=None) -> np.ndarray:
    """`found` moved into {x' : |x' − x|∞ ≤ ε, lower ≤ x' ≤ upper} exactly, in `dtype` (default: x's dtype).

    A solver's point lies in the box up to its feasibility tolerance, and x − ε rounds: Marabou returned a point
    at L∞ distance 0.050000000000000044 for ε = 0.05. So: clip to [x − ε, x + ε] ∩ [lower, upper], cast, and
    step every coordinate still outside (|x'_i − x_i| > ε computed in float64, exact for two float32 numbers in
    [0, 1]) one ulp towards x_i until none is. Needs |x − clip(x, lower, upper)| ≤ ε (x in the bounds)."""
    x = np.asarray(x)
    dtype = np.dtype(dtype or (x.dtype if x.dtype.kind == "f" else np.float64))
    x64 = x.astype(np.float64)
    box_lo, box_hi = np.maximum(x64 - epsilon, lower), np.minimum(x64 + epsilon, upper)
    out = np.clip(np.asarray(found, np.float64).reshape(x.shape), box_lo, box_hi).astype(dtype)
    target = x.astype(dtype)
    for _ in range(64):
        o64 = out.astype(np.float64)
        bad = (np.abs(o64 - x64) > epsilon) | (o64 < lower) | (o64 > upper)
        if not bad.any():
            return out
        out[bad] = np.nextafter(out[bad], target[bad])
    raise ValueError(f"cannot bring the point within {epsilon!r} of x inside [{lower}, {upper}] (is x inside?)")


@dataclass(frozen=True)
class Robustness:
    epsilon: float
    label: int
    answer: str                            # "robust" (every query unsat), "not robust" (one sat), or Marabou's
    seconds: float                         # exit code when a query neither (e.g. "TIMEOUT")
    target: int | None = None              # the class j of the sat query
    counterexample: np.ndarray | None = None   # Marabou's x' moved into the box (`into_ball`), shaped like x


def marabou_options(seconds: float):
    """Marabou's options: silent, a timeout of `seconds` rounded up to whole seconds (at least 1)."""
    from maraboupy import MarabouCore

    options = MarabouCore.Options()
    options._verbosity = 0
    options._timeoutInSeconds = max(1, int(np.ceil(seconds)))
    return options


def local_robustness(path, x, label: int, epsilon: float, margin: float = 1e-2, timeout: float = 120.0,
                     lower: float = 0.0, upper: float = 1.0) -> Robustness:
    """Marabou's answer to the L∞ question of the module for image x (H, W, C) of class `label`, radius
    `epsilon`, inputs kept in [lower, upper], within `timeout` seconds for all the queries together."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    x = np.asarray(x, np.float64)
    lo, hi = np.maximum(x - epsilon, lower).ravel(), np.minimum(x + epsilon, upper).ravel()
    started = time.perf_counter()
    classes = np.asarray(read_network(path).outputVars[0]).size
    for j in (j for j in range(classes) if j != label):
        net = read_network(path)
        inputs, outputs = np.asarray(net.inputVars[0]).ravel(), np.asarray(net.outputVars[0]).ravel()
        for var, a, b in zip(inputs, lo, hi, strict=True):
            net.setLowerBound(int(var), float(a))
            net.setUpperBound(int(var), float(b))
        net.addInequality([int(outputs[label]), int(outputs[j])], [1.0, -1.0], -float(margin))  # y_c − y_j ≤ −m
        left = timeout - (time.perf_counter() - started)
        code, values, _ = net.solve(verbose=False, options=marabou_options(left)) if left > 0 else ("TIMEOUT", {}, None)
        if code == "sat":
            found = into_ball(np.array([values[int(v)] for v in inputs]).reshape(x.shape), x, epsilon, lower, upper)
            return Robustness(epsilon, label, "not robust", time.perf_counter() - started, j, found)
        if code != "unsat":
            return Robustness(epsilon, label, code, time.perf_counter() - started)
    return Robustness(epsilon, label, "robust", time.perf_counter() - started)
