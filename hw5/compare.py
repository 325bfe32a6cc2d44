"""`hw5.compare`, public API: the same output from TensorFlow and from the NumPy network (step 7).

`agreement` and `IMAGE_INDEX` live in hw5.homework.compare; `layer_by_layer`, `format_layer_diffs` and
`float64_twin` are the converter's checks (hw5.convert.inspect).
"""
from hw5.convert.inspect import LayerDiff, float64_twin, format_layer_diffs, layer_by_layer  # noqa: F401
from hw5.homework.compare import IMAGE_INDEX, Agreement, agreement, keras_probabilities  # noqa: F401

__all__ = ["IMAGE_INDEX", "Agreement", "LayerDiff", "agreement", "float64_twin", "format_layer_diffs",
           "keras_probabilities", "layer_by_layer"]
