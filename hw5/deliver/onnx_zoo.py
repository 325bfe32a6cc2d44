"""The onnx wheel's model-zoo CNNs at 224² as fully-connected networks: estimate, convert, check, measure.

    python -m hw5.deliver.onnx_zoo [NAME ...] [--out bench/onnx_zoo.json]

The `light` models of onnx/backend/test/data/light/ (AlexNet, DenseNet121, Inception v1/v2, ResNet50,
ShuffleNet, SqueezeNet, VGG19, ZFNet512) hold their weights as ConstantOfShape fills of one value; `seeded`
replaces each fill by seeded random values of the same shape (He-normal for a kernel, std √(2 / fan-in); a
BatchNorm's scale U(0.5, 1.5), shift and mean N(0, 0.1²), variance U(0.5, 2); other vectors N(0, 0.1²)) so
that the check means something. Each model, in a fresh subprocess (its peak memory its own): the estimate from
the file (hw5.convert.onnx_in.estimate); if it fits this machine, from_onnx(sparse=True) (its self-check
against onnxruntime included), max |onnxruntime − NumPy| of the logits (a last Softmax's input) on 2 images
relative to their scale, and
ms per image for onnxruntime and the NumPy network; else the row says refused, with the estimate.
`make architectures` writes bench/onnx_zoo.json, which the report's architectures section reads.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ("shufflenet", "squeezenet", "bvlc_alexnet", "resnet50", "densenet121", "inception_v1", "inception_v2",
          "vgg19", "zfnet512")
JSON_PATH = Path("bench/onnx_zoo.json")
IMAGES = 2


def seeded(path: Path, seed: int = 0):
    """The model at `path` with every ConstantOfShape weight replaced by seeded random values (see the module)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph, rng = model.graph, np.random.default_rng(seed)
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    readers = {}
    for node in graph.node:
        for k, name in enumerate(node.input):
            readers.setdefault(name, []).append((node.op_type, k))
    keep = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in consts:
            keep.append(node)
            continue
        shape = tuple(int(d) for d in consts[node.input[0]])
        uses = readers.get(node.output[0], [])
        bn = next((k for op, k in uses if op == "BatchNormalization"), None)
        if bn is not None:
            value = {1: rng.uniform(0.5, 1.5, shape), 2: rng.normal(0, 0.1, shape), 3: rng.normal(0, 0.1, shape),
                     4: rng.uniform(0.5, 2.0, shape)}[bn]
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:])) if not any(op == "Gemm" for op, _ in uses) else min(shape)
            value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(0, 0.1, shape)
        graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        if model.ir_version < 4:   # IR 3 lists every initializer among the graph's inputs
            graph.input.append(helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, shape))
    del graph.node[:]
    graph.node.extend(keep)
    return model


def _ms_per_image(fn, x, rounds: int = 2) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best / len(x)


def measure(name: str) -> dict:
    """One row (see the module), in this process."""
    from hw5.convert.estimate import MEMORY_SHARE, available_memory
    from hw5.convert.onnx_in import from_onnx
    from hw5.convert.onnx_in.estimate import onnx_estimate
    from hw5.convert.onnx_in.reader import read
    from hw5.convert.onnx_in.reference import last_softmax, onnx_outputs
    from hw5.deliver.architectures import peak_gib

    model = seeded(LIGHT / f"light_{name}.onnx")
    graph = read(model)
    row = dict(name=name, input=list(graph.input_shape),
               ops=sorted({n.op_type for n in model.graph.node} - {"Constant"}))
    estimate = onnx_estimate(graph, sparse=True)
    row.update(estimate_gib=estimate["bytes"] / 2**30, multiply_adds=estimate["multiply_adds"],
               usable_gib=MEMORY_SHARE * available_memory() / 2**30)
    if estimate["bytes"] > MEMORY_SHARE * available_memory():
        return {**row, "refused": True}
    t0 = time.perf_counter()
    net = from_onnx(model, sparse=True)
    row["convert_seconds"] = time.perf_counter() - t0
    x = np.random.default_rng(1).uniform(0, 1, (IMAGES, *graph.input_shape)).astype(np.float32)
    # the logits (a last Softmax's input): with random weights the 1,000-class softmax is one-hot, and equal
    # one-hot vectors would say little
    last = last_softmax(model)
    if last is not None:
        theirs = onnx_outputs(model, x, logits=True)
        ours = net.value(net.forward(x), net.keras_outputs[last.input[0]], x)
    else:
        theirs, ours = onnx_outputs(model, x), net.predict(x)
    mats = [layer.W for layer in net.layers if hasattr(layer, "W")]
    nnz = sum(int(getattr(W, "nnz", None) or np.count_nonzero(W)) for W in mats)
    stored = sum((W.data.nbytes + W.indices.nbytes + W.indptr.nbytes) if hasattr(W, "nnz") else W.nbytes
                 for W in mats)
    row.update(refused=False, layers=len(net.layers), matrices=len(mats), nonzeros=nnz,
               bytes_per_nonzero=stored / max(nnz, 1),
               max_abs_diff=float(np.abs(theirs - ours.reshape(theirs.shape)).max()),
               output_scale=float(np.abs(theirs).max()),
               onnxruntime_ms_per_image=_ms_per_image(lambda v: onnx_outputs(model, v), x),
               numpy_ms_per_image=_ms_per_image(net.predict, x), peak_gib=peak_gib())
    return row


def measure_in_subprocess(name: str) -> dict:
    code = f"import json; from hw5.deliver.onnx_zoo import measure; print('ROW' + json.dumps(measure({name!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    rows = [line[3:] for line in out.stdout.splitlines() if line.startswith("ROW")]
    if out.returncode != 0 or not rows:
        raise RuntimeError(f"measuring {name} failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(rows[-1])


def main(argv=None) -> None:
    import argparse

    from hw5.deliver.architectures import write_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"some of {', '.join(MODELS)} (default: all)")
    parser.add_argument("--out", type=Path, default=JSON_PATH)
    args = parser.parse_args(argv)
    rows = []
    for name in args.names or MODELS:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; one of {', '.join(MODELS)}")
        try:
            row = measure_in_subprocess(name)
        except RuntimeError as exc:   # the row says so; the other models are still measured
            row = dict(name=name, error=str(exc).splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_table(rows, args.out)


if __name__ == "__main__":
    main()
