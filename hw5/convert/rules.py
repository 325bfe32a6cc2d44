"""What each NumPy layer type does beyond its forward pass, registered beside the type (jax's primitive rules):
one table per behaviour, keyed by the layer class, so the exporters and the lowering are loops over a net's
graph, never `isinstance` chains. A layer type's module registers its entries with `rule(table, *classes)`:

    ONNX     fn(emitter, layer, inputs: list[str]) -> output name: its ONNX nodes (hw5.convert.export.onnx_ops
             .Emitter: node, const, grid, flat), every value flat (N, features) channels-last
    LOWER    fn(state, layer, *values) -> Value, or a generator of hidden layers (hw5.convert.affine): its
             Dense+ReLU form; `not_piecewise_linear` for a type no Dense+ReLU network computes
    BOUND    fn(layer, magnitude, a, out, e, precision) -> e': the error bound's step (`Precision`): the
             difference e entering the layer (its input a, its output out, the magnitudes' layer) → leaving it;
             `error_bound` runs it over a chain
    ACTIVATION  the Keras activation name of an elementwise type (the Dense-only Keras export's activation=)

The .npz encoding needs no entry: a layer is stored as its dataclass fields (hw5.convert.export.npz).
A class without an entry is refused by the exporter or the lowering, naming the layer and its type.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ONNX: dict = {}
LOWER: dict = {}
BOUND: dict = {}
ACTIVATION: dict = {}


def rule(table: dict, *classes):
    """Decorator: the function becomes `table`'s entry for each class (a second entry for a class is refused)."""
    def register(fn):
        for cls in classes:
            if cls in table:
                raise ValueError(f"{cls.__name__} already has an entry ({table[cls].__module__}."
                                 f"{table[cls].__name__})")
            table[cls] = fn
        return fn
    return register


def lookup(table: dict, layer):
    """The entry of `layer`'s class, or of its nearest base class that has one (a BandedDense is a Dense);
    None if none has."""
    return next((table[kind] for kind in type(layer).__mro__ if kind in table), None)


LOWERED = "ReLU-family layers (ReLU, ReLU6, leaky, PReLU, hard_sigmoid), max-pooling, Add, Subtract, Average, " \
          "Maximum, Minimum, Concatenate and linear layers"


def refuse_lowering(layer, why: str = "is not piecewise linear") -> ValueError:
    """The lowering's refusal of `layer`, naming it, its type (and kind) and what the Dense+ReLU form holds."""
    kind = type(layer).__name__ + (f" {layer.kind!r}" if hasattr(layer, "kind") else "")
    return ValueError(f"layer {layer.name!r} ({kind}) {why}: the Dense+ReLU form holds {LOWERED} only (a softmax "
                      f"only as the last layer: dropped, the logits kept)")


def not_piecewise_linear(state, layer, *values):
    """LOWER's entry for a type that no Dense+ReLU network computes (sigmoid, tanh, layer norm …)."""
    raise refuse_lowering(layer)


@dataclass(frozen=True)
class Precision:
    """The arithmetic an error bound is for: machine epsilon `eps`, smallest normal `tiny` (a flushed subnormal
    loses < tiny an operation), `extra` roundings a linear layer adds beyond its sum (2: a matrix rounded once
    and the bias add; 4 with a folded BatchNorm's multiply, shift, rsqrt and folded weight), `growth` of the
    incoming error through a rounded matrix (eps when the matrix itself is rounded once from the exact one,
    else 0), and `ulps` an elementwise transcendental's own rounding (exp, tanh, logistic: a few ulps)."""
    eps: float
    tiny: float = 0.0
    extra: int = 2
    growth: float = 0.0
    ulps: int = 0


def error_bound(net, magnitudes, x, precision: Precision):
    """Per-output bound (N, outputs) on |net evaluated in `precision` − exact|, for a chain of layer types with
    BOUND entries: `net` the float64 net (standing in for exact arithmetic: the values a), `magnitudes` the net of
    the magnitudes each step's |W| and |b| come from (`net` itself, or one whose biases carry a folded
    BatchNorm's terms), x the inputs. TypeError naming a layer type without an entry."""
    a = np.asarray(x, np.float64).reshape(len(x), -1)
    e = np.zeros_like(a)
    for layer, mag in zip(net.layers, magnitudes.layers, strict=True):
        step = lookup(BOUND, layer)
        if step is None:
            raise TypeError(f"no error bound for layer type {type(layer).__name__}")
        out = layer(a)
        e, a = step(layer, mag, a, out, e, precision), out
    return e
