"""keras.applications as fully-connected networks: convert, check against Keras, measure (issue 20, items 6–8).

    python -m hw5.deliver.architectures [NAME ...] [--size 224] [--out bench/architectures.json]

measures each architecture in a fresh subprocess (so the peak memory is its own): random weights including
BatchNorm statistics, from_keras(model, sparse=True), max |Keras − NumPy| on 4 images relative to the output's
scale, and forward ms per image at batch 32 for Keras and for the sparse NumPy network. `make architectures`
writes bench/architectures.json, which the report's "architectures" section reads.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# name -> (keras.applications constructor, its extra keyword arguments), at 32×32×3, 10 classes
ARCHITECTURES = {
    "MobileNet": ("MobileNet", dict(alpha=0.25)),
    "MobileNetV2": ("MobileNetV2", dict(alpha=0.35)),
    "MobileNetV3Small": ("MobileNetV3Small", dict(include_preprocessing=False)),
    "ResNet50": ("ResNet50", {}),
    "DenseNet121": ("DenseNet121", {}),
    "EfficientNetB0": ("EfficientNetB0", {}),
    "VGG16": ("VGG16", {}),
}
JSON_PATH = Path("bench/architectures.json")


def build(name: str, size: int = 32, classes: int = 10, seed: int = 0, **extra):
    """The architecture with random weights, BatchNorm statistics and EfficientNet's Normalization
    statistics included (moving means N(0, 0.1²), variances U(0.5, 2)); logits out (no softmax)."""
    import keras

    ctor, kwargs = ARCHITECTURES[name]
    kwargs = {**kwargs, **extra}
    if size == 224 and name == "MobileNetV2":
        kwargs, classes = {}, 1000
    model = getattr(keras.applications, ctor)(input_shape=(size, size, 3), weights=None, classes=classes,
                                              classifier_activation=None, **kwargs)
    rng = np.random.default_rng(seed)
    for var in model.non_trainable_variables:
        leaf = var.path.split("/")[-1]
        if leaf in ("moving_variance", "variance"):
            var.assign(rng.uniform(0.5, 2.0, var.shape).astype(var.dtype))
        elif leaf in ("moving_mean", "mean"):
            var.assign(rng.normal(0, 0.1, var.shape).astype(var.dtype))
    return model


def keras_reference(model, x) -> np.ndarray:
    """model(x, training=False) one image at a time: hw5.convert.reference.keras_outputs."""
    from hw5.convert.reference import keras_outputs

    return keras_outputs(model, x)


def _ms_per_image(fn, x, rounds: int = 3) -> float:
    fn(x)   # warm-up (TF traces, caches)
    best = min(_timed(fn, x) for _ in range(rounds))
    return 1000 * best / len(x)


def _timed(fn, x) -> float:
    t = time.perf_counter()
    fn(x)
    return time.perf_counter() - t


def measure(name: str, size: int = 32, images: int = 4, batch: int = 32, timing: bool = True) -> dict:
    """One row of the table (see the module): in this process; run it in a fresh one for its peak memory."""
    from hw5.convert.fold import from_keras

    model = build(name, size)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (max(images, batch if timing else 0), size, size, 3)).astype("float32")
    t = time.perf_counter()
    net = from_keras(model, sparse=True, check=False)   # convert s: the conversion alone; the row's own
    seconds = time.perf_counter() - t                    # comparison with Keras below is its check
    expected = keras_reference(model, x[:images])
    actual = net.predict(x[:images])
    matrices = [layer.W for layer in net.layers if hasattr(layer, "W")]
    nnz = sum(int(W.nnz) for W in matrices)
    stored = sum(W.data.nbytes + W.indices.nbytes + W.indptr.nbytes for W in matrices)
    row = dict(name=name, size=size, keras_layers=len(model.layers), keras_operations=len(model.operations),
               numpy_layers=len(net.layers), matrices=len(matrices), nonzeros=nnz,
               bytes_per_nonzero=stored / nnz, convert_seconds=seconds,
               max_abs_diff=float(np.abs(actual - expected).max()), output_scale=float(np.abs(expected).max()))
    if timing:
        row["keras_ms_per_image"] = _ms_per_image(lambda b: model.predict_on_batch(b), x[:batch])
        row["numpy_ms_per_image"] = _ms_per_image(net.predict, x[:batch], rounds=2)
        row["ratio"] = row["numpy_ms_per_image"] / row["keras_ms_per_image"]
    row["peak_gib"] = peak_gib()
    return row


def peak_gib() -> float:
    """This process's peak resident memory: VmHWM (Linux; reset by exec, unlike ru_maxrss, which a child
    started by a big parent inherits), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20          # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure_in_subprocess(name: str, size: int = 32, images: int = 4, timing: bool = True) -> dict:
    """`measure` in a fresh Python (its own peak memory), returning its row."""
    code = (f"import json; from hw5.deliver.architectures import measure; "
            f"print('ROW' + json.dumps(measure({name!r}, {size}, {images}, timing={timing})))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    rows = [line[3:] for line in done.stdout.splitlines() if line.startswith("ROW")]
    if done.returncode or not rows:
        raise RuntimeError(f"measuring {name} at {size}×{size} failed:\n{done.stderr[-3000:]}")
    return json.loads(rows[-1])


def write_table(rows: list[dict], path: Path = JSON_PATH) -> None:
    """The table as JSON at `path`, atomically (a failure leaves the old file, or none, and no temporary)."""
    from hw5.convert.export.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(rows, indent=1)), parents=True)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(ARCHITECTURES))
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=JSON_PATH)
    args = parser.parse_args(argv)
    rows = [measure_in_subprocess(name, args.size) for name in args.names]
    for row in rows:
        print(json.dumps(row))
    write_table(rows, args.out)


if __name__ == "__main__":
    main()
