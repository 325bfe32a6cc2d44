"""(b) The general converter: any supported Keras CNN — a chain or a graph — → an explicit-matrix NumPy network.

It builds on the homework's layer (hw5.homework: the registry, the layers, the network) and never on the
evidence layer (hw5.deliver). Importing it registers its translations in the one registry.

    registry.py      register() into the one TRANSLATIONS (duplicates refused), MERGES, OPS; Build (the
                     homework's Source + sparse/limit/all input grids); the matrix builder and the dense limit
    graph.py         GraphNet (node = layer + inputs, one loop in topological order); `translate(model)`
    variables.py     what every translation reads (LoRA merged, weight-only int8/int4 dequantized, float64) and
                     the quantized layers refused before any translation runs
    conv.py          Conv2D (groups), Conv1D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Dense on any rank
    translations.py  pooling, padding, cropping, upsampling (1-D/2-D), BatchNorm, Normalization, Rescaling, Reshape
    merges.py        Add … Concatenate, and the keras.ops arithmetic nodes
    activations.py   ReLU variants, LeakyReLU, PReLU, ELU, LayerNormalization and the activation names
    layers.py        Scale, BandedDense, Sigmoid, Tanh: the NumPy layers beyond the homework's
    linear_maps.py   average pooling, zero padding and BatchNorm as dense matrices; `compose`
    fold.py          `from_keras(model, dtype, fuse, sparse, dense_limit)`: translate, then fold and fuse
    sparse.py        the Toeplitz matrix as scipy.sparse CSR
    inspect.py       layer_by_layer, layer_table, banded, float64_twin: checks and views of a converted net
"""
from hw5.convert.fold import from_keras  # noqa: F401  (also registers the converter's translations)
