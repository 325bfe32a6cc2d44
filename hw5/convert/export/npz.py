"""A NumpyNet as an .npz of its arrays — any layer type, any graph — loadable and runnable with NumPy alone.

A layer is stored as its dataclass fields, so a layer type needs no encoding of its own:

    graph        JSON (a 0-d string array): input_shape, output (−1: the input), dtype and per layer its kind
                 (the class name, of the nearest class with rules: a BandedDense is stored as the Dense it is),
                 inputs (−1: the input) and every field that is not an array (names, grids, pool sizes,
                 slopes…; tuples as lists)
    L{i}.{f}     layer i's array field f (a matrix W, a bias b, a diagonal d, PReLU's alpha, γ, β…) — or, for
                 a matrix stored sparse, L{i}.{f}.rows, .cols, .values, .shape (W[rows, cols] = values)

`npz_predict(path, x)` rebuilds each layer from its kind and fields (the classes of hw5.convert.layers, relus,
activations, merges: NumPy code) and runs the graph; it imports no deep-learning framework.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import scipy.sparse as sp

from hw5.convert.export.files import atomic_write
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.rules import BOUND, LOWER, ONNX

FILE_INPUT = -1   # the input node in the file's JSON (INPUT in the net)


def _plain(value):
    """A field value as JSON: numbers and strings as they are, tuples as lists, NumPy scalars as Python's."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _node(i):
    return FILE_INPUT if i == INPUT else int(i)


def npz_arrays(net: NumpyNet) -> dict[str, np.ndarray]:
    """The arrays `to_npz` writes (see the module)."""
    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet, got {type(net).__name__}")
    arrays, layers, classes = {}, [], set(layer_classes().values())
    for i, layer in enumerate(net.layers):
        kind = next((cls for cls in type(layer).__mro__ if cls in classes), None)   # a BandedDense is a Dense
        if kind is None or not dataclasses.is_dataclass(layer):
            raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no .npz export")
        plain = {}
        for f in dataclasses.fields(kind):     # the constructor's fields (a BandedDense's bands are Dense's W)
            value = getattr(layer, f.name)
            if sp.issparse(value):
                coo = value.tocoo()
                arrays.update({f"L{i}.{f.name}.rows": coo.row, f"L{i}.{f.name}.cols": coo.col,
                               f"L{i}.{f.name}.values": coo.data, f"L{i}.{f.name}.shape": np.array(coo.shape)})
            elif isinstance(value, np.ndarray):
                arrays[f"L{i}.{f.name}"] = value
            else:
                plain[f.name] = _plain(value)
        layers.append(dict(kind=kind.__name__, inputs=[_node(k) for k in net.inputs[i]], fields=plain))
    graph = dict(input_shape=_plain(tuple(net.input_shape)), input_layout=net.input_layout, output=_node(net.output),
                 output_shape=_plain(net.output_grid()), dtype=np.dtype(net.dtype).name, layers=layers)
    arrays["graph"] = np.array(json.dumps(graph))
    return arrays


def to_npz(net: NumpyNet, path):
    """Write `net`'s arrays to `path` (.npz, uncompressed, atomically); returns the path."""
    if not str(path).endswith(".npz"):
        raise ValueError(f"path must end with .npz, got {str(path)!r}")
    arrays = npz_arrays(net)
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def layer_classes() -> dict[str, type]:
    """The NumPy layer classes by name: every class with a rule (hw5.convert.rules)."""
    return {cls.__name__: cls for table in (ONNX, LOWER, BOUND) for cls in table}


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def npz_net(path) -> NumpyNet:
    """The NumpyNet stored by `to_npz` at `path`."""
    with np.load(path, allow_pickle=False) as f:
        a = dict(f)
    graph, classes = json.loads(str(a.pop("graph"))), layer_classes()
    layers = []
    for i, spec in enumerate(graph["layers"]):
        fields = {name: _tuples(value) for name, value in spec["fields"].items()}
        for key in [k for k in a if k.startswith(f"L{i}.")]:
            name, _, part = key[len(f"L{i}."):].partition(".")
            if not part:
                fields[name] = a[key]
            elif part == "values":
                stem = f"L{i}.{name}."
                fields[name] = sp.csr_matrix((a[stem + "values"], (a[stem + "rows"], a[stem + "cols"])),
                                             shape=tuple(a[stem + "shape"]))
        layers.append(classes[spec["kind"]](**fields))
    node = lambda k: INPUT if k == FILE_INPUT else k   # noqa: E731
    return NumpyNet(tuple(graph["input_shape"]), layers, graph["dtype"], tuple(graph["output_shape"]),
                    inputs=[[node(k) for k in spec["inputs"]] for spec in graph["layers"]],
                    output=node(graph["output"]), input_layout=graph.get("input_layout", "channels_last"))


def npz_predict(path, x) -> np.ndarray:
    """Run the network stored by `to_npz` on x (N, *input_shape), NumPy only; returns (N, outputs), flat."""
    net = npz_net(path)
    out = net.predict(np.asarray(x).reshape(len(x), *net.input_shape))
    return out.reshape(len(out), -1)
