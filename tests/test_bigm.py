# hw5.convert.bigm: the big-M MILP of a Dense+ReLU chain on a box, written from its non-zeros and interval
# bounds (only the unstable ReLUs binary), solved by HiGHS: its maximum of y_j − y_c is the chain's value at its
# own point, at least the value at every sampled point and vertex of the box, and at most its dual bound; a
# query answers sat below that maximum and unsat above it. HiGHS answers these 21-ReLU chains in ms, but
# highspy is the `milp` extra, which only the heavy tier installs: the module is in that tier (make test-heavy,
# CI), where it runs instead of being skipped.
import numpy as np
import pytest

from hw5.convert import bounds
from tests.test_bounds import INPUT, SEEDS, box, points_of, random_chain
from tests.tolerances import BIGM_REPLAY_ATOL, MILP_BALL_ATOL

pytestmark = pytest.mark.heavy
pytest.importorskip("highspy", reason="the `milp` extra: pip install -e '.[milp]'")


def milp(seed: int, radius: float = 0.3):
    from hw5.convert.bigm import BigMHighs

    net, (lo, hi) = random_chain(seed), box(seed, radius)
    small, _ = bounds.pruned(net, bounds.interval_bounds(net, lo, hi))
    return net, lo, hi, BigMHighs(small, lo, hi)


def query(seed: int, margin: float):
    # the engine's query (hw5.convert.engines' highs) on the same chain and box
    from hw5.convert.engines import ENGINES, Problem

    net, (lo, hi) = random_chain(seed), box(seed)
    small, active = bounds.pruned(net, bounds.interval_bounds(net, lo, hi))
    return ENGINES["highs"](Problem(small, lo, hi, active, None)).query(0, 1, margin, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_bigm_maximum_is_attained_and_beats_every_sample(seed):
    net, lo, hi, model = milp(seed)
    y = net.predict(points_of(lo, hi).reshape(-1, *INPUT))
    for c, j in ((0, 1), (3, 2), (4, 0)):
        status, best, bound, point = model.maximise(c, j, 60)
        assert status == "Optimal", status
        at_point = net.predict(point.reshape(1, *INPUT))[0]
        assert abs((at_point[j] - at_point[c]) - best) <= BIGM_REPLAY_ATOL, (at_point[j] - at_point[c], best)
        assert np.all(lo - MILP_BALL_ATOL <= point) and np.all(point <= hi + MILP_BALL_ATOL), "outside the box"
        assert best >= (y[:, j] - y[:, c]).max() - BIGM_REPLAY_ATOL, "a sampled point beats the maximum"
        assert bound >= best - BIGM_REPLAY_ATOL


@pytest.mark.parametrize("seed", SEEDS)
def test_bigm_binaries_are_the_unstable_relus_only(seed):
    net, lo, hi, model = milp(seed)
    b = bounds.interval_bounds(net, lo, hi)
    variables, rows, binaries = model.size
    kept = b.relus - b.inactive
    assert binaries == b.unstable
    assert variables == lo.size + kept + b.unstable and rows == b.active + 3 * b.unstable


@pytest.mark.parametrize("seed", SEEDS)
def test_bigm_query_is_sat_below_the_maximum_and_unsat_above(seed):
    _, lo, hi, model = milp(seed)
    _, best, _, _ = model.maximise(0, 1, 60)
    above = query(seed, margin=-best - 0.05)   # asks y_1 − y_0 ≥ best + 0.05
    below = query(seed, margin=-best + 0.05)   # asks y_1 − y_0 ≥ best − 0.05
    assert above.answer == "unsat" and above.value < best + 0.05
    assert below.answer == "sat" and below.value >= best - 0.05 and below.point.shape == lo.shape


def test_bigm_refuses_an_unpruned_chain():
    from hw5.convert.bigm import BigMHighs

    net, (lo, hi) = random_chain(1), box(1)
    if not bounds.interval_bounds(net, lo, hi).inactive:
        pytest.fail("the chain has no always-inactive neuron on this box: pick another seed")
    with pytest.raises(ValueError, match="prune it first"):
        BigMHighs(net, lo, hi)
