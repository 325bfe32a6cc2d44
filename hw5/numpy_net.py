"""`hw5.numpy_net`, public API: a Keras CNN as a plain NumPy fully-connected network (step 6).

`from_keras(model, dtype=None, fuse=False)` is the converter's (hw5.convert.fold): every supported layer
through the one registry, BatchNorm folded. The network, its layers and driver live in hw5.homework; the
views (`layer_table`, `banded`) in hw5.convert.inspect.
"""
from hw5.convert.fold import from_keras  # noqa: F401
from hw5.convert.graph import GraphNet  # noqa: F401
from hw5.convert.inspect import banded, layer_table  # noqa: F401
from hw5.convert.layers import BandedDense, Scale, Sigmoid, Tanh, max_pool2d_vectorized  # noqa: F401
from hw5.homework.layers import Dense, MaxPool, ReLU, Softmax, max_pool2d  # noqa: F401
from hw5.homework.numpy_net import NumpyNet  # noqa: F401

__all__ = ["BandedDense", "Dense", "GraphNet", "MaxPool", "NumpyNet", "ReLU", "Scale", "Sigmoid", "Softmax", "Tanh",
           "banded", "from_keras", "layer_table", "max_pool2d", "max_pool2d_vectorized"]
