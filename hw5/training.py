"""Step 3 — train: seeded, deterministic training with a log of every early gradient update.

`fit` trains a compiled-here Keras model and returns a `TrainLog`:

* ``updates``: the first `log_updates` gradient updates of epoch 1 — update number, that batch's loss and
  accuracy (Keras' batch logs are running means over the epoch; the batch value is recovered exactly
  for equal-sized batches as k·mean_k − (k−1)·mean_{k−1}), and the running means Keras shows;
* ``epochs``: per epoch the training loss/accuracy, the test loss/accuracy (monitoring only: no decision
  is taken on it, the epoch count is fixed), and cumulative training seconds (evaluation excluded);
* ``time_to_target``: training seconds until test accuracy first reached `target` (None if never).

`keras.utils.set_random_seed` plus TensorFlow op determinism make a seed give bit-identical weights.
Training once and reusing the result (the cache, `train_part`) lives in hw5/cache.py.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainLog:
    updates: list = field(default_factory=list)   # dicts: update, loss, accuracy, running_loss, running_accuracy
    epochs: list = field(default_factory=list)    # dicts: epoch, loss, accuracy, test_loss, test_accuracy, train_seconds
    test_loss: float = float("nan")
    test_accuracy: float = float("nan")
    train_seconds: float = 0.0
    target: float = 0.90
    time_to_target: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainLog":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def _recorder(log: TrainLog, x_test, y_test, log_updates: int, progress):
    import keras

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.prev, self.train_seconds = (0.0, 0.0), 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch != 0 or batch >= log_updates:
                return
            k, (mean_loss, mean_acc) = batch + 1, (float(logs["loss"]), float(logs["accuracy"]))
            log.updates.append(dict(
                update=int(self.model.optimizer.iterations.numpy()),
                loss=k * mean_loss - (k - 1) * self.prev[0],
                accuracy=k * mean_acc - (k - 1) * self.prev[1],
                running_loss=mean_loss, running_accuracy=mean_acc))
            self.prev = (mean_loss, mean_acc)

        def on_epoch_end(self, epoch, logs=None):
            self.train_seconds += time.perf_counter() - self.started
            row = dict(epoch=epoch + 1, loss=float(logs["loss"]), accuracy=float(logs["accuracy"]),
                       train_seconds=self.train_seconds)
            if x_test is not None:
                row["test_loss"], row["test_accuracy"] = (
                    float(v) for v in self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0))
                if log.time_to_target is None and row["test_accuracy"] >= log.target:
                    log.time_to_target = self.train_seconds
            log.epochs.append(row)
            log.train_seconds = self.train_seconds
            if progress:
                progress(f"epoch {epoch + 1}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.4f}"
                         + (f", test accuracy {row['test_accuracy']:.4f}" if x_test is not None else "")
                         + f" ({self.train_seconds:.0f} s)")

    return Recorder()


def fit(model, x_train, y_train, *, epochs: int, batch_size: int, seed: int, learning_rate: float = 1e-3,
        cosine: bool = False, x_test=None, y_test=None, log_updates: int = 20, target: float = 0.90,
        verbose=0, progress=None) -> TrainLog:
    """Compile `model` (Adam, sparse categorical cross-entropy, accuracy) and train it deterministically.

    `cosine=True` decays the learning rate from `learning_rate` to 0 over all updates of the run.

    The caller builds the model *after* `make_deterministic(seed)` so that initial weights are seeded too;
    `fit` seeds again so that shuffling and dropout are.
    """
    import keras

    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    log_updates = _positive_int(log_updates, "log_updates")
    make_deterministic(seed)
    if cosine:
        steps = epochs * -(-len(x_train) // batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log = TrainLog(target=target)
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
              callbacks=[_recorder(log, x_test, y_test, log_updates, progress)])
    if x_test is not None:
        log.test_loss, log.test_accuracy = log.epochs[-1]["test_loss"], log.epochs[-1]["test_accuracy"]
    return log
