"""(b) The general converter: any supported Keras CNN → an explicit-matrix NumPy network.

It builds on the homework's layer (hw5.homework: the registry, the layers, the driver) and never on the
evidence layer (hw5.deliver). Importing it registers its translations in the one registry.

    layers.py        Scale, BandedDense, Sigmoid, Tanh: the NumPy layers beyond the homework's
    linear_maps.py   average pooling, zero padding and BatchNorm as matrices; `compose`
    translations.py  the Keras layers beyond the homework's, each one function + one registry entry
    fold.py          `from_keras(model, dtype, fuse)`: the homework's driver, then BatchNorm folding and fusing
    sparse.py        the Toeplitz matrix as scipy.sparse CSR
    inspect.py       layer_by_layer, layer_table, banded, float64_twin: checks and views of a converted net
"""
from hw5.convert.fold import from_keras  # noqa: F401  (also registers the converter's translations)
