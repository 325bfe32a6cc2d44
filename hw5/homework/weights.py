"""Step 4 — extract: the trained parameters from `model.trainable_variables` as named NumPy arrays.

For the Part-2 net the result is (in layer order)

    conv/kernel   (3, 3, 1, 64)      conv/bias   (64,)
    dense/kernel  (10816, 1024)      dense/bias  (1024,)
    output/kernel (1024, 10)         output/bias (10,)

Names are Keras 3 variable paths ("<layer name>/<variable name>"). `extract_variables` adds the
non-trainable state a general CNN needs at inference (BatchNormalization's moving mean and variance).
"""
from __future__ import annotations

import numpy as np


def _named_arrays(variables) -> dict[str, np.ndarray]:
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
    return _named_arrays(variables)


def extract_variables(model) -> dict[str, np.ndarray]:
    """`extract_weights` plus the state that is not trained by gradients, named the same way.

    That state is BatchNormalization's `<layer>/moving_mean` and `<layer>/moving_variance` (what the
    layer uses at inference), and the weights of frozen layers. A model without any variables (only
    pooling, say) gives {}.
    """
    if getattr(model, "trainable_variables", None) is None:
        raise TypeError(f"model must be a Keras model with trainable_variables, got {type(model).__name__}")
    return _named_arrays([*model.trainable_variables, *model.non_trainable_variables])


def describe(weights: dict[str, np.ndarray]) -> list[tuple[str, tuple, str, int]]:
    """(name, shape, dtype, size) rows, for the report."""
    return [(name, w.shape, str(w.dtype), int(w.size)) for name, w in weights.items()]
