"""`hw5.weights`, public API: the trained parameters from model.trainable_variables (step 4); the code lives in
hw5.homework.weights (`extract_variables`, which adds BatchNorm's moving statistics, in hw5.convert.variables)."""
from hw5.convert.variables import extract_variables
from hw5.homework.weights import describe, extract_weights

__all__ = ["describe", "extract_variables", "extract_weights"]
