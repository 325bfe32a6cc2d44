"""`hw5.numpy_net`, public API: a Keras or ONNX CNN as a plain NumPy fully-connected network (step 6).

`from_keras(model, dtype=None, fuse=False)` is the converter's (hw5.convert.fold): every supported layer
through the one registry, BatchNorm folded, into a NumpyNet (hw5.convert.network: layers on a graph, INPUT its
input node) of the layers in hw5.convert.layers; `from_onnx(path or ModelProto, …)` fills the same NumpyNet
from an ONNX file (hw5.convert.onnx_in). The Part-2 forward pass written out is the homework's
(hw5.homework.forward); `layer_table` and `banded` are in hw5.convert.inspect.
"""
from hw5.convert.fold import from_keras
from hw5.convert.inspect import banded, layer_table
from hw5.convert.layers import BandedDense, Dense, MaxPool, ReLU, Scale, Sigmoid, Softmax, Tanh, max_pool2d_vectorized
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.onnx_in import from_onnx
from hw5.homework.forward import max_pool2d, part2_forward

__all__ = ["INPUT", "BandedDense", "Dense", "MaxPool", "NumpyNet", "ReLU", "Scale", "Sigmoid", "Softmax", "Tanh",
           "banded", "from_keras", "from_onnx", "layer_table", "max_pool2d", "max_pool2d_vectorized", "part2_forward"]
