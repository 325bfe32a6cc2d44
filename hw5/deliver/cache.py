"""Train a homework model once, then reuse it: `train_part(part)` with an on-disk cache.

A cache entry is ``<cache dir>/part<P>-<key>/{model.keras, log.json}``; the key is a SHA-256 of everything
that changes the result: the architecture's config, seed, epochs, batch size, learning-rate schedule,
training subset, the data's digests, the TensorFlow/Keras versions and TensorFlow's CPU kernels (oneDNN on or off
and the CPU flags that decide it: other kernels give other weights). The model is saved without its
optimizer and loaded with Keras' safe mode (no pickle); log.json carries the model file's SHA-256 and the
test accuracy, both re-checked on load. A missing, corrupt or mismatching entry gives a warning and the model
is trained again — never a crash, never a wrong model. Files are written to a temporary name and renamed.

Cache directory: ``$HW5_CACHE_DIR``, else ``.hw5-cache/`` in the source checkout (git-ignored), else
``~/.cache/hw5`` for an installed package. ``retrain=True`` or ``HW5_RETRAIN=1`` forces training.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw5.deliver.monitor import fit_monitored, positive_int
from hw5.homework.kernels import kernels
from hw5.homework.training import TrainLog, keras_inputs, make_deterministic

FORMAT = 4  # bump when the training procedure or the log format changes (4: steps-only seconds, bar's rest '─')


@dataclass(frozen=True)
class PartSpec:
    build: Callable      # () -> keras.Model
    epochs: int
    batch_size: int
    learning_rate: float
    cosine: bool
    probes: int = 1      # test evaluations an epoch (hw5.deliver.monitor): where the time to 90 % is read


def _specs() -> dict[int, PartSpec]:
    """Each part's builder and training numbers (the numbers live in hw5.models.TRAINING)."""
    from hw5.homework.models import TRAINING, build_part1_model, build_part2_model

    return {1: PartSpec(build_part1_model, **TRAINING[1]), 2: PartSpec(build_part2_model, **TRAINING[2])}


@dataclass
class Trained:
    part: int
    model: object          # keras.Model
    log: TrainLog
    from_cache: bool
    key: str
    config: dict           # what the key hashes
    path: Path | None      # the cache entry
    test_probs: object     # the model's softmax on the test images (model.predict, read-only): computed once,
                           # by the check on load or after training, for every reader of the run


def cache_dir() -> Path:
    if os.environ.get("HW5_CACHE_DIR"):
        return Path(os.environ["HW5_CACHE_DIR"])
    checkout = Path(__file__).resolve().parents[2]   # hw5/deliver/cache.py -> the source checkout
    if (checkout / "pyproject.toml").is_file() and os.access(checkout, os.W_OK):
        return checkout / ".hw5-cache"
    return Path.home() / ".cache" / "hw5"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _raw_data(subset: int | None):
    """uint8 training images (first `subset`), labels, test set as the models take it, data source."""
    from hw5.homework.data import data_source, load_fashion_mnist, preprocess

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    if subset is not None:
        x_train, y_train = x_train[:subset], y_train[:subset]
    return x_train, y_train, preprocess(x_test), y_test, data_source()


def _test_probs(model, x_test):
    import numpy as np

    probs = np.asarray(model.predict(**keras_inputs(x_test, None, 1000), verbose=0))   # as the probes predict
    probs.flags.writeable = False     # shared by every test of a run: nobody may change it
    return probs


def _load(entry: Path, config: dict, x_test, y_test):
    """The cached (model, log, test probabilities), or None with a warning saying why it cannot be used."""
    import keras

    model_path, log_path = entry / "model.keras", entry / "log.json"
    if not log_path.exists() and not model_path.exists():
        return None
    try:
        meta = json.loads(log_path.read_text())
        if meta["config"] != config:
            raise ValueError("its config differs from this run's")
        if _sha256_file(model_path) != meta["model_sha256"]:
            raise ValueError("model.keras does not match the SHA-256 recorded when it was saved")
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        log = TrainLog(**{f.name: meta["log"][f.name] for f in dataclasses.fields(TrainLog)})
        probs = _test_probs(model, x_test)
        accuracy = float((probs.argmax(axis=1) == y_test).mean())   # what model.evaluate's accuracy counts
        if abs(accuracy - log.test_accuracy) > 1e-6:  # same weights, same data: same accuracy up to rounding
            raise ValueError(f"it scores {accuracy:.4f}, not the recorded {log.test_accuracy:.4f}")
        return model, log, probs
    except Exception as exc:  # anything unreadable means "train again", never "crash"
        warnings.warn(f"hw5 cache entry {entry} is unusable ({type(exc).__name__}: {exc}); retraining",
                      RuntimeWarning, stacklevel=3)
        return None


def _save(entry: Path, build: Callable, model, log: TrainLog, config: dict) -> None:
    """Write entry/model.keras, then entry/log.json (which names the model's SHA-256), each atomically and
    readable by its owner only; a failed write leaves no file of its own (OSError for a disk problem)."""
    from hw5.convert.export.files import atomic_write  # here, not at import: it loads the converter

    bare = build()                            # same architecture and weights, no optimizer state
    bare.set_weights(model.get_weights())
    atomic_write(entry / "model.keras", lambda p: bare.save(p), parents=True, mode=0o600)
    meta = dict(config=config, model_sha256=_sha256_file(entry / "model.keras"), log=dataclasses.asdict(log))
    atomic_write(entry / "log.json", lambda p: p.write_text(json.dumps(meta, indent=1)), parents=True, mode=0o600)


def train_part(part: int, *, epochs: int | None = None, seed: int | None = None, batch_size: int | None = None,
               subset: int | None = None, retrain: bool | None = None, cache: Path | None = None,
               verbose=0, progress: Callable[[str], None] | None = None, spec: PartSpec | None = None) -> Trained:
    """The trained model of homework part 1 or 2 (from the cache when possible) and its training log.

    `subset` trains on the first `subset` training images only (quick configurations for tests);
    `seed` defaults to hw5.models.SEED. `spec` replaces the part's builder and training numbers (the cache
    machinery tests use a tiny model); its architecture and numbers are in the cache key like the part's own.
    """
    import keras
    import tensorflow as tf

    specs = _specs()
    if part not in specs:
        raise ValueError(f"part must be 1 or 2, got {part!r}")
    if spec is not None and not isinstance(spec, PartSpec):
        raise TypeError(f"spec must be a hw5.cache.PartSpec or None, got {type(spec).__name__}")
    spec = spec or specs[part]
    epochs = positive_int(spec.epochs if epochs is None else epochs, "epochs")
    batch_size = positive_int(spec.batch_size if batch_size is None else batch_size, "batch_size")
    from hw5.homework.models import SEED

    seed = int(SEED if seed is None else seed)
    if subset is not None:
        subset = positive_int(subset, "subset")
    retrain = os.environ.get("HW5_RETRAIN", "") not in ("", "0") if retrain is None else retrain

    x_train, y_train, x_test, y_test, source = _raw_data(subset)
    make_deterministic(seed)
    model = spec.build()
    config = dict(format=FORMAT, part=part, architecture=model.get_config(), seed=seed, epochs=epochs,
                  batch_size=batch_size, learning_rate=spec.learning_rate, cosine=spec.cosine, probes=spec.probes,
                  subset=subset, data=source.sha256, tensorflow=tf.__version__, keras=keras.__version__,
                  kernels=kernels())
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    config = json.loads(json.dumps(config, default=str))  # as it reads back from log.json
    entry = (Path(cache) if cache else cache_dir()) / f"part{part}-{key}"

    if not retrain and (hit := _load(entry, config, x_test, y_test)) is not None:
        cached, log, probs = hit
        if progress:
            progress(f"part {part}: loaded the trained model from the cache ({entry})")
        return Trained(part, cached, log, True, key, config, entry, probs)

    if progress:
        progress(f"part {part}: training {epochs} epoch(s), batch {batch_size}, seed {seed} "
                 f"(cache miss: {entry})")
    from hw5.homework.data import preprocess  # the training images are only needed on a cache miss

    log = fit_monitored(model, preprocess(x_train), y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                        learning_rate=spec.learning_rate, cosine=spec.cosine, x_test=x_test, y_test=y_test,
                        probes=spec.probes, verbose=verbose, progress=progress)
    try:
        _save(entry, spec.build, model, log, config)
    except OSError as exc:  # a read-only or full disk costs the cache, not the run
        warnings.warn(f"could not write the hw5 cache entry {entry} ({exc})", RuntimeWarning, stacklevel=2)
    return Trained(part, model, log, False, key, config, entry, _test_probs(model, x_test))
