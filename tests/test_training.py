# Part 1 and the training machinery: ≥ 90 % test accuracy, real gradient updates on record,
# bit-identical reruns for a seed, and a cache that never returns a wrong model.
import functools
import json
import math
import shutil
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from hw5.cache import PartSpec, train_part
from hw5.deliver import report
from hw5.homework.run import epoch_lines, update_lines
from tests import tolerances as tol
from tests.helpers import assert_exact, report_section

HOMEWORK_BAR = 0.900   # Part 1 must reach 90.0 % on all 10,000 test images
SEED_BAR = 0.915       # ... and end at least here with each of the five seeds of `make seeds` (issue 12)
MIN_UPDATES = 20       # gradient updates recorded from the first epoch (homework asks for ≥ 5)
QUICK = dict(epochs=1, subset=512, batch_size=64)  # a seconds-long training run of Part 1's real model


def build_tiny_model(hidden: int = 0):
    import keras

    # every layer named: auto-names (flatten_1, ...) would change the config, and the cache key, per build
    return keras.Sequential([keras.Input((28, 28, 1), name="image"), keras.layers.Flatten(name="flatten"),
                             *([keras.layers.Dense(hidden, activation="relu", name="hidden")] if hidden else []),
                             keras.layers.Dense(10, activation="softmax", name="output")], name="tiny")


# The cache machinery (keys, retraining, damaged entries) does not depend on the architecture: a one-layer
# model trains, saves and loads in a fraction of Part 1's time, and its config is in the key like Part 1's.
TINY = dict(spec=PartSpec(build_tiny_model, epochs=1, batch_size=64, learning_rate=1e-2, cosine=False), subset=512)


@pytest.fixture(scope="module")
def tiny_entry(tmp_path_factory):
    # one trained tiny cache entry; each damage case works on its own copy
    cache = tmp_path_factory.mktemp("tiny-cache")
    return train_part(1, seed=5, cache=cache, **TINY), cache


@pytest.mark.training
def test_part1_reaches_homework_bar(part1, test_images):
    x_test, y_test = test_images
    # model.evaluate's numbers at the end of training (the cache re-checks the accuracy when it loads the model),
    # and this run's own count from the model's softmax on the test images (model.predict, once a run)
    log, spec = part1.log, part1.config
    loss, evaluated = log.test_loss, log.test_accuracy
    accuracy = float((part1.test_probs.argmax(1) == y_test).mean())
    report_section(
        "p1a",
        report.paragraph(f"<b>Test accuracy {evaluated:.4f}</b> on all {len(y_test):,} test images from "
                         f"<code>model.evaluate(x_test, y_test)</code> (bar {HOMEWORK_BAR:.3f}), after "
                         f"{spec['epochs']} epochs of Adam ({spec['learning_rate']:g}"
                         f"{', cosine decay' if spec['cosine'] else ''}), batch {spec['batch_size']}, "
                         f"seed {spec['seed']}."),
        report.console([*epoch_lines(log), f"Part 1 (a): test accuracy {evaluated:.4f} on {len(y_test):,} test "
                                           f"images (model.evaluate)"]),
        key=f"{accuracy:.4f} (bar {HOMEWORK_BAR:.3f})", handin=True)
    report_section(
        "p1a",
        report.paragraph(
            f"Loss {loss:.4f}; {log.train_seconds:.1f} s of training, 90 % reached after "
            f"{'never' if log.time_to_target is None else f'{log.time_to_target:.1f} s'} "
            f"({'loaded from the cache' if part1.from_cache else 'trained in this run'}). The test set was "
            f"probed {spec['probes']} times an epoch (monitoring only; no weight changes):"),
        report.epoch_table(log),
        report.pre(report.model_summary(part1.model), "hw5-summary"))
    print(f"Part 1 test accuracy {accuracy:.4f} on {len(y_test)} images; time to {HOMEWORK_BAR:.0%}: "
          f"{part1.log.time_to_target} s of training ({part1.log.train_seconds:.1f} s in all)")
    assert len(y_test) == 10_000 and part1.test_probs.shape == (10_000, 10)
    assert evaluated == pytest.approx(accuracy, abs=tol.ACCURACY_COUNTS)
    assert accuracy >= HOMEWORK_BAR and evaluated >= HOMEWORK_BAR


@pytest.mark.training
def test_part1_gradient_updates_are_recorded_and_real(part1):
    updates, epochs = part1.log.updates, part1.log.epochs
    report_section(
        "p1b",
        report.paragraph(f"The first {len(updates)} gradient updates of epoch 1 on the training set: Keras' bar at "
                         f"each of them (it shows running means over the epoch), then each update's own batch loss "
                         f"and accuracy (k·mean<sub>k</sub> − (k − 1)·mean<sub>k−1</sub>), as the script prints them."),
        report.console([*part1.log.console, "", *update_lines(part1.log)]), report.training_curves(part1.log),
        key=f"{len(updates)} updates shown", handin=True)
    print(f"{'update':>6} {'loss':>8} {'accuracy':>8}")
    for u in updates:
        print(f"{u['update']:>6} {u['loss']:8.4f} {u['accuracy']:8.4f}")
    assert len(updates) >= MIN_UPDATES
    assert len([line for line in part1.log.console if not line.startswith("Epoch")]) == MIN_UPDATES
    assert [u["update"] for u in updates] == list(range(1, len(updates) + 1))
    losses = np.array([u["loss"] for u in updates])
    assert np.isfinite(losses).all()
    assert (np.diff(losses) != 0).all(), "batch loss did not change between updates"
    assert all(0 <= u["accuracy"] <= 1 for u in updates)
    assert epochs[0]["loss"] < updates[0]["loss"]
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    assert all(b["train_seconds"] > a["train_seconds"] for a, b in pairwise(epochs))


@pytest.mark.training
def test_part1_time_to_bar_is_recorded(part1):
    probes, epochs = part1.log.probes, part1.log.epochs
    per_epoch = part1.config["probes"]
    assert per_epoch >= 2   # the crossing is looked for inside epochs too, not only at their ends
    assert [p["epoch"] for p in probes] == [k / per_epoch for k in range(1, per_epoch * len(epochs) + 1)]
    ends = [p for p in probes if p["epoch"] == int(p["epoch"])]
    assert [(p["test_accuracy"], p["train_seconds"]) for p in ends] == [
        (e["test_accuracy"], e["train_seconds"]) for e in epochs]
    assert all(b["train_seconds"] > a["train_seconds"] for a, b in pairwise(probes))
    first = next(p for p in probes if p["test_accuracy"] >= HOMEWORK_BAR)
    assert part1.log.time_to_target == first["train_seconds"]


@pytest.mark.full   # trains (a tiny model or Part 1 on 512 images): `make test-full` and the report
def test_probes_inside_epochs_leave_training_untouched(tmp_path):
    # a test probe inside an epoch must not change the weights nor Keras' running training means (which
    # model.evaluate would reset mid-epoch), and its loss/accuracy are model.evaluate's; watched or not (the
    # package's monitor, or the homework's fit as the hand-in script calls it), the training is the same
    from hw5.data import load_fashion_mnist, preprocess
    from hw5.deliver.monitor import fit_monitored as fit
    from hw5.deliver.monitor import test_metrics
    from hw5.homework.training import fit as homework_fit
    from hw5.homework.training import make_deterministic

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train, y_train, x_test, y_test = preprocess(x_train[:512]), y_train[:512], preprocess(x_test[:500]), y_test[:500]
    runs = {}
    for probes in (1, 3):
        make_deterministic(2)   # the same initial weights for both runs
        model = build_tiny_model()
        runs[probes] = model, fit(model, x_train, y_train, epochs=2, batch_size=64, seed=2, learning_rate=1e-2,
                                  x_test=x_test, y_test=y_test, probes=probes, target=0.6)
    make_deterministic(2)
    bare = build_tiny_model()
    unwatched = homework_fit(bare, x_train, y_train, epochs=2, batch_size=64, seed=2, learning_rate=1e-2,
                             x_test=x_test, y_test=y_test)
    (plain, once), (probed, thrice) = runs[1], runs[3]
    for a, b, c in zip(plain.get_weights(), probed.get_weights(), bare.get_weights(), strict=True):
        assert_exact(a, b, "weights trained with and without probes inside epochs")
        assert_exact(c, b, "weights trained by the homework's fit and by the watched one")
    assert unwatched.updates == once.updates and not unwatched.probes
    assert thrice.epochs == [e | {"train_seconds": t["train_seconds"]}
                             for e, t in zip(once.epochs, thrice.epochs, strict=True)]
    assert [round(p["epoch"], 6) for p in thrice.probes] == [round(k / 3, 6) for k in range(1, 7)]
    assert [p["update"] for p in thrice.probes] == [3, 5, 8, 11, 13, 16]   # 8 updates an epoch: 8/3, 16/3, 8
    loss, accuracy = probed.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    assert test_metrics(probed, x_test, y_test) == pytest.approx((loss, accuracy), abs=1e-6)
    first = next(p for p in thrice.probes if p["test_accuracy"] >= 0.6)
    assert thrice.time_to_target == first["train_seconds"]


@pytest.mark.training
def test_cache_hit_trains_nothing(part1, monkeypatch):
    # the session fixture trained or loaded Part 1: asking again must load, bit for bit, without fitting
    import hw5.deliver.cache

    monkeypatch.setattr(hw5.deliver.cache, "fit_monitored",
                        lambda *a, **k: pytest.fail("trained despite a cache entry"))
    again = train_part(1, retrain=False)
    assert again.from_cache and again.key == part1.key
    for a, b in zip(again.model.get_weights(), part1.model.get_weights(), strict=True):
        assert_exact(a, b, "cached weights")
    assert again.log.updates == part1.log.updates


def test_fit_feeds_keras_a_dataset_without_tf_data_autotuning():
    # the epoch-start stall (docs/known-issues.md): Keras deletes an epoch's iterator at the next epoch's first
    # step and tf.data's autotuning thread made that wait out a sleep of up to many seconds; fit's own dataset
    # has autotuning off and keeps Keras' batches (count, order) so that the training stays the same
    from hw5.homework.training import keras_inputs

    x, y = np.arange(10 * 3, dtype=np.float32).reshape(10, 3), np.arange(10)
    inputs = keras_inputs(x, y, 4, shuffle=True)
    data = inputs["x"]
    assert inputs["shuffle"] is False and data.options().autotune.enabled is False
    assert int(data.cardinality()) == 3                                   # 4 + 4 + 2: Keras' step count
    batches = list(keras_inputs(x, None, 4)["x"].as_numpy_iterator())
    assert [len(b[0] if isinstance(b, tuple) else b) for b in batches] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b[0] if isinstance(b, tuple) else b for b in batches]), x)   # in order
    assert sorted(int(v) for b in data.as_numpy_iterator() for v in b[1]) == list(range(10))


@pytest.mark.full   # trains (a tiny model or Part 1 on 512 images): `make test-full` and the report
def test_fit_keeps_keras_progress_lines_of_the_first_updates():
    # the homework wants the gradient updates shown as Keras printed them: one bar line per early update
    # (fit itself on Part 1's model: no test set to evaluate, no cache entry to write)
    from hw5.data import load_fashion_mnist, preprocess
    from hw5.deliver.monitor import fit_monitored
    from hw5.homework.training import make_deterministic
    from hw5.models import build_part1_model

    (x_train, y_train), _ = load_fashion_mnist()
    make_deterministic(5)
    log = fit_monitored(build_part1_model(), preprocess(x_train[:QUICK["subset"]]), y_train[:QUICK["subset"]],
                        epochs=QUICK["epochs"], batch_size=QUICK["batch_size"], seed=5)
    steps = -(-QUICK["subset"] // QUICK["batch_size"])
    shown = [line.split()[0] for line in log.console]  # Keras writes no "Epoch 1/1" for a single epoch
    assert shown == [f"{k}/{steps}" for k in range(1, steps + 1)], log.console
    assert all("loss: " in line and "\x1b" not in line for line in log.console)
    # the bar as a terminal shows it: done '━', still to go '─' (Keras draws that part in another colour)
    bars = [line.split()[1] for line in log.console]
    assert [bar.count("━") for bar in bars] == sorted(bar.count("━") for bar in bars) and "─" in bars[0]
    assert "─" not in bars[-1] and len({len(bar) for bar in bars}) == 1
    last = log.console[-1].split("loss: ")[1].split()[0]
    assert float(last) == pytest.approx(log.epochs[0]["loss"], abs=1e-4)  # the bar's final running mean


@pytest.mark.full   # trains (a tiny model or Part 1 on 512 images): `make test-full` and the report
def test_cache_key_covers_what_changes_the_result(tmp_path, monkeypatch):
    base = train_part(1, seed=3, cache=tmp_path, **TINY)
    assert train_part(1, seed=3, cache=tmp_path, **TINY).from_cache
    # each change must miss the cache: train_part goes on to fit, which need not really train here (the
    # claim is about the key and the lookup; test_cache_hit_trains_nothing covers what a hit returns)
    import hw5.deliver.cache
    from hw5.homework.training import TrainLog

    fitted = []
    monkeypatch.setattr(hw5.deliver.cache, "fit_monitored",
                        lambda model, *args, **kwargs: fitted.append(model) or TrainLog())
    tiny = TINY["spec"]
    for change in (dict(seed=4), dict(epochs=2), dict(batch_size=32), dict(subset=256),
                   dict(spec=PartSpec(tiny.build, 1, 64, 2e-2, False)),
                   dict(spec=PartSpec(tiny.build, 1, 64, 1e-2, True)),
                   dict(spec=PartSpec(functools.partial(build_tiny_model, hidden=8), 1, 64, 1e-2, False)),
                   dict(spec=PartSpec(tiny.build, 1, 64, 1e-2, False, probes=2))):
        before = len(fitted)
        changed = train_part(1, cache=tmp_path, **({"seed": 3} | TINY | change))
        assert changed.key != base.key and not changed.from_cache and len(fitted) == before + 1, change
    config = json.loads((base.path / "log.json").read_text())["config"]
    assert {"architecture", "seed", "epochs", "batch_size", "learning_rate", "cosine", "probes", "data",
            "tensorflow", "keras"} <= set(config)


@pytest.mark.full   # trains (a tiny model or Part 1 on 512 images): `make test-full` and the report
def test_retrain_option_and_env_force_training(tiny_entry, tmp_path, monkeypatch):
    # forcing means reaching fit despite a good entry (fit stubbed: what a retraining gives is the damaged-
    # cache tests' claim); on a copy of the entry, which the stub's untrained model overwrites
    import hw5.deliver.cache
    from hw5.homework.training import TrainLog

    good, _ = tiny_entry
    shutil.copytree(good.path, tmp_path / good.path.name)
    assert train_part(1, seed=5, cache=tmp_path, **TINY).from_cache
    fitted = []
    monkeypatch.setattr(hw5.deliver.cache, "fit_monitored",
                        lambda model, *args, **kwargs: fitted.append(model) or TrainLog())
    assert not train_part(1, seed=5, cache=tmp_path, retrain=True, **TINY).from_cache and len(fitted) == 1
    monkeypatch.setenv("HW5_RETRAIN", "1")
    assert not train_part(1, seed=5, cache=tmp_path, **TINY).from_cache and len(fitted) == 2


def test_cache_entry_is_private_and_a_failed_save_leaves_no_file(tiny_entry, tmp_path, monkeypatch):
    # the entry's files are its owner's alone (0600, whatever the umask); a save that fails while Keras writes
    # model.keras leaves no file in the entry (nor a temporary one), and the run goes on with a warning
    import keras

    import hw5.deliver.cache
    from hw5.homework.training import TrainLog

    good, _ = tiny_entry
    assert sorted((p.name, p.stat().st_mode & 0o777) for p in good.path.iterdir()) == [
        ("log.json", 0o600), ("model.keras", 0o600)]

    def save_fails(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(hw5.deliver.cache, "fit_monitored", lambda model, *args, **kwargs: TrainLog())
    monkeypatch.setattr(keras.Model, "save", save_fails)
    with pytest.warns(RuntimeWarning, match="could not write the hw5 cache entry .*disk full"):
        assert not train_part(1, seed=5, cache=tmp_path, **TINY).from_cache
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.full   # trains (a tiny model or Part 1 on 512 images): `make test-full` and the report
@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_weights", "drop_log", "bad_json", "accuracy"])
def test_damaged_cache_warns_and_retrains(tiny_entry, tmp_path, damage):
    good, cache = tiny_entry
    shutil.copytree(good.path, tmp_path / good.path.name)
    model_file, log_file = tmp_path / good.path.name / "model.keras", tmp_path / good.path.name / "log.json"
    blob = bytearray(model_file.read_bytes())
    if damage == "truncate":
        model_file.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        model_file.write_bytes(b"not a zip")
    elif damage == "other_weights":       # a valid model file, but not the trained model
        build_tiny_model().save(model_file)
    elif damage == "drop_log":
        log_file.unlink()
    elif damage == "accuracy":            # the model file intact, the accuracy on record not what it scores
        meta = json.loads(log_file.read_text())
        meta["log"]["test_accuracy"] += 0.01
        log_file.write_text(json.dumps(meta))
    else:
        log_file.write_text("{")
    match = "scores .*, not the recorded" if damage == "accuracy" else "cache entry .* is unusable.*retraining"
    with pytest.warns(RuntimeWarning, match=match):
        again = train_part(1, seed=5, cache=tmp_path, **TINY)
    assert not again.from_cache and again.key == good.key
    for a, b in zip(again.model.get_weights(), good.model.get_weights(), strict=True):
        assert_exact(a, b, "retrained weights (same seed)")
    assert train_part(1, seed=5, cache=tmp_path, **TINY).from_cache  # and the entry is whole again


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(part=3), ValueError, "part must be 1 or 2"),
    (dict(part=1, epochs=0), ValueError, "epochs must be >= 1"),
    (dict(part=1, batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(part=1, epochs=1.5), TypeError, "epochs must be an int"),
    (dict(part=1, subset=0), ValueError, "subset must be >= 1"),
    (dict(part=1, spec=dict(epochs=1)), TypeError, "spec must be a hw5.cache.PartSpec or None"),
])
def test_train_part_rejects_bad_input(kwargs, error, match, tmp_path):
    with pytest.raises(error, match=match):
        train_part(cache=tmp_path, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_part1_bar_holds_for_any_seed(seed):
    # opt-in (`make seeds` / `pytest -m slow`): five seeds, every one must end ≥ SEED_BAR (issue 12);
    # the time to 90 % is printed, never asserted
    trained = train_part(1, seed=seed)
    reached = trained.log.time_to_target
    at = next((f" (epoch {p['epoch']:g})" for p in trained.log.probes if p["train_seconds"] == reached), "")
    print(f"seed {seed}: test accuracy {trained.log.test_accuracy:.4f}; {HOMEWORK_BAR:.0%} after "
          f"{'never' if reached is None else f'{reached:.1f} s{at}'} of training ({trained.log.train_seconds:.1f} s "
          f"in all, {'loaded from the cache' if trained.from_cache else 'trained in this run'})")
    assert trained.log.test_accuracy >= SEED_BAR
    assert not math.isnan(trained.log.test_accuracy)
