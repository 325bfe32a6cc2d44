# hw5.convert.bounds: interval bounds of a Dense+ReLU chain on a box contain every pre-activation at every
# point of the box (sampled, and every vertex of a 6-input box), are attained on the first layer (at the vertex
# each weight's sign picks), the stable/unstable counts partition the ReLUs, and the chain with its
# always-inactive neurons dropped is the same function on the box; bad arguments are refused by name.
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from hw5.convert import bounds
from hw5.numpy_net import Dense, MaxPool, NumpyNet, ReLU
from tests.helpers import assert_within
from tests.tolerances import BOUNDS_ATTAINED_FACTOR, PRUNED_F64_RTOL

SEEDS = range(4)
INPUT = (2, 3, 1)   # 6 inputs: 64 vertices


def random_chain(seed: int, widths=(12, 9, 5)) -> NumpyNet:
    # Dense/ReLU chain, N(0, 1) weights and biases (half the layers sparse CSR, a third of the entries 0)
    rng = np.random.default_rng(seed)
    layers, fan_in = [], int(np.prod(INPUT))
    for k, width in enumerate(widths):
        W = rng.normal(size=(fan_in, width)) * (rng.random((fan_in, width)) > 1 / 3)
        layers.append(Dense(sp.csr_matrix(W) if k % 2 else W, rng.normal(size=width), f"dense{k}", (width,)))
        if k < len(widths) - 1:
            layers.append(ReLU(f"relu{k}", (width,)))
        fan_in = width
    return NumpyNet(INPUT, layers, compute_dtype=np.float64)


def box(seed: int, radius: float = 0.3):
    x = np.random.default_rng(seed + 100).random(int(np.prod(INPUT)))
    return np.maximum(x - radius, 0), np.minimum(x + radius, 1)


def pre_activations(net: NumpyNet, points: np.ndarray) -> list[np.ndarray]:
    # every Dense layer's output z_k at the points (N, inputs)
    out, a = [], points
    for layer in net.layers:
        a = np.asarray(layer(a))
        if isinstance(layer, Dense):
            out.append(a)
    return out


def points_of(lo, hi, n: int = 2000, seed: int = 0) -> np.ndarray:
    vertices = np.array([np.where(np.array(bits, bool), hi, lo) for bits in itertools.product((0, 1), repeat=lo.size)])
    inside = lo + (hi - lo) * np.random.default_rng(seed).random((n, lo.size))
    return np.concatenate([vertices, inside])


@pytest.mark.parametrize("seed", SEEDS)
def test_interval_bounds_contain_every_point_of_the_box(seed):
    net, (lo, hi) = random_chain(seed), box(seed)
    b = bounds.interval_bounds(net, lo, hi)
    for k, z in enumerate(pre_activations(net, points_of(lo, hi))):
        assert np.all(z >= b.lower[k]) and np.all(z <= b.upper[k]), f"layer {k}: a point outside its bounds"


@pytest.mark.parametrize("seed", SEEDS)
def test_interval_bounds_are_attained_on_the_first_layer(seed):
    # one layer: z_j = x @ W[:, j] + b_j is largest at x = hi where W > 0 and lo elsewhere (and the reverse)
    net, (lo, hi) = random_chain(seed), box(seed)
    b = bounds.interval_bounds(net, lo, hi)
    W, bias = np.asarray(net.layers[0].W), net.layers[0].b
    top = np.einsum("ij,ij->j", np.where(W > 0, hi[:, None], lo[:, None]), W) + bias
    bottom = np.einsum("ij,ij->j", np.where(W > 0, lo[:, None], hi[:, None]), W) + bias
    scale = np.abs(W).T @ np.maximum(np.abs(lo), np.abs(hi)) + np.abs(bias)
    atol = BOUNDS_ATTAINED_FACTOR * bounds.WIDEN * scale
    assert_within(b.upper[0], top, atol, "upper bounds of layer 0")
    assert_within(b.lower[0], bottom, atol, "lower bounds of layer 0")


@pytest.mark.parametrize("seed", SEEDS)
def test_stable_counts_partition_the_relus(seed):
    net, (lo, hi) = random_chain(seed), box(seed)
    b = bounds.interval_bounds(net, lo, hi)
    assert b.relus == 12 + 9 and b.active + b.inactive + b.unstable == b.relus
    for (active, inactive), (low, up) in zip(bounds.stable_masks(b), b.hidden, strict=True):
        assert not (active & inactive).any()
        np.testing.assert_array_equal(~(active | inactive), (low < 0) & (up > 0))
    assert f"{b.unstable:,} unstable" in b.summary()


@pytest.mark.parametrize("seed", SEEDS)
def test_pruned_chain_is_the_same_function_on_the_box(seed):
    net, (lo, hi) = random_chain(seed), box(seed, radius=0.1)
    b = bounds.interval_bounds(net, lo, hi)
    small, active = bounds.pruned(net, b)
    widths = [layer.W.shape[1] for layer in small.layers[0::2]]
    assert widths == [n - int(m[1].sum()) for n, m in zip((12, 9), bounds.stable_masks(b), strict=True)] + [5]
    assert [m.size for m in active] == widths[:-1]
    x = points_of(lo, hi).reshape(-1, *INPUT)
    theirs = net.predict(x)
    assert_within(small.predict(x), theirs, PRUNED_F64_RTOL * np.abs(theirs).max(), "pruned chain on the box")


def test_interval_bounds_refuse_bad_arguments():
    net, (lo, hi) = random_chain(0), box(0)
    with pytest.raises(ValueError, match="lo, hi: finite bounds with lo <= hi"):
        bounds.interval_bounds(net, hi + 0.1, hi)
    with pytest.raises(ValueError, match="lo, hi: 5 and 5 values for a net of 6 inputs"):
        bounds.interval_bounds(net, lo[:5], hi[:5])
    pooled = NumpyNet(INPUT, [MaxPool(INPUT, (2, 2), (2, 2), "pool", (1, 1, 1))])
    with pytest.raises(TypeError, match="net: a Dense/ReLU chain is needed"):
        bounds.interval_bounds(pooled, lo, hi)
