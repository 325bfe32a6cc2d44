"""`hw5.weights`, public API: the trained parameters from model.trainable_variables (step 4).

The code lives in hw5.homework.weights; this name keeps `from hw5.weights import …` working."""
from hw5.homework.weights import (  # noqa: F401
    describe,
    extract_variables,
    extract_weights,
)

__all__ = ["describe", "extract_variables", "extract_weights"]
