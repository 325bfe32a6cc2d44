"""relu_only(net): the walk over the net's graph, and its self-check.

The nodes are lowered in their topological order (node k = (net.layers[k], net.inputs[k]), INPUT the net's
input); only the nodes the output depends on, and a last softmax is left out (the
output is the logits). `Lowering.live` holds every node's value for as long as a later node reads it — a
branch, the skip of a residual block, a tensor read by several layers — and each hidden layer a rule emits
carries them all (relu_only.maps). The result is one chain Dense → ReLU → … → Dense, checked before it is
returned: on PROBE_INPUTS seeded N(0, 1) inputs (hw5.convert.inspect's, as from_keras's self-check) its
output must equal the net's logits within CHECK_RTOL of their largest |value|, else ValueError.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from hw5.convert.affine import Affine, Value
from hw5.convert.inspect import PROBE_INPUTS, PROBE_SEED
from hw5.convert.layers import ReLU, Softmax
from hw5.convert.network import INPUT, NumpyNet
from hw5.convert.reference import OUTPUT_RTOL
from hw5.convert.relu_only.maps import Lowering, dense
from hw5.convert.rules import LOWER, lookup, refuse_lowering

# the self-check's tolerance, relative to the largest |logit| on the probe inputs, by the net's dtype: a network's
# output against its reference, hw5.convert.reference.OUTPUT_RTOL (its comment gives the reason; `hw5 convert`
# checks every output against the same figure).
CHECK_RTOL = OUTPUT_RTOL


@dataclass(repr=False)
class DenseReluNet(NumpyNet):
    """relu_only's result: a chain Dense, ReLU, …, Dense. `carried[k]`: how many of layer k's neurons carry the
    values of other branches past it (0 for the output layer) — the width the graph adds."""
    carried: list = field(default_factory=list)


def _walk(state: Lowering, layers: list, inputs: list, out: int) -> Value:
    """Lower the nodes `out` depends on; returns its Value. Each node starts as soon as its inputs are done
    (in the nodes' order); the rules in flight share each hidden layer (one yield each), so parallel branches'
    non-linear layers sit side by side: the depth is the longest path's, not the sum over branches."""
    needed, todo = set(), [out]
    while todo:                                   # the nodes the output depends on
        k = todo.pop()
        if k != INPUT and k not in needed:
            needed.add(k)
            todo += inputs[k]
    readers = {INPUT: 0, **{k: 0 for k in needed}}   # node -> how many needed nodes have still to start reading it
    for k in needed:
        for i in set(inputs[k]):
            readers[i] += 1
    readers[out] += 1                             # the output is kept to the end
    if readers[INPUT]:
        state.live[INPUT] = Value(Affine.identity(state.n_inputs))
    waiting, running, done = sorted(needed), {}, {INPUT}
    while waiting or running:
        for k in list(waiting):                   # in order: a node's readers come after it
            if not all(i in done for i in inputs[k]):
                continue
            waiting.remove(k)
            rule = lookup(LOWER, layers[k])
            if rule is None:
                raise refuse_lowering(layers[k], "has no Dense+ReLU lowering (a layer type relu_only does not know)")
            args = [state.live[i] for i in inputs[k]]
            for i in set(inputs[k]):
                readers[i] -= 1
                if not readers[i]:                # read for the last time: not carried any further
                    del state.live[i]
            _advance(state, k, rule(state, layers[k], *args), None, running, done)
        if running:                               # one hidden layer for every rule in flight
            requests = list(running.items())
            parts = [part for _, (_, (p, _)) in requests for part in p]
            outs = state.hidden(parts, "+".join(name for _, (_, (_, name)) in requests))
            start = 0
            for k, (gen, (p, _)) in requests:
                del running[k]
                _advance(state, k, gen, outs[start:start + len(p)], running, done)
                start += len(p)
    return state.live[out]


def _advance(state: Lowering, k: int, step, sent, running: dict, done: set) -> None:
    """Run node k's rule (a Value, or a generator: send it the maps of its last request) to its next request
    (kept in `running`) or to its Value (into state.live)."""
    if not inspect.isgenerator(step):
        value = step
    else:
        try:
            running[k] = (step, next(step) if sent is None else step.send(sent))
            return
        except StopIteration as stop:
            value = stop.value
    state.live[k] = value
    done.add(k)


def relu_only(net: NumpyNet, check: bool = True) -> DenseReluNet:
    """`net` (hw5.numpy_net.from_keras, or any NumpyNet) as Dense, ReLU, Dense, …, Dense in its
    dtype, whose output is the logits when the net ends with a softmax. Matrices less than a quarter non-zero
    are scipy.sparse CSR. Raises ValueError naming the first node it cannot lower; `check=True` (the default)
    compares the result with the net on PROBE_INPUTS seeded inputs and raises ValueError if they differ
    beyond CHECK_RTOL (`check=False` returns it unchecked)."""
    if not isinstance(net, NumpyNet):
        raise TypeError(f"net must be a NumpyNet (hw5.numpy_net.from_keras), got {type(net).__name__}")
    if not isinstance(check, bool):
        raise TypeError(f"check must be True or False, got {check!r}")
    layers, inputs, out = list(net.layers), list(net.inputs), net.output
    if out != INPUT and isinstance(layers[out], Softmax):
        out = inputs[out][0]                      # the logits
    state = Lowering(math.prod(net.input_shape), np.dtype(net.dtype))
    final = _walk(state, layers, inputs, out)
    last = dense(final.map, "+".join(state.pending) or "output", state.dtype)
    shape = net.output_grid()
    last.out_shape = (math.prod(shape),)
    emitted = state.layers + [last]
    for i, layer in enumerate(emitted):
        if isinstance(layer, ReLU):
            layer.out_shape = emitted[i - 1].out_shape
    lowered = DenseReluNet(net.input_shape, emitted, net.dtype, shape, {}, [layer.name for layer in emitted],
                           carried=state.carried + [0], input_layout=net.input_layout)
    if check:
        check_lowering(net, lowered, out)
    return lowered


def check_lowering(net: NumpyNet, lowered: NumpyNet, logits) -> None:
    """ValueError unless `lowered` gives node `logits` of `net` (a layer's index, or INPUT) on PROBE_INPUTS
    seeded N(0, 1) inputs within CHECK_RTOL of its largest |value| (of the largest value the net computes, if
    that is 0)."""
    dt = np.dtype(net.dtype)
    x = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_INPUTS, *net.input_shape)).astype(dt)
    outs = net.forward(x)
    theirs = net.value(outs, logits, x).astype(np.float64)
    mine = lowered.forward(x)[-1].astype(np.float64)
    scale = float(np.abs(theirs).max(initial=0.0)) or max((float(np.abs(o).max(initial=0.0)) for o in outs),
                                                           default=0.0)
    diff, bound = float(np.abs(mine - theirs).max(initial=0.0)), CHECK_RTOL[dt] * scale
    if not diff <= bound:                         # NaN too
        raise ValueError(f"relu_only: the Dense+ReLU network it built is not the net: its output is off by "
                         f"{diff:.3e} from the net's logits, beyond rtol {CHECK_RTOL[dt]:g} of their largest |value| "
                         f"{scale:.3e}, on {PROBE_INPUTS} seeded N(0, 1) inputs — a wrong lowering "
                         f"(relu_only(net, check=False) returns it anyway)")
