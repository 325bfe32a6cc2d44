# Same seed → the same weights, bit for bit: three trainings of Part 1's real model on QUICK in one process of
# their own (tests/early.py), seed 7 twice, then seed 8. A module of its own, placed mid-suite (MODULE_ORDER):
# the job runs on the second core from the session's start and is done by the time its test comes.
import numpy as np
import pytest

from tests import early
from tests.helpers import assert_exact
from tests.test_training import QUICK

# the script the job runs: each training's weights saved to <name>.npz in its working directory
SAME_SEED = f"""
import numpy as np
from hw5.cache import train_part
for name, seed in (("first", 7), ("second", 7), ("other", 8)):
    run = train_part(1, seed=seed, cache=name, **{QUICK!r})
    np.savez(name + ".npz", *run.model.get_weights(), from_cache=run.from_cache)
"""
early.register("same-seed-trainings", fixture="same_seed_runs", prepare=early.python(SAME_SEED))


@pytest.fixture(scope="module")
def same_seed_runs():
    workdir, done = early.result("same-seed-trainings")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {}
    for name in ("first", "second", "other"):
        with np.load(workdir / f"{name}.npz") as saved:
            runs[name] = bool(saved["from_cache"]), [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
    return runs


def test_same_seed_gives_bit_identical_weights(same_seed_runs):
    (cached1, first), (cached2, second), (_, other) = (same_seed_runs[n] for n in ("first", "second", "other"))
    assert not cached1 and not cached2 and len(first) == len(second) == len(other) > 0
    for a, b in zip(first, second, strict=True):
        assert_exact(a, b, "weights of two runs with seed 7")
    assert any((a != b).any() for a, b in zip(first, other, strict=True))
