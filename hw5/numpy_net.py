"""`hw5.numpy_net`, public API: a Keras CNN as a plain NumPy fully-connected network (step 6).

`from_keras(model, dtype=None, fuse=False)` is the converter's (hw5.convert.fold): every supported layer
through the one registry, BatchNorm folded. The network, its layers and driver live in hw5.homework (the
Part-2 forward pass written out in hw5.homework.forward); `layer_table` and `banded` in hw5.convert.inspect.
"""
from hw5.convert.fold import from_keras
from hw5.convert.graph import GraphNet
from hw5.convert.inspect import banded, layer_table
from hw5.convert.layers import BandedDense, Scale, Sigmoid, Tanh, max_pool2d_vectorized
from hw5.homework.forward import max_pool2d, part2_forward
from hw5.homework.layers import Dense, MaxPool, ReLU, Softmax
from hw5.homework.numpy_net import NumpyNet

__all__ = ["BandedDense", "Dense", "GraphNet", "MaxPool", "NumpyNet", "ReLU", "Scale", "Sigmoid", "Softmax", "Tanh",
           "banded", "from_keras", "layer_table", "max_pool2d", "max_pool2d_vectorized", "part2_forward"]
