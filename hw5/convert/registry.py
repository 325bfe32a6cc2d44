"""The one registry: Keras layer → NumPy layers, one small translation function per Keras layer class.

Each function takes a `Source` (the Keras layer, its config, the neuron grid it receives, its variables, the
dtype and the build options) and returns the NumPy layers it becomes (hw5.convert.layers and the layers
beside their translations) and the grid it hands on. The op-family modules fill the tables at import
(hw5.convert.conv, translations, merges, relus, activations, normalization, gathers):

    TRANSLATIONS                Keras class name -> fn(Source) for layers with one input (Conv2D, Dense, ReLU…)
    MERGES                      Keras class name -> fn(Source) for layers with several inputs (Add, Concatenate…)
    OPS                         keras.ops class name -> fn(Source, args) for the op nodes of a functional graph
    register("Conv2D", ...)     the decorator that adds a translation; a name already there is refused
    linear(src, rows, cols, values, n_in, b, out)
                                the matrix M with M[rows, cols] = values (n_in × prod(out)), as a dense
                                ndarray or (src.sparse) a scipy.sparse CSR matrix holding exactly those
                                entries (int32 indices where they fit): x.reshape(N, -1) @ M + b

Configs are read as Keras 3 writes them (`layer.get_config()`: every key present, strides filled in, pairs as
tuples). Memory is said before it is spent: a dense matrix above `src.limit` bytes (DENSE_LIMIT_BYTES unless
from_keras(..., dense_limit=) says otherwise) is refused with the layer, the GiB and `sparse=True`.
Supporting another layer: docs/adding-a-layer.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw5.convert.layers import Dense

DENSE_LIMIT_BYTES = 2 * 1024**3   # a dense matrix beyond 2 GiB is refused (from_keras(dense_limit=) overrides)
TRANSLATIONS: dict = {}
MERGES: dict = {}
OPS: dict = {}

Translation = tuple[list, tuple]   # (NumPy layers, the grid they hand on)


@dataclass(frozen=True)
class Source:
    """One Keras layer (or keras.ops node), as the translation functions see it, with the build options."""
    layer: object        # the keras layer
    config: dict         # layer.get_config() ({} for an op node)
    shape: tuple         # the neuron grid it receives, e.g. (28, 28, 1) or (256,); shapes[0] for a merge
    variables: dict      # "<layer>/<variable>" -> array (hw5.convert.variables.model_variables)
    dtype: np.dtype      # the NumPy net's dtype
    sparse: bool = False              # matrices as scipy.sparse CSR
    limit: int = DENSE_LIMIT_BYTES    # the largest dense matrix, in bytes
    shapes: tuple = ()                # the grids of all inputs (merge layers, op nodes)

    @property
    def name(self) -> str:
        return self.layer.name

    def refuse(self, what: str) -> ValueError:
        return ValueError(f"layer {self.name!r} of type {type(self.layer).__name__}: {what}")

    def param(self, variable: str):
        """The layer's variable cast to the net's dtype, or None if it has none (use_bias=False...)."""
        value = self.variables.get(f"{self.name}/{variable}")
        return None if value is None else value.astype(self.dtype)

    def spatial(self) -> tuple[int, int, int]:
        """The received grid, which must be an image (H, W, C), channels-last."""
        if self.config["data_format"] != "channels_last":
            raise self.refuse(f"data_format {self.config['data_format']!r} is not supported (channels_last)")
        if len(self.shape) != 3:
            raise self.refuse(f"needs an (H, W, C) input, got the grid {self.shape}")
        return self.shape


def register(*names: str, table: dict | None = None):
    """Decorator: fn becomes the translation of each Keras class name in `names` (into TRANSLATIONS, or
    `table`). Registering a name twice raises, naming the translation already there."""
    table = TRANSLATIONS if table is None else table

    def add(fn):
        for name in names:
            if name in table:
                raise ValueError(f"{name} already has a translation ({_label(table[name])})")
            table[name] = fn
        return fn
    return add


def _label(fn) -> str:
    """module.name of a translation, or of the function a functools.partial entry binds (one per rank…)."""
    fn = getattr(fn, "func", fn)
    return f"{fn.__module__}.{fn.__name__}"


def dense_bytes(src: Source, n_in: int, n_out: int) -> int:
    return n_in * n_out * np.dtype(src.dtype).itemsize


def check_dense(src: Source, n_in: int, n_out: int) -> None:
    """Refuse a dense n_in × n_out matrix above the limit, naming the layer, its GiB and sparse=True."""
    need = dense_bytes(src, n_in, n_out)
    if need > src.limit:
        raise src.refuse(f"its dense {n_in:,} × {n_out:,} matrix would take {need / 1024**3:,.1f} GiB, above the "
                         f"limit of {src.limit / 1024**3:.1f} GiB: convert with from_keras(model, sparse=True) "
                         f"(or raise dense_limit=)")


def index_dtype(*sizes: int):
    """int32 where every index fits, else int64."""
    return np.int32 if max(sizes) < 2**31 - 1 else np.int64


def matrix(src: Source, rows, cols, values, n_in: int, n_out: int):
    """M (n_in × n_out) with M[rows, cols] = values: dense, or CSR when src.sparse."""
    if src.sparse:
        import scipy.sparse

        it = index_dtype(n_in, n_out, len(values))
        coo = scipy.sparse.coo_matrix((np.asarray(values, src.dtype), (rows.astype(it, copy=False),
                                       cols.astype(it, copy=False))), shape=(n_in, n_out))
        csr = coo.tocsr()
        csr.indices, csr.indptr = csr.indices.astype(it, copy=False), csr.indptr.astype(it, copy=False)
        return csr
    check_dense(src, n_in, n_out)
    M = np.zeros((n_in, n_out), src.dtype)
    M[rows, cols] = values
    return M


def linear(src: Source, rows, cols, values, n_in: int, bias, out: tuple, name: str | None = None) -> Dense:
    """The Dense layer x ↦ x @ M + bias, M[rows, cols] = values (n_in × prod(out))."""
    n_out = math.prod(out)
    b = np.zeros(n_out, src.dtype) if bias is None else np.asarray(bias, src.dtype)
    return Dense(matrix(src, rows, cols, values, n_in, n_out), b, name or src.name, tuple(out))
