"""The converter's side of the one registry: a decorator that adds translations, a `Build` (the homework's
`Source` plus the build options), and the matrix builder every linear translation goes through.

    register("Conv2D", ...)     adds a translation to hw5.homework.registry.TRANSLATIONS; a name already
                                there is refused, unless `supersede=True` replaces a homework entry with a
                                general one that builds the same matrices (Conv2D, Dense, ReLU)
    MERGES                      Keras class name -> fn(Build) for layers with several inputs (Add, Concatenate…)
    OPS                         keras.ops class name -> fn(Build, args) for the op nodes of a functional graph
    linear(src, rows, cols, values, n_in, b, out)
                                the matrix M with M[rows, cols] = values (n_in × prod(out)), as a dense
                                ndarray or (src.sparse) a scipy.sparse CSR matrix holding exactly those
                                entries (int32 indices where they fit): x.reshape(N, -1) @ M + b

Memory is said before it is spent: a dense matrix above `src.limit` bytes (DENSE_LIMIT_BYTES unless
from_keras(..., dense_limit=) says otherwise) is refused with the layer, the GiB and `sparse=True`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw5.homework.layers import Dense
from hw5.homework.registry import TRANSLATIONS, Source

DENSE_LIMIT_BYTES = 2 * 1024**3   # a dense matrix beyond 2 GiB is refused (from_keras(dense_limit=) overrides)
MERGES: dict = {}
OPS: dict = {}


@dataclass(frozen=True)
class Build(Source):
    """A `Source` with the build options: sparse matrices, the dense limit, every input's grid (merges)."""
    sparse: bool = False
    limit: int = DENSE_LIMIT_BYTES
    shapes: tuple = ()        # the grids of all inputs (merge layers, op nodes); shape is shapes[0]


def register(*names: str, table: dict | None = None, supersede: bool = False):
    """Decorator: fn becomes the translation of each Keras class name in `names` (into TRANSLATIONS, or
    `table`). Registering a name twice raises; `supersede` may replace a homework entry (once: the entry is then
    the converter's)."""
    table = TRANSLATIONS if table is None else table

    def add(fn):
        for name in names:
            if name in table and not (supersede and _homework_entry(table[name])):
                raise ValueError(f"{name} already has a translation ({_label(table[name])})")
            table[name] = fn
        return fn
    return add


def _homework_entry(fn) -> bool:
    """True for a translation the homework's registry module defines (the only kind `supersede` replaces)."""
    return fn.__module__ == Source.__module__     # a partial's is functools


def _label(fn) -> str:
    """module.name of a translation, or of the function a functools.partial entry binds (one per rank…)."""
    fn = getattr(fn, "func", fn)
    return f"{fn.__module__}.{fn.__name__}"


def dense_bytes(src: Source, n_in: int, n_out: int) -> int:
    return n_in * n_out * np.dtype(src.dtype).itemsize


def check_dense(src: Source, n_in: int, n_out: int) -> None:
    """Refuse a dense n_in × n_out matrix above the limit, naming the layer, its GiB and sparse=True."""
    need = dense_bytes(src, n_in, n_out)
    limit = getattr(src, "limit", DENSE_LIMIT_BYTES)
    if need > limit:
        raise src.refuse(f"its dense {n_in:,} × {n_out:,} matrix would take {need / 1024**3:,.1f} GiB, above the "
                         f"limit of {limit / 1024**3:.1f} GiB: convert with from_keras(model, sparse=True) "
                         f"(or raise dense_limit=)")


def index_dtype(*sizes: int):
    """int32 where every index fits, else int64."""
    return np.int32 if max(sizes) < 2**31 - 1 else np.int64


def matrix(src: Source, rows, cols, values, n_in: int, n_out: int):
    """M (n_in × n_out) with M[rows, cols] = values: dense, or CSR when src.sparse."""
    if getattr(src, "sparse", False):
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
