"""Regenerate the ONNX test fixtures in tests/data/onnx/, written by real exporters (PyTorch, tf2onnx).

These files are COMMITTED TEST DATA for the ONNX-input converter (hw5.convert.onnx_in.from_onnx). Nothing
regenerates them automatically: neither torch nor tf2onnx is a dependency of the project. Rerun this script
by hand only when a fixture must change, then check the diff and commit the files.

    PYTHONPATH=/tmp/torchlib:/tmp/t2o .venv/bin/python tools/make_onnx_fixtures.py

How the exporters were obtained (outside the project's .venv, which stays untouched):
  - PyTorch 2.13.0+cpu, from the CPU wheel torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl in pip's
    local find-links directory (/opt/wheels on the dev machine; PyPI's plain torch 2.14.1 wheel is the CUDA
    build and fails at import here with "ImportError: libcudnn.so.9: cannot open shared object file"),
    installed with
        .venv/bin/python -m pip install --no-deps --target /tmp/torchlib <torch wheel> sympy mpmath fsspec filelock
    (typing_extensions, networkx and jinja2 come from the .venv). Export: torch.onnx.export(..., dynamo=False),
    the TorchScript exporter, in eval() mode, fixed input size, dynamic batch axis "N"; its default
    training=EVAL folds every BatchNorm into the Conv before it, training=PRESERVE (the _bn files) does not.
  - tf2onnx 1.17.0 (pip download tf2onnx==1.17.0 --no-deps), installed with
        .venv/bin/python -m pip install --no-deps --target /tmp/t2o tf2onnx-1.17.0-py3-none-any.whl
    (its dependencies numpy, onnx, requests, flatbuffers, protobuf come from the .venv), run with the .venv's
    TensorFlow 2.21 / Keras 3.

Each model NAME gets NAME.onnx (opset 13; the PyTorch models also NAME_opset17.onnx, and those with BatchNorm
NAME_bn.onnx: opset 13 with BatchNormalization nodes kept, not folded into the Conv) and NAME.npz with
  x: 4 seeded uniform[0, 1) inputs, float32 (NCHW / NCL for PyTorch, NHWC for Keras),
  y: the exporting framework's own output on x, float32 (an independent reference for the converter).
Every file is then re-read by onnxruntime in a fresh process without PYTHONPATH (only the .venv), and its
output on x is checked against y (relative 1e-5); the op types of every file are printed.

The exporters run in separate child processes (torch and TensorFlow are never loaded together), one thread
each. A rerun writes byte-identical files: tf2onnx's generated names (BASE__N: Transpose__40, const_axes__24,
const_fold_opt__48, the batch dim unk__50, ...) and its initializer order change from run to run, so in
keras_nhwc.onnx those names are renumbered BASE__0, BASE__1, ... in order of first appearance (generated
constants const_*__N all become const__K) and the initializers put in order of first use (nothing else in
the file is touched). `--only torch|keras|verify` runs one stage.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "onnx"
SEED = 0
N_SAMPLES = 4
RTOL = 1e-5
MAX_BYTES = 200_000


def _inputs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (N_SAMPLES, *shape)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------- torch
def make_torch() -> None:
    import torch
    from torch import nn

    torch.set_num_threads(1)

    def randomize_bn(module: nn.Module, gen: torch.Generator) -> None:
        """Non-trivial BatchNorm: running statistics and affine parameters far from (0, 1, 1, 0)."""
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                with torch.no_grad():
                    m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                    m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                    m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                    m.bias.copy_(torch.rand(c, generator=gen) - 0.5)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.b1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                    nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
            self.b2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                    nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
            self.short2 = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2), nn.BatchNorm2d(16))
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.stem(x)
            x = self.relu(self.b1(x) + x)
            x = self.relu(self.b2(x) + self.short2(x))
            x = self.pool(x)
            x = x.view(x.size(0), -1)
            return self.fc(x)

    class VGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    class Mixed(nn.Module):
        """2x12x12 in. Shapes: 4x12x12 -> pool 4x7x7 -> pad 4x10x8 -> two branches of 4x10x8 -> cat 8x10x8
        -> avgpool 8x6x5 -> Linear(240, 5)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, groups=2, dilation=2, padding=2)
            self.leaky = nn.LeakyReLU(0.1)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
            self.pad = nn.ZeroPad2d((1, 0, 2, 1))                      # left, right, top, bottom
            self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)
            self.prelu = nn.PReLU(num_parameters=4)
            self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
            self.side = nn.Conv2d(4, 4, 1)
            self.relu6 = nn.ReLU6()
            self.hswish = nn.Hardswish()
            self.avgpool = nn.AvgPool2d(2, padding=1, count_include_pad=False)
            self.sigmoid = nn.Sigmoid()
            self.fc = nn.Linear(8 * 6 * 5, 5)

        def forward(self, x):
            x = self.pad(self.maxpool(self.leaky(self.conv(x))))
            a = self.up(self.prelu(self.down(x)))
            b = self.relu6(self.side(x))
            x = self.hswish(torch.cat([a, b], dim=1))
            x = self.sigmoid(self.avgpool(x))
            return self.fc(torch.flatten(x, 1))

    class Conv1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv1d(4, 6, 3, stride=2, padding=1), nn.BatchNorm1d(6), nn.ReLU(),
                                     nn.MaxPool1d(2))
            self.fc = nn.Linear(6 * 5, 3)

        def forward(self, x):
            return self.fc(torch.flatten(self.net(x), 1))

    # EVAL (the default) folds each BatchNorm into the Conv before it; PRESERVE on a model in eval() mode
    # skips that fold and writes BatchNormalization nodes (inference form): the NAME_bn.onnx variants.
    eval_mode, preserve = torch.onnx.TrainingMode.EVAL, torch.onnx.TrainingMode.PRESERVE
    models = [("resnet_nchw", ResNet, (3, 16, 16)), ("vgg_nchw", VGG, (3, 16, 16)),
              ("mixed_nchw", Mixed, (2, 12, 12)), ("conv1d_nchw", Conv1d, (4, 20))]
    for i, (name, cls, shape) in enumerate(models):
        torch.manual_seed(SEED)
        model = cls()
        gen = torch.Generator().manual_seed(SEED + 100)
        randomize_bn(model, gen)
        for m in model.modules():
            if isinstance(m, nn.PReLU):
                with torch.no_grad():
                    m.weight.copy_(0.05 + 0.45 * torch.rand(m.weight.shape, generator=gen))
        model.eval()
        x = _inputs(shape, SEED + i)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy().astype(np.float32)
        np.savez(OUT / f"{name}.npz", x=x, y=y)
        dummy = torch.from_numpy(x[:1])
        variants = [(13, "", eval_mode), (17, "_opset17", eval_mode)]
        if any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules()):
            variants.append((13, "_bn", preserve))
        for opset, suffix, training in variants:
            path = OUT / f"{name}{suffix}.onnx"
            torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=opset, training=training,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
            print(f"torch {torch.__version__}: wrote {path.relative_to(ROOT)}")


# ----------------------------------------------------------------------------------------------------- keras
def make_keras() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    import tf2onnx

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    # Keras' default zero biases would let tf2onnx drop the Dense bias Add: give every bias non-zero values
    def bias(k: int):
        return keras.initializers.RandomUniform(-0.5, 0.5, seed=SEED + k)

    inp = keras.Input((12, 12, 3), name="input")
    h = keras.layers.Conv2D(8, 3, padding="same", bias_initializer=bias(1))(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(8, 3, strides=2, bias_initializer=bias(2))(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(10, bias_initializer=bias(3))(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(SEED + 100)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([(0.5 + rng.uniform(0, 1, c)).astype(np.float32),        # gamma
                               (rng.uniform(0, 1, c) - 0.5).astype(np.float32),        # beta
                               (rng.uniform(0, 1, c) - 0.5).astype(np.float32),        # moving_mean
                               (0.5 + 1.5 * rng.uniform(0, 1, c)).astype(np.float32)])  # moving_variance
    x = _inputs((12, 12, 3), SEED + 10)
    y = np.asarray(model(x, training=False), dtype=np.float32)
    np.savez(OUT / "keras_nhwc.npz", x=x, y=y)
    path = OUT / "keras_nhwc.onnx"
    spec = [tf.TensorSpec((None, 12, 12, 3), tf.float32, name="input")]
    try:
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=str(path))
        how = "from_keras"
    except Exception as exc:  # noqa: BLE001 - tf2onnx 1.17 vs Keras 3: fall back to a tf.function
        print(f"tf2onnx.convert.from_keras failed ({type(exc).__name__}: {exc}); using from_function")

        @tf.function(input_signature=spec)
        def forward(t):
            return {"output": model(t, training=False)}

        tf2onnx.convert.from_function(forward, input_signature=spec, opset=13, output_path=str(path))
        how = "from_function"
    _canonical_names(path)
    print(f"tf2onnx {tf2onnx.__version__} ({how}), tensorflow {tf.__version__}, keras {keras.__version__}: "
          f"wrote {path.relative_to(ROOT)}")


def _canonical_names(path: Path) -> None:
    """Renumber tf2onnx's run-dependent generated names (`BASE__N`, e.g. Transpose__40, the batch dim unk__50)
    as BASE__0, BASE__1, ... in order of first appearance (const_*__N, e.g. const_fold_opt__48, const_axes__24,
    become const__K), and order the initializers by first use. Only names and the initializer order change."""
    import re

    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    generated = re.compile(r"(.*?)__(\d+)")
    rename: dict[str, str] = {}

    def canon(name: str) -> str:
        base, sep, port = name.partition(":")
        m = generated.fullmatch(base)
        if not m:
            return name
        if base not in rename:
            # tf2onnx shares one equal constant among const_axes/const_starts/...: which name wins varies
            stem = "const" if m.group(1).startswith("const_") else m.group(1)
            rename[base] = f"{stem}__{len(rename)}"
        return rename[base] + sep + port

    def dims(value_info) -> None:
        for d in value_info.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_param = canon(d.dim_param)

    first_use: dict[str, int] = {}
    for vi in graph.input:
        vi.name = canon(vi.name)
        dims(vi)
    for node in graph.node:
        node.input[:] = [canon(n) for n in node.input]
        for n in node.input:
            first_use.setdefault(n, len(first_use))
        node.name = canon(node.name)
        node.output[:] = [canon(n) for n in node.output]
    for vi in [*graph.output, *graph.value_info]:
        vi.name = canon(vi.name)
        dims(vi)
    for init in graph.initializer:
        init.name = canon(init.name)
    inits = sorted(graph.initializer, key=lambda i: first_use.get(i.name, len(first_use)))
    inits = [type(i).FromString(i.SerializeToString()) for i in inits]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


# ---------------------------------------------------------------------------------------------------- verify
def verify() -> bool:
    import onnx
    import onnxruntime as ort

    ok = True
    for path in sorted(OUT.glob("*.onnx")):
        name = path.stem.removesuffix("_opset17").removesuffix("_bn")
        data = np.load(OUT / f"{name}.npz")
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        ops = Counter(n.op_type for n in model.graph.node)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        i = sess.get_inputs()[0]
        got = sess.run(None, {i.name: data["x"]})[0]
        y = data["y"]
        diff = float(np.max(np.abs(got - y)))
        good = got.shape == y.shape and bool(np.allclose(got, y, rtol=RTOL, atol=RTOL * float(np.max(np.abs(y)))))
        size = path.stat().st_size
        good = good and size < MAX_BYTES
        ok = ok and good
        print(f"{'ok ' if good else 'BAD'} {path.name}: opset {opset}, input {i.name} {i.shape}, {size} bytes, "
              f"max|diff| {diff:.3g} (max|y| {float(np.max(np.abs(y))):.3g})")
        print("    ops: " + ", ".join(f"{op}x{k}" for op, k in sorted(ops.items())))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["torch", "keras", "verify"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only == "torch":
        make_torch()
        return 0
    if args.only == "keras":
        make_keras()
        return 0
    if args.only == "verify":
        return 0 if verify() else 1
    env1 = dict(os.environ, OMP_NUM_THREADS="1")
    for stage in ("torch", "keras"):
        subprocess.run([sys.executable, __file__, "--only", stage], cwd=ROOT, env=env1, check=True)
    clean = {k: v for k, v in env1.items() if k != "PYTHONPATH"}   # onnxruntime from the .venv alone
    return subprocess.run([sys.executable, __file__, "--only", "verify"], cwd=ROOT, env=clean).returncode


if __name__ == "__main__":
    sys.exit(main())
