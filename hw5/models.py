"""`hw5.models`, public API: the Part-1 CNN and the exact Part-2 net, with how each is trained (step 2). The code
lives in hw5.homework.models."""
from hw5.homework.models import INPUT_SHAPE, NUM_CLASSES, SEED, TRAINING, build_part1_model, build_part2_model

__all__ = ["INPUT_SHAPE", "NUM_CLASSES", "SEED", "TRAINING", "build_part1_model", "build_part2_model"]
