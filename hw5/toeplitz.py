"""`hw5.toeplitz`, public API: a Conv2D kernel as the weight matrix of a fully-connected layer (step 5). The code
lives in hw5.homework.toeplitz (the shapes in hw5.homework.geometry, the sparse form in hw5.convert.sparse)."""
from hw5.convert.sparse import conv2d_as_sparse
from hw5.homework.geometry import PADDINGS, conv_output_shape
from hw5.homework.toeplitz import conv2d_as_dense, conv2d_as_dense_loop, derive_output_shape, toeplitz_indices

__all__ = ["PADDINGS", "conv2d_as_dense", "conv2d_as_dense_loop", "conv2d_as_sparse", "conv_output_shape",
           "derive_output_shape", "toeplitz_indices"]
