"""The Keras reference — what a Keras model computes — and the tolerance a whole network is checked against it.

    keras_outputs(model, x)          concat_i model(x[i:i+1], training=False): the model's output, (N, ...)
    keras_values(model, tensors, x)  each of `tensors` (Keras tensors of the model's graph) on x, (N, features)
                                     float64, from a probe model on the same graph, one input at a time
    keras_batch(model)               how many inputs one call may take: 1 where the model has a strided
                                     convolution, else BATCH
    OUTPUT_RTOL                      max |reference − ours| ≤ OUTPUT_RTOL[dtype] · max |reference|

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
