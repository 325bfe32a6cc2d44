"""Step 2 — models: our Part-1 CNN and the homework's exact Part-2 net, as Keras Sequential models.

Part 1 (free; chosen for its time to 90 % test accuracy on a CPU): Conv2D 16×3×3 'same' → BN → ReLU → MaxPool 2
→ Conv2D 48×3×3 → BN → ReLU → MaxPool 2 → Flatten → Dense 256 → BN → ReLU → Dropout 0.4 → Dense 10, softmax.

Part 2 (input (28, 28, 1) in [0, 1]):   Conv2D 64×3×3, stride 1, 'valid'   (26, 26, 64)        640 params
                                         MaxPooling2D 2×2, stride 2         (13, 13, 64)
                                         ReLU, Flatten                      10,816
                                         Dense 1024, ReLU                   1,024        11,076,608 params
                                         Dense 10, softmax                  10               10,250 params
"""
from __future__ import annotations

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10

# How each part is trained, by this script and by the package alike: Adam; `cosine` decays the learning rate to 0
# over the run; `probes`: test evaluations an epoch (the package reads its time to 90 % there; no weight changes).
SEED = 0
TRAINING = {
    1: dict(epochs=3, batch_size=128, learning_rate=3e-3, cosine=True, probes=2),
    2: dict(epochs=3, batch_size=1024, learning_rate=2e-3, cosine=False, probes=1),
}


def build_part2_model(dtype: str = "float32") -> keras.Model:
    """The homework Part-2 net. `dtype="float64"` gives the same net in double precision."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, dtype=dtype, name="image"),
        layers.Conv2D(64, (3, 3), strides=1, padding="valid", name="conv", dtype=dtype),
        layers.MaxPooling2D(pool_size=(2, 2), strides=2, name="pool", dtype=dtype),
        layers.ReLU(name="relu", dtype=dtype),
        layers.Flatten(name="flatten", dtype=dtype),
        layers.Dense(1024, activation="relu", name="dense", dtype=dtype),
        layers.Dense(NUM_CLASSES, activation="softmax", name="output", dtype=dtype),
    ], name="part2")


def build_part1_model() -> keras.Model:
    """Our Part-1 CNN (see the module docstring)."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1"),
        layers.BatchNormalization(name="bn1"), layers.ReLU(name="relu1"), layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(48, 3, use_bias=False, name="conv2"),
        layers.BatchNormalization(name="bn2"), layers.ReLU(name="relu2"), layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(256, use_bias=False, name="dense"),
        layers.BatchNormalization(name="bn3"), layers.ReLU(name="relu3"), layers.Dropout(0.4, name="dropout"),
        layers.Dense(NUM_CLASSES, activation="softmax", name="output"),
    ], name="part1")
