"""`hw5 convert MODEL [options]`: a Keras model (a .keras/.h5 file, or `part1`/`part2`, the homework's trained
models) or an ONNX model (an .onnx file) as explicit matrices, checked against its reference — Keras, or
onnxruntime on the original file —, optionally lowered to Dense+ReLU and exported.

It prints the per-layer table (layer, kind, matrix shape, non-zeros, neurons, memory), then max |reference −
NumPy| over N inputs (uniform [0, 1] of the model's input shape; Fashion-MNIST test images for part1/part2), then
for every file written max |reference − the file re-read by its runtime| (onnxruntime, Marabou's NNet reader,
Keras, NumPy). The Dense-only files (Keras, NNet, a Dense+ReLU ONNX graph) take the batch flat, x.reshape(N, -1)
of the model's own input — (N, H, W, C) channels-last for Keras, (N, C, H, W) channels-first for an NCHW ONNX
model —: the command says so for each. Exit 0 when every figure is within its tolerance
(hw5.convert.reference.OUTPUT_RTOL, relative to max |reference output|), 1 otherwise, 2 with a one-line reason
for bad arguments, unreadable or corrupt files, unwritable paths or unsupported layers. The asked files are
written all or none.
"""
from __future__ import annotations

import argparse
import inspect
import os
import time
from pathlib import Path

import numpy as np

from hw5.deliver.arguments import Outputs, Refused, check_model_file, fail, one_line, positive, seed

EPILOG = """\
needs: --nnet needs --relu-only (NNet holds Dense layers with ReLU between them only); --keras needs a net of
  Dense layers and activations only (--relu-only lowers max-pooling and the rest to Dense+ReLU), and a name
  ending .keras; --npz a name ending .npz.
  Each output's directory must exist and be writable; no two outputs, nor an output and MODEL, share a path.
check inputs: --check N inputs, uniform [0, 1] of the model's input shape drawn with --seed S (numpy
  default_rng), or for part1/part2 the first N Fashion-MNIST test images (--seed unused).
files: written to temporary names and renamed once all are written: all or none, never a partial file.
estimates: before converting (from_keras's dense matrices) and before the check and any write (every asked
  file's size, each writer's and re-read's peak memory: hw5.convert.estimate), printed as a table; past 75% of
  MemAvailable or a file past its disk's free space: refused (exit 2) naming a way out, e.g. --no-reread FORMAT.
reference: Keras for a .keras/.h5 model; onnxruntime on the original file for an .onnx one (NCHW: the flat
  files take x.reshape(N, -1) of the (N, C, H, W) batch, in the model's own order).
exit codes:
  0  every figure (NumPy and each re-read file vs the reference) within its tolerance
  1  a figure past its tolerance (the files are written all the same)
  2  a bad argument, a missing, unreadable or corrupt model file, an unwritable path, a layer without the asked
     form, an estimate past this machine's memory or disk: one line on stderr, no file written"""


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="a Keras model as explicit matrices, checked against Keras; exports",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="a .keras/.h5 or .onnx file, or part1/part2 (the homework's trained models)")
    p.add_argument("--sparse", action="store_true",
                   help="scipy.sparse matrices (if the converter offers it, else refused; default: dense)")
    p.add_argument("--fuse", action="store_true", help="multiply runs of linear layers into one matrix (default: off)")
    p.add_argument("--relu-only", action="store_true",
                   help="lower to Dense, ReLU, ..., Dense (output: logits; needs piecewise-linear layers)")
    p.add_argument("--onnx", metavar="PATH", type=Path, help="write the network as ONNX (onnxruntime re-reads it)")
    p.add_argument("--nnet", metavar="PATH", type=Path,
                   help="write the NNet file (needs --relu-only; Marabou's reader re-reads it on 4 inputs)")
    p.add_argument("--keras", metavar="PATH", type=Path,
                   help="write a Keras file of Dense layers (a .keras name; a max-pool needs --relu-only)")
    p.add_argument("--npz", metavar="PATH", type=Path, help="write the matrices as a NumPy .npz (a .npz name)")
    p.add_argument("--check", type=positive, default=None, metavar="N",
                   help="inputs to compare on, N >= 1 (default 16; for part1/part2 with --onnx: all 10,000 test "
                        "images, 1,000 with --relu-only)")
    p.add_argument("--no-reread", action="append", default=[], choices=["onnx", "nnet", "keras", "npz"],
                   metavar="FORMAT", help="write FORMAT's file but do not re-read it with its runtime (when its "
                   "reader would need more memory than this machine has: the estimates say; repeatable)")
    p.add_argument("--seed", type=seed, default=0, metavar="S",
                   help="seed of the random check inputs, S >= 0 (default 0)")


def _say(msg: str) -> None:
    print(f"[hw5] {msg}", flush=True)


def load_model(name: str):
    """(Keras model, homework part or None) for a file name or part1/part2."""
    if name in ("part1", "part2"):
        from hw5.deliver.cache import train_part

        _say(f"{name}: loading the trained model (training it first if the cache lacks it)")
        return train_part(int(name[-1]), progress=_say).model, int(name[-1])
    path = check_model_file(name, onnx=True)
    if path.suffix == ".onnx":
        from hw5.convert.onnx_in.reader import read

        try:
            return read(path), None
        except (ValueError, TypeError) as exc:   # its message names the file already
            raise Refused(str(exc).strip().splitlines()[0]) from None
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True), None
    except Exception as exc:  # a whole archive Keras still cannot read: one line, exit 2
        raise Refused(f"model {name!r} cannot be read as a Keras model: {one_line(exc)}") from None


def check_inputs(model, part, n: int, seed: int) -> np.ndarray:
    if part is not None:
        from hw5.homework.data import load_fashion_mnist, preprocess

        (_, _), (x_test, _) = load_fashion_mnist()
        return preprocess(x_test[:n])
    if is_onnx(model):
        return np.random.default_rng(seed).random((n, *model.input_shape)).astype(model.dtype)
    shape = tuple(model.input_shape[1:])
    return np.random.default_rng(seed).random((n, *shape)).astype(model.inputs[0].dtype)


def is_onnx(model) -> bool:
    from hw5.convert.onnx_in.reader import Graph

    return isinstance(model, Graph)


def keras_outputs(model, x) -> np.ndarray:
    """model(x, training=False) in batches, one image at a time where the model has a strided convolution
    (TF 2.21's batched oneDNN bug); a channels-first model through its channels-last twin: hw5.convert.reference."""
    from hw5.convert.reference import keras_batch, keras_reference

    return keras_reference(model, x, batch=keras_batch(model))


def format_cost_table(rows) -> str:
    """The per-layer table; the layer column as wide as the longest name (never cut)."""
    from hw5.convert.estimate import size  # here, not at import: it loads the exporters (`hw5 --help` stays quick)

    width = max([len("layer")] + [len(r["layer"]) for r in rows])
    carried = any(r.get("carried") is not None for r in rows)   # relu_only's result: neurons carrying branches
    head = f"{'layer':<{width}} {'kind':<15} {'matrix':>16} {'non-zeros':>12} {'neurons':>9} {'memory':>10}"
    lines = [head + (f" {'carried':>9}" if carried else "")]
    for r in rows:
        matrix = "—" if r["matrix"] is None else " × ".join(f"{d:,}" for d in r["matrix"])
        nnz = "—" if r["nonzeros"] is None else f"{r['nonzeros']:,}"
        lines.append(f"{r['layer']:<{width}} {r['kind']:<15} {matrix:>16} {nnz:>12} {r['neurons']:>9,} "
                     f"{size(r['bytes']):>10}" + (f" {r.get('carried') or 0:>9,}" if carried else ""))
    return "\n".join(lines)


def _figure(what: str, theirs, ours, tol: float, ref: str = "Keras") -> bool:
    diff = float(np.abs(np.asarray(theirs, np.float64) - np.asarray(ours, np.float64).reshape(theirs.shape)).max())
    bound = tol * float(np.abs(theirs).max())
    same = float((np.asarray(theirs).reshape(len(theirs), -1).argmax(1)
                  == np.asarray(ours).reshape(len(theirs), -1).argmax(1)).mean())
    ok = diff <= bound
    print(f"{what}: max |{ref} − it| = {diff:.3g} (tolerance {bound:.3g}), same class {same:.2%}: "
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
    """The command's body; raises Refused for exit 2, before any work for every argument and path."""
    from hw5.convert import from_keras

    if args.nnet and not args.relu_only:
        raise Refused("--nnet needs --relu-only: the NNet format holds Dense layers with ReLU between them only")
    kwargs = dict(fuse=args.fuse)
    if args.sparse:
        if "sparse" not in inspect.signature(from_keras).parameters:
            raise Refused("--sparse: this version's from_keras has no sparse option (it builds dense matrices)")
        kwargs["sparse"] = True
    model_path = None if args.model in ("part1", "part2") else check_model_file(args.model, onnx=True)
    paths = {fmt: getattr(args, fmt) for fmt in ("onnx", "nnet", "keras", "npz") if getattr(args, fmt)}
    unwritten = sorted(set(args.no_reread) - set(paths))
    if unwritten:
        raise Refused(f"--no-reread {unwritten[0]}: no --{unwritten[0]} file is asked for")
    with Outputs(paths, model=model_path) as outputs:   # checked and reserved; removed unless committed
        code = _convert(args, from_keras, kwargs, outputs)
        outputs.commit()
    return code


def _estimates(rows) -> None:
    """Print the estimates; Refused (one line, exit 2, nothing written) when one exceeds its limit."""
    from hw5.convert.estimate import available_memory, refusal
    from hw5.convert.estimate import table as estimate_table

    print(estimate_table(rows), flush=True)
    why = refusal(rows, available_memory())
    if why is not None:
        raise Refused(why)


def _convert(args, from_keras, kwargs, outputs: Outputs) -> int:
    from hw5.convert.estimate import estimate, keras_estimate
    from hw5.convert.export import to_keras, to_nnet, to_npz, to_onnx
    from hw5.convert.export.layout import input_note
    from hw5.convert.export.onnx_graph import is_dense_relu
    from hw5.convert.onnx_in import from_onnx
    from hw5.convert.onnx_in.estimate import onnx_estimate
    from hw5.convert.onnx_in.reference import last_softmax, onnx_outputs
    from hw5.convert.reference import OUTPUT_RTOL
    from hw5.convert.relu_only import cost_table, logits_model, relu_only

    model, part = load_model(args.model)
    onnx = is_onnx(model)
    if onnx:   # before converting: the matrices from_onnx would build, from the file alone
        _estimates([onnx_estimate(model, sparse=bool(kwargs.get("sparse")))])
    elif not kwargs.get("sparse"):   # from_keras's dense matrices, from the Keras model alone
        _estimates([keras_estimate(model)])
    started = time.perf_counter()
    try:
        net = from_onnx(model.model, **kwargs) if onnx else from_keras(model, **kwargs)
        reference = model
        if args.relu_only:
            _say("lowering to Dense+ReLU (max-pool trees, folded linear maps)")
            net = relu_only(net)
            reference = model if onnx else logits_model(model)
    except (ValueError, TypeError) as exc:
        raise Refused(str(exc).splitlines()[0]) from None
    if onnx:   # onnxruntime on the original file; the Dense+ReLU form's reference is a last Softmax's input
        last = last_softmax(model.model)
        logits = bool(args.relu_only and last is not None and last.op_type == "Softmax")
        ref, outputs_of = "onnxruntime", lambda x: onnx_outputs(model, x, logits=logits)
    else:
        ref, outputs_of = "Keras", lambda x: keras_outputs(reference, x)
    _say(f"converted in {time.perf_counter() - started:.1f} s; {input_note(net.input_shape, net.input_layout)}")
    print(format_cost_table(cost_table(net)), flush=True)
    _estimates(estimate(net, outputs.paths, outputs.paths, args.no_reread))   # before any check or file
    n = args.check or (16 if part is None or "onnx" not in outputs.paths else 1000 if args.relu_only else 10_000)
    x = check_inputs(model, part, n, args.seed)
    what = "Fashion-MNIST test images" if part is not None else f"uniform [0, 1] inputs, seed {args.seed}"
    from hw5.convert.reference import channels_last_twin

    twin = "" if onnx or channels_last_twin(reference) is None else \
        " (Keras: the channels-first model's channels-last twin, the same weights; docs/known-issues.md)"
    _say(f"{ref} and NumPy on {n:,} {what}{twin}")
    theirs = outputs_of(x)
    tol = OUTPUT_RTOL[max(np.dtype(net.dtype), np.asarray(theirs).dtype, key=lambda d: np.finfo(d).eps)]
    ok = _figure(f"NumPy ({'logits' if args.relu_only else 'output'}) on {n:,} inputs", theirs,
                 net.predict(x, batch_size=500), tol, ref)
    writers = {"onnx": to_onnx, "nnet": to_nnet, "keras": to_keras, "npz": to_npz}
    for fmt, path in outputs.paths.items():
        _say(f"writing {path}")
        try:
            writers[fmt](net, outputs.staged(fmt))
        except (ValueError, TypeError) as exc:
            raise Refused(f"--{fmt}: {str(exc).splitlines()[0]} (no file written)") from None
        except OSError as exc:
            raise Refused(f"--{fmt} {str(path)!r}: cannot be written: {exc.strerror or exc} (no file written)") \
                from None
        if fmt != "npz" and (fmt != "onnx" or is_dense_relu(net)):
            _say(f"{path}: {input_note(net.input_shape, net.input_layout)} (stated in the file)")
        runtime, reread = _rereaders(args)[fmt]
        if fmt in args.no_reread:
            _say(f"{path}: not re-read (--no-reread {fmt})")
            continue
        m = min(n, 4) if fmt == "nnet" else n   # Marabou's NNet evaluator is a Python loop per weight
        _say(f"re-reading {path} with {runtime} on {m:,} inputs")
        ok &= _figure(f"{path} ({runtime}, {m:,} inputs)", theirs[:m], reread(outputs.staged(fmt), x[:m]), tol, ref)
    return 0 if ok else 1


def main(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run(args)
    except Refused as exc:
        return fail("hw5 convert", str(exc))
