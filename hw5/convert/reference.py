"""The Keras reference — what a Keras model computes — and the tolerance a whole network is checked against it.

    keras_outputs(model, x)          concat_i model(x[i:i+1], training=False): the model's output, (N, ...)
    keras_values(model, tensors, x)  each of `tensors` (Keras tensors of the model's graph) on x, (N, features)
                                     float64, from a probe model on the same graph, one input at a time
    keras_batch(model)               how many inputs one call may take: 1 where the model has a strided
                                     convolution, else BATCH
    channels_last_twin(model)        a channels-first model rebuilt channels-last with its weights (or None)
    fatal_in_keras(model)            a layer Keras' call would kill the process on (TF's oneDNN max-pool), or None
    refuse_fatal(model)              KerasCannotRun naming that layer, before any Keras call
    keras_reference(model, x)        a channels-first model's twin's outputs moved back channels-first, where it
                                     has a twin; else keras_outputs
    OUTPUT_RTOL                      max |reference − ours| ≤ OUTPUT_RTOL[dtype] · max |reference|

The twin: TensorFlow's CPU kernels run a channels-first (NCHW) Conv2D, Conv1D or Conv2DTranspose only in float32
and only with oneDNN on (AVX-512 machines) — elsewhere Keras cannot run the model it holds — and there a Conv2D
whose output width equals its filter count gets its bias added along the width (docs/known-issues.md). So a
channels-first model's reference is its channels-last twin, Keras' well-trodden NHWC kernels, on every CPU. It
computes the same function — every data_format layer channels-last, BatchNormalization's and Concatenate's
channel axis the last, the input (C, *spatial) as (*spatial, C), the same weights (a kernel's shape does not
depend on the layout) — for the layers TWIN_SAFE lists: elementwise ones, merges, Dense or PReLU on a vector. Any
other layer (a Dense on an image, a Reshape, a softmax over a layout-dependent axis) and there is no twin.

Why one image at a time: TensorFlow 2.21's oneDNN convolution returns wrong values (uninitialised memory,
varying between runs) for a *batch* of single-channel images with strides (1, s), s > 1, on CPUs with AVX-512
(docs/known-issues.md; tests/test_known_issues.py is its canary). On one image the same op is right, so a
reference computed image by image is right whatever the layers; with no strided convolution in the model a
batch is safe too (keras_batch). training=False: inference — Dropout passes, BatchNormalization uses its moving
statistics — the function the converter translates.
"""
from __future__ import annotations

import numpy as np

BATCH = 500   # keras_batch's batch for a model without a strided convolution

# A network's output against its reference (Keras, or for relu_only the net it was lowered from), relative to
# the reference's largest |value|, by the network's dtype. float32: the widest sums (Part 2's 10,816 terms) err
# like a random walk, ~√n·eps of their scale (1.2e-5); ×10 for cancellation and the Dense+ReLU form's extra
# max-pool terms. float64: the same sums err by ~2e-14; 1e-9 leaves room for a float64 net of products rounded
# once per matrix. A wrong conversion or lowering (a swapped channel, a branch read from the wrong node) is off
# by O(1) of the scale.
OUTPUT_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def _calls(model, x, batch: int) -> list:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    if len(x) == 0:
        raise ValueError("x must hold at least one input (a leading batch axis of length >= 1)")
    return [model(x[i:i + batch], training=False) for i in range(0, len(x), batch)]


def keras_outputs(model, x, batch: int = 1) -> np.ndarray:
    """model(x[i:i+batch], training=False) for i = 0, batch, 2·batch, …, concatenated: (N, ...) NumPy, in the
    model's dtype. batch=1 (one image at a time) is right for every model; keras_batch(model) says when more is."""
    return np.concatenate([np.asarray(out) for out in _calls(model, x, batch)])


def keras_values(model, tensors: list, x) -> list[np.ndarray]:
    """Each Keras tensor of `tensors` on x, (N, features) float64: a probe model from the model's input to the
    tensors, called one input at a time with training=False."""
    import keras

    probe = keras.Model(model.inputs[0], list(tensors))
    per_image = _calls(probe, x, 1)
    return [np.concatenate([np.asarray(outs[k]).reshape(1, -1) for outs in per_image]).astype(np.float64)
            for k in range(len(tensors))]


def _layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers(layer)   # a nested model's own layers


def keras_batch(model) -> int:
    """1 if any layer of the model (nested models included) is a convolution with a stride > 1 — TF 2.21's
    batched oneDNN bug — else BATCH."""
    strided = any("Conv" in type(layer).__name__ and any(int(s) > 1 for s in np.ravel(getattr(layer, "strides", 1)))
                  for layer in _layers(model))
    return 1 if strided else BATCH


CHANNELS_FIRST = "channels_first"
# layers whose output does not depend on which axis holds the channels (elementwise, merges, noise at inference)
TWIN_SAFE = {"InputLayer", "ReLU", "LeakyReLU", "ELU", "Activation", "Dropout", "SpatialDropout1D",
             "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
             "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Identity"}
AXIS_LAYERS = {"BatchNormalization", "Concatenate"}   # their `axis` 1 (the channels) becomes −1
PER_AXIS_ACTIVATIONS = {"softmax", "log_softmax"}     # over the last axis: not the channels when channels-first


def _moved(shape) -> list:
    shape = list(shape)
    return [shape[0], *shape[2:], shape[1]] if len(shape) >= 3 else shape


def _twin_entry(model, entry: dict) -> bool:
    """Rewrite one layer's config entry channels-last in place; False if the layer has no channels-last twin."""
    kind, cfg = entry["class_name"], entry["config"]
    entry.pop("build_config", None)                  # rebuilt from the moved input instead
    if kind == "InputLayer":
        cfg["batch_shape"] = _moved(cfg["batch_shape"])
        return True
    layer = model.get_layer(cfg["name"])
    if cfg.get("data_format") == CHANNELS_FIRST:
        cfg["data_format"] = "channels_last"
        return cfg.get("activation") not in PER_AXIS_ACTIVATIONS
    rank = len(layer.output.shape)
    if kind in AXIS_LAYERS:
        if rank >= 3:
            if cfg["axis"] not in (1, 1 - rank):
                return False
            cfg["axis"] = -1
        return True
    if kind == "Dense":
        return len(layer.input.shape) == 2
    if kind == "PReLU":   # its slopes have the output's shape but for shared axes: layout-free on a vector only
        return rank == 2
    return kind in TWIN_SAFE and (kind != "Activation" or cfg["activation"] not in PER_AXIS_ACTIVATIONS)


def channels_last_twin(model):
    """The channels-first model rebuilt channels-last with its weights (see the module), or None: no layer is
    channels-first, a layer has no twin, or the model has keras.ops nodes (no layer config to rewrite)."""
    layers = getattr(model, "layers", [])   # an InputLayer has no data_format and has get_weights
    if not any(layer.get_config().get("data_format") == CHANNELS_FIRST for layer in layers):
        return None
    if any(not hasattr(op, "get_weights") for op in getattr(model, "operations", layers)):
        return None
    config = model.get_config()
    if not all(_twin_entry(model, entry) for entry in config["layers"]):
        return None
    twin = type(model).from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def first_again(value: np.ndarray, shape) -> np.ndarray:
    """A twin's (N, *spatial, C) value as the channels-first model's (N, C, *spatial); a vector unchanged."""
    value = np.asarray(value).reshape(len(value), *shape)
    return np.moveaxis(value, -1, 1) if len(shape) >= 2 else value


def keras_reference(model, x, batch: int = 1) -> np.ndarray:
    """What the model computes on x: its channels-last twin's outputs on x moved channels-last, moved back, where
    it has a twin (the module); else keras_outputs(model, x, batch)."""
    refuse_fatal(model)
    twin = channels_last_twin(model)
    if twin is None:
        return keras_outputs(model, x, batch)
    out = keras_outputs(twin, last_again(x), batch)
    return first_again(out, out.shape[1:])


def last_again(x) -> np.ndarray:
    """The channels-first model's input batch (N, C, *spatial) as its twin's (N, *spatial, C)."""
    x = np.asarray(x)
    return np.moveaxis(x, 1, -1) if x.ndim >= 3 else x


def _onednn_on() -> bool:
    from hw5.homework.kernels import kernels

    return kernels().startswith("oneDNN on ")


def fatal_in_keras(model):
    """The first layer whose Keras call kills the process here, or None: TensorFlow 2.21's oneDNN float32 max-pool
    raises SIGFPE (no Python exception) where an AdaptiveMaxPooling1D/2D has an output width of 1 (Keras pools with
    windows one longer than ceil(n/m): measured, docs/known-issues.md). Nothing can catch it, so the caller must
    not call Keras on such a model."""
    for layer in _layers(model):
        if type(layer).__name__ in ("AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D") \
                and np.dtype(layer.compute_dtype) == np.float32 and int(np.ravel(layer.output_size)[-1]) == 1 \
                and _onednn_on():
            return layer
    return None


class KerasCannotRun(ValueError):
    """Keras is not called on the model: it would kill the process (fatal_in_keras)."""


def refuse_fatal(model) -> None:
    """Raise KerasCannotRun naming the layer fatal_in_keras finds, if any."""
    fatal = fatal_in_keras(model)
    if fatal is not None:
        raise KerasCannotRun(f"layer {fatal.name!r}: TensorFlow's oneDNN float32 max-pool kills the process on an "
                             f"AdaptiveMaxPooling output width of 1")
