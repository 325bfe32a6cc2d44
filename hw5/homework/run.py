"""The whole homework in one run: `main()` of the hand-in script (`python -m hw5.homework [--quick]` here).

It prints each graded item in the homework's order; both parts train with SEED and TRAINING, deterministically,
so a full run gives the report's figures. `--quick` trains on QUICK_SUBSET images for one epoch: a check that it
runs, not the figures.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from hw5.homework.compare import unsure_image
from hw5.homework.data import CLASS_NAMES, data_source, load_fashion_mnist, preprocess
from hw5.homework.forward import part2_forward
from hw5.homework.geometry import conv_output_shape, pair
from hw5.homework.kernels import DIGITS, kernels
from hw5.homework.models import SEED, TRAINING, build_part1_model, build_part2_model
from hw5.homework.toeplitz import conv2d_as_dense_loop, derive_output_shape
from hw5.homework.training import fit, make_deterministic
from hw5.homework.weights import extract_weights

QUICK_SUBSET = 1024  # --quick: training images, one epoch (8 gradient updates at Part 1's batch of 128)
BUILDERS = {1: build_part1_model, 2: build_part2_model}


def train_homework_part(part: int, x_train, y_train, x_test, y_test, quick: bool = False, summary: bool = False):
    """(model, TrainLog): part 1 or 2 built and trained as the package's cache trains it. With `quick`, the
    first QUICK_SUBSET training images for one epoch, no test evaluation. `summary`: `model.summary()` first."""
    spec = TRAINING[part]
    epochs = 1 if quick else spec["epochs"]
    if quick:
        x_train, y_train, x_test, y_test = x_train[:QUICK_SUBSET], y_train[:QUICK_SUBSET], None, None
    make_deterministic(SEED)
    model = BUILDERS[part]()  # after seeding: the initial weights are seeded too
    if summary:
        model.summary()
    print(f"training {epochs} epoch(s) on {len(x_train):,} images, batch {spec['batch_size']}, seed {SEED}, "
          f"Adam lr {spec['learning_rate']:g}{' with cosine decay' if spec['cosine'] else ''}", flush=True)
    log = fit(model, preprocess(x_train), y_train, epochs=epochs, batch_size=spec["batch_size"], seed=SEED,
              learning_rate=spec["learning_rate"], cosine=spec["cosine"], x_test=x_test, y_test=y_test)
    print("\n".join(epoch_lines(log)))
    return model, log


def epoch_lines(log) -> list[str]:
    return [f"epoch {e['epoch']}: loss {e['loss']:.4f}, accuracy {e['accuracy']:.4f}"
            + (f", test accuracy {e['test_accuracy']:.4f}" if "test_accuracy" in e else "")
            + f" ({e['train_seconds']:.0f} s of training)" for e in log.epochs]


def update_lines(log) -> list[str]:
    """The logged gradient updates: each batch's loss and accuracy, and the running means Keras' bar shows."""
    return [f"update {u['update']:3d}: batch loss {u['loss']:.4f}, batch accuracy {u['accuracy']:.4f} "
            f"(running mean {u['running_loss']:.4f}, {u['running_accuracy']:.4f})" for u in log.updates]


def weight_lines(weights) -> list[str]:
    return [f"{name:14s} {str(w.shape):14s} {w.dtype}  {w.size:>10,} values" for name, w in weights.items()] + [
        f"{'in all':14s} {'':14s} {'':7s}  {sum(w.size for w in weights.values()):>10,}"]


def forward_lines(outs, W) -> list[str]:
    """What each layer of `part2_forward` computed, and its output's shape."""
    does = dict(conv=f"x @ W + b, W {W.shape[0]:,} x {W.shape[1]:,} (the conv layer's matrix)",
                pool="max over each 2x2 window, stride 2 (a loop)", relu="max(x, 0)", flatten="(h, w, c) order",
                dense="max(x @ W + b, 0), W 10,816 x 1,024", output="softmax(x @ W + b), W 1,024 x 10")
    return [f"{name:8s} {does[name]:58s} -> {out.shape[1:]}" for name, out in outs.items()]


def neuron_lines(model, outs) -> list[str]:
    """Every layer's neuron count, derived step by step from kernel, stride, padding and filters; raises if
    one differs from the shape of that layer's output in `part2_forward`."""
    shape, lines = tuple(int(d) for d in model.input_shape[1:]), []
    for layer in model.layers:
        cfg, kind = layer.get_config(), type(layer).__name__
        if "kernel_size" in cfg or "pool_size" in cfg:  # Conv2D, MaxPooling2D
            window = cfg.get("kernel_size") or cfg["pool_size"]
            args = (shape, window, cfg.get("strides") or window, cfg["padding"], cfg.get("filters", shape[2]))
            lines.append(f"{layer.name} ({kind} {'x'.join(map(str, pair(window, 'window')))}, stride "
                         f"{'x'.join(map(str, pair(args[2], 'strides')))}, '{cfg['padding']}'), on {shape}:")
            lines += [f"    {step}" for step in derive_output_shape(*args)]
            shape = conv_output_shape(*args)
        elif "units" in cfg:
            shape = (cfg["units"],)
            lines.append(f"{layer.name} ({kind}): {cfg['units']:,} units = {cfg['units']:,} neurons")
        else:  # ReLU, Flatten: as many neurons as their input
            shape = (math.prod(shape),) if kind == "Flatten" else shape
            lines.append(f"{layer.name} ({kind}): as many as its input, {math.prod(shape):,}")
        if outs[layer.name].shape[1:] != shape:
            raise RuntimeError(f"layer {layer.name}: the formula gives {shape}, the forward pass "
                               f"{outs[layer.name].shape[1:]}")
    return lines


def matrix_lines(W, b) -> list[str]:
    """The conv layer as a dense layer (W, b)."""
    return [f"the conv layer as a fully-connected layer: W {W.shape[0]:,} x {W.shape[1]:,} ({np.count_nonzero(W):,} "
            f"non-zeros: each of the {W.shape[1]:,} neurons sees 3x3 = 9 inputs), b {b.size:,}"]


def softmax_lines(tf_probs, np_probs) -> list[str]:
    """One image's two softmax vectors side by side, in fixed decimals and in scientific notation."""
    rows = [f"{'class':12s} {'TensorFlow':>12s} {'NumPy':>12s} {'TensorFlow':>16s} {'NumPy':>16s} {'|diff|':>9s}"]
    rows += [f"{name:12s} {p:12.8f} {q:12.8f} {p:16.8e} {q:16.8e} {abs(float(p) - float(q)):9.1e}"
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
    x_test, source = preprocess(x_test_raw), data_source()
    print(f"Fashion-MNIST from {source.directory} (SHA-256 of the 4 files verified); TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}, NumPy {np.__version__}\nTensorFlow's CPU kernels: {kernels()} -- {DIGITS}")

    print("\n=== Part 1: our CNN ===")
    model1, log1 = train_homework_part(1, x_train, y_train, x_test, y_test, args.quick)
    print(f"\nPart 1 (b): the first {len(log1.updates)} gradient updates of epoch 1")
    print("\n".join(update_lines(log1)))
    _, accuracy1 = model1.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"\nPart 1 (a): test accuracy {accuracy1:.4f} on {len(y_test):,} test images (model.evaluate)")

    print("\n=== Part 2 (1): the homework's net ===")
    model2, _ = train_homework_part(2, x_train, y_train, x_test, y_test, args.quick, summary=True)
    _, accuracy2 = model2.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"Part 2 test accuracy {accuracy2:.4f} on {len(y_test):,} test images (model.evaluate)")

    print("\n=== Part 2 (2): the trained weights, from model.trainable_variables ===")
    weights = extract_weights(model2)
    print("\n".join(weight_lines(weights)))

    W, b = conv2d_as_dense_loop(weights["conv/kernel"], weights["conv/bias"], (28, 28, 1))   # Part 2 (4)
    index = unsure_image(model2.predict(x_test, batch_size=1000, verbose=0), y_test)           # Part 2 (5)
    outs = part2_forward(x_test[index:index + 1], weights, (W, b))                            # Part 2 (3)
    print("\n=== Part 2 (3): the NumPy forward pass (matrix multiply + bias per layer, max-pool loop) ===")
    print("\n".join(forward_lines(outs, W)))

    print("\n=== Part 2 (4): the conv layer as a fully-connected layer ===")
    print("\n".join(neuron_lines(model2, outs)))
    print("\n".join(matrix_lines(W, b)))

    print("\n=== Part 2 (5): one test image, the same softmax from TensorFlow and from NumPy ===")
    tf_probs, np_probs = model2.predict(x_test[index:index + 1], verbose=0), outs["output"]   # the same image
    top = np.argsort(tf_probs[0])[::-1][:2]
    print(f"test image {index} (label {CLASS_NAMES[y_test[index]]}): the correctly classified test image with the "
          f"most uncertain softmax (highest entropy); TensorFlow's top classes {CLASS_NAMES[top[0]]} "
          f"{tf_probs[0, top[0]]:.4f} and {CLASS_NAMES[top[1]]} {tf_probs[0, top[1]]:.4f}")
    print("\n".join(softmax_lines(tf_probs[0], np_probs[0])))
    print(f"max |TensorFlow - NumPy| = {np.abs(tf_probs.astype(np.float64) - np_probs).max():.2e}; "
          f"np.allclose(TF, NumPy, rtol=1e-5, atol=1e-6): "
          f"{np.allclose(tf_probs, np_probs, rtol=1e-5, atol=1e-6)}; both predict "
          f"{CLASS_NAMES[int(tf_probs.argmax())]} / {CLASS_NAMES[int(np_probs.argmax())]}")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
