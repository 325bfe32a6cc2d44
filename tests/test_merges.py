# hw5/convert/merges.py, one deterministic case per merge kind and keras.ops arithmetic node, against Keras
# (float64, one image at a time); and the refusals, called on the translation functions directly, naming what is
# wrong. The random graph CNNs of test_graph.py draw these too, but not every kind in a short run.
import keras
import numpy as np
import pytest

from hw5.convert.layers import Scale
from hw5.convert.registry import MERGES, OPS, Source
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal, keras_outputs

F64 = "float64"
L = keras.layers
SHAPE = (3, 2, 2)


def branches(inp):
    """Three different tensors of the input's grid, and one (1, 1, 2) broadcast along it."""
    a = L.Dense(2, dtype=F64, name="a")(inp)
    b = L.Dense(2, dtype=F64, name="b")(inp)
    c = L.ReLU(dtype=F64, name="c")(inp)
    pooled = L.GlobalAveragePooling2D(keepdims=True, dtype=F64, name="g")(inp)
    return a, b, c, pooled


GRAPHS = {
    "Add of three": lambda a, b, c, p: L.Add(dtype=F64)([a, b, c]),
    "Subtract": lambda a, b, c, p: L.Subtract(dtype=F64)([a, b]),
    "Multiply, broadcast (1, 1, C)": lambda a, b, c, p: L.Multiply(dtype=F64)([a, p]),
    "Average of three": lambda a, b, c, p: L.Average(dtype=F64)([a, b, c]),
    "Maximum": lambda a, b, c, p: L.Maximum(dtype=F64)([a, b]),
    "Minimum": lambda a, b, c, p: L.Minimum(dtype=F64)([c, b]),
    "Concatenate channels": lambda a, b, c, p: L.Concatenate(dtype=F64)([a, c, b]),
    "Concatenate rows": lambda a, b, c, p: L.Concatenate(axis=1, dtype=F64)([b, a]),
    "Concatenate columns, negative axis": lambda a, b, c, p: L.Concatenate(axis=-2, dtype=F64)([a, b]),
    "ops x + y, x - y, x * y": lambda a, b, c, p: ((a + b) - c) * b,
    "ops x + 2, 3 + x, x - 2, 3 - x": lambda a, b, c, p: (3.0 - (((a + 2.0) + (3.0 + b)) - 2.0)),
    "ops x * 1.5, -0.5 * x, x / 4": lambda a, b, c, p: (-0.5 * (a * 1.5)) / 4.0,
    "ops x + per-channel constant": lambda a, b, c, p: a + np.array([1.0, -2.0]),
    "ops called with keywords": lambda a, b, c, p: keras.ops.subtract(x1=keras.ops.multiply(x1=2.0, x2=a), x2=b),
}


@pytest.mark.parametrize("what", list(GRAPHS))
def test_merge_or_op_is_its_keras_graph(what):
    keras.utils.set_random_seed(31)
    inp = keras.Input(SHAPE, dtype=F64)
    model = keras.Model(inp, GRAPHS[what](*branches(inp)))
    assign_normal(model.weights, 32)
    x = np.random.default_rng(33).normal(size=(2, *SHAPE))
    expected = keras_outputs(model, x)
    for sparse in (False, True):
        net = from_keras(model, sparse=sparse)
        actual = net.predict(x)
        assert actual.dtype == np.float64
        assert_within(actual, expected, tol.GRAPH_RTOL[F64] * max(1.0, np.abs(expected).max()), what)


def build(shapes, name="merge"):
    """A Source for a merge or op node receiving `shapes` (the node itself is only named in messages)."""
    node = L.Add(name=name)
    return Source(node, {}, shapes[0], {}, np.dtype(F64), shapes=tuple(shapes))


@pytest.mark.parametrize("call, match", [
    (lambda: MERGES["Subtract"](build([(2, 2)] * 3)), "Subtract takes exactly two inputs"),
    (lambda: MERGES["Add"](build([(2, 2), (2,)])), r"inputs of different ranks \(\(2, 2\), \(2,\)\)"),
    (lambda: MERGES["Add"](build([(2, 3), (2, 2)])), r"cannot broadcast the grids \(\(2, 3\), \(2, 2\)\)"),
    (lambda: OPS["Add"](build([(2, 2)]), [None, 1.0, 2.0]), "takes 3 arguments"),
    (lambda: OPS["TrueDivide"](build([(2, 2)] * 2), [None, None]), "division of two tensors"),
    (lambda: OPS["Add"](build([(2, 2)]), [1.0, 2.0]), "needs a tensor argument"),
    (lambda: OPS["TrueDivide"](build([(2, 2)]), [None, np.array([2.0, 0.0])]), "non-zero constant"),
    (lambda: OPS["TrueDivide"](build([(2, 2)]), [2.0, None]), "non-zero constant"),
])
def test_merges_and_ops_refuse_by_name_what_they_cannot_build(call, match):
    with pytest.raises(ValueError, match=rf"^layer 'merge' of type Add: .*{match}"):
        call()


def test_merge_of_three_and_op_tables_build_what_they_say():
    # Add takes any number of inputs (only Subtract is limited to two); a tensor with a constant is a diagonal
    # Scale; between two tensors the op is the merge of that kind
    layers, out = MERGES["Add"](build([(2, 2)] * 3))
    assert out == (2, 2) and layers[0].kind == "Add" and layers[0].in_shapes == ((2, 2),) * 3
    assert layers[0].name == "merge"
    (scale,), _ = OPS["Subtract"](build([(2, 2)]), [3.0, None])       # 3 − x
    assert isinstance(scale, Scale) and (scale.d == -1).all() and (scale.t == 3).all() and scale.name == "merge"
    (merge,), _ = OPS["Multiply"](build([(2, 2)] * 2), [None, None])
    assert merge.kind == "Multiply"
    (third,), _ = OPS["TrueDivide"](build([(2, 2)]), [None, 4])     # an int constant divides as a float
    np.testing.assert_array_equal(third.d, np.full(4, 0.25))
    (one,), _ = OPS["TrueDivide"](build([(2, 2)]), [None, 1.0])    # x / 1 is fine: only 0 is refused
    np.testing.assert_array_equal(one.d, np.ones(4))
