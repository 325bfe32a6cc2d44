"""What an export will cost, said before any work: file sizes, the writers' and re-read checks' peak memory.

`estimate(net, outputs)` → rows (output, what, bytes, kind, way_out) for the net about to be written (the
Dense+ReLU form or any NumpyNet) and the formats asked (a subset of onnx, nnet, keras, npz), from the net's
matrices alone — their shapes and stored entries — without writing anything:

    Dense+ReLU      width, depth, stored non-zeros, dense weights (every entry of every matrix)
    NNet file       every dense weight as text, as to_nnet formats it ("%.9g," float32, "%.17g," float64):
                    the bytes of a sample of the stored values, 2 bytes ("0,") for every zero, one newline a row
    ONNX file       the matrices dense (Gemm) when to_onnx would densify them (dense_bytes ≤ its LIMIT), else
                    their column entries ((fan_out, K) int32 rows + values, K the fullest column); past 2 GiB
                    the weights go to external data (no limit)
    Keras file      the dense matrices and biases in the net's dtype (HDF5 inside the zip)
    npz file        the stored arrays (a sparse matrix as int32 rows and cols plus values)
    re-read peaks   measured resident memory (VmHWM − VmRSS before reading, in a subprocess, here) per dense
                    weight or per file byte, the factors below

`keras_estimate(model)`: before converting, from the Keras model alone — from_keras's dense matrices (a conv is
a Toeplitz matrix of in × out entries). `refusal(rows, available)`: the first row past `available` bytes (its
kind "memory") or past the free disk (kind "file"), as one line with the figures and a way out; else None.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hw5.convert.export.onnx_graph import LIMIT, dense_bytes
from hw5.convert.layers import Dense

MiB = 2 ** 20
# Measured here (tests' style CNNs at 12×12×3 and 20×20×3 in Dense+ReLU form, 2.8 M and 21.4 M dense weights;
# /proc/self/status VmHWM − VmRSS after the imports, in a fresh subprocess):
NNET_READER_BYTES_PER_WEIGHT = 144   # Marabou's NNet reader: Python lists of floats (144.2 and 144.3 B a weight)
ONNX_READER_PER_FILE_BYTE = 2        # onnxruntime session + 4 inputs: 2.5× and 1.6× the file
KERAS_READER_PER_FILE_BYTE = 4.5     # keras.saving.load_model: 5.0× and 4.4× the file
OVERHEAD = 16 * MiB                  # what any reader holds beyond its arrays (the npz reader's 18 MiB)
# The writers hold, besides the net: to_onnx the ModelProto and its serialization (2× the file), to_keras the
# Keras model, its saved archive and _add_metadata's copy (3× the file), to_nnet its widest matrix dense.
WRITER_PER_FILE_BYTE = {"onnx": 2, "keras": 3}
# Of MemAvailable the command may use this share: the net, Keras and TensorFlow are already resident, and the
# machine is shared (2 cores, others' jobs).
MEMORY_SHARE = 0.75
READERS = {"onnx": "onnxruntime", "nnet": "Marabou's NNet reader", "keras": "keras.saving.load_model",
           "npz": "NumPy (npz_predict)"}


def available_memory() -> int:
    """MemAvailable of /proc/meminfo in bytes (the kernel's estimate of what can be had without swapping)."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("/proc/meminfo has no MemAvailable line")


def size(n_bytes: float) -> str:
    """Bytes in binary units: KiB below 1 MiB, MiB below 1 GiB, else GiB."""
    for unit, power in (("GiB", 30), ("MiB", 20)):
        if n_bytes >= 2 ** power:
            return f"{n_bytes / 2 ** power:.1f} {unit}"
    return f"{n_bytes / 2 ** 10:.1f} KiB"


def _dense(net) -> list:
    return [layer for layer in net.layers if isinstance(layer, Dense)]


def _entries(W) -> np.ndarray:
    return W.data if sp.issparse(W) else np.asarray(W)[np.asarray(W) != 0]


def nnet_bytes(net, sample: int = 20_000) -> int:
    """The NNet file's size: every dense weight and bias as to_nnet writes it, plus the header."""
    digits = 9 if np.dtype(net.dtype) == np.float32 else 17
    rng = np.random.default_rng(0)
    total = 0
    for layer in _dense(net):
        W, b = layer.W, np.asarray(layer.b)
        values = _entries(W)
        nnz = values.size
        picked = values if nnz <= sample else values[rng.integers(0, nnz, sample)]
        per = np.mean([len(f"{v:.{digits}g},") for v in np.asarray(picked, np.float64)]) if nnz else 0.0
        total += round(nnz * per) + 2 * (math.prod(W.shape) - nnz) + W.shape[1]          # weights, newlines
        total += sum(len(f"{v:.{digits}g},\n") for v in np.asarray(b, np.float64))       # biases
    n_in = math.prod(net.input_shape)
    return total + 4 * n_in * (digits + 7) + 1024     # bounds, means, ranges; sizes and comment lines


def onnx_bytes(net) -> int:
    """The ONNX file's size (with its external data): dense Gemm matrices when to_onnx would densify."""
    dense = dense_bytes(net) <= LIMIT
    item = np.dtype(net.dtype).itemsize
    total = 0
    for layer in net.layers:
        W = getattr(layer, "W", getattr(layer, "d", None))
        if W is None:
            continue
        total += np.asarray(getattr(layer, "b", getattr(layer, "t", np.zeros(0)))).size * item
        if dense or not sp.issparse(W):
            total += math.prod(W.shape) * item
        else:
            k = max(int(np.diff(W.tocsc().indptr).max(initial=0)), 1)
            total += W.shape[1] * k * (4 + item)
    return total + 4096


def keras_bytes(net) -> int:
    """The Keras Dense file's size: dense matrices and biases in the net's dtype, plus the archive's config."""
    item = np.dtype(net.dtype).itemsize
    return sum((math.prod(layer.W.shape) + layer.W.shape[1]) * item for layer in _dense(net)) + 64 * 1024


def npz_bytes(net) -> int:
    """The npz file's size: the stored arrays (sparse: int32 rows, cols and the values)."""
    total = 0
    for layer in net.layers:
        for name in ("W", "b", "d", "t"):
            a = getattr(layer, name, None)
            if a is None:
                continue
            total += a.nnz * (8 + a.dtype.itemsize) if sp.issparse(a) else np.asarray(a).nbytes
    return total + 1024 * (len(net.layers) + 1)


FILES = {"onnx": onnx_bytes, "nnet": nnet_bytes, "keras": keras_bytes, "npz": npz_bytes}


def _reader_peak(fmt: str, net, file_bytes: int) -> int:
    if fmt == "nnet":
        return NNET_READER_BYTES_PER_WEIGHT * sum(math.prod(layer.W.shape) for layer in _dense(net)) + OVERHEAD
    if fmt == "onnx":
        return ONNX_READER_PER_FILE_BYTE * file_bytes + OVERHEAD
    if fmt == "keras":
        return round(KERAS_READER_PER_FILE_BYTE * file_bytes) + OVERHEAD
    return file_bytes + _widest(net) + OVERHEAD    # npz_predict densifies one matrix at a time


def _widest(net) -> int:
    """The bytes of the largest matrix, dense (to_nnet and npz_predict densify one matrix at a time)."""
    return max([math.prod(layer.W.shape) * np.dtype(net.dtype).itemsize for layer in _dense(net)], default=0)


def estimate(net, outputs, paths: dict | None = None, no_reread=()) -> list[dict]:
    """Rows (output, what, bytes, kind: "info"/"file"/"memory", way_out, where) for writing each format of
    `outputs` for `net` (to `paths[fmt]`, whose disk is checked) and re-reading it unless in `no_reread`."""
    dense = _dense(net)
    weights = sum(math.prod(layer.W.shape) for layer in dense)
    nnz = sum(int(_entries(layer.W).size) for layer in dense)
    width = max([layer.W.shape[1] for layer in dense[:-1]], default=0)
    rows = [dict(output="Dense layers", kind="info", bytes=None, where=None, way_out="",
                 what=f"width {width:,}, depth {len(dense)}, non-zeros {nnz:,}, dense weights {weights:,}")]
    smaller = "a smaller input (fewer pixels or channels: every conv is an in × out matrix)"
    for fmt in outputs:
        where = (paths or {}).get(fmt)
        file_bytes = FILES[fmt](net)
        rows.append(dict(output=f"--{fmt}", what="file" + (" (external data past 2 GiB)" if fmt == "onnx"
                                                           and file_bytes > LIMIT else ""),
                         bytes=file_bytes, kind="file", where=where,
                         way_out=("--npz instead (the stored entries only) or " if fmt != "npz" else "") + smaller))
        if fmt in WRITER_PER_FILE_BYTE or fmt == "nnet":
            held = WRITER_PER_FILE_BYTE[fmt] * file_bytes if fmt != "nnet" else _widest(net)
            rows.append(dict(output=f"--{fmt}", what="writing it (peak memory)", kind="memory", where=where,
                             bytes=held + OVERHEAD, way_out="--npz instead or " + smaller))
        if fmt not in no_reread:
            rows.append(dict(output=f"--{fmt}", what=f"re-read by {READERS[fmt]} (peak memory)", kind="memory",
                             bytes=_reader_peak(fmt, net, file_bytes), where=where,
                             way_out=f"--no-reread {fmt} (written, not checked by its reader)"
                                     + (", --npz instead" if fmt != "npz" else "") + f" or {smaller}"))
    return rows


def keras_estimate(model) -> dict:
    """Before converting: from_keras's dense matrices, from the Keras model alone (a layer with a kernel is an
    in × out matrix; float32 unless the model is float64)."""
    item = 8 if str(getattr(model, "dtype", "float32")).endswith("64") else 4
    total = 0
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None:
            total += math.prod(layer.input.shape[1:]) * math.prod(layer.output.shape[1:]) * item
    return dict(output="from_keras", what="its matrices, dense (peak memory)", bytes=total, kind="memory",
                where=None, way_out="--sparse (scipy.sparse matrices) or a smaller input")


def table(rows: list[dict]) -> str:
    """The estimates as a table: output, what, size."""
    width = max(len(r["output"]) for r in rows)
    what = max([len("what")] + [len(r["what"]) for r in rows if r["bytes"] is not None])
    lines = [f"{'estimate':<{width}} {'what':<{what}} {'size':>10}"]
    for r in rows:
        lines.append(f"{r['output']:<{width}} {r['what']}" if r["bytes"] is None else
                     f"{r['output']:<{width}} {r['what']:<{what}} {size(r['bytes']):>10}")
    return "\n".join(lines)


def refusal(rows: list[dict], available: int, share: float = MEMORY_SHARE) -> str | None:
    """One line naming every row past its limit (memory: `share` of `available`; file: the free disk of its
    directory) with the figures and a way out; None when every row fits."""
    usable = int(share * available)
    over = []
    for r in rows:
        if r["kind"] == "memory" and r["bytes"] > usable:
            over.append(f"{r['output']} {r['what'].replace(' (peak memory)', '')} would need ~{size(r['bytes'])} "
                        f"(instead: {r['way_out']})")
        if r["kind"] == "file" and r["where"] is not None:
            free = shutil.disk_usage(Path(r["where"]).parent or ".").free
            if r["bytes"] > free:
                over.append(f"{r['output']} {str(r['where'])!r} would take ~{size(r['bytes'])}, past the "
                            f"{size(free)} free on its disk (instead: {r['way_out']})")
    if not over:
        return None
    return (f"{'; '.join(over)} — this machine has {size(usable)} for it ({share:.0%} of MemAvailable "
            f"{size(available)}); nothing written")


# hw5 verify's peaks, measured as VmHWM − VmRSS before (the peak reset through /proc/self/clear_refs) on the
# 32×32×3 chain CNN of hw5.deliver.cifar_nets at ε = 0.004, per stored non-zero or dense weight of the Keras
# estimate (keras_dense_relu), rounded up: highs 155 B a non-zero (its rows as COO and CSR, HiGHS' copies), omlt
# 143 B a dense weight (a pyomo term for every entry, zero or not), marabou 100 B a dense weight (its ONNX
# parser's addend for every entry); the conversion (from_keras sparse, relu_only's float64 maps) 188 B a
# non-zero there, 54 B on the 16/32-channel CNN. gurobi: not measured (its licence stops the model at 2,000
# variables first); its ONNX reader's dense matrices, 8 B a weight, twice.
ENGINE_BYTES = {"highs": ("nonzero", 200), "omlt": ("weight", 160), "marabou": ("weight", 120),
                "gurobi": ("weight", 16)}
CONVERT_BYTES_PER_NONZERO = 200


def keras_dense_relu(model) -> dict:
    """The Dense+ReLU form's size from the Keras model alone, before converting: `nonzeros` and `weights`
    (dense entries) of every kernel's matrix (a conv: its outputs × its fan-in, padding counted, so at most),
    `relus` (the outputs of every ReLU-family activation, and about 2 per compared pair in a max-pool window's
    tree), `width` (the widest of those layers), `depth` (Dense layers: one per non-linear layer, plus one),
    `inputs`, `outputs`. The skips a graph carries through hidden layers are not counted (at least)."""
    nonzeros = weights = relus = width = nonlinear = 0
    for layer in model.layers:
        out = math.prod(layer.output.shape[1:])
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            nonzeros += out * math.prod(kernel.shape[:-1])
            weights += math.prod(layer.input.shape[1:]) * out
        name = getattr(getattr(layer, "activation", None), "__name__", "")
        kind = type(layer).__name__
        if name in ("relu", "relu6", "leaky_relu") or kind in ("ReLU", "LeakyReLU", "PReLU"):
            relus, width, nonlinear = relus + out, max(width, out), nonlinear + 1
        elif kind in ("MaxPooling2D", "MaxPooling1D"):
            window = math.prod(layer.pool_size)
            relus, width = relus + 2 * out * (window - 1), max(width, 2 * out * (window // 2))
            nonlinear += math.ceil(math.log2(max(window, 2)))
    return dict(nonzeros=nonzeros, weights=weights, relus=relus, width=width, depth=nonlinear + 1,
                inputs=math.prod(model.input_shape[1:]), outputs=math.prod(model.output_shape[1:]))


def verify_estimate(model, engine: str) -> list[dict]:
    """Rows (as `estimate`'s) for `hw5 verify` with `engine`, before converting: the Dense+ReLU form's size
    (keras_dense_relu), the conversion's and the engine's model's peak memory (at most: before the bounds drop
    the always-inactive neurons)."""
    s = keras_dense_relu(model)
    per, factor = ENGINE_BYTES[engine]
    rows = [dict(output="Dense+ReLU", kind="info", bytes=None, where=None, way_out="",
                 what=f"at least: width {s['width']:,}, depth {s['depth']}, {s['relus']:,} ReLUs; at most "
                      f"{s['nonzeros']:,} non-zeros ({s['weights']:,} dense weights); {s['inputs']:,} inputs"),
            dict(output="conversion", what="from_keras (sparse) and relu_only (peak memory)", kind="memory",
                 where=None, bytes=CONVERT_BYTES_PER_NONZERO * s["nonzeros"] + OVERHEAD,
                 way_out="a smaller input or fewer channels"),
            dict(output=engine, what=f"its model of the net (peak memory, {factor} B a "
                                     f"{'stored non-zero' if per == 'nonzero' else 'dense weight'})",
                 kind="memory", where=None, bytes=factor * s["nonzeros" if per == "nonzero" else "weights"]
                 + OVERHEAD, way_out="--engine highs (only the non-zeros), a smaller input or fewer channels"
                 if engine != "highs" else "a smaller input or fewer channels")]
    return rows
