# hw5.convert.rules: the tables of what each NumPy layer type does beyond its forward pass. Every layer type the
# converter makes has an ONNX and a LOWER entry (a refusal counts); rule() refuses a second entry for a class,
# naming the one there; lookup() follows the class hierarchy; error_bound walks a chain and names a type without
# a bound; the lowering's refusal names the layer and what the Dense+ReLU form holds.
import dataclasses

import numpy as np
import pytest

import hw5.convert.activations as activations
import hw5.convert.layers as layers
import hw5.convert.merges as merges
import hw5.convert.normalization as normalization
import hw5.convert.onnx_in.ops.pooling as pooling
import hw5.convert.onnx_in.ops.resize as resize
import hw5.convert.relus as relus
from hw5.convert.network import NumpyNet
from hw5.convert.rules import BOUND, LOWER, ONNX, Precision, error_bound, lookup, not_piecewise_linear, rule
from tests import tolerances as tol


def layer_types() -> set:
    return {cls for module in (activations, layers, merges, normalization, relus, pooling, resize)
            for cls in vars(module).values()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
            and "out_shape" in {f.name for f in dataclasses.fields(cls)}}


def test_every_layer_type_has_its_onnx_nodes_and_its_lowering():
    types = layer_types()
    assert len(types) >= 16
    missing = {cls.__name__ for cls in types for table in (ONNX, LOWER)
               if next((t for t in cls.__mro__ if t in table), None) is None}
    assert missing == set()


def test_rule_registers_once_and_names_the_entry_it_has():
    class Kind:
        pass

    class Other:
        pass

    table: dict = {}

    def first(*args):
        return "first"

    def second(*args):
        return "second"

    assert rule(table, Kind, Other)(first) is first and table == {Kind: first, Other: first}
    with pytest.raises(ValueError, match=r"^Kind already has an entry \(tests\.test_rules\.first\)$"):
        rule(table, Kind)(second)
    assert table == {Kind: first, Other: first}


def test_lookup_follows_the_class_hierarchy():
    dense = layers.Dense(np.eye(2), np.zeros(2), "d", (2,))
    banded = layers.BandedDense(np.eye(2), np.zeros(2), "b", (2,))
    assert lookup(ONNX, banded) is lookup(ONNX, dense) is ONNX[layers.Dense]
    assert lookup({}, dense) is None
    assert lookup({layers.BandedDense: "own"}, banded) == "own" and lookup({layers.BandedDense: "own"}, dense) is None


def test_error_bound_walks_a_chain_and_names_a_type_without_a_step():
    # Dense then ReLU: e = (n + extra)·eps·(|a|·|W| + |b|) + (2n + 1)·tiny at the Dense (no error comes in), kept
    # by the ReLU; growth scales an incoming error only
    W, b = np.array([[1.0, -2.0], [3.0, 0.0]]), np.array([0.5, -1.0])
    net = NumpyNet((2,), [layers.Dense(W, b, "d", (2,)), layers.ReLU("r", (2,))], np.float64)
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    c = Precision(tol.EPS32, tol.TINY32, extra=2, growth=tol.EPS32)
    n = 2                                                    # non-zeros in the densest column
    expected = (n + 2) * c.eps * (np.abs(x) @ np.abs(W) + np.abs(b)) + (2 * n + 1) * c.tiny
    np.testing.assert_allclose(error_bound(net, net, x, c), expected, rtol=tol.EPS64 * 8)
    grown = error_bound(NumpyNet((2,), [net.layers[0], layers.Dense(W, b, "d2", (2,))], np.float64),
                        NumpyNet((2,), [net.layers[0], layers.Dense(W, b, "d2", (2,))], np.float64), x, c)
    a1 = x @ W + b
    second = expected @ np.abs(W) * (1 + c.eps) + (n + 2) * c.eps * (np.abs(a1) @ np.abs(W) + np.abs(b)) \
        + (2 * n + 1) * c.tiny
    np.testing.assert_allclose(grown, second, rtol=tol.EPS64 * 8)
    cube = NumpyNet((2,), [relus.PReLU(np.full(2, 0.1), "p", (2,))], np.float64)
    with pytest.raises(TypeError, match=r"^no error bound for layer type PReLU$"):
        error_bound(cube, cube, x, c)
    with pytest.raises(ValueError, match="zip"):         # magnitudes of another net: refused, not cut short
        error_bound(net, NumpyNet((2,), net.layers[:1], np.float64), x, c)


def test_the_lowering_refusal_names_the_layer_and_what_the_form_holds():
    with pytest.raises(ValueError, match=r"^layer 's' \(Sigmoid\) is not piecewise linear: the Dense\+ReLU form "
                                         r"holds ReLU-family layers .* only"):
        not_piecewise_linear(None, layers.Sigmoid("s", (2,)))
    assert LOWER[layers.Sigmoid] is not_piecewise_linear and layers.Tanh in LOWER and BOUND[layers.ReLU]
