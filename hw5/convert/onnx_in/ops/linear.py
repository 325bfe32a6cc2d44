"""Gemm, MatMul, BatchNormalization and the arithmetic ops (Add, Sub, Mul, Div, Neg, Sum, Max, Min).

    Gemm        alpha·A·B + beta·C with A the tensor (N, K), B constant (transB read): the matrix
                alpha·B (or Bᵀ), the bias beta·C broadcast to the outputs
    MatMul      x (N, …, K) @ B (K, M), B constant: the block-diagonal matrix I ⊗ B over the leading axes
    BatchNorm   inference: x·s + (β − μ·s), s = γ / √(σ² + ε), per channel (axis 1): a diagonal Scale, folded
                into the matrix before it (from_onnx folds BatchNormalization as from_keras does)
    arithmetic  with a constant c (ONNX broadcasting, the batch axis 1 or absent): a diagonal Scale — x + c,
                x − c, c − x, x·c, x / c (c ≠ 0), −x; between tensors Add, Sub, Mul, Max, Min and Sum are
                hw5.convert.merges' Merge (elementwise, broadcast; Mul and Div of tensors not piecewise
                linear: the Dense+ReLU form refuses them); Max/Min with a constant c as c + relu(x − c) and
                c − relu(c − x)
"""
from __future__ import annotations

import math

import numpy as np

from hw5.convert.layers import ReLU, Scale
from hw5.convert.merges import Merge
from hw5.convert.onnx_in.registry import register_op
from hw5.convert.registry import linear


def _rank2(src, what: str):
    if len(src.shape) != 1:
        raise src.refuse(f"needs a (N, K) input for {what}, got the per-sample shape {src.shape}")


@register_op("Gemm")
def _gemm(src):
    cfg = src.config
    if src.consts[0] is not None or src.consts[1] is None:
        raise src.refuse("needs A the network's tensor and B a constant (a product of two tensors is not linear)")
    if cfg.get("transA", 0):
        raise src.refuse("transA = 1 would mix the batch axis into the product")
    _rank2(src, "Gemm")
    B = np.asarray(src.const(1, "B"), np.float64)
    B = B.T if cfg.get("transB", 0) else B
    if B.ndim != 2 or B.shape[0] != src.shape[0]:
        raise src.refuse(f"B {B.shape} does not fit the input's {src.shape[0]} features")
    W = float(cfg.get("alpha", 1.0)) * B
    C = src.const(2, "C")
    b = None if C is None else float(cfg.get("beta", 1.0)) * _broadcast(src, C, (B.shape[1],), batch_ok=True)
    rows, cols = np.nonzero(np.ones_like(W, bool))
    return [linear(src, rows, cols, W[rows, cols], B.shape[0], b, (B.shape[1],))], (B.shape[1],)


@register_op("MatMul")
def _matmul(src):
    if src.consts[0] is not None or src.consts[1] is None:
        raise src.refuse("needs the network's tensor times a constant (a product of two tensors is not linear)")
    B = np.asarray(src.const(1, "B"), np.float64)
    if B.ndim != 2 or B.shape[0] != src.shape[-1]:
        raise src.refuse(f"B {B.shape} is not a (K, M) matrix for the input's last axis {src.shape[-1]}")
    k, m = B.shape
    blocks = math.prod(src.shape[:-1])
    block, r, c = np.ix_(np.arange(blocks), np.arange(k), np.arange(m))
    rows, cols = np.broadcast_to(block * k + r, (blocks, k, m)).ravel(), \
        np.broadcast_to(block * m + c, (blocks, k, m)).ravel()
    shape = (*src.shape[:-1], m)
    return [linear(src, rows, cols, np.broadcast_to(B, (blocks, k, m)).ravel(), blocks * k, None, shape)], shape


@register_op("BatchNormalization")
def _batch_norm(src):
    if src.config.get("training_mode", 0):
        raise src.refuse("training mode (the running statistics' outputs) is not supported")
    scale, bias, mean, var = (np.asarray(src.const(k, what), np.float64)
                              for k, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
    s = scale / np.sqrt(var + float(src.config.get("epsilon", 1e-5)))
    plane = math.prod(src.shape[1:])
    d, t = np.repeat(s, plane), np.repeat(bias - mean * s, plane)
    return [Scale(d.astype(src.dtype), t.astype(src.dtype), src.name, src.shape)], src.shape


def _broadcast(src, c, shape: tuple, batch_ok: bool = False) -> np.ndarray:
    """Constant c broadcast (ONNX's rule) to the per-sample `shape`, flat; a leading batch axis of 1 dropped."""
    c = np.asarray(c, np.float64)
    if c.ndim == len(shape) + 1:
        if c.shape[0] != 1:
            raise src.refuse(f"its constant {c.shape} would broadcast over the batch axis")
        c = c[0]
    try:
        if np.broadcast_shapes(c.shape, shape) != tuple(shape):
            raise ValueError
        return np.broadcast_to(c, shape).ravel()
    except ValueError:
        raise src.refuse(f"its constant of shape {c.shape} does not broadcast to the tensor's {shape}") from None


def _out_shape(src, shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise src.refuse(f"its inputs {shapes} do not broadcast") from None


def _arithmetic(kind: str, src):
    tensors = src.tensor_inputs()
    if kind == "Neg":
        return [Scale(np.full(math.prod(src.shape), -1.0, src.dtype), np.zeros(math.prod(src.shape), src.dtype),
                      src.name, src.shape)], src.shape
    if len(tensors) == len([n for n in src.node.input if n]):   # every input a tensor
        shapes = [src.shapes[k] for k in tensors]
        if [len(s) for s in shapes] != [len(shapes[0])] * len(shapes):
            raise src.refuse(f"its inputs {shapes} differ in rank (the batch axis must line up)")
        merge = {"Add": "Add", "Sum": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide", "Max": "Maximum",
                 "Min": "Minimum"}[kind]
        out = _out_shape(src, shapes)
        return [Merge(merge, tuple(shapes), src.name, out)], out
    if len(src.node.input) != 2 or len(tensors) != 1:
        raise src.refuse("takes one tensor and one constant, or tensors only")
    first = tensors[0] == 0
    c = _broadcast(src, src.consts[1 if first else 0], src.shape)
    if kind in ("Max", "Min"):   # max(x, c) = c + relu(x − c), min(x, c) = c − relu(c − x)
        sign = 1.0 if kind == "Max" else -1.0
        d = np.full_like(c, sign).astype(src.dtype)
        return [Scale(d, (-sign * c).astype(src.dtype), f"{src.name}/shift", src.shape),
                ReLU(f"{src.name}/relu", src.shape), Scale(d, c.astype(src.dtype), src.name, src.shape)], src.shape
    one, zero = np.ones_like(c), np.zeros_like(c)
    if kind == "Div" and (not first or (c == 0).any()):
        raise src.refuse("only division of a tensor by a non-zero constant is supported")
    d, t = {("Add", True): (one, c), ("Add", False): (one, c), ("Sum", True): (one, c), ("Sum", False): (one, c),
            ("Sub", True): (one, -c), ("Sub", False): (-one, c),
            ("Mul", True): (c, zero), ("Mul", False): (c, zero),
            ("Div", True): (1 / np.where(c == 0, 1, c), zero)}[(kind, first)]
    return [Scale(d.astype(src.dtype), t.astype(src.dtype), src.name, src.shape)], src.shape


for _kind in ("Add", "Sub", "Mul", "Div", "Neg", "Sum", "Max", "Min"):
    register_op(_kind)(lambda src, kind=_kind: _arithmetic(kind, src))
