"""The ONNX front end's registry: one translation function per ONNX op type, and what a translation sees.

    OPS_IN               ONNX op type -> fn(NodeSource) -> (NumPy layers, the tensor's shape), or for an op
                         with several outputs (Split) a list of them, one per output
    register_op("Conv")  the decorator that adds a translation; a name already there is refused
    NodeSource           one node: its attributes, its constant inputs, its tensor inputs' shapes (without the
                         batch axis), the build options (dtype, sparse, the dense limit) of hw5.convert.registry
    evaluate(node, values, opset)
                         the node run by the `onnx` wheel's reference implementation on constant inputs
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw5.convert.onnx_in.reader import attributes
from hw5.convert.registry import Source, register

OPS_IN: dict = {}
# the batch size a folded Shape reports when the file's batch axis is symbolic: a prime no real size is, so a
# Reshape target's first entry is recognisably the batch
BATCH_STAND_IN = 104_729


def register_op(*op_types: str):
    """Decorator: fn becomes the translation of each ONNX op type in `op_types` (a second one is refused):
    hw5.convert.registry.register into OPS_IN."""
    return register(*op_types, table=OPS_IN)


@dataclass(frozen=True)
class NodeSource(Source):
    """One ONNX node as its translation sees it: `config` its attributes, `consts` per input the constant
    (ndarray) or None for a tensor the network computes, `shapes` per input its shape (None for a constant),
    `shape` the first tensor input's shape."""
    node: object = None          # the onnx NodeProto
    consts: tuple = ()
    opset: int = 0
    batch: int = BATCH_STAND_IN  # the batch size Shape reported (the file's, or BATCH_STAND_IN)
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name or self.node.output[0]

    @property
    def op(self) -> str:
        return self.node.op_type

    def refuse(self, what: str) -> ValueError:
        return ValueError(f"node {self.name!r} ({self.op}): {what}")

    def const(self, k: int, what: str = "input"):
        """Input k as a constant array; refused if the network computes it (or None if the input is absent)."""
        if k >= len(self.consts) or not self.node.input[k]:
            return None
        if self.consts[k] is None:
            raise self.refuse(f"its {what} ({self.node.input[k]!r}) must be a constant (an initializer), not a "
                              f"tensor the network computes")
        return self.consts[k]

    def tensor_inputs(self) -> list[int]:
        return [k for k, c in enumerate(self.consts) if c is None and self.node.input[k]]


def evaluate(node, values: list, opset: int) -> list[np.ndarray]:
    """The node run by onnx.reference on constant inputs."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [f"in{k}" if name else "" for k, name in enumerate(node.input)]
    one = helper.make_node(node.op_type, names, [f"out{k}" for k in range(len(node.output))],
                           domain=node.domain, **attributes(node))
    graph = helper.make_graph([one], "fold", [helper.make_tensor_value_info(n, 0, None) for n in names if n],
                              [helper.make_tensor_value_info(f"out{k}", 0, None) for k in range(len(node.output))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: np.asarray(v) for n, v in zip(names, values, strict=True) if n}
    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]
