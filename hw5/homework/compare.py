"""Step 7 — compare: the same softmax from TensorFlow and from the NumPy network.

`agreement(model, net, x)` runs both on a batch (the Keras model on its own, the NumPy net on its
dense matrices) and reports the max abs difference of the probabilities and the argmax agreement.
Layer-by-layer comparison and float64 twins are the converter's checks (hw5.convert.inspect).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

IMAGE_INDEX = 2024  # the "arbitrary" test image of the homework, fixed so that runs are comparable


@dataclass(frozen=True)
class Agreement:
    dtype: str
    n_images: int
    max_abs_diff: float
    argmax_agreement: float     # fraction of images where both pick the same class
    tf_seconds: float
    numpy_seconds: float


def keras_probabilities(model, x, batch_size: int = 1000) -> np.ndarray:
    """The Keras model's softmax output as a NumPy array (N, classes)."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def agreement(model, net, x, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray, Agreement]:
    """(TF probabilities, NumPy probabilities, summary) for images x (N, 28, 28, 1) in [0, 1]."""
    x = np.asarray(x)
    t0 = time.perf_counter()
    tf_probs = keras_probabilities(model, x, batch_size)
    t1 = time.perf_counter()
    np_probs = net.predict(x, batch_size=batch_size)
    t2 = time.perf_counter()
    summary = Agreement(
        dtype=str(np_probs.dtype), n_images=len(x),
        max_abs_diff=float(np.abs(tf_probs.astype(np.float64) - np_probs).max()),
        argmax_agreement=float((tf_probs.argmax(1) == np_probs.argmax(1)).mean()),
        tf_seconds=t1 - t0, numpy_seconds=t2 - t1)
    return tf_probs, np_probs, summary
