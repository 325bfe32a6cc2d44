"""The ONNX op families; importing this package fills hw5.convert.onnx_in.front.OPS_IN."""
from hw5.convert.onnx_in.ops import activations, conv, linear, moves, pooling, resize  # noqa: F401
