"""Exports of a NumpyNet that other people's code reads back: ONNX (onnxruntime, Marabou), NNet (sisl's
text format, Marabou), a Keras Sequential of Dense layers, and an .npz of the matrices (NumPy alone).

    to_onnx(net, path)    any net's graph: every linear map a Gemm with its explicit matrix (or its entries,
                          Gather/ReduceSum, past 2 GB dense); merges, the ReLU family, activations, MaxPool
                          as ONNX's own ops, one function per layer type (hw5.convert.rules.ONNX)  — run_onnx(path, x)
    to_nnet(net, path)    a Dense/ReLU chain (hw5.convert.relu_only) with input bounds and normalisation
    to_keras(net, path)   Dense layers with their activations, saved as .keras  — keras.saving.load_model
    to_npz(net, path)     any net: each layer's dataclass fields and the graph  — npz_predict(path, x), NumPy only

Each writes to a temporary name beside `path` and renames it (hw5.convert.export.files.atomic_write): a
failed export leaves no partial file.
"""
from hw5.convert.export.files import atomic_write  # noqa: F401
from hw5.convert.export.keras_dense import to_keras  # noqa: F401
from hw5.convert.export.nnet import to_nnet  # noqa: F401
from hw5.convert.export.npz import npz_predict, to_npz  # noqa: F401
from hw5.convert.export.onnx_graph import run_onnx, to_onnx  # noqa: F401

__all__ = ["atomic_write", "npz_predict", "run_onnx", "to_keras", "to_nnet", "to_npz", "to_onnx"]
