"""from_onnx on small ONNX graphs written with onnx.helper, each checked against onnxruntime on the same file
(the reference is theirs): the attributes that change the arithmetic one by one (auto_pad, asymmetric pads,
ceil_mode, count_include_pad, groups, dilations, Gemm's alpha/beta/transB, opset-dependent Softmax), the
PyTorch Shape→Gather→Unsqueeze→Concat→Reshape chain, an NHWC (tf2onnx-style) input, and every refusal as one
line naming what is wrong.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from hw5.convert.layers import Scale
from hw5.convert.onnx_in import from_onnx
from hw5.convert.onnx_in.reference import onnx_outputs
from hw5.convert.reference import OUTPUT_RTOL
from tests.helpers import example_note
from tests.onnx_models import model, resnet_like, weights

RNG_SEED = 541


def assert_equals_onnxruntime(m, x_shape, x_dtype=np.float32, **kwargs):
    """from_onnx(m) on 5 seeded inputs against onnxruntime's output, within OUTPUT_RTOL of its largest value."""
    net = from_onnx(m, **kwargs)
    x = np.random.default_rng(RNG_SEED).standard_normal((5, *x_shape)).astype(x_dtype)
    theirs = onnx_outputs(m, x)
    ours = net.predict(x)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    coarser = max(np.dtype(net.dtype), theirs.dtype, key=lambda d: np.finfo(d).eps)   # onnxruntime's own rounding
    bound = OUTPUT_RTOL[coarser] * float(np.abs(theirs).max())
    diff = float(np.abs(ours.astype(np.float64) - theirs).max())
    assert diff <= bound, f"max |ours − onnxruntime| = {diff:.3e} > {bound:.3e}"
    return net


def conv(**attrs):
    return helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)


@pytest.mark.parametrize("attrs", [
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="VALID", strides=[2, 1]),
    dict(pads=[1, 0, 2, 1]),                          # asymmetric
    dict(pads=[1, 1, 1, 1], dilations=[2, 1], strides=[1, 2]),
    dict(group=2, pads=[1, 1, 1, 1]),
], ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_conv_attributes_equal_onnxruntime(attrs):
    c_in = 4
    w = weights(6, c_in // attrs.get("group", 1), 3, 2)
    assert_equals_onnxruntime(model([conv(**attrs)], (c_in, 7, 6), inits={"w": w, "b": weights(6, seed=1)}),
                              (c_in, 7, 6))


@settings(max_examples=25, deadline=None)
@given(k=st.tuples(st.integers(1, 3), st.integers(1, 3)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)), pads=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       group=st.sampled_from([1, 2]), size=st.tuples(st.integers(6, 9), st.integers(6, 9)),
       auto=st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
def test_conv_geometry_equals_onnxruntime_property(k, s, d, pads, group, size, auto):
    d = (1, 1) if auto.startswith("SAME") else d   # onnxruntime has no dilated SAME convolution
    example_note(f"kernel {k}, strides {s}, dilations {d}, pads {pads}, group {group}, input {size}, {auto}")
    attrs = dict(strides=list(s), dilations=list(d), group=group)
    attrs.update(pads=pads) if auto == "NOTSET" else attrs.update(auto_pad=auto)
    w = weights(4, 4 // group, *k)
    assert_equals_onnxruntime(model([conv(**attrs)], (4, *size), inits={"w": w, "b": weights(4, seed=1)}),
                              (4, *size))


def test_conv_transpose_with_output_padding_and_groups_equals_onnxruntime():
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], output_padding=[1, 0],
                            pads=[1, 0, 0, 1], group=2)
    assert_equals_onnxruntime(model([node], (4, 5, 4), inits={"w": weights(4, 3, 3, 3), "b": weights(6)}),
                              (4, 5, 4))


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 3], strides=[1, 2], dilations=[2, 1], pads=[0, 1, 1, 0])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 2], strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1)),
    ("GlobalAveragePool", {}), ("GlobalMaxPool", {}),
])
def test_pooling_attributes_equal_onnxruntime(op, attrs):
    assert_equals_onnxruntime(model([helper.make_node(op, ["x"], ["y"], **attrs)], (3, 8, 7), opset=19), (3, 8, 7))


def test_gemm_alpha_beta_transb_and_matmul_equal_onnxruntime():
    nodes = [helper.make_node("Gemm", ["x", "B", "C"], ["g"], alpha=0.5, beta=2.0, transB=1),
             helper.make_node("Reshape", ["g", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "M"], ["y"])]
    inits = {"B": weights(12, 10), "C": weights(1, 12, seed=2), "shape": np.array([0, 3, 4], np.int64),
             "M": weights(4, 5, seed=3)}
    assert_equals_onnxruntime(model(nodes, (10,), inits=inits), (10,))


def test_pytorch_flatten_chain_folds_to_a_reshape_with_a_symbolic_batch():
    # what torch.onnx writes for x.view(x.size(0), -1): the shape is computed, then folded here to a constant
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["c", "target"], ["f"]),
             helper.make_node("Gemm", ["f", "B"], ["y"], transB=1)]
    inits = {"w": weights(4, 2, 3, 3), "zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64), "B": weights(10, 4 * 5 * 5)}
    net = assert_equals_onnxruntime(model(nodes, (2, 5, 5), inits=inits), (2, 5, 5))
    assert net.input_layout == "channels_first" and net.input_shape == (2, 5, 5)


def test_an_nhwc_input_with_transposes_like_tf2onnx_equals_onnxruntime():
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["t", "w", "b"], ["c"], kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Transpose", ["r"], ["back"], perm=[0, 2, 3, 1]),
             helper.make_node("Flatten", ["back"], ["f"]),
             helper.make_node("MatMul", ["f", "M"], ["y"])]
    inits = {"w": weights(3, 2, 3, 3), "b": weights(3, seed=1), "M": weights(6 * 5 * 3, 4, seed=2)}
    net = assert_equals_onnxruntime(model(nodes, (6, 5, 2), inits=inits), (6, 5, 2))
    assert net.input_shape == (6, 5, 2)   # the file's own order: x.reshape(N, -1) of the NHWC batch


def test_batchnorm_folds_into_the_conv_before_it():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["y"], epsilon=1e-3)]
    rng = np.random.default_rng(3)
    inits = {"w": weights(3, 2, 3, 3), "g": weights(3, seed=4), "beta": weights(3, seed=5),
             "mu": weights(3, seed=6), "var": rng.uniform(0.5, 2, 3).astype(np.float32)}
    net = assert_equals_onnxruntime(model(nodes, (2, 6, 6), inits=inits), (2, 6, 6))
    assert not any(isinstance(layer, Scale) for layer in net.layers), [type(la).__name__ for la in net.layers]


@pytest.mark.parametrize("nodes, inits, opset", [
    ([helper.make_node("Sub", ["c", "x"], ["a"]), helper.make_node("Div", ["a", "d"], ["m"]),
      helper.make_node("Mul", ["m", "x"], ["y"])], {"c": weights(4, 1, 1), "d": np.float32(4.0)}, 17),
    ([helper.make_node("Split", ["x"], ["p", "q"], axis=1), helper.make_node("Sigmoid", ["q"], ["s"]),
      helper.make_node("Mul", ["p", "s"], ["y"])], {}, 11),                                   # PyTorch's GLU
    ([helper.make_node("Slice", ["x", "st", "en", "ax"], ["s"]),
      helper.make_node("Pad", ["s", "pads"], ["p"], mode="reflect"),
      helper.make_node("Concat", ["p", "p"], ["y"], axis=1)],
     {"st": np.array([1], np.int64), "en": np.array([5], np.int64), "ax": np.array([2], np.int64),
      "pads": np.array([0, 0, 1, 2, 0, 0, 1, 0], np.int64)}, 17),
    ([helper.make_node("Pad", ["x", "pads", "v"], ["p"], mode="constant"),
      helper.make_node("Resize", ["p", "", "scales"], ["r"], mode="nearest"),
      helper.make_node("ReduceMean", ["r"], ["y"], axes=[2, 3], keepdims=1)],
     {"pads": np.array([0, 1, 0, 2, 0, 0, 1, 0], np.int64), "v": np.float32(1.5),
      "scales": np.array([1, 1, 2, 2], np.float32)}, 17),
    ([helper.make_node("Clip", ["x", "lo", "hi"], ["c"]), helper.make_node("HardSigmoid", ["c"], ["h"], alpha=0.3),
      helper.make_node("HardSwish", ["h"], ["s"]), helper.make_node("PRelu", ["s", "slope"], ["y"])],
     {"lo": np.float32(-1.0), "hi": np.float32(2.0), "slope": weights(4, 1, 1)}, 17),
    ([helper.make_node("Softmax", ["x"], ["y"], axis=2)], {}, 11),   # over each (6, 5) plane: the old 2-D rule
    ([helper.make_node("Resize", ["x", "", "scales"], ["a"], mode="linear"),
      helper.make_node("Shape", ["a"], ["s"]),                     # interpolate(size=...)'s export: N, C kept
      helper.make_node("Slice", ["s", "zero", "two"], ["nc"]),
      helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
      helper.make_node("Resize", ["a", "", "", "sizes"], ["b"], mode="cubic",
                       coordinate_transformation_mode="align_corners"),
      helper.make_node("LRN", ["b"], ["y"], size=5, alpha=0.5, beta=0.75, bias=2.0)],
     {"scales": np.array([1, 1, 1.5, 2], np.float32), "zero": np.array([0], np.int64), "two": np.array([2], np.int64),
      "hw": np.array([5, 7], np.int64)}, 13),
    ([helper.make_node("Max", ["x", "c"], ["m"]), helper.make_node("Min", ["m", "d"], ["n"]),
      helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Add", ["s", "half"], ["den"]),
      helper.make_node("Div", ["n", "den"], ["y"])],                                   # a tensor by a tensor
     {"c": weights(6, 5, seed=3), "d": np.float32(0.5), "half": np.float32(0.5)}, 13),
    ([helper.make_node("LogSoftmax", ["x"], ["y"], axis=-1)], {}, 13),
], ids=["arithmetic", "split-glu", "slice-pad-concat", "pad-resize-mean", "clip-hardsigmoid-prelu",
        "softmax-opset11", "resize-lrn", "max-min-constants", "logsoftmax"])
def test_moving_and_elementwise_ops_equal_onnxruntime(nodes, inits, opset):
    assert_equals_onnxruntime(model(nodes, (4, 6, 5), inits=inits, opset=opset), (4, 6, 5))


def test_sparse_fuse_and_float64_give_the_same_network():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "B"], ["y"], transB=1)]
    m = model(nodes, (2, 6, 6), inits={"w": weights(3, 2, 3, 3), "b": weights(3), "B": weights(5, 27)})
    for kwargs in (dict(sparse=True), dict(fuse=True), dict(dtype=np.float64)):
        assert_equals_onnxruntime(m, (2, 6, 6), **kwargs)


# ---- refusals: one line each, naming what is wrong ---------------------------------------------------------

def test_an_unsupported_op_is_refused_naming_the_node_and_the_supported_list():
    m = model([helper.make_node("Exp", ["x"], ["y"], name="expo")], (3,))
    with pytest.raises(ValueError, match=r"node 'expo' has op type Exp, which has no translation; supported: Add, "):
        from_onnx(m)


@pytest.mark.parametrize("build, match", [
    (lambda: model([helper.make_node("MatMul", ["x", "x2"], ["y"])], (3, 3),
                   extra_inputs=[helper.make_tensor_value_info("x2", TensorProto.FLOAT, ["N", 3, 3])]),
     r"2 inputs that are not initializers \('x', 'x2'\).*the weights must be initializers"),
    (lambda: model([helper.make_node("Relu", ["x"], ["y"])], ("H", 3)), r"axis 1 is 'H', not a fixed size"),
    (lambda: model([helper.make_node("Relu", ["x"], ["y"])], (3,), dtype=TensorProto.INT32), r"element type INT32"),
    (lambda: model([helper.make_node("Relu", ["x"], ["y"])], (3,), opset=5), r"opset 5 is outside the opsets"),
    (lambda: model([helper.make_node("Reshape", ["x", "s"], ["y"])], (2, 3), inits={"s": np.array([-1], np.int64)}),
     r"the first axis must stay the batch axis"),
    (lambda: model([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2])], (2, 3)), r"moves the batch axis"),
    (lambda: model([helper.make_node("Gemm", ["x", "x"], ["y"])], (3,)), r"B a constant"),
    (lambda: model([helper.make_node("Conv", ["x", "w"], ["y"])], (1, 3, 3, 3), inits={"w": weights(1, 1, 1, 1, 1)}),
     r"3-D input .*\(3-D convolution and pooling are not\)"),
    (lambda: model([helper.make_node("Relu", ["x"], ["y"])], (3,), y_name="nope"), r"onnx.checker"),
])
def test_bad_models_are_refused_in_one_line(build, match):
    with pytest.raises(ValueError, match=match) as info:
        from_onnx(build())
    assert "\n" not in str(info.value)


def test_several_outputs_are_refused():
    m = model([helper.make_node("Split", ["x"], ["y", "z"], axis=1)], (4,), opset=11)
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2]))
    m.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 2]))
    with pytest.raises(ValueError, match=r"the model has 2 outputs \('y', 'z'\); one is supported"):
        from_onnx(m)


@pytest.mark.parametrize("content, match", [
    (None, r"does not exist"), (b"", r"is empty"), (b"not an onnx file at all \x00\xff", r"cannot be read as ONNX"),
    ("truncated", r"cannot be read as ONNX|holds no ONNX graph|fails onnx.checker"),
])
def test_bad_files_are_refused_in_one_line(content, match, tmp_path):
    path = tmp_path / "m.onnx"
    if content == "truncated":
        full = model([helper.make_node("Relu", ["x"], ["y"])], (3,)).SerializeToString()
        path.write_bytes(full[:len(full) // 2])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        from_onnx(path)
    assert "\n" not in str(info.value)


def test_a_wrong_translation_is_refused_by_the_self_check(monkeypatch):
    from hw5.convert.onnx_in import registry

    relu = registry.OPS_IN["Relu"]
    monkeypatch.setitem(registry.OPS_IN, "Relu", lambda src: ([], src.shape))   # Relu dropped: wrong
    m = model([helper.make_node("Relu", ["x"], ["y"], name="r")], (4,))
    with pytest.raises(ValueError, match=r"not the ONNX model: node 'r' \(Relu\)'s output 'y' is off by"):
        from_onnx(m)
    monkeypatch.setitem(registry.OPS_IN, "Relu", relu)
    assert onnx.checker.check_model(m) is None and from_onnx(m).layers


# ---- every exit: the ONNX-made net through the Dense+ReLU form and every export ------------------------------

def test_an_onnx_residual_cnn_goes_through_relu_only_and_every_export(tmp_path):
    import keras

    from hw5.convert.export import npz_predict, run_onnx, to_keras, to_nnet, to_npz, to_onnx
    from hw5.convert.relu_only import relu_only

    m = resnet_like()
    net = assert_equals_onnxruntime(m, (3, 8, 8))
    x = np.random.default_rng(RNG_SEED).uniform(0, 1, (6, 3, 8, 8)).astype(np.float32)
    probs, logits = onnx_outputs(m, x), onnx_outputs(m, x, logits=True)
    rtol = OUTPUT_RTOL[np.dtype(np.float32)]

    def close(ours, theirs, what):
        diff = float(np.abs(np.asarray(ours, np.float64).reshape(theirs.shape) - theirs).max())
        assert diff <= rtol * float(np.abs(theirs).max()), f"{what}: max |diff| {diff:.3e}"

    close(run_onnx(to_onnx(net, tmp_path / "graph.onnx"), x), probs, "the graph's ONNX export, onnxruntime")
    close(npz_predict(to_npz(net, tmp_path / "g.npz"), x), probs, "npz")
    flat = relu_only(net)
    assert {type(layer).__name__ for layer in flat.layers} == {"Dense", "ReLU"}
    assert flat.input_layout == "channels_first"
    close(flat.predict(x), logits, "the Dense+ReLU form vs onnxruntime's logits")
    dense = onnx.load(to_onnx(flat, tmp_path / "flat.onnx"))
    assert {n.op_type for n in dense.graph.node} <= {"Gemm", "Relu", "MatMul", "Add"}
    props = {p.key: p.value for p in dense.metadata_props}
    assert props["input_layout"] == "flat, channels-first"
    assert "(N, C, H, W) = (N, 3, 8, 8) batch, channels-first (NCHW)" in props["input_note"]
    close(run_onnx(tmp_path / "flat.onnx", x.reshape(len(x), -1)), logits, "the Dense+ReLU ONNX file")
    text = to_nnet(flat, tmp_path / "flat.nnet").read_text()
    assert "(N, C, H, W) = (N, 3, 8, 8) batch, channels-first" in text
    loaded = keras.saving.load_model(to_keras(flat, tmp_path / "flat.keras"))
    assert loaded.inputs[0].name == "flat_3x8x8_chw"
    close(np.asarray(loaded(x.reshape(len(x), -1))), logits, "the Dense-only Keras file")


def test_lrn_with_an_even_window_is_refused_for_want_of_a_reference():
    m = model([helper.make_node("LRN", ["x"], ["y"], size=4, name="norm")], (6, 3, 2))
    with pytest.raises(ValueError, match=r"node 'norm' \(LRN\): an even size 4: .* no reference"):
        from_onnx(m)


# ---- memory said before it is spent -------------------------------------------------------------------------

def test_the_estimate_bounds_what_the_matrices_take_and_counts_multiply_adds():
    from hw5.convert.onnx_in.estimate import onnx_estimate
    from hw5.convert.onnx_in.reader import read

    m = model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
               helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("Gemm", ["f", "B"], ["y"], transB=1)],
              (3, 10, 10), inits={"w": weights(8, 3, 3, 3), "B": weights(4, 800)})
    graph = read(m)
    dense, sparse = onnx_estimate(graph), onnx_estimate(graph, sparse=True)
    assert dense["bytes"] == (300 * 800 + 800 * 4) * 4 + 2 * 800 * 4   # two matrices in × out, the Flatten's 2n
    assert sparse["multiply_adds"] == 800 * 27 + 800 * 4                # padding taps counted: an upper bound
    net = from_onnx(m, sparse=True)
    kept = sum(layer.W.data.nbytes + layer.W.indices.nbytes for layer in net.layers if hasattr(layer, "W"))
    assert kept <= sparse["bytes"] <= 8 * kept, (kept, sparse["bytes"])


def test_a_model_past_the_machines_memory_is_refused_before_any_matrix(monkeypatch):
    import hw5.convert.onnx_in as front

    monkeypatch.setattr(front, "available_memory", lambda: 10_000)
    monkeypatch.setattr(front, "translate", lambda *a, **k: pytest.fail("a matrix was built"))
    m = model([helper.make_node("Conv", ["x", "w"], ["y"])], (3, 10, 10), inits={"w": weights(8, 3, 3, 3)})
    with pytest.raises(ValueError, match=r"^from_onnx its matrices, dense would need ~600.0 KiB \(instead: "
                                         r"--sparse .* this machine has .* nothing written \(13,824 multiply-adds"):
        from_onnx(m)


def test_resnet50_at_224_is_said_to_need_more_than_this_machine():
    # the onnx wheel's model-zoo ResNet50 (weights as ConstantOfShape fills): 4.1 G multiply-adds, as its
    # paper says (3.8 G for the convs + the Gemm, here counted with padding taps); dense or sparse, refused
    from hw5.convert.onnx_in.estimate import onnx_estimate
    from hw5.convert.onnx_in.reader import read

    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_resnet50.onnx"
    row = onnx_estimate(read(path), sparse=True)
    assert 3.8e9 <= row["multiply_adds"] <= 4.2e9, row["multiply_adds"]
    assert row["bytes"] >= 8 * 3.8e9
    with pytest.raises(ValueError, match=r"would need ~3\d\.\d GiB"):
        from_onnx(path, sparse=True)


def test_an_unread_second_output_is_fine_and_a_read_one_is_refused():
    # opset-9 exports give Dropout a mask output nobody reads; a model reading it is refused by name
    unread = model([helper.make_node("Dropout", ["x"], ["y", "mask"])], (3,), opset=9)
    assert_equals_onnxruntime(unread, (3,))
    read = model([helper.make_node("Dropout", ["x"], ["d", "mask"], name="drop"),
                  helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
                  helper.make_node("Add", ["d", "m"], ["y"])], (3,), opset=9)
    with pytest.raises(ValueError, match=r"node 'drop' \(Dropout\): its output 'mask' is read by the model"):
        from_onnx(read)


def test_a_product_or_quotient_of_tensors_has_no_dense_relu_form():
    from hw5.convert.relu_only import relu_only

    for op, verb in (("Div", "divides"), ("Mul", "multiplies")):
        m = model([helper.make_node("Relu", ["x"], ["s"]), helper.make_node("Add", ["s", "one"], ["d"]),
                   helper.make_node(op, ["x", "d"], ["y"], name="q")], (4,), inits={"one": np.float32(1.0)})
        with pytest.raises(ValueError, match=rf"layer 'q' \(Merge '{'Divide' if op == 'Div' else 'Multiply'}'\) "
                                             rf"{verb} two tensors, which is not piecewise linear"):
            relu_only(from_onnx(m))


def test_weights_in_an_external_data_file_are_read_and_a_missing_one_is_named(tmp_path):
    path = tmp_path / "big.onnx"
    onnx.save_model(resnet_like(), path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="big.bin", size_threshold=0)
    assert (tmp_path / "big.bin").stat().st_size > path.stat().st_size   # the weights are outside
    assert_equals_onnxruntime(onnx.load(path), (3, 8, 8))
    assert from_onnx(path).layers
    (tmp_path / "big.bin").unlink()
    with pytest.raises(ValueError, match=r"cannot be read as ONNX \(its external-data file is missing\)"):
        from_onnx(path)


def test_an_onnx_op_registered_twice_is_refused_naming_the_one_there():
    from hw5.convert.onnx_in.registry import register_op

    with pytest.raises(ValueError, match=r"Relu already has a translation \(hw5\.convert\.onnx_in\.ops\.activations"
                                         r"\._relu\)"):
        register_op("Relu")(lambda src: ([], src.shape))
