"""Step 4 — extract: the trained parameters from `model.trainable_variables` as named NumPy arrays.

For the Part-2 net, in layer order: conv/kernel (3, 3, 1, 64), conv/bias (64,), dense/kernel (10816, 1024),
dense/bias (1024,), output/kernel (1024, 10), output/bias (10,) — Keras 3 variable paths "<layer>/<variable>".
"""
from __future__ import annotations

import numpy as np


def named_arrays(variables) -> dict[str, np.ndarray]:
    """{"<layer name>/<variable name>": array copy} for Keras variables, in their order."""
    weights = {}
    for var in variables:
        name = getattr(var, "path", None) or var.name
        if "/" in name:
            name = "/".join(name.split("/")[-2:])  # drop an enclosing model's prefix
        if name in weights:
            raise ValueError(f"two variables share the name {name!r}; give the layers unique names")
        weights[name] = np.array(var.numpy())
    return weights


def extract_weights(model) -> dict[str, np.ndarray]:
    """{variable path: array copy} for every trainable variable, in `model.trainable_variables` order."""
    variables = getattr(model, "trainable_variables", None)
    if variables is None:
        raise TypeError(f"model must be a Keras model with trainable_variables, got {type(model).__name__}")
    if not variables:
        raise ValueError("model has no trainable variables (was it built?)")
    return named_arrays(variables)


def describe(weights: dict[str, np.ndarray]) -> list[tuple[str, tuple, str, int]]:
    """(name, shape, dtype, size) rows."""
    return [(name, w.shape, str(w.dtype), int(w.size)) for name, w in weights.items()]
