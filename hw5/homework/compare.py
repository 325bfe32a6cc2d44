"""Step 7 — compare: the same softmax from TensorFlow and from the NumPy network.

`agreement(model, net, x)` runs both on a batch (the Keras model on its own; the NumPy network's `predict`,
or any function x -> probabilities such as `part2_forward`) and reports the max abs difference of the
probabilities and the argmax agreement. `unsure_image` picks the test image that shows the most: a correctly
classified one on which the model is least sure (the highest entropy of its softmax).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    dtype: str
    n_images: int
    max_abs_diff: float
    argmax_agreement: float     # fraction of images where both pick the same class
    tf_seconds: float
    numpy_seconds: float


def agreement(model, net, x, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray, Agreement]:
    """(TF probabilities, NumPy probabilities, summary) for images x (N, 28, 28, 1) in [0, 1]."""
    x = np.asarray(x)
    t0 = time.perf_counter()
    tf_probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    t1 = time.perf_counter()
    np_probs = net(x) if callable(net) else net.predict(x, batch_size=batch_size)
    t2 = time.perf_counter()
    summary = Agreement(
        dtype=str(np_probs.dtype), n_images=len(x),
        max_abs_diff=float(np.abs(tf_probs.astype(np.float64) - np_probs).max()),
        argmax_agreement=float((tf_probs.argmax(1) == np_probs.argmax(1)).mean()),
        tf_seconds=t1 - t0, numpy_seconds=t2 - t1)
    return tf_probs, np_probs, summary


def unsure_image(probs, labels) -> int:
    """The index of the correctly classified image whose softmax `probs` (N, classes) has the highest
    entropy −Σ p·log p: the model is right but unsure, so every class's probability matters."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(axis=1)
    entropy[probs.argmax(axis=1) != labels] = -np.inf
    return int(entropy.argmax())
