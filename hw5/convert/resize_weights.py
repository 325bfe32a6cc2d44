"""The 1-D weights of TensorFlow's image resizing for an integer upsampling factor, as UpSampling2D's
translation reads them (hw5.convert.translations): resizing is linear and separable, out[o_r, o_c] =
Σ_taps w_r(o_r)·w_c(o_c)·in[i_r(o_r), i_c(o_c)], so each kind is a function (n, s) -> its taps along one axis
of n inputs upsampled s times, [(source index, weight)], each an array over the n·s output indices. A tap
outside the axis has weight 0 and its index clamped into [0, n − 1].

    bilinear    TF's ResizeBilinear, half-pixel centers: p = (o + ½)/s − ½; taps max(⌊p⌋, 0) and min(⌈p⌉, n − 1)
                (clamped: the edge input repeated), weights 1 − (p − ⌊p⌋) and p − ⌊p⌋
    bicubic     TF's ResizeBicubic, half-pixel centers: p as bilinear, δ = p − ⌊p⌋ read from TF's table of 1024
                steps (δ := round(1024·δ)/1024); taps ⌊p⌋ − 1 … ⌊p⌋ + 2 at distances 1 + δ, δ, 1 − δ, 2 − δ with
                Keys' cubic k (a = −½); the taps outside the axis dropped and the rest divided by their sum
    lanczos3/5  TF's ScaleAndTranslate, antialias off (upsampling: the kernel unscaled): p = (o + ½)/s; taps i
                with |d| < R, d = i + ½ − p, inside the axis, weight L_R(d) = sinc(d)·sinc(d/R), divided by
                the sum over those taps
    area        TF's ResizeArea: the output cell [a, b) = [o, o + 1)·w, w = 1/s; its overlap with each input
                cell [i, i + 1), divided by w (an exact cell lies in one input cell: nearest)

Keys' cubic: k(x) = (a + 2)|x|³ − (a + 3)|x|² + 1 for |x| ≤ 1, a|x|³ − 5a|x|² + 8a|x| − 4a for 1 < |x| < 2, else 0.

The positions (p, lanczos' d, area's a and b) are TF's float32 ones: w = fl(1/s) times o + ½ (or o, o + 1), each
step rounded to float32. An exact position drifts from TF's by ~o·eps32, and the weights with it: at o ≈ 200
bilinear's and lanczos' by ~100 ulps of float32, area's by a leak of that size into the next cell (measured),
past float32 accuracy on a wide image. At TF's positions the weights are exact, in float64; TF rounds them and
the resized values to float32 for any input dtype, so Keras is float32-accurate there even in a float64 model
(hw5.convert.inspect.keras_precision).
"""
from __future__ import annotations

import numpy as np

KEYS_A = -0.5            # Keys' cubic parameter: TF's resize_bicubic with half_pixel_centers
BICUBIC_TABLE = 1024     # TF's ResizeBicubic reads its kernel from a table at δ = 0, 1/1024, …, 1

Taps = list[tuple[np.ndarray, np.ndarray]]


def positions(n: int, s: int, shift: float) -> np.ndarray:
    """TF's sampling positions (o + ½)·fl(1/s) − shift of the n·s outputs, in float32 as TF computes them."""
    f32 = np.float32
    return (np.arange(n * s, dtype=f32) + f32(0.5)) * f32(1 / s) - f32(shift)


def bilinear(n: int, s: int) -> Taps:
    """The two taps of each output: max(⌊p⌋, 0) weight 1 − (p − ⌊p⌋), min(⌈p⌉, n − 1) weight p − ⌊p⌋."""
    p = positions(n, s, 0.5).astype(np.float64)
    low = np.floor(p)
    frac = p - low
    lower, upper = np.maximum(low, 0).astype(np.int64), np.minimum(np.ceil(p), n - 1).astype(np.int64)
    return [(lower, 1 - frac), (upper, frac)]


def keys_cubic(x: np.ndarray, a: float = KEYS_A) -> np.ndarray:
    """Keys' cubic convolution kernel k(x) (see the module)."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def renormalized(n: int, first: np.ndarray, weights: list[np.ndarray]) -> Taps:
    """The taps first + k with weights[k] (k = 0, 1, …): those outside [0, n) dropped, the rest divided by their
    sum."""
    index = [first + k for k in range(len(weights))]
    kept = [np.where((i >= 0) & (i < n), w, 0.0) for i, w in zip(index, weights, strict=True)]
    total = np.sum(kept, axis=0)
    return [(np.clip(i, 0, n - 1), w / total) for i, w in zip(index, kept, strict=True)]


def bicubic(n: int, s: int) -> Taps:
    """The four taps ⌊p⌋ − 1 … ⌊p⌋ + 2 of each output, Keys' cubic at the table's δ, renormalized inside."""
    p = positions(n, s, 0.5).astype(np.float64)
    low = np.floor(p)
    delta = np.rint((p - low) * BICUBIC_TABLE) / BICUBIC_TABLE
    weights = [keys_cubic(1 + delta), keys_cubic(delta), keys_cubic(1 - delta), keys_cubic(2 - delta)]
    return renormalized(n, low.astype(np.int64) - 1, weights)


def lanczos(radius: int, n: int, s: int) -> Taps:
    """The 2R taps ⌊p − ½⌋ − R + 1 … ⌊p − ½⌋ + R of each output (any other has |d| ≥ R: weight 0), L_R
    renormalized inside."""
    p = positions(n, s, 0.0)
    first = np.floor(p.astype(np.float64) - 0.5).astype(np.int64) - radius + 1
    weights = []
    for k in range(2 * radius):
        d = ((first + k).astype(np.float32) + np.float32(0.5) - p).astype(np.float64)   # float32, as TF
        whole = d == np.rint(d)   # sinc is 0 at the non-zero integers (np.sinc leaves ~1e-17), 1 at 0
        weights.append(np.where(whole, d == 0, np.sinc(d) * np.sinc(d / radius)) * (np.abs(d) < radius))
    return renormalized(n, first, weights)


def area(n: int, s: int) -> Taps:
    """The two taps ⌊a⌋, ⌊a⌋ + 1 of each output: their overlaps with the cell [a, b), divided by its width w."""
    f32, w = np.float32, np.float32(1 / s)
    a, b = (np.arange(n * s, dtype=f32) * w).astype(np.float64), ((np.arange(n * s, dtype=f32) + 1) * w).astype(
        np.float64)
    start = np.floor(a)
    taps = []
    for i in (start, start + 1):
        # TF's overlap of [i, i + 1) with [a, b): w itself for a cell inside it, 0 from ⌈b⌉ on
        overlap = np.where(i < a, np.where(i + 1 > b, w, i + 1 - a), np.where(i + 1 > b, b - i, 1.0))
        taps.append((np.clip(i, 0, n - 1).astype(np.int64), np.where(i < np.ceil(b), overlap, 0.0) / float(w)))
    return taps


# interpolation name -> fn(n, s) -> the taps of one axis
WEIGHTS = {"bilinear": bilinear, "bicubic": bicubic, "lanczos3": lambda n, s: lanczos(3, n, s),
           "lanczos5": lambda n, s: lanczos(5, n, s), "area": area}
