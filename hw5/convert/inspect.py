"""The converter's checks and views of a NumpyNet: where it agrees with Keras, and what it is made of.

`layer_by_layer(model, net, x)` puts every Keras layer's output beside the NumPy layer that reproduces it and
names the first layer beyond tolerance (ERAN's `check_models` idea): where a wrong translation starts, not
only that the softmax is off; its tolerances default to the dtype's (LAYER_RTOL). `format_layer_diffs` prints
that as a table. `layer_table(net, model)` lists each layer's matrix, non-zeros and neurons (derived vs
Keras); `banded(net)` multiplies the same matrices by their bands of non-zero rows (for many images);
`float64_twin(model)` rebuilds any Keras model in float64 with its weights widened exactly.

`self_check(model, net)` is from_keras's last step: layer_by_layer on PROBE_INPUTS seeded inputs, and the
model's output beside the net's (a channels-first model's reference is its channels-last twin:
hw5.convert.reference), at the tolerance of the less precise of the net's dtype and the precision Keras computes
the model in (`keras_precision`); a ValueError names the first layer beyond it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hw5.convert.layers import BandedDense, Dense, Scale
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.reference import (
    KerasCannotRun,
    channels_last_twin,
    first_again,
    keras_values,
    last_again,
    refuse_fatal,
)


def banded(net: NumpyNet) -> NumpyNet:
    """The same network, its image-to-image matrices (conv, pooling, padding) multiplied band by band
    (hw5.layers.BandedDense: the same W, the all-zero blocks skipped). For checks on many images."""
    return replace(net, layers=[BandedDense(layer.W, layer.b, layer.name, layer.out_shape)
                                if type(layer) is Dense and len(layer.out_shape) == 3
                                and isinstance(layer.W, np.ndarray) else layer for layer in net.layers])


def layer_table(net: NumpyNet, model) -> list[dict]:
    """Per NumPy layer: name, type, matrix shape, non-zeros, neuron grid derived by us and Keras' own.

    A Scale layer's matrix is diag(d) ("diagonal n"); non-linear layers have no matrix.
    """
    n_sources, n_layers = len(getattr(net, "sources", ())), len(getattr(net, "layers", ()))
    if n_sources != n_layers:   # a hand-made net has no sources
        raise TypeError(f"net must be a NumpyNet made by hw5.numpy_net.from_keras (one Keras layer per NumPy layer), "
                        f"got {type(net).__name__} with {n_sources} Keras layers for {n_layers} NumPy layers")
    rows = []
    operations = {op.name: op for op in getattr(model, "operations", model.layers)}   # layers and keras.ops nodes
    for layer, source in zip(net.layers, net.sources, strict=True):
        keras_shape = tuple(int(d) for d in operations[source].output.shape[1:])
        if isinstance(layer, Dense):
            nnz = int(layer.W.nnz) if hasattr(layer.W, "nnz") else int(np.count_nonzero(layer.W))
            matrix = f"{layer.W.shape[0]:,} × {layer.W.shape[1]:,}"
        elif isinstance(layer, Scale):
            matrix, nnz = f"diagonal {layer.d.size:,}", int(np.count_nonzero(layer.d))
        else:
            matrix, nnz = "—", None
        rows.append(dict(layer=layer.name, kind=type(layer).__name__, matrix=matrix, nonzeros=nnz,
                         derived=layer.out_shape, neurons=math.prod(layer.out_shape), keras=keras_shape,
                         same=layer.out_shape == keras_shape))
    return rows


@dataclass(frozen=True)
class LayerDiff:
    layer: str            # the Keras layer
    numpy_layer: str      # the NumPy layer whose output equals it ("input" when nothing ran yet)
    shape: tuple          # its output grid
    max_abs_diff: float   # max |Keras − NumPy| over the batch
    scale: float          # max |Keras output|
    bound: float          # atol + rtol · scale

    @property
    def within(self) -> bool:
        return self.max_abs_diff <= self.bound


# layer_by_layer's default rtol, relative to each layer's largest output, by the net's dtype: the widest sums
# of a CNN have thousands of terms (Part 2: 10,816) whose rounding errors add up like a random walk, ~√n·eps
# of the sum's scale (1.2e-5 in float32, 2e-14 in float64 for n = 10,816); ×10 for cancellation. A wrong
# translation is off by O(1) of the scale.
LAYER_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-12}


def layer_by_layer(model, net, x, atol: float = 0.0, rtol: float | None = None
                   ) -> tuple[list[LayerDiff], LayerDiff | None]:
    """(one row per Keras layer that has a NumPy counterpart, the first row beyond tolerance or None).

    A row is within tolerance when max |Keras − NumPy| ≤ atol + rtol · max |Keras output|; `rtol=None`
    takes LAYER_RTOL for the net's dtype (1e-4 for float32, 1e-12 for float64).

    Keras' intermediate outputs come from a probe model on the same graph, called one image at a time
    with training=False (TF 2.21's oneDNN conv is wrong for batches of single-channel images with
    strides (1, s > 1); README, Known issues). Layers folded or fused away (a conv before its
    BatchNormalization) have no NumPy output of their own and no row.
    """
    if not getattr(net, "keras_outputs", None):
        raise TypeError(f"net must be a NumpyNet made by hw5.numpy_net.from_keras, got {type(net).__name__}")
    if rtol is None:
        rtol = LAYER_RTOL[np.dtype(net.dtype)]
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    x = np.asarray(x)
    names = list(net.keras_outputs)
    tensors = [model.get_layer(name).output for name in names]
    rows = _diffs(net, x, names, [net.keras_outputs[n] for n in names], tensors, keras_values(model, tensors, x),
                  atol, rtol)
    return rows, next((row for row in rows if not row.within), None)


def _diffs(net, x, names: list, indices: list, tensors: list, values: list, atol: float, rtol: float
           ) -> list[LayerDiff]:
    """One LayerDiff per row: Keras' values of `tensors` against the net's nodes `indices` (INPUT: the input)."""
    ours = net.forward(x)
    rows = []
    for name, index, tensor, theirs in zip(names, indices, tensors, values, strict=True):
        mine = net.value(ours, index, x).astype(np.float64)
        scale = float(np.abs(theirs).max(initial=0.0))
        own = index != INPUT and net.sources[index] == name   # Flatten, Dropout...: no NumPy step of their own
        numpy_layer = "input" if index == INPUT else net.layers[index].name if own else f"= {net.layers[index].name}"
        rows.append(LayerDiff(name, numpy_layer, tuple(int(d) for d in tensor.shape[1:]),
                              float(np.abs(theirs - mine).max(initial=0.0)), scale, atol + rtol * scale))
    return rows


# from_keras's self-check runs PROBE_INPUTS inputs, N(0, 1) from PROBE_SEED, of the model's input shape. Two: a
# wrong translation (a kernel read without its LoRA factors, a swapped channel, a wrong padding rule) is off by
# O(1) of a layer's scale on almost every input, so one input shows it; the second is there for the
# coincidence one input can hide (a wrong unit behind a ReLU that is off on the whole first input: each input
# halves that chance) and makes the probe a batch (N > 1: the rows are not mixed up). Each costs one Keras
# call of the probe model (layer_by_layer runs Keras one input at a time), which is most of the check's time.
PROBE_INPUTS = 2
PROBE_SEED = 541
OUTPUT_ROW = "(model output)"   # the self-check's row for the model's output, when no Keras layer's row is it


def _float32_inside(layer) -> bool:
    """Does Keras compute this layer in float32 even in a float64 model? TF's resize kernels (ResizeBilinear,
    ResizeBicubic, ResizeArea, ScaleAndTranslate for lanczos) compute and return float32 for any input, so an
    UpSampling2D with any interpolation but nearest (Keras' exact repeat) is float32-accurate; Keras rounds
    gelu's 1/√2 to float32; LoRA's factors are float32 variables, whose product Keras forms in float32 (a float64
    model's LoRA kernel is float32-accurate: ~3e-7 measured)."""
    config = layer.get_config()
    return config.get("interpolation", "nearest") != "nearest" or config.get("activation") == "gelu" \
        or bool(getattr(layer, "lora_enabled", False))


def keras_precision(model) -> np.dtype:
    """The least precise dtype Keras computes the model in: the layers' compute dtypes (the input's values are
    exact in any of them), float32 where a float64 model computes a layer in float32 (_float32_inside)."""
    dtypes = {np.dtype(layer.compute_dtype) for layer in model.layers if type(layer).__name__ != "InputLayer"}
    if any(_float32_inside(layer) for layer in model.layers):
        dtypes.add(np.dtype(np.float32))
    return max(dtypes or {np.dtype(model.inputs[0].dtype)}, key=lambda dt: np.finfo(dt).eps)


def check_rtol(model, net) -> float:
    """LAYER_RTOL of the less precise of the net's dtype and keras_precision(model): a float64 net of a float32
    model is compared at float32's tolerance (Keras' own rounding is float32's)."""
    dt = max(np.dtype(net.dtype), keras_precision(model), key=lambda d: np.finfo(d).eps)
    if dt not in LAYER_RTOL:
        raise ValueError(f"from_keras: the Keras model computes in {dt.name} (a mixed-precision policy?): at its "
                         f"precision the self-check cannot tell a wrong translation from rounding; convert a float32 "
                         f"model, or pass check=False")
    return LAYER_RTOL[dt]


def self_check(model, net) -> None:
    """Raise a ValueError unless every Keras layer and the model's output match the net on PROBE_INPUTS seeded
    inputs within check_rtol of the larger of each layer's largest |output| and the inputs' largest |value|
    (see layer_by_layer): a layer whose outputs cancel to ~0 (x − x', equal up to rounding) still errs by the
    rounding of the values it reads, and the probe's N(0, 1) inputs are the scale those start from."""
    rtol = check_rtol(model, net)
    dt = np.dtype(model.inputs[0].dtype)
    dt = dt if np.issubdtype(dt, np.floating) else np.dtype(net.dtype)
    x = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_INPUTS, *net.input_shape)).astype(dt)
    names = list(net.keras_outputs)
    indices, tensors = [net.keras_outputs[n] for n in names], [model.get_layer(n).output for n in names]
    if net.output not in indices:   # the output has no row of its own (a graph ending in keras.ops nodes)
        names, indices, tensors = [*names, OUTPUT_ROW], [*indices, net.output], [*tensors, model.outputs[0]]
    try:
        refuse_fatal(model)
        values = _twin_values(model, names, x)   # a channels-first model's reference (hw5.convert.reference)
        values = keras_values(model, tensors, x) if values is None else values
    except Exception as error:   # TF's CPU kernels refuse some layers (a dilated Conv2DTranspose, NCHW convs)
        why = str(error) if isinstance(error, KerasCannotRun) else \
            f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
        raise ValueError(f"from_keras: Keras itself cannot run the model here ({why}), so the self-check has no "
                         f"reference; from_keras(..., check=False) returns the network unchecked") from error
    floor = rtol * float(np.abs(x).max())
    first = next((row for row in _diffs(net, x, names, indices, tensors, values, floor, rtol) if not row.within),
                 None)
    if first is not None:
        where = "the model's output" if first.layer == OUTPUT_ROW else \
            f"layer {first.layer!r} ({type(model.get_layer(first.layer)).__name__})"
        raise ValueError(f"from_keras: the network it built is not the Keras model: {where} is off by "
                         f"{first.max_abs_diff:.3e}, beyond {first.bound:.3e} (rtol {rtol:g} of its largest "
                         f"output {first.scale:.3e}, or of the inputs' {floor / rtol:.3e}), on {PROBE_INPUTS} "
                         f"seeded N(0, 1) inputs — a wrong "
                         f"translation (check=False returns the network anyway; "
                         f"hw5.compare.layer_by_layer shows every layer)\n{format_layer_diffs([first])}")


def _twin_values(model, names: list, x):
    """The values self_check compares, from the model's channels-last twin (hw5.convert.reference), moved back
    channels-first; None if it has none."""
    twin = channels_last_twin(model)
    if twin is None:
        return None
    tensors = [twin.outputs[0] if name == OUTPUT_ROW else twin.get_layer(name).output for name in names]
    values = keras_values(twin, tensors, last_again(x))
    return [first_again(v, tuple(t.shape[1:])).reshape(len(v), -1) for v, t in zip(values, tensors, strict=True)]


def format_layer_diffs(rows: list[LayerDiff]) -> str:
    """The rows as a fixed-width table (for assertion messages and the terminal)."""
    a = max([len("Keras layer"), *(len(r.layer) for r in rows)])        # columns as wide as their longest name
    b = max([len("NumPy layer"), *(len(r.numpy_layer) for r in rows)])
    c = max([len("grid"), *(len(str(r.shape)) for r in rows)])
    lines = [f"{'Keras layer':<{a}} {'NumPy layer':<{b}} {'grid':<{c}} {'max |diff|':>10} {'max |out|':>10} "
             f"{'bound':>10}  within"]
    lines += [f"{r.layer:<{a}} {r.numpy_layer:<{b}} {str(r.shape):<{c}} {r.max_abs_diff:10.3e} {r.scale:10.3e} "
              f"{r.bound:10.3e}  {'yes' if r.within else 'NO'}" for r in rows]
    return "\n".join(lines)


def _widen(config):
    """Set every "dtype" in a Keras config (layers, inputs, the model) to float64, in place."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "dtype" and value is not None:
                config[key] = "float64"
            else:
                _widen(value)
    elif isinstance(config, list):
        for value in config:
            _widen(value)


def float64_twin(model):
    """The same Keras model in float64: rebuilt from its config with every dtype float64, and its
    weights (trainable or not) widened exactly (float32 ⊂ float64)."""
    if not all(hasattr(model, attr) for attr in ("get_config", "get_weights", "from_config")):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    config = model.get_config()
    _widen(config)
    twin = type(model).from_config(config)
    twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
    return twin
