"""CIFAR-sized (32×32×3) CNNs for `hw5 verify`, in the spirit of VNN-COMP's cifar nets: stride-2 convs, few
channels, logits out. Their weights are Keras' seeded initialisers (Glorot uniform kernels) with biases drawn
N(0, 0.05²) — no CIFAR-10 data ships here, so they are architectures with seeded weights, not trained nets.

    chain(seed)     Conv 4 3×3/2 same ReLU → (16, 16, 4); Conv 8 3×3/2 same ReLU → (8, 8, 8); Dense 10
                    (Dense+ReLU: hidden widths 1,024 and 512)
    residual(seed)  Conv 4 3×3/2 same ReLU → h (16, 16, 4); Conv 4 3×3 same ReLU; Conv 4 3×3 same; + h (the
                    shortcut), Add, ReLU; Dense 10 (Dense+ReLU: h carried past the block's first conv)
    wide(seed)      the issue's 32×32×3 CNN: Conv 16 3×3 same ReLU; Conv 32 3×3 same ReLU; global average
                    pooling; Dense 10 — 5,418 parameters, 49,152 ReLUs in its Dense+ReLU form
    image(seed)     a (32, 32, 3) float32 image, uniform in [0, 1]; clear_image(model): the first seed whose
                    class wins by a clear gap in logits
"""
from __future__ import annotations

import numpy as np

SHAPE = (32, 32, 3)
BIAS_SCALE = 0.05   # biases N(0, 0.05²): Keras starts them at 0, which would leave every ReLU's bound symmetric


def _finish(model, seed: int):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(rng.normal(scale=BIAS_SCALE, size=bias.shape).astype(np.float32))
    return model


def chain(seed: int = 0):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    return _finish(keras.Sequential([
        keras.Input(SHAPE, name="image"), L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv1"),
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2"), L.Flatten(name="flatten"),
        L.Dense(10, name="logits")], name="cifar_chain"), seed)


def residual(seed: int = 0):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input(SHAPE, name="image")
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="stem")(inp)
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="block_conv1")(h)
    a = L.Conv2D(4, 3, padding="same", name="block_conv2")(a)
    x = L.ReLU(name="block_relu")(L.Add(name="shortcut")([a, h]))
    return _finish(keras.Model(inp, L.Dense(10, name="logits")(L.Flatten(name="flatten")(x)), name="cifar_residual"),
                   seed)


def wide(seed: int = 0):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    return _finish(keras.Sequential([
        keras.Input(SHAPE, name="image"), L.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv2"), L.GlobalAveragePooling2D(name="pool"),
        L.Dense(10, name="logits")], name="cifar_wide"), seed)


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(SHAPE, dtype=np.float32)


NETS = {"chain": chain, "residual": residual, "wide": wide}


def clear_image(model, gap: float = 0.2, tries: int = 100) -> tuple[int, np.ndarray]:
    """(seed, image(seed)) for the first seed whose image the model classifies with its top logit ahead of the
    second by at least `gap` (a seeded net's logits on uniform images are close; a near-tie is not robust at
    any useful radius)."""
    from hw5.convert.reference import keras_outputs

    for seed in range(tries):
        x = image(seed)
        logits = np.sort(keras_outputs(model, x[None])[0])
        if logits[-1] - logits[-2] >= gap:
            return seed, x
    raise ValueError(f"gap: no image among seeds 0..{tries - 1} has its top two logits {gap} apart")
