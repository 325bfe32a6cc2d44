"""(b) The general converter: any supported Keras or ONNX CNN (a chain or a graph) → an explicit-matrix NumPy network.

It builds on the homework's layer (hw5.homework: the geometry, the Toeplitz builders, the window loop) and never
on the evidence layer (hw5.deliver). In the order the data flows:

    registry.py      Source (a Keras layer as a translation sees it), TRANSLATIONS, MERGES, OPS, register()
                     (duplicates refused); the matrix builder and the dense limit
    rules.py         what each NumPy layer type does beyond its forward pass — ONNX, LOWER, BOUND, ACTIVATION,
                     keyed by class, registered beside the class; error_bound
    affine.py        the Dense+ReLU lowering's primitives (Affine, Value, ramps, max_tree)
    layers.py        the NumPy layers Dense, BandedDense, Scale, MaxPool, ReLU, Softmax, Sigmoid, Tanh + rules
    conv.py          Conv2D (groups), DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, their 1-D siblings
                     (Conv1D …), Dense on any rank
    translations.py  InputLayer, Flatten, pooling (adaptive too), padding, cropping, upsampling (1-D/2-D),
                     BatchNorm, Normalization, Rescaling, Reshape, Dropout and noise layers
    resize_weights.py  TF's per-axis resize weights (bilinear, bicubic, lanczos3/5, area) UpSampling2D reads
    merges.py        Add … Concatenate, and the keras.ops arithmetic nodes (their layers and rules beside them)
    relus.py         ReLU and its variants, LeakyReLU, PReLU (ClippedReLU, PReLU layers + rules)
    activations.py   Activation, Softmax, ELU; ACTIVATIONS (the `activation=` names); Elementwise, AlphaELU,
                     LogSoftmax layers + rules
    normalization.py LayerNormalization (rms_scaling too), GroupNormalization, RMSNormalization,
                     UnitNormalization: the LayerNorm, RMSNorm and UnitNorm layers + rules
    gathers.py       Gather (Permute, RepeatVector, channels-first flattening) and WindowMax layers + rules
    layouts.py       data_format="channels_first": the channels-last translation re-indexed
    linear_maps.py   average pooling, zero padding and BatchNorm as dense matrices, adaptive pooling's
                     windows; `compose`
    sparse.py        the Toeplitz matrix as scipy.sparse CSR
    variables.py     what every translation reads (LoRA merged, weight-only int8/int4 dequantized) and the
                     quantized layers refused before any translation runs
    network.py       NumpyNet: layers on a graph (node = layer + the nodes it reads, INPUT the input), one loop
    graph.py         `translate(model)`: the Keras graph walked node by node through the registry
    fold.py          `from_keras(model, dtype, fuse, sparse, dense_limit, check)`: translate, fold, fuse, check
    onnx_in/         `from_onnx(path or ModelProto, …)`: the ONNX front end filling the same NumpyNet (its own
                     registry of ONNX op types, op families, the self-check against onnxruntime)
    inspect.py       layer_by_layer, layer_table, banded, float64_twin, self_check: checks and views of a net
    reference.py     the Keras reference call (one image at a time) and the network-output tolerance
    relu_only/       the Dense+ReLU-only form; export/ the files other tools read; estimate, robustness,
                     engines, verify: sizes before work and the L∞ questions
"""
from hw5.convert.fold import from_keras  # noqa: F401  (also registers the converter's translations)
from hw5.convert.onnx_in import from_onnx  # noqa: F401  (and the ONNX front end's rules)
