# hw5/convert/fold.py: BatchNormalization folded into the map before it, and fuse=True multiplying runs of
# linear maps — every path of merge_linear (map·diagonal, diagonal·map, map·map, diagonal·diagonal), dense and
# sparse, float32 and float64, against Keras; the folded net keeps the dtype and the storage it was asked for.
# Reference: Keras `model(x, training=False)`, one image at a time.
import keras
import numpy as np
import pytest

from hw5.convert.layers import Dense, Scale
from hw5.numpy_net import from_keras
from tests import tolerances as tol
from tests.helpers import assert_within, assign_normal, keras_outputs

L = keras.layers


def model_with_norms(dtype: str):
    """BN first (a diagonal before a map), conv → BN (a map before a diagonal), BN → BN (two diagonals), Dense →
    Dense (two maps), with random BatchNorm statistics and biases."""
    keras.utils.set_random_seed(41)
    model = keras.Sequential([
        keras.Input((5, 4, 2), dtype=dtype),
        L.BatchNormalization(dtype=dtype, name="bn0"),
        L.Conv2D(3, 3, padding="same", dtype=dtype, name="conv"),
        L.BatchNormalization(dtype=dtype, name="bn1"),
        L.BatchNormalization(dtype=dtype, name="bn2"),
        L.ReLU(dtype=dtype, name="relu"),
        L.Flatten(dtype=dtype, name="flat"),
        L.Dense(6, dtype=dtype, name="d1"),
        L.Dense(4, dtype=dtype, name="d2"),
    ])
    assign_normal(model.weights, 42)
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fuse", [False, True])
def test_folded_and_fused_nets_equal_keras_in_their_dtype_and_storage(dtype, sparse, fuse):
    model = model_with_norms(dtype)
    x = np.random.default_rng(43).normal(size=(3, 5, 4, 2)).astype(dtype)
    expected = keras_outputs(model, x)
    net = from_keras(model, sparse=sparse, fuse=fuse)
    assert_within(net.predict(x), expected, tol.GRAPH_RTOL[dtype] * max(1.0, np.abs(expected).max()),
                  f"{dtype}, sparse={sparse}, fuse={fuse}")
    kinds = [type(layer).__name__ for layer in net.layers]
    # folding: bn1 and bn2 into conv (bn0 has no map before it); fusing: bn0 into conv too, d1·d2 into one
    assert kinds == (["Dense", "ReLU", "Dense"] if fuse else ["Scale", "Dense", "ReLU", "Dense", "Dense"])
    assert net.layers[-1].name == ("d1+d2" if fuse else "d2")
    for layer in net.layers:
        for part in ("W", "b", "d", "t"):
            if hasattr(layer, part):
                value = getattr(layer, part)
                assert value.dtype == np.dtype(dtype), (layer.name, part)
                if part == "W":
                    assert hasattr(value, "tocsr") == sparse, layer.name


@pytest.mark.parametrize("sparse", [False, True])
def test_fuse_merges_a_permutation_into_the_matrices_beside_it_exactly(sparse):
    # a Permute is a Gather: after a conv it picks the matrix's columns, before a Dense (as a channels-first Flatten
    # is) it re-orders the rows: with fuse both go into the matrix — no arithmetic, so the fused net equals the
    # unfused one's entries moved (the outputs equal up to the order of a sum); without fuse the Gathers stay
    import keras

    L = keras.layers
    keras.utils.set_random_seed(44)
    model = keras.Sequential([keras.Input((4, 3, 2), dtype="float64"), L.Conv2D(3, 2, dtype="float64"),
                              L.Permute((3, 1, 2), dtype="float64"), L.Activation("relu", dtype="float64"),
                              L.Permute((2, 3, 1), dtype="float64"), L.Flatten(dtype="float64"),
                              L.Dense(2, dtype="float64")])
    assign_normal(model.weights, 45)
    x = np.random.default_rng(46).normal(size=(3, 4, 3, 2))
    plain, fused = from_keras(model, sparse=sparse), from_keras(model, sparse=sparse, fuse=True)
    assert [type(layer).__name__ for layer in plain.layers] == ["Dense", "Gather", "ReLU", "Gather", "Dense"]
    assert [type(layer).__name__ for layer in fused.layers] == ["Dense", "ReLU", "Dense"]
    dense = lambda W: W.toarray() if sparse else W  # noqa: E731
    np.testing.assert_array_equal(dense(fused.layers[0].W), dense(plain.layers[0].W)[:, plain.layers[1].index])
    np.testing.assert_array_equal(dense(fused.layers[2].W), dense(plain.layers[4].W)[np.argsort(plain.layers[3].index)])
    expected = plain.predict(x)
    assert_within(fused.predict(x), expected, tol.LAYER_F64_RTOL * np.abs(expected).max(), "fused vs plain")


def test_two_diagonals_and_a_diagonal_before_a_map_fuse_exactly_as_written():
    # merge_linear's formulas by hand: diag(d1) then diag(d2) is diag(d1·d2) with t1·d2 + t2; diag(d) then
    # W is diag(d)·W with bias t·W + b
    from hw5.convert.fold import merge_linear

    s1 = Scale(np.array([2.0, -1.0]), np.array([0.5, 1.0]), "s1", (2,))
    s2 = Scale(np.array([3.0, 4.0]), np.array([-1.0, 2.0]), "s2", (2,))
    both = merge_linear(s1, s2)
    np.testing.assert_array_equal(both.d, [6.0, -4.0])
    np.testing.assert_array_equal(both.t, [0.5, 6.0])
    assert both.name == "s1+s2"
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    then = merge_linear(s1, Dense(W.copy(), np.array([1.0, 0.0, -1.0]), "d", (3,)))
    np.testing.assert_array_equal(then.W, [[2.0, 4.0, 6.0], [-4.0, -5.0, -6.0]])
    np.testing.assert_array_equal(then.b, [0.5 + 4.0 + 1.0, 1.0 + 5.0, 1.5 + 6.0 - 1.0])


def test_merging_maps_of_two_dtypes_gives_the_wider_without_touching_the_narrow_one():
    # a hand-made float32 map merged with a float64 diagonal or map: float64 results, computed from the exact
    # widening of the float32 entries; the float32 input map is left as it was (no in-place write)
    from hw5.convert.fold import merge_linear

    W32 = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    d64, W64 = np.array([0.1, 3.0]), np.array([[0.3, 1.0], [2.0, -0.7]])
    for merged, expected in [
        (merge_linear(Dense(W32, np.zeros(2, np.float32), "a", (2,)), Scale(d64, np.zeros(2), "s", (2,))).W,
         W32.astype(np.float64) * d64),
        (merge_linear(Scale(d64, np.zeros(2), "s", (2,)), Dense(W32, np.zeros(2, np.float32), "a", (2,))).W,
         d64[:, None] * W32.astype(np.float64)),
        (merge_linear(Dense(W32, np.zeros(2, np.float32), "a", (2,)), Dense(W64, np.zeros(2), "b", (2,))).W,
         W32.astype(np.float64) @ W64),
    ]:
        assert merged.dtype == np.float64
        np.testing.assert_array_equal(merged, expected)
    np.testing.assert_array_equal(W32, np.array([[1.5, -2.0], [0.25, 3.0]], np.float32))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("side", ["columns", "rows"])
def test_a_map_that_has_the_dtype_is_scaled_where_it_lies(sparse, side):
    # fold owns the matrices from_keras just built: merging a Scale after a Dense (W·diag(d)) or before it
    # (diag(d)·W) writes into W itself when it already has the dtype (issue 20: folding must not copy whole maps),
    # dense and sparse
    import scipy.sparse

    from hw5.convert.fold import merge_linear

    W = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]], np.float32)
    M = scipy.sparse.csr_matrix(W) if sparse else W.copy()
    d_columns, d_rows = np.array([2.0, 3.0, 5.0], np.float32), np.array([7.0, 11.0], np.float32)
    dense = Dense(M, np.zeros(3, np.float32), "dense", (3,))
    if side == "columns":
        out = merge_linear(dense, Scale(d_columns, np.zeros(3, np.float32), "scale", (3,))).W
    else:
        out = merge_linear(Scale(d_rows, np.zeros(2, np.float32), "scale", (2,)), dense).W
    expected = W * d_columns if side == "columns" else d_rows[:, None] * W
    np.testing.assert_array_equal(out.toarray() if sparse else out, expected.astype(np.float32), strict=True)
    assert np.shares_memory(out.data, M.data) if sparse else np.shares_memory(out, M), "a second copy of the map"


def test_a_product_with_a_sparse_map_is_sparse_and_in_the_asked_dtype():
    # fuse=True multiplies runs of maps: if either map is sparse the product is a CSR matrix (a dense product of a
    # sparse net's maps would be the memory sparse=True avoids), in the dtype asked for
    import scipy.sparse

    from hw5.convert.fold import merge_linear

    W1, W2 = np.array([[1.0, 0.0], [2.0, 3.0]]), np.array([[0.5, 0.0, 1.0], [0.0, 4.0, 0.0]])
    expected = W1 @ W2
    for dt in (np.float32, np.float64):
        for A, B in [(scipy.sparse.csr_matrix(W1, dtype=dt), W2.astype(dt)),
                     (W1.astype(dt), scipy.sparse.csr_matrix(W2, dtype=dt)),
                     (scipy.sparse.csr_matrix(W1, dtype=dt), scipy.sparse.csr_matrix(W2, dtype=dt))]:
            first, second = Dense(A, np.zeros(2, dt), "a", (2,)), Dense(B, np.zeros(3, dt), "b", (3,))
            out = merge_linear(first, second).W
            assert scipy.sparse.issparse(out) and out.format == "csr" and out.dtype == dt, (type(A), type(B), dt)
            np.testing.assert_array_equal(out.toarray(), expected.astype(dt))


def broken(monkeypatch, kind: str, spoil):
    """Make the registered translation of `kind` spoil the first layer it returns (spoil(layer) -> layer)."""
    from hw5.convert.registry import TRANSLATIONS

    real = TRANSLATIONS[kind]

    def translate(src):
        layers, out = real(src)
        return [spoil(layers[0]), *layers[1:]], out
    monkeypatch.setitem(TRANSLATIONS, kind, translate)


def scaled(layer):
    layer.W = layer.W * 1.01
    return layer


def swapped(layer):   # output channels 0 and 1 of a conv's matrix and bias exchanged
    c = layer.out_shape[-1]
    order = np.arange(layer.W.shape[1]).reshape(-1, c)[:, [1, 0, *range(2, c)]].ravel()
    layer.W, layer.b = layer.W[:, order], layer.b[order]
    return layer


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_wrong_translation_makes_from_keras_raise_naming_the_layer(monkeypatch, dtype, sparse):
    # the self-check: a Dense translation that scales its kernel by 1.01 makes from_keras refuse, naming the
    # first Keras layer beyond tolerance (d1; d2 is off too) with its row of the layer-by-layer table;
    # check=False hands the wrong net back, and it is wrong
    model = model_with_norms(dtype)
    broken(monkeypatch, "Dense", scaled)
    with pytest.raises(ValueError, match=r"^from_keras: the network it built is not the Keras model: layer 'd1' "
                                         r"\(Dense\) is off by .*\n.*Keras layer +NumPy layer.*\n"
                                         r"d1 +d1 +\(6,\) .* NO$"):
        from_keras(model, sparse=sparse)
    x = np.random.default_rng(44).normal(size=(2, 5, 4, 2)).astype(dtype)
    expected = keras_outputs(model, x)
    wrong = from_keras(model, sparse=sparse, check=False).predict(x)
    assert np.abs(wrong - expected).max() > 100 * tol.LAYER_F32_RTOL * np.abs(expected).max()


def test_swapped_conv_channels_make_from_keras_raise_naming_the_conv(monkeypatch):
    # two output channels of a Conv2D exchanged (an error in the channel order that no shape check sees)
    keras.utils.set_random_seed(45)
    model = keras.Sequential([keras.Input((5, 5, 2)), L.Conv2D(3, 3, name="conv"), L.ReLU(name="relu"),
                              L.Flatten(name="flat"), L.Dense(2, name="dense")])
    assign_normal(model.weights, 46)
    from_keras(model)                                   # the real translation passes its own check
    broken(monkeypatch, "Conv2D", swapped)
    with pytest.raises(ValueError, match=r"layer 'conv' \(Conv2D\) is off by"):
        from_keras(model)
    assert isinstance(from_keras(model, check=False).layers[0], Dense)


def test_the_self_check_sees_a_wrong_keras_ops_node_at_the_output(monkeypatch):
    # a graph ending in a keras.ops node (x * 2.0) has no Keras layer row for its output: the model's output is
    # compared too
    from hw5.convert.registry import OPS

    inp = keras.Input((3,))
    model = keras.Model(inp, L.Dense(2, name="dense")(inp) * 2.0)
    from_keras(model)
    real = OPS["Multiply"]

    def halved(src, args):
        layers, out = real(src, args)
        layers[0].d = layers[0].d / 2
        return layers, out
    monkeypatch.setitem(OPS, "Multiply", halved)
    with pytest.raises(ValueError, match=r"the Keras model: the model's output is off by .*\n.*\n\(model output\) "):
        from_keras(model)


@pytest.mark.parametrize("options", [{}, {"sparse": True}, {"fuse": True}])
def test_the_self_check_accepts_a_layer_whose_outputs_cancel_to_rounding(options):
    # GAP(x) − GAP(AveragePooling(x)) is 0 in exact arithmetic (one window per row: the mean of the means is the
    # mean) and ~3e-17 on the probe inputs, each side summing the same numbers in another order (found by
    # hypothesis, sparse): relative to that output alone the rounding is "off by 100 %"; against the inputs'
    # scale (the self-check's floor) it is the float64 rounding it is. A wrong translation is still refused above.
    f64 = dict(dtype="float64")
    x = keras.Input((2, 2, 1), **f64)
    mean = L.GlobalAveragePooling2D(keepdims=True, **f64)(x)
    twice = L.GlobalAveragePooling2D(keepdims=True, **f64)(L.AveragePooling2D((1, 2), padding="same", **f64)(x))
    model = keras.Model(x, L.Subtract(**f64)([mean, twice]))
    net = from_keras(model, **options)
    images = np.random.default_rng(3).normal(size=(4, 2, 2, 1))
    assert_within(net.predict(images), keras_outputs(model, images), tol.GRAPH_RTOL["float64"],
                  "a difference that cancels")
