"""The whole homework in one run: the `main()` of the hand-in script homework5_<names>.py.

`python -m hw5.homework [--quick]` runs it from the package; `hw5 handin` pastes the homework layer
(hw5/homework/) into one file whose `main()` is this one. It prints

* Part 1: Keras' progress while our CNN trains, a line per epoch, the first gradient updates of epoch 1
  (each batch's loss and accuracy) and the test accuracy on all 10,000 test images from `model.evaluate`;
* Part 2: the exact homework net's `model.summary()`, every layer's neuron count derived from kernel,
  stride and padding — e.g. ⌊(28 − 3 + 2·0) / 1⌋ + 1 = 26, neurons 26 · 26 · 64 = 43,264 — and checked against the NumPy
  network's own shape maths, then the softmax of test image IMAGE_INDEX from TensorFlow and from the NumPy
  fully-connected network (the conv layer as its Toeplitz matrix) side by side, and their max abs difference.

Both parts train with hw5.models.SEED and TRAINING — the numbers the cache, the tests and the report use —
deterministically (hw5.training.make_deterministic), so a full run reproduces the report's figures.
`--quick` trains on the first QUICK_SUBSET training images for one epoch (for tests). Needs NumPy and
TensorFlow/Keras only; the data is found as hw5.data finds it. No cache: every run trains.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from hw5.homework.compare import IMAGE_INDEX, agreement
from hw5.homework.data import CLASS_NAMES, data_source, load_fashion_mnist, preprocess
from hw5.homework.models import SEED, TRAINING, build_part1_model, build_part2_model
from hw5.homework.numpy_net import from_keras
from hw5.homework.toeplitz import _pair, conv_output_shape, derive_output_shape
from hw5.homework.training import fit, make_deterministic

QUICK_SUBSET = 1024  # --quick: training images, one epoch (8 gradient updates at Part 1's batch of 128)
BUILDERS = {1: build_part1_model, 2: build_part2_model}


def train_homework_part(part: int, x_train, y_train, x_test, y_test, quick: bool = False, summary: bool = False):
    """(model, TrainLog): part 1 or 2 built and trained as hw5.cache.train_part trains it on a cache miss.

    x_train uint8 (N, 28, 28) as loaded; x_test (10000, 28, 28, 1) preprocessed. With `quick`, the first
    QUICK_SUBSET training images for one epoch, and no per-epoch test evaluation. `summary` prints
    `model.summary()` before training (before the optimizer adds its own variables to the totals).
    """
    spec = TRAINING[part]
    epochs = 1 if quick else spec["epochs"]
    if quick:
        x_train, y_train = x_train[:QUICK_SUBSET], y_train[:QUICK_SUBSET]
    print(f"training {epochs} epoch(s) on {len(x_train):,} images, batch {spec['batch_size']}, seed {SEED}, "
          f"Adam lr {spec['learning_rate']:g}{' with cosine decay' if spec['cosine'] else ''}", flush=True)
    make_deterministic(SEED)
    model = BUILDERS[part]()  # after seeding: the initial weights are seeded too
    if summary:
        model.summary()
    log = fit(model, preprocess(x_train), y_train, epochs=epochs, batch_size=spec["batch_size"], seed=SEED,
              learning_rate=spec["learning_rate"], cosine=spec["cosine"], probes=spec["probes"],
              x_test=None if quick else x_test, y_test=None if quick else y_test, verbose=1, progress=print)
    return model, log


def update_lines(log) -> list[str]:
    """The logged gradient updates: each batch's loss and accuracy, and the running means Keras' bar shows."""
    return [f"update {u['update']:3d}: batch loss {u['loss']:.4f}, batch accuracy {u['accuracy']:.4f} "
            f"(running mean {u['running_loss']:.4f}, {u['running_accuracy']:.4f})" for u in log.updates]


def neuron_lines(model, net) -> list[str]:
    """Every layer's neuron count, derived step by step from kernel, stride, padding and filters
    (hw5.toeplitz.derive_output_shape); raises if one differs from `net.neuron_counts()`."""
    derived = {name: tuple(shape) for name, shape, _ in net.neuron_counts()}
    shape, lines = tuple(int(d) for d in model.input_shape[1:]), []
    for layer in model.layers:
        cfg, kind = layer.get_config(), type(layer).__name__
        if "kernel_size" in cfg or "pool_size" in cfg:  # Conv2D, MaxPooling2D
            window = cfg.get("kernel_size") or cfg["pool_size"]
            args = (shape, window, cfg.get("strides") or window, cfg["padding"], cfg.get("filters", shape[2]))
            lines.append(f"{layer.name} ({kind} {'x'.join(map(str, _pair(window, 'window')))}, stride "
                         f"{'x'.join(map(str, _pair(args[2], 'strides')))}, '{cfg['padding']}'), on {shape}:")
            lines += [f"    {step}" for step in derive_output_shape(*args)]
            shape = conv_output_shape(*args)
        elif "units" in cfg:
            shape = (cfg["units"],)
            lines.append(f"{layer.name} ({kind}): {cfg['units']:,} units = {cfg['units']:,} neurons")
        else:  # ReLU, Flatten: as many neurons as their input
            shape = (math.prod(shape),) if kind == "Flatten" else shape
            lines.append(f"{layer.name} ({kind}): as many as its input, {math.prod(shape):,}")
        if layer.name in derived and derived[layer.name] != shape:
            raise RuntimeError(f"layer {layer.name}: the formula gives {shape}, the NumPy net {derived[layer.name]}")
    return lines


def softmax_lines(tf_probs, np_probs) -> list[str]:
    """The two softmax vectors of one image side by side, 9 significant digits."""
    rows = [f"{'class':12s} {'TensorFlow':>16s} {'NumPy':>16s} {'|difference|':>12s}"]
    rows += [f"{name:12s} {p:16.9g} {q:16.9g} {abs(float(p) - float(q)):12.3e}"
             for name, p, q in zip(CLASS_NAMES, tf_probs, np_probs, strict=True)]
    return rows


def main(argv=None) -> int:
    """Run the whole homework (see the module docstring); 0 when done."""
    import keras
    import tensorflow as tf

    parser = argparse.ArgumentParser(description="CS/DS 541 Homework 5: Part 1 and Part 2 in one run")
    parser.add_argument("--quick", action="store_true",
                        help=f"train on {QUICK_SUBSET} images for one epoch (a check that it runs, not the figures)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if hasattr(sys.stdout, "reconfigure"):  # a console that cannot show ⌊ · → prints escapes, never crashes
        sys.stdout.reconfigure(errors="backslashreplace")
    started = time.perf_counter()
    (x_train, y_train), (x_test_raw, y_test) = load_fashion_mnist()
    x_test = preprocess(x_test_raw)
    source = data_source()
    print(f"Fashion-MNIST from {source.directory} ({source.origin}; SHA-256 of the 4 files verified); "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy {np.__version__}")

    print("\n=== Part 1: our CNN ===")
    model1, log1 = train_homework_part(1, x_train, y_train, x_test, y_test, args.quick)
    print(f"\nthe first {len(log1.updates)} gradient updates of epoch 1:")
    print("\n".join(update_lines(log1)))
    _, accuracy1 = model1.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"Part 1 test accuracy: {accuracy1:.4f} on {len(y_test):,} test images (model.evaluate)")

    print("\n=== Part 2: the exact homework net ===")
    model2, _ = train_homework_part(2, x_train, y_train, x_test, y_test, args.quick, summary=True)
    _, accuracy2 = model2.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"Part 2 test accuracy: {accuracy2:.4f} on {len(y_test):,} test images (model.evaluate)")
    net = from_keras(model2)  # weights from model.trainable_variables; conv -> 784 x 43,264 Toeplitz matrix
    print("\nneurons per layer, derived from kernel, stride and padding (output = ⌊(n − k + 2p) / s⌋ + 1), "
          "each equal to the NumPy network's neuron_counts():")
    print("\n".join(neuron_lines(model2, net)))
    image = x_test[IMAGE_INDEX:IMAGE_INDEX + 1]
    tf_probs, np_probs, summary = agreement(model2, net, image)
    print(f"\ntest image {IMAGE_INDEX} (label {CLASS_NAMES[y_test[IMAGE_INDEX]]}): softmax from TensorFlow "
          f"and from the NumPy fully-connected network")
    print("\n".join(softmax_lines(tf_probs[0], np_probs[0])))
    print(f"both predict: {CLASS_NAMES[int(tf_probs.argmax())]} / {CLASS_NAMES[int(np_probs.argmax())]}")
    print(f"max abs difference TF vs NumPy: {summary.max_abs_diff:.3e}")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
