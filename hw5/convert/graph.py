"""Keras model → NumpyNet (hw5.convert.network): `translate(model, dtype, sparse, dense_limit)` walks a Keras
model — a Sequential one layer after layer, a functional one node by node in Keras' own topological order
(model._nodes_by_depth, deepest first) — and translates every node through the registries: TRANSLATIONS (one
input), MERGES (several), OPS (keras.ops), after refusing any layer whose quantized call is not a linear map;
every translation reads its variables from one dict, `hw5.convert.variables.model_variables` (LoRA factors
merged, weight-only quantization dequantized).
"""
from __future__ import annotations

import numpy as np

import hw5.convert.activations  # noqa: F401  (the op-family modules fill the registry's and the rules' tables)
import hw5.convert.conv  # noqa: F401
import hw5.convert.gathers  # noqa: F401
import hw5.convert.merges  # noqa: F401
import hw5.convert.normalization  # noqa: F401
import hw5.convert.relus  # noqa: F401
import hw5.convert.translations  # noqa: F401
from hw5.convert.layouts import CHANNELS_FIRST, channels_first
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.registry import MERGES, OPS, TRANSLATIONS, Source
from hw5.convert.variables import model_variables, refuse_quantized


def _input_grid(model) -> tuple:
    """The model's input shape without the batch axis, as Keras has it — (H, W, C) an image, (L, C) a
    sequence, (n,) a vector — refusing a variable size."""
    try:
        shape = tuple(model.input_shape[1:])
    except AttributeError:     # a Sequential model built without keras.Input and never called
        raise ValueError(f"model {model.name!r} has no input shape yet: build it on keras.Input(shape=...) or "
                         f"call it once") from None
    if not shape:
        raise ValueError(f"model has the input shape {model.input_shape}: no axis besides the batch (one number a "
                         f"sample), so there are no features for a fully-connected network to map; give the input "
                         f"an axis (keras.Input(shape=(1,)))")
    if any(d is None for d in shape):
        raise ValueError(f"model has the input shape {model.input_shape}: a fully-connected network needs a fixed "
                         f"input size; rebuild it on keras.Input(shape=(H, W, C)) and copy the weights "
                         f"(new.set_weights(model.get_weights()))")
    if 0 in shape:
        raise ValueError(f"model has the input shape {model.input_shape}: an axis of size 0, so an input holds no "
                         f"values and there is no network to build")
    return tuple(int(d) for d in shape)


def _net_dtype(layers, dtype) -> np.dtype:
    if dtype is None:
        dtype = layers[0].compute_dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32, float64 or None (the model's), got {dtype!r}")
    return dt


def _nodes(model) -> list[tuple[object, list, list]]:
    """[(operation, input tensors, call args)] in topological order, InputLayers left out; args holds None
    where a tensor is passed (for keras.ops nodes with constants)."""
    if type(model).__name__ == "Sequential":   # a chain by construction (a loaded one's layer.input is not wired)
        previous, nodes = "input", []
        for layer in model.layers:             # a Sequential model's layers never include its InputLayer
            nodes.append((layer, [previous], [None]))
            previous = layer
        return nodes
    nodes = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if type(node.operation).__name__ == "InputLayer":
                continue
            args = [None if _is_tensor(a) else a for a in tree_flatten((node.arguments.args, node.arguments.kwargs))]
            nodes.append((node.operation, list(node.arguments.keras_tensors), args, node.outputs))
    return nodes


def tree_flatten(value) -> list:
    """The leaves of nested lists, tuples and dicts (dict values in key order), as keras.tree.flatten."""
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in tree_flatten(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in tree_flatten(value[key])]
    return [value]


def _is_tensor(value) -> bool:
    return type(value).__name__ == "KerasTensor"


def translate(model, dtype, sparse: bool, dense_limit: int) -> NumpyNet:
    """The Keras model as a NumpyNet, every node through the registries (see the module); from_keras checks
    the arguments and gives the defaults."""
    chain = type(model).__name__ == "Sequential"
    if not chain and not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"model of type {type(model).__name__} has no graph of layers (a subclassed model?): "
                         f"build it with keras.Sequential or the functional API")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not [op for op in getattr(model, "operations", layers) if type(op).__name__ != "InputLayer"]:
        raise ValueError("model has no layers to translate")
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if not chain and (len(inputs) != 1 or len(outputs) != 1):
        raise ValueError("model must have one input and one output")
    refuse_quantized(model)                # a quantized call no matrix reproduces, before any translation runs
    if not layers and dtype is None:       # only keras.ops nodes: the input's dtype
        dtype = inputs[0].dtype
    dt = _net_dtype(layers or model.layers, dtype)
    variables = model_variables(model)     # what every src.param reads: LoRA merged, weight-only dequantized
    grid = _input_grid(model)
    layout = len(grid) == 3 and any(layer.get_config().get("data_format") == CHANNELS_FIRST for layer in layers)
    net = NumpyNet(input_shape=grid, compute_dtype=dt, input_layout=CHANNELS_FIRST if layout else "channels_last")
    env: dict = {"input": (INPUT, grid)} if chain else {id(inputs[0]): (INPUT, grid)}
    for node in _nodes(model):
        op, tensors, args = node[:3]
        kind = type(op).__name__
        keys = tensors if chain else [id(t) for t in tensors]
        try:
            got = [env[k] for k in keys]
        except KeyError:
            raise ValueError(f"operation {op.name!r} of type {kind} reads a tensor that is not computed from the "
                             f"model's input") from None
        shapes = tuple(shape for _, shape in got)
        is_op = not hasattr(op, "get_weights")                       # a keras.ops node, not a layer
        table = OPS if is_op else MERGES if kind in MERGES else TRANSLATIONS
        if kind not in table:
            what = "keras.ops call" if is_op else "layer"
            supported = sorted(OPS) if is_op else sorted({*TRANSLATIONS, *MERGES})
            raise ValueError(f"{what} {op.name!r} of type {kind} has no NumPy translation; supported: "
                             f"{', '.join(supported)}")
        if not chain and len(node[3]) != 1:
            raise ValueError(f"{kind} {op.name!r} has {len(node[3])} outputs (one supported)")
        config = op.get_config() if not is_op else {}
        src = Source(op, config, shapes[0], variables, dt, sparse=sparse, limit=dense_limit, shapes=shapes)
        if is_op:
            new, shape = table[kind](src, args)
        elif config.get("data_format") == CHANNELS_FIRST:
            new, shape = channels_first(table[kind], src)
        else:
            new, shape = table[kind](src)
        first = len(net.layers)
        for k, layer in enumerate(new):
            net.layers.append(layer)
            net.inputs.append([i for i, _ in got] if k == 0 else [first + k - 1])
            net.sources.append(op.name)
        index = len(net.layers) - 1 if new else got[0][0]
        if not is_op:
            net.keras_outputs[op.name] = index
        out_key = op if chain else id(node[3][0])
        env[out_key] = (index, shape)
    final = env[list(env)[-1]] if chain else env[id(outputs[0])]
    net.output, net.output_shape = final
    return net
