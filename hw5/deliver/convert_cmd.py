"""`hw5 convert MODEL [options]`: a Keras model (a .keras/.h5 file, or `part1`/`part2`, the homework's trained
models) as explicit matrices, checked against Keras, optionally lowered to Dense+ReLU and exported.

It prints the per-layer table (layer, kind, matrix shape, non-zeros, neurons, memory), then max |Keras − NumPy|
over N inputs (uniform [0, 1] of the model's input shape; Fashion-MNIST test images for part1/part2), then for
every file written max |Keras − the file re-read by its runtime| (onnxruntime, Marabou's NNet reader, Keras,
NumPy). The Dense-only files (Keras, NNet, a Dense+ReLU ONNX graph) take the batch flat, x.reshape(N, -1) of
(N, H, W, C), channels-last: the command says so for each. Exit 0 when every figure is within its tolerance
(TOLERANCE, relative to max |Keras output|), 1 otherwise, 2 with a one-line reason for bad arguments,
unreadable files or unsupported layers.
"""
from __future__ import annotations

import inspect
import os
import sys
import time
from pathlib import Path

import numpy as np

# max |Keras − ours| ≤ TOLERANCE[dtype] · max |Keras output| over the checked inputs. The widest sums (Part 2's
# 10,816 terms) err like a random walk, ~√n·eps of their scale (1.2e-5 in float32); ×10 for cancellation and
# the Dense+ReLU form's extra max-pool terms. A wrong conversion is off by O(1) of the scale.
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


class Refused(Exception):
    """A bad argument, an unreadable file or an unsupported layer: exit 2 with this one line."""


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="a Keras model as explicit matrices, checked against Keras; exports")
    p.add_argument("model", help="a .keras/.h5 file, or part1/part2 (the homework's trained models)")
    p.add_argument("--sparse", action="store_true", help="scipy.sparse matrices (if the converter offers it)")
    p.add_argument("--fuse", action="store_true", help="multiply runs of linear layers into one matrix")
    p.add_argument("--relu-only", action="store_true", help="lower to Dense, ReLU, ..., Dense (output: logits)")
    for fmt in ("onnx", "nnet", "keras", "npz"):
        p.add_argument(f"--{fmt}", metavar="PATH", type=Path, help=f"write the network as .{fmt}")
    p.add_argument("--check", type=int, default=None, metavar="N",
                   help="inputs to compare on (default 16; for part1/part2 with --onnx: all 10,000 test images, "
                        "1,000 with --relu-only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check inputs (default 0)")


def _say(msg: str) -> None:
    print(f"[hw5] {msg}", flush=True)


def load_model(name: str):
    """(Keras model, homework part or None) for a file name or part1/part2."""
    if name in ("part1", "part2"):
        from hw5.deliver.cache import train_part

        _say(f"{name}: loading the trained model (training it first if the cache lacks it)")
        return train_part(int(name[-1]), progress=_say).model, int(name[-1])
    path = Path(name)
    if path.suffix not in (".keras", ".h5") or not path.is_file():
        raise Refused(f"model {name!r}: not part1/part2 nor an existing .keras/.h5 file")
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True), None
    except Exception as exc:  # any unreadable file: one line, exit 2
        raise Refused(f"model {name!r} cannot be read: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def check_inputs(model, part, n: int, seed: int) -> np.ndarray:
    if part is not None:
        from hw5.homework.data import load_fashion_mnist, preprocess

        (_, _), (x_test, _) = load_fashion_mnist()
        return preprocess(x_test[:n])
    shape = tuple(model.input_shape[1:])
    return np.random.default_rng(seed).random((n, *shape)).astype(model.inputs[0].dtype)


def keras_outputs(model, x) -> np.ndarray:
    """model(x), batched, unless a strided conv meets TF 2.21's batched oneDNN bug (README, Known issues)."""
    strided = any(type(layer).__name__ == "Conv2D" and tuple(layer.strides) != (1, 1) for layer in model.layers)
    step = 1 if strided else 500
    return np.concatenate([np.asarray(model(x[i:i + step], training=False)) for i in range(0, len(x), step)])


def _table(rows) -> str:
    head = f"{'layer':<40} {'kind':<15} {'matrix':>16} {'non-zeros':>12} {'neurons':>9} {'memory':>10}"
    lines = [head]
    for r in rows:
        matrix = "—" if r["matrix"] is None else " × ".join(f"{d:,}" for d in r["matrix"])
        nnz = "—" if r["nonzeros"] is None else f"{r['nonzeros']:,}"
        lines.append(f"{r['layer'][:40]:<40} {r['kind']:<15} {matrix:>16} {nnz:>12} {r['neurons']:>9,} "
                     f"{r['bytes'] / 2 ** 20:>7.1f} MB")
    return "\n".join(lines)


def _figure(what: str, theirs, ours, tol: float) -> bool:
    diff = float(np.abs(np.asarray(theirs, np.float64) - np.asarray(ours, np.float64).reshape(theirs.shape)).max())
    bound = tol * float(np.abs(theirs).max())
    same = float((np.asarray(theirs).reshape(len(theirs), -1).argmax(1)
                  == np.asarray(ours).reshape(len(theirs), -1).argmax(1)).mean())
    ok = diff <= bound
    print(f"{what}: max |Keras − it| = {diff:.3g} (tolerance {bound:.3g}), same class {same:.2%}: "
          f"{'ok' if ok else 'TOO FAR'}", flush=True)
    return ok


def _rereaders(args):
    from hw5.convert.export import npz_predict, run_onnx

    def nnet(path, x):
        from hw5.convert.verify import read_network

        net = read_network(path)
        return np.stack([net.evaluateWithoutMarabou(image.reshape(1, -1))[0].ravel() for image in x])

    def keras_file(path, x):   # its input is flat: the batch channels-last, x.reshape(N, -1)
        import keras

        return keras_outputs(keras.saving.load_model(path), x.reshape(len(x), -1))

    return {"onnx": ("onnxruntime", run_onnx), "nnet": ("Marabou's NNet reader", nnet),
            "keras": ("keras.saving.load_model", keras_file), "npz": ("NumPy (npz_predict)", npz_predict)}


def run(args) -> int:
    """The command's body; raises Refused for exit 2."""
    from hw5.convert import from_keras
    from hw5.convert.export import to_keras, to_nnet, to_npz, to_onnx
    from hw5.convert.export.layout import input_note
    from hw5.convert.export.onnx_graph import is_dense_relu
    from hw5.convert.relu_only import cost_table, logits_model, relu_only

    if args.nnet and not args.relu_only:
        raise Refused("--nnet needs --relu-only: the NNet format holds Dense layers with ReLU between them only")
    if args.check is not None and args.check < 1:
        raise Refused(f"--check must be a positive number of inputs, got {args.check}")
    kwargs = dict(fuse=args.fuse)
    if args.sparse:
        if "sparse" not in inspect.signature(from_keras).parameters:
            raise Refused("--sparse: this version's from_keras has no sparse option (it builds dense matrices)")
        kwargs["sparse"] = True
    outputs = {fmt: getattr(args, fmt) for fmt in ("onnx", "nnet", "keras", "npz") if getattr(args, fmt)}
    for fmt, path in outputs.items():
        directory = path.parent if str(path.parent) else Path(".")
        if path.is_dir() or not directory.is_dir() or not os.access(directory, os.W_OK):
            raise Refused(f"--{fmt} {str(path)!r}: not a writable file path (its directory must exist)")
    model, part = load_model(args.model)
    started = time.perf_counter()
    try:
        net = from_keras(model, **kwargs)
        reference = model
        if args.relu_only:
            _say("lowering to Dense+ReLU (max-pool trees, folded linear maps)")
            net, reference = relu_only(net), logits_model(model)
    except (ValueError, TypeError) as exc:
        raise Refused(str(exc).splitlines()[0]) from None
    _say(f"converted in {time.perf_counter() - started:.1f} s")
    print(_table(cost_table(net)), flush=True)
    n = args.check or (16 if part is None or "onnx" not in outputs else 1000 if args.relu_only else 10_000)
    x = check_inputs(model, part, n, args.seed)
    what = "Fashion-MNIST test images" if part is not None else f"uniform [0, 1] inputs, seed {args.seed}"
    _say(f"Keras and NumPy on {n:,} {what}")
    theirs = keras_outputs(reference, x)
    tol = TOLERANCE[np.dtype(net.dtype)]
    ok = _figure(f"NumPy ({'logits' if args.relu_only else 'output'}) on {n:,} inputs", theirs,
                 net.predict(x, batch_size=500), tol)
    writers = {"onnx": to_onnx, "nnet": to_nnet, "keras": to_keras, "npz": to_npz}
    for fmt, path in outputs.items():
        _say(f"writing {path}")
        try:
            writers[fmt](net, path)
        except (ValueError, TypeError) as exc:
            raise Refused(f"--{fmt}: {str(exc).splitlines()[0]}") from None
        if fmt != "npz" and (fmt != "onnx" or is_dense_relu(net)):
            _say(f"{path}: {input_note(net.input_shape)} (stated in the file)")
        runtime, reread = _rereaders(args)[fmt]
        m = min(n, 4) if fmt == "nnet" else n   # Marabou's NNet evaluator is a Python loop per weight
        _say(f"re-reading {path} with {runtime} on {m:,} inputs")
        ok &= _figure(f"{path} ({runtime}, {m:,} inputs)", theirs[:m], reread(path, x[:m]), tol)
    return 0 if ok else 1


def main(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run(args)
    except Refused as exc:
        print(f"hw5 convert: error: {exc}", file=sys.stderr)
        return 2
