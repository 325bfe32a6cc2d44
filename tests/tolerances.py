"""Every float tolerance of the suite, per dtype, each with the reason for its size.

Exact claims (Toeplitz entries are copies of kernel weights, max-pool picks an input) use
assert_array_equal and need no tolerance.
"""
import numpy as np

from hw5.convert.inspect import LAYER_RTOL

EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-07
EPS64 = float(np.finfo(np.float64).eps)  # 2.22e-16
TINY32 = float(np.finfo(np.float32).tiny)  # 1.18e-38, the smallest normal float32
TINY64 = float(np.finfo(np.float64).tiny)

# Softmax of one image, float32, TF vs NumPy: the 10816-term dense sums run in different orders
# (oneDNN vs BLAS), moving each probability (≤ 1) by a few float32 ulps (~1e-7); the bound.
SOFTMAX_F32_ONE_IMAGE = 1e-6
# Same over all 10,000 test images: the worst of 10^5 probabilities sits further out in the tail.
SOFTMAX_F32_ALL_IMAGES = 2e-6
# float64 throughout (same weights, exactly widened): order differences now cost ~1e-16 per step.
SOFTMAX_F64_ALL_IMAGES = 1e-12

# A test accuracy counted twice from the same softmax (model.evaluate's float32 running mean of 10,000 0/1
# matches, and NumPy's mean of argmax matches): one image is 1e-4, the float32 mean's rounding ~1e-7 — any
# disagreement about one image shows, rounding does not.
ACCURACY_COUNTS = 1e-6

# Two correct float32 convolutions differ by at most the classic summation bound
# |fl(Σ a_i b_i) − Σ a_i b_i| ≤ γ_n Σ |a_i b_i|, γ_n ≈ n·eps/2, for each of them (hence a factor 2 · eps/2 = eps)
# and with n = kh·kw·C_in products plus the bias. Compared elementwise against that scale.
# That bound is relative and says nothing below the smallest normal number `tiny`: TensorFlow's oneDNN
# flushes subnormal results to zero (FTZ) where NumPy keeps them (x = 0.75 times a kernel of `tiny`s gives
# 0 against 1.76e-38). Each of the n products and n additions (n − 1 between products, one for the bias)
# can lose < tiny to a flush, and gradual underflow on either side costs < eps·tiny per operation, so
# the absolute floor is 2n·tiny + 2·2n·eps·tiny < (2n + 1)·tiny. Inputs themselves are never subnormal
# (strategies.finite_floats), so flushing inputs (DAZ) costs nothing.
def conv_f32_atol(n_terms: int, abs_scale: np.ndarray) -> np.ndarray:
    return (n_terms + 1) * EPS32 * abs_scale + (2 * n_terms + 1) * np.finfo(np.float32).tiny


# Toeplitz matmul vs the float64 loop convolution in the tests: both float64, inputs in [-2, 2];
# sums of ≤ 5·5·4 = 100 products stay ~1e-14 off; the bound.
CONV_F64_VS_LOOP = 1e-12


# ---- whole networks: any CNN from_keras translates, NumPy vs Keras ------------------------------------
# Keras' exp/tanh/logistic (Eigen's vectorized kernels under TensorFlow) and NumPy's libm each round a
# transcendental result within a few ulps; 8 ulps covers both sides with room.
ACTIVATION_ULPS = 8
# NumPy's float32 softmax of exactly representable logits against the float64 formula: the shift by the
# max is exact, exp rounds within ACTIVATION_ULPS ulps, the sum and the division round once each; the
# probabilities are ≤ 1, so an absolute (ACTIVATION_ULPS + 2)·eps covers it.
SOFTMAX_F32_VS_F64 = (ACTIVATION_ULPS + 2) * EPS32


def network_atol(net, magnitudes, x, eps: float, tiny: float) -> np.ndarray:
    """Per-element bound on |NumPy − Keras| for a model's output on x, when both compute in the
    precision of `eps` (machine epsilon) and `tiny` (its smallest normal number).

    `net` is the model's float64 NumpyNet (float64 stands in for exact arithmetic: a, the activations);
    `magnitudes` the float64 NumpyNet of its magnitudes (tests.helpers.magnitude_net: every weight
    |w|, BatchNorm means −|μ|), whose matrices are |W| and whose biases are |b|·|s| + |β| + |μ·s| — the
    terms Keras rounds when it computes BatchNormalization's shift β − μ·s that we fold into the bias.
    A running error analysis, e bounding the difference that enters a layer — each layer type's step is
    registered beside it (hw5.convert.rules.BOUND; hw5.convert.layers lists them), here with 4 roundings a
    linear layer adds beyond its sum (the bias add, BN's multiply, shift and rsqrt, the rounding of a folded
    weight W·s), no growth of e through the matrices (Keras and NumPy multiply by the same rounded ones), and
    ACTIVATION_ULPS for an elementwise transcendental:
      Dense (n non-zeros per column): each side's sum errs by ≤ γ_n·Σ|w·a| (γ_n ≈ n·eps/2); flush-to-zero
        (oneDNN) < tiny per operation:  e' = e·|W| + (n + 4)·eps·(|a|·|W| + |b|) + (2n + 1)·tiny
      Scale (BatchNorm after a non-linear layer): e' = e·|s| + 4·eps·(|a|·|s| + |t|) + 4·tiny
      ReLU, MaxPool: 1-Lipschitz and exact: e' = e (pooled like a)
      Sigmoid (Lipschitz 1/4), Tanh (1): e' = L·e + ACTIVATION_ULPS·eps·|out|
      Softmax: |Δp_i| ≤ p_i·(|Δz_i| + Σ_j p_j |Δz_j|) ≤ 2·p_i·max_j e_j, plus its own rounding.
    """
    from hw5.convert.rules import Precision, error_bound

    e = error_bound(net, magnitudes, x, Precision(eps, tiny, extra=4, growth=0.0, ulps=ACTIVATION_ULPS))
    return e.reshape(len(x), *net.output_shape)


# Layer by layer (hw5.compare.layer_by_layer), relative to the layer's largest output: the product's own
# default, hw5.convert.inspect.LAYER_RTOL (its comment gives the reason: ~√n·eps of a 10,816-term sum, ×10),
# by reference — a test's tolerance is the check the product runs, never a copy of its figure.
LAYER_F32_RTOL = LAYER_RTOL[np.dtype(np.float32)]
LAYER_F64_RTOL = LAYER_RTOL[np.dtype(np.float64)]


# A sum of n products in precision eps, against another order of the same sum (TF vs NumPy): each errs by
# ≤ γ_n·Σ|terms| with γ_n ≈ n·eps/2, so the two differ by ≤ n·eps·Σ|terms|; +2 for a divisor's or a
# scale's own rounding. abs_scale is Σ|terms| (the same map applied to |x|). Against TensorFlow pass
# `tiny`: its CPU kernels flush subnormal results to zero where NumPy keeps them (an average of 0 and the
# smallest normal float32, 1.18e-38, is 5.9e-39 in NumPy and 0 in tf.nn.avg_pool2d; found by hypothesis),
# and as for conv_f32_atol each of the n products/additions and the final division or scale can lose < tiny.
def sum_atol(n_terms: int, abs_scale, eps: float, tiny: float = 0.0) -> np.ndarray:
    return (n_terms + 2) * eps * np.asarray(abs_scale) + (2 * n_terms + 1) * tiny


# Part 1's softmax, float32, TF vs NumPy, all 10,000 test images: the logits come out of a few layers of
# sums (up to a few thousand terms, BatchNorm folded on our side) and each side's logits err by a few
# float32 ulps of the largest logit (|z| ≤ ~22, ulp 1.9e-6; ~8e-6 measured); a probability moves by
# ≤ ½·max|Δz| (Σ_j |∂p_i/∂z_j| = 2p_i(1 − p_i) ≤ ½), so each side ≤ 4e-6 and the two differ by ≤ 8e-6.
PART1_SOFTMAX_F32_ALL_IMAGES = 1e-5


# ---- the Dense+ReLU-only form (hw5.convert.relu_only) and its exports ----------------------------------
# float64 form vs the float64 Keras logits, relative to the largest |logit| of the batch: the bound;
# both sides round sums of a few hundred terms at ~1e-16 each, so 1e-9 leaves 10^6 of room and still sees
# any wrong entry (O(1) of the scale).
RELU_ONLY_F64_RTOL = 1e-9


# float32 form vs the exact logits (the float64 Keras model stands in): the form's own running error bound,
# hw5.convert.relu_only.float_error_bound (each Dense with n non-zeros a column adds (n + 2)·eps·(|a|·|W| + |b|),
# matrices rounded once, ReLU exact), plus the float64 reference's own RELU_ONLY_F64_RTOL.
def relu_only_f32_atol(net64, x, reference) -> np.ndarray:
    from hw5.convert.relu_only import float_error_bound

    bound = float_error_bound(net64, x, EPS32, TINY32).reshape(np.shape(reference))
    return bound + RELU_ONLY_F64_RTOL * float(np.abs(reference).max())


# a float32 model's Dense+ReLU form vs its own float32 Keras logits, relative to the largest |logit|: both sides
# round float32 sums of ≤ a few hundred terms (~√n·eps, 2e-6) in different orders and through different
# intermediate values (the form's composed matrices, Keras' layer by layer); ×50 for cancellation. A wrong
# lowering is off by O(1).
RELU_ONLY_F32_RTOL = 1e-4


# onnxruntime (MLAS) and NumPy (OpenBLAS) run the same float32 Gemm in different orders; relative to the
# largest |output| of the batch, as hw5 convert's TOLERANCE: ~√n·eps for sums of n ≤ 10,816 terms, ×10.
EXPORT_F32_RTOL = 1e-4
# Marabou's evaluateWithMarabou does not compute the net in floating point: it solves the query with the
# inputs fixed, by simplex, whose assignments meet each equation and ReLU up to its solver tolerances;
# measured ≤ 3e-6 on logits of size ~10 (small_cnn); 1e-4 of the largest |logit| leaves ×30 and still
# sees a wrong parse (O(1)).
MARABOU_EVAL_RTOL = 1e-4
# A MILP reader's outputs with the inputs fixed (tests/test_milp.py): no floating-point forward pass either,
# but a solver's point that meets each constraint within its feasibility tolerance (Gurobi 1e-6, HiGHS 1e-7,
# absolute) and each big-M ReLU's binary within the integrality tolerance (1e-5, times a big-M of ≲ 10 here:
# ≤ 1e-4 a neuron where presolve leaves the binary free); measured 2.2e-6 from all four readers, equal among
# them to 4e-15: Keras' own float32 rounding of logits up to ~16, the solvers' slack below it. 1e-4 of the
# largest |logit| leaves ×700 and still sees a dropped bias, a 1 % weight or a wrong flattening order (O(0.1)).
MILP_EVAL_RTOL = 1e-4
# A counterexample from a solver lies in the box [x − ε, x + ε] ∩ [0, 1] up to the bounds' feasibility
# tolerance (Gurobi 1e-6, HiGHS 1e-7; Marabou's, which tests/test_verify.py allows the same 1e-6), and Keras
# replays it in float32 (a value in [0, 1] moves ≤ 6e-8): 1e-6.
MILP_BALL_ATOL = 1e-6
# Two MILP solvers' optima of one query (max y_j − y_c on the ball): each stops at a relative MIP gap of 1e-4
# (Gurobi's MIPGap, HiGHS' mip_rel_gap, defaults), so the two incumbents differ by ≤ 2e-4 of the optimum's
# size, plus MILP_EVAL_RTOL-sized feasibility slack; ×5: 1e-3 of max(|optimum|, 1).
MILP_OPTIMUM_RTOL = 1e-3


# Random graph CNNs (tests/test_graph.py) against Keras, relative to the output's scale (at least 1, the
# inputs' N(0, 1) scale): their widest sums have n ≤ 3·3·3·2 = 54 terms (a 3×3 kernel over ≤ 6 channels) and each
# side errs by ≤ n·eps/2 of the terms' scale (≈ 3e-6 in float32); ≤ 7 nodes deep, through activations with
# Lipschitz constants up to ~2 (selu, hard_silu) and exponentials, ×60 → 2e-4. float64: the 1e-9.
GRAPH_RTOL = {"float32": 2e-4, "float64": 1e-9}
# Keras computes some layers in float32 inside a float64 model: TF's ResizeBilinear always returns float32
# (bilinear UpSampling), Keras' gelu rounds its constant 1/√2 to float32 (5e-9 measured at |x| ≤ 3), and a
# LoRA layer's factors are float32 variables whose product a@b Keras forms in float32 (~3e-7 of a kernel of
# scale ~8 measured): float32 accuracy there, 8 ulps of float32 relative.
KERAS_FLOAT32_INSIDE_F64 = 8 * EPS32
# UpSampling2D's interpolations against Keras (tests/test_conv_variants.py), relative to the output's scale (at
# least 1, the N(0, 1) inputs'): TF resizes in float32 for any dtype — its weights at float32 positions with
# float32 sin and cubic (≤ 2 float32 ulps off the exact ones, measured) in two 1-D passes of ≤ 10 taps — and a
# float32 net adds its own ≤ 100-term sums (lanczos5's 10 × 10) of the same weights: measured ≤ 3.3 eps32 in
# either dtype; 16 eps32 leaves ×5, while a wrong kernel (Keys' a = −0.75), a missing renormalization at the
# borders or exact positions on a wide row move an output by far more.
RESIZE_RTOL = 16 * EPS32
# keras.applications at 32×32 in float32, relative to the output's scale: their sums reach 9·1024 = 9,216 terms
# (DenseNet's, ResNet's 3×3 convs over 1,024 channels) and ~50 layers deep; √n·eps per sum (random-walk
# rounding, 1.1e-5) compounding over the depth with BatchNorm scales ~1: 1e-4 of the output's scale
# (measured ≤ 1.3e-6). float64: the 1e-9.
ARCHITECTURE_RTOL = {"float32": 1e-4, "float64": 1e-9}
# onnxruntime running our ONNX graph against the NumPy net it was written from (the same matrices and
# constants): the only differences are the summation order of each Gemm/ReduceSum (MLAS vs NumPy's BLAS) and
# onnxruntime's float32 exp/tanh/erf/sigmoid (vectorised approximations, a few ulps), on nets as deep and as
# wide as GRAPH_RTOL's: the same 2e-4 of the output's scale in float32. float64 keeps every constant and op
# in float64 (no float attribute rounds one): the 1e-9.
ONNX_VS_NUMPY_RTOL = {"float32": 2e-4, "float64": 1e-9}
# A per-sample normalization (Group/RMS/UnitNormalization, tests/test_activations.py) against Keras in the same
# dtype, relative to the output's largest |value|: each side rounds a mean (or sum) of n ≤ 120 terms and a mean
# of squares (γ_n ≈ n·eps/2 each), x − mean loses ≤ eps·|x| ≤ 2·eps of the spread for inputs of mean 2 and sd 1.5,
# then a root, a division, a multiply and an add round once each: ≲ (n + 8)·eps·2 ≈ 256 eps (measured ≤ 3 eps).
# A wrong group size, a variance about 0 or ε outside the root moves an output by ≥ 2e-4 of the scale (ε 1e-3 on
# a variance ~2: ε/(2·var)), above float32's 3e-5.
NORM_RTOL = {"float32": 256 * EPS32, "float64": 256 * EPS64}
# hw5.convert.estimate's file sizes against the files written (tests/test_estimate.py): the arrays are
# counted exactly, the headers, the Keras archive's config and the npz's zip entries as constants (a few KiB
# to 64 KiB), and NNet's bytes per number from a sample of 20,000 stored values — within 1 % on files of
# 0.8–86 MB measured; 1.25 leaves room for small test files whose headers weigh more, while an estimate that
# forgot the zeros (NNet), the density choice (ONNX) or a dtype's width is off by 2× or more.
ESTIMATE_SIZE_FACTOR = 1.25
# hw5.convert.estimate's re-read peaks (measured factors per dense weight or file byte, + 16 MiB) against the
# reader's VmHWM − VmRSS in a fresh subprocess: measured 1.0–1.4× on 2.8 M–21 M weights; the fixed overhead
# and the allocator's arenas weigh more on a test's small file, so a factor 2 either way — a reader that
# keeps 10× more (Marabou's Python lists vs its text) is still caught.
ESTIMATE_MEMORY_FACTOR = 2.0
# hw5.convert.bounds' interval bounds on the first layer are attained at a vertex of the box; both sides are
# float64 sums of ≤ 12 terms of size ≲ 10 (≤ 1e-14 apart) and the bound is widened outward by bounds.WIDEN
# (1e-9) of its magnitudes' sum: 2·WIDEN of that scale between the two.
BOUNDS_ATTAINED_FACTOR = 2
# The pruned chain (always-inactive neurons dropped) against the chain, float64, on points of the box: the
# dropped terms were exactly 0, the kept sums add the same terms in the same order: only the sparse
# product's order may differ, ~n·eps of the terms (n ≤ 12) — 1e-12 of the logits' scale.
PRUNED_F64_RTOL = 1e-12
# hw5.convert.bigm's optimum against the chain evaluated at HiGHS' own point (float64): HiGHS meets each row
# within its primal feasibility tolerance (1e-7, absolute) and each binary within its integrality tolerance
# (1e-6, times a big-M ≲ 10 here), through ≤ 3 layers of weights ≲ 4 in size: 1e-4 absolute leaves ×10; a
# missing or wrong row moves the value by O(0.1).
BIGM_REPLAY_ATOL = 1e-4
