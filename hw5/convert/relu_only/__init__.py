"""The Dense+ReLU-only form: any piecewise-linear NumpyNet — a chain or a graph — as Dense → ReLU → … → Dense.

What verifiers and Dense-only tools (NNet, Marabou, a Keras Sequential of Dense layers) read. Every value the
walk still needs is an affine map of the last hidden layer h (or the input), value = h @ W + b, W sparse
float64 until the end. The walk goes over the net's graph in topological order (relu_only.lower) and lowers
each node by its type's rule, registered beside the type (hw5.convert.rules.LOWER; the primitives in
hw5.convert.affine):

    Dense, Scale        composed into the map: conv, BatchNorm, padding, average pooling folded into the next
                        emitted matrix
    the ReLU family     ReLU, ReLU(max_value, negative_slope), LeakyReLU, PReLU, relu6, leaky_relu,
                        hard_sigmoid as sums of ramps Σ w·relu(s·x + t) (hw5.convert.relus): one hidden layer
    MaxPool, Maximum,   a tree over each window, one hidden layer a level: max(a, b) = b + relu(a − b), b
    Minimum             carried as relu(b) − relu(−b) (relu(b) when b ≥ 0)
    Add, Subtract,      the inputs' maps summed (broadcast by a 0/1 matrix) or side by side: no layer
    Average, Concatenate
    Softmax             the last node only: dropped, the output is the logits (argmax kept)

and refuses by name what no Dense+ReLU network computes: sigmoid, tanh, a softmax before the end, ELU, the
per-sample normalizations (Layer, Group, RMS, Unit), the other smooth activations, the product of two tensors,
ReLU(threshold > 0) (a jump).
A hidden layer carries every value still live in the graph (the skip of a residual block, the other branches
of an inception block): relu(v) − relu(−v) = v, or through the rows of h it reads (relu_only.maps); that is
the width the graph adds (`cost_table`'s `carried`). Before returning, relu_only checks its result against
the net on seeded probe inputs (relu_only.lower.check_lowering). `logits_model(model)` is the Keras model
it equals; `float_error_bound` bounds its float error (relu_only.cost).
"""
from hw5.convert.relu_only.cost import cost_table, float_error_bound, width_and_depth
from hw5.convert.relu_only.logits import logits_model
from hw5.convert.relu_only.lower import CHECK_RTOL, DenseReluNet, check_lowering, relu_only
from hw5.convert.relu_only.maps import Lowering

__all__ = ["relu_only", "logits_model", "cost_table", "width_and_depth", "float_error_bound", "check_lowering",
           "CHECK_RTOL", "DenseReluNet", "Lowering"]
