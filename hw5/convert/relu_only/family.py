"""The ReLU family as sums of ramps, exactly: f(x) = Σ_k w_k · relu(s_k · x + t_k), neuron by neuron.

    ReLU                                   relu(x)
    ReLU(max_value=m), the relu6 name      relu(x) − relu(x − m)                        (m = 6: ReLU6)
    LeakyReLU(α), ReLU(negative_slope=α),  relu(x) − α·relu(−x)                         (leaky_relu: α = 0.2,
    the leaky_relu name                                                                  as float32, Keras')
    ReLU(max_value=m, negative_slope=α)    relu(x) − relu(x − m) − α·relu(−x)
    PReLU (α per neuron)                   relu(x) − α ⊙ relu(−x)
    hard_sigmoid                           relu6(x + 3)/6 = relu(x + 3)/6 − relu(x − 3)/6
    ReLU(threshold=θ > 0)                  Keras computes x for x > θ, else α·(x − θ): a jump of θ (of min(θ, m)
                                           with max_value m) at x = θ. A Dense+ReLU network is a continuous
                                           function, so none equals it: refused. With max_value=0 the jump is
                                           0 and it is −α·relu(θ − x).

`RAMPS[type](layer)` gives (terms [(w, s, t)], f ≥ 0 everywhere), each of w, s, t a number or one per neuron;
None for a layer of that type outside the family (an Elementwise sigmoid). Each term costs one neuron per
neuron of the layer in the hidden layer that lowering emits (relu_only.rules.ramp_layer); on an input known to
be ≥ 0 the terms with s, t ≤ 0 are 0 and are left out, and relu(x) is x (a ReLU after a ReLU costs nothing).
"""
from __future__ import annotations

import numpy as np

from hw5.convert.activations import LEAKY_DEFAULT, ClippedReLU, Elementwise, PReLU
from hw5.convert.layers import ReLU

IDENTITY = (1.0, 1.0, 0.0)   # relu(x)


def _relu(layer: ReLU):
    return [IDENTITY], True


def _clipped(layer: ClippedReLU):
    m, alpha, theta = layer.max_value, layer.negative_slope, layer.threshold
    positive = m is None or m > 0            # max_value = 0 clips the positive part to 0
    if theta != 0 and positive:
        jump = theta if m is None else min(theta, m)
        raise ValueError(f"layer {layer.name!r} (ClippedReLU) is ReLU(threshold={theta:g}): Keras gives x for x > "
                         f"{theta:g} and {alpha:g}·(x − {theta:g}) below, a jump of {jump:g} at x = {theta:g}; a "
                         f"Dense+ReLU network is continuous and no such network equals it (threshold=0 lowers)")
    terms = []
    if positive:
        terms.append(IDENTITY)
        if m is not None:
            terms.append((-1.0, 1.0, -m))
    if alpha != 0:
        terms.append((-alpha, -1.0, theta))
    return terms, alpha <= 0


def _prelu(layer: PReLU):
    alpha = np.asarray(layer.alpha, np.float64)
    return [IDENTITY, (-alpha, -1.0, 0.0)], bool((alpha <= 0).all())


ELEMENTWISE = {   # the activation names of the family (hw5.convert.activations.FUNCTIONS)
    "relu6": ([IDENTITY, (-1.0, 1.0, -6.0)], True),
    "leaky_relu": ([IDENTITY, (-LEAKY_DEFAULT, -1.0, 0.0)], False),
    "hard_sigmoid": ([(1 / 6, 1.0, 3.0), (-1 / 6, 1.0, -3.0)], True),
}


def _elementwise(layer: Elementwise):
    return ELEMENTWISE.get(layer.kind)


RAMPS = {ReLU: _relu, ClippedReLU: _clipped, PReLU: _prelu, Elementwise: _elementwise}
