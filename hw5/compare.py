"""`hw5.compare`, public API: the same output from TensorFlow and from the NumPy network (step 7).

`agreement` and `unsure_image` live in hw5.homework.compare; `layer_by_layer`, `format_layer_diffs` and
`float64_twin` are the converter's checks (hw5.convert.inspect).
"""
from hw5.convert.inspect import LayerDiff, float64_twin, format_layer_diffs, layer_by_layer
from hw5.homework.compare import Agreement, agreement, unsure_image

__all__ = ["Agreement", "LayerDiff", "agreement", "float64_twin", "format_layer_diffs", "layer_by_layer",
           "unsure_image"]
