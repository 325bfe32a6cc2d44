"""The `Emitter` every layer type's ONNX function writes through (hw5.convert.rules.ONNX, registered beside the
type), so that no layer module imports onnx: fresh value names, nodes, initializers in the net's dtype.

Every value between nodes is flat, (N, features), channels-last, as the NumPy layers pass it; a function
reshapes to its grid where the op needs one (`grid`) and flattens back (`flat`).

"""
from __future__ import annotations

import numpy as np


class Emitter:
    """Collects the graph's nodes and initializers; fresh value names; constants in the net's dtype."""

    def __init__(self, dtype, densify: bool):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype, self.densify = np.dtype(dtype), densify
        self.nodes, self.initializers, self.count = [], [], 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}/{self.count}"

    def const(self, value, stem: str = "c", dtype=None) -> str:
        """An initializer holding `value` (the net's dtype unless `dtype`)."""
        name = self.fresh(stem)
        array = np.asarray(value, self.dtype if dtype is None else dtype)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list, stem: str | None = None, **attrs) -> str:
        out = self.fresh(stem or op)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def grid(self, x: str, shape) -> str:
        return self.node("Reshape", [x, self.const([-1, *shape], "shape", np.int64)])

    def flat(self, x: str) -> str:
        return self.node("Flatten", [x], axis=1)

    def cast(self, x: str, dtype) -> str:
        """x cast to `dtype` (float32 or float64)."""
        from onnx import TensorProto

        to = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[np.dtype(dtype)]
        return self.node("Cast", [x], to=to)

    def clip(self, x: str, low, high) -> str:
        """min(max(x, low), high): Clip in float32; Max then Min in float64, where onnxruntime's Relu+Clip fusion
        (FuseReluClip) fails on a Clip whose bounds are doubles ("Unexpected data type for Clip 'min' input of 11")
        — a Relu before a ReLU6 made the file unloadable."""
        if self.dtype == np.float64:
            return self.node("Min", [self.node("Max", [x, self.const(low, "low")]), self.const(high, "high")])
        return self.node("Clip", [x, self.const(low, "low"), self.const(high, "high")])
