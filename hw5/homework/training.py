"""Step 3 — train: seeded, deterministic training with a log of every early gradient update.

`fit` trains a compiled-here Keras model and returns a `TrainLog`:

* ``updates``: the first `log_updates` gradient updates of epoch 1 — update number, that batch's loss and
  accuracy (Keras' batch logs are running means over the epoch; the batch value is recovered exactly
  for equal-sized batches as k·mean_k − (k−1)·mean_{k−1}), and the running means Keras shows;
* ``epochs``: per epoch the training loss/accuracy, the test loss/accuracy (monitoring only: no decision
  is taken on it, the epoch count is fixed), and cumulative training seconds (evaluation excluded);
* ``probes``: the test loss/accuracy `probes` times an epoch, at evenly spaced updates (the last one is the
  epoch's end, the same numbers as ``epochs``), with the epoch (fractional), the update, the running training
  loss/accuracy Keras shows there and the training seconds so far;
* ``time_to_target``: training seconds until a probe's test accuracy first reached `target` (None if never):
  with more probes an epoch, the crossing is seen closer to when it happens;
* ``console``: Keras' own progress lines for the first `log_updates` gradient updates of epoch 1, as it
  printed them (captured from stdout during `model.fit`, colour codes removed).

`keras.utils.set_random_seed` plus TensorFlow op determinism make a seed give bit-identical weights.
Training once and reusing the result (the cache, `train_part`) lives in hw5/cache.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import sys
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainLog:
    updates: list = field(default_factory=list)   # dicts: update, loss, accuracy, running_loss, running_accuracy
    epochs: list = field(default_factory=list)    # dicts: epoch, loss, accuracy, test_loss, test_accuracy,
    #                                               train_seconds
    probes: list = field(default_factory=list)    # dicts: epoch (float), update, loss, accuracy, test_loss,
    #                                               test_accuracy, train_seconds
    test_loss: float = float("nan")
    test_accuracy: float = float("nan")
    train_seconds: float = 0.0
    target: float = 0.90
    time_to_target: float | None = None
    console: list = field(default_factory=list)   # Keras' progress lines, first updates of epoch 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainLog:
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"^\s*\d+/\d+ ")  # a progress-bar line: "  7/469 ━━━━ 26s 58ms/step - accuracy: ..."


class _Console(io.TextIOBase):
    """stdout during `model.fit`: keeps what Keras prints and forwards it to `forward` (None: silent)."""

    def __init__(self, forward):
        self.forward, self.chunks = forward, []

    def write(self, text):
        self.chunks.append(text)
        if self.forward is not None:
            self.forward.write(text)
        return len(text)

    def flush(self):
        if self.forward is not None:
            self.forward.flush()

    def lines(self, first_epoch_steps: int) -> list[str]:
        """'Epoch 1/E' (Keras prints it when E > 1) and the first `first_epoch_steps` progress lines after it,
        as the terminal showed them. Keras redraws its bar with backspaces and a carriage return, so each
        redraw is one line here."""
        pieces = (_ANSI.sub("", p).strip() for p in re.split(r"[\r\n\b]+", "".join(self.chunks)))
        header, steps = [], []
        for piece in pieces:
            if piece.startswith("Epoch "):
                if steps:
                    break                              # epoch 2 begins: the first epoch's lines are all in
                header = [piece]
            elif _STEP.match(piece) and steps and piece.split()[0] == steps[-1].split()[0]:
                steps[-1] = piece                      # the epoch's last step is drawn again when it ends
            elif _STEP.match(piece) and len(steps) < first_epoch_steps:
                steps.append(piece)
        return header + steps


def _bypassing(progress, stdout):
    """`progress` writing to the real stdout, past the capture of Keras' bar."""
    def say(message: str) -> None:
        with contextlib.redirect_stdout(stdout):
            progress(message)
    return say


def _every_early_step(log_updates: int):
    """Keras' own progress bar, drawn at every one of the first `log_updates` updates of epoch 1.

    Keras redraws at most every 50 ms, which would skip some of the updates the homework asks to see;
    afterwards the default interval returns.
    """
    import keras

    class EveryEarlyStep(keras.callbacks.ProgbarLogger):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_now = epoch
            super().on_epoch_begin(epoch, logs)

        def on_train_batch_end(self, batch, logs=None):
            bar = getattr(self, "progbar", None)  # made on the first update, which is always drawn
            if bar is not None and hasattr(bar, "interval"):
                bar.interval = 0.0 if self.epoch_now == 0 and batch < log_updates else 0.05
            super().on_train_batch_end(batch, logs)

    return EveryEarlyStep()


def test_metrics(model, x_test, y_test, batch_size: int = 1000) -> tuple[float, float]:
    """(loss, accuracy) of `model` on the test set, as `model.evaluate` gives them, from `model.predict`.

    Inside an epoch `evaluate` cannot be used: it resets the compiled metrics, whose running means over the
    epoch Keras is still accumulating. Loss: Keras' sparse categorical cross-entropy of probabilities
    (clipped to [ε, 1 − ε], ε = 1e-7), averaged over the images; accuracy: argmax equals the label.
    """
    import keras

    probs = np.asarray(model.predict(x_test, batch_size=batch_size, verbose=0), dtype=np.float64)
    labels = np.asarray(y_test).reshape(-1).astype(np.int64)
    eps = keras.config.epsilon()
    picked = np.clip(probs[np.arange(len(labels)), labels] / probs.sum(axis=1), eps, 1 - eps)
    return float(-np.log(picked).mean()), float((probs.argmax(axis=1) == labels).mean())


def _recorder(log: TrainLog, x_test, y_test, log_updates: int, probes: int, progress):
    import keras

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.prev, self.train_seconds = (0.0, 0.0), 0.0
            steps = self.params["steps"]   # probes inside an epoch: {update in the epoch: fraction of it}
            self.inside = {} if x_test is None else {round(k * steps / probes): k / probes for k in range(1, probes)}
            self.inside.pop(0, None)
            self.inside.pop(steps, None)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in self.inside:                  # a probe inside the epoch: its time is not training
                self.train_seconds += time.perf_counter() - self.started
                self._probe(self.epoch + self.inside[batch + 1], logs, *test_metrics(self.model, x_test, y_test))
                self.started = time.perf_counter()
            if self.epoch != 0 or batch >= log_updates:
                return
            k, (mean_loss, mean_acc) = batch + 1, (float(logs["loss"]), float(logs["accuracy"]))
            log.updates.append(dict(
                update=int(self.model.optimizer.iterations.numpy()),
                loss=k * mean_loss - (k - 1) * self.prev[0],
                accuracy=k * mean_acc - (k - 1) * self.prev[1],
                running_loss=mean_loss, running_accuracy=mean_acc))
            self.prev = (mean_loss, mean_acc)

        def _probe(self, epoch, logs, test_loss, test_accuracy):
            log.probes.append(dict(epoch=epoch, update=int(self.model.optimizer.iterations.numpy()),
                                   loss=float(logs["loss"]), accuracy=float(logs["accuracy"]), test_loss=test_loss,
                                   test_accuracy=test_accuracy, train_seconds=self.train_seconds))
            if log.time_to_target is None and test_accuracy >= log.target:
                log.time_to_target = self.train_seconds
            if progress and epoch != int(epoch):
                progress(f"epoch {epoch:g}: test accuracy {test_accuracy:.4f} ({self.train_seconds:.0f} s)")

        def on_epoch_end(self, epoch, logs=None):
            self.train_seconds += time.perf_counter() - self.started
            row = dict(epoch=epoch + 1, loss=float(logs["loss"]), accuracy=float(logs["accuracy"]),
                       train_seconds=self.train_seconds)
            if x_test is not None:
                row["test_loss"], row["test_accuracy"] = (
                    float(v) for v in self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0))
                self._probe(epoch + 1, logs, row["test_loss"], row["test_accuracy"])
            log.epochs.append(row)
            log.train_seconds = self.train_seconds
            if progress:
                progress(f"epoch {epoch + 1}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.4f}"
                         + (f", test accuracy {row['test_accuracy']:.4f}" if x_test is not None else "")
                         + f" ({self.train_seconds:.0f} s)")

    return Recorder()


def fit(model, x_train, y_train, *, epochs: int, batch_size: int, seed: int, learning_rate: float = 1e-3,
        cosine: bool = False, warmup: float = 0.0, x_test=None, y_test=None, log_updates: int = 20,
        target: float = 0.90, probes: int = 1, verbose=0, progress=None, callbacks=()) -> TrainLog:
    """Compile `model` (Adam, sparse categorical cross-entropy, accuracy) and train it deterministically.

    `cosine=True` decays the learning rate from `learning_rate` to 0 over all updates of the run; with
    `warmup=f` (0 ≤ f < 1) it first rises linearly from 0 to `learning_rate` over the first fraction f of
    the updates, then decays over the rest. `callbacks`: more Keras callbacks, called after fit's own.
    With a test set, `probes` evaluations an epoch find the time to `target` (the last at the epoch's end).

    The caller builds the model *after* `make_deterministic(seed)` so that initial weights are seeded too;
    `fit` seeds again so that shuffling and dropout are.
    """
    import keras

    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    log_updates, probes = _positive_int(log_updates, "log_updates"), _positive_int(probes, "probes")
    if not 0 <= warmup < 1 or (warmup and not cosine):
        raise ValueError(f"warmup must be in [0, 1) and needs cosine=True, got warmup={warmup!r}")
    make_deterministic(seed)
    if cosine:
        steps = epochs * -(-len(x_train) // batch_size)
        warm = round(warmup * steps)
        learning_rate = (keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps) if not warm else
                         keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps - warm,
                                                                warmup_target=learning_rate, warmup_steps=warm))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log = TrainLog(target=target)
    console = _Console(sys.stdout if verbose else None)  # Keras always draws its bar; shown only if verbose
    if progress is not None:
        progress = _bypassing(progress, sys.stdout)
    with contextlib.redirect_stdout(console):
        recorder = _recorder(log, x_test, y_test, log_updates, probes, progress)
        model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=1,
                  callbacks=[_every_early_step(log_updates), recorder, *callbacks])
    log.console = console.lines(log_updates)
    if x_test is not None:
        log.test_loss, log.test_accuracy = log.epochs[-1]["test_loss"], log.epochs[-1]["test_accuracy"]
    return log
