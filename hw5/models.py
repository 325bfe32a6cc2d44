"""`hw5.models`, public API: the Part-1 CNN and the exact Part-2 net, with their training numbers (step 2).

The code lives in hw5.homework.models; this name keeps `from hw5.models import …` working."""
from hw5.homework.models import (  # noqa: F401
    INPUT_SHAPE,
    NUM_CLASSES,
    PART2_PARAMS,
    SEED,
    TRAINING,
    build_part1_model,
    build_part2_model,
)

__all__ = ["INPUT_SHAPE", "NUM_CLASSES", "PART2_PARAMS", "SEED", "TRAINING", "build_part1_model", "build_part2_model"]
