"""Sparse explicit matrices: the conv layer's Toeplitz matrix as scipy.sparse CSR, zeros not stored."""
from __future__ import annotations

import math

import numpy as np

from hw5.homework.toeplitz import check_conv_args, toeplitz_indices


def conv2d_as_sparse(kernel, bias, input_shape, strides=1, padding="valid", dilation_rate=1):
    """Like `conv2d_as_dense` but W as a scipy.sparse CSR matrix (same entries, zeros not stored)."""
    import scipy.sparse

    kernel, bias, input_shape = check_conv_args(kernel, bias, input_shape)
    rows, cols, taps, out_shape = toeplitz_indices(kernel.shape, input_shape, strides, padding, dilation_rate)
    shape = (math.prod(input_shape), math.prod(out_shape))
    matrix = scipy.sparse.csr_matrix((kernel.ravel()[taps], (rows, cols)), shape=shape)
    return matrix, np.tile(bias, out_shape[0] * out_shape[1])
