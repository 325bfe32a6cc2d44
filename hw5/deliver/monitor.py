"""Training as the cache and the tools run it: the homework's `fit`, watched.

`fit_monitored` calls hw5.homework.training.fit (the same training, bit for bit: watching changes no weight)
and adds

* test probes: the test loss/accuracy `probes` times an epoch, at evenly spaced updates (the last at the
  epoch's end, the epoch row's own numbers), with the epoch (fractional), the update, the running training
  loss/accuracy Keras shows there and the training seconds so far — `log.probes`;
* `log.time_to_target`: training seconds until a probe's test accuracy first reached `target` (None if
  never); a probe's own time is not training (the homework's recorder times the steps only);
* `log.console`: Keras' progress lines of the first `log_updates` updates of epoch 1, captured from stdout
  during `model.fit`, the part of the bar still to go drawn as '─' (a terminal shows it in another colour);
* a progress line per probe through `progress`, past the capture; Keras' bar shown only if `verbose`;
* `warmup=f`: with `cosine`, a linear rise from 0 over the first fraction f of the updates (Part 1's search).

Inside an epoch `model.evaluate` cannot be used — it resets the compiled metrics whose running means Keras
is still accumulating — so the probes compute the loss and accuracy from `model.predict` (`test_metrics`).
"""
from __future__ import annotations

import contextlib
import io
import re
import sys

import numpy as np

from hw5.homework.training import TrainLog, fit, keras_inputs

_ANSI = re.compile(r"\x1b\[([0-9;]*)m")
_STEP = re.compile(r"^\s*\d+/\d+ ")  # a progress-bar line: "  7/469 ━━━━ 26s 58ms/step - accuracy: ..."
_TO_GO = "37"                       # the ANSI colour (white/grey) Keras draws the rest of its bar in


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def test_metrics(model, x_test, y_test, batch_size: int = 1000) -> tuple[float, float]:
    """(loss, accuracy) of `model` on the test set, as `model.evaluate` gives them, from `model.predict`:
    Keras' sparse categorical cross-entropy of probabilities clipped to [ε, 1 − ε] (ε = 1e-7), and argmax."""
    import keras

    probs = np.asarray(model.predict(**keras_inputs(x_test, None, batch_size), verbose=0), dtype=np.float64)
    labels = np.asarray(y_test).reshape(-1).astype(np.int64)
    eps = keras.config.epsilon()
    picked = np.clip(probs[np.arange(len(labels)), labels] / probs.sum(axis=1), eps, 1 - eps)
    return float(-np.log(picked).mean()), float((probs.argmax(axis=1) == labels).mean())


def _plain(chunk: str) -> str:
    """A piece of Keras' output without colour codes; the bar's part still to go becomes '─'."""
    out, to_go = [], False
    for i, piece in enumerate(_ANSI.split(chunk)):
        if i % 2:                                   # a colour code: is what follows the bar's rest?
            to_go = piece == _TO_GO
        else:
            out.append(piece.replace("━", "─") if to_go else piece)
    return "".join(out)


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
        pieces = (p.rstrip() for p in re.split(r"[\r\n\b]+", _plain("".join(self.chunks))))   # Keras pads "  1/469"
        header, steps = [], []
        for piece in pieces:
            if piece.lstrip().startswith("Epoch "):
                if steps:
                    break                              # epoch 2 begins: the first epoch's lines are all in
                header = [piece.strip()]
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


def _prober(log: TrainLog, x_test, y_test, probes: int, progress):
    import keras

    class Probes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            steps = self.params["steps"]   # probes inside an epoch: {update in the epoch: fraction of it}
            self.inside = {round(k * steps / probes): k / probes for k in range(1, probes)}
            self.inside.pop(0, None)
            self.inside.pop(steps, None)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in self.inside:   # the homework's recorder has counted this step: the probe is not
                self._probe(self.epoch + self.inside[batch + 1], logs, *test_metrics(self.model, x_test, y_test))

        def on_epoch_end(self, epoch, logs=None):
            row = log.epochs[-1]           # the recorder's row (it runs first), evaluated on the test set
            self._probe(epoch + 1, logs, row["test_loss"], row["test_accuracy"])

        def _probe(self, epoch, logs, test_loss, test_accuracy):
            log.probes.append(dict(epoch=epoch, update=int(self.model.optimizer.iterations.numpy()),
                                   loss=float(logs["loss"]), accuracy=float(logs["accuracy"]), test_loss=test_loss,
                                   test_accuracy=test_accuracy, train_seconds=log.train_seconds))
            if not progress:
                return
            if epoch != int(epoch):
                progress(f"epoch {epoch:g}: test accuracy {test_accuracy:.4f} ({log.train_seconds:.0f} s)")
            else:
                progress(f"epoch {epoch:g}: loss {float(logs['loss']):.4f}, accuracy {float(logs['accuracy']):.4f}"
                         f", test accuracy {test_accuracy:.4f} ({log.train_seconds:.0f} s)")

    return Probes()


def fit_monitored(model, x_train, y_train, *, epochs: int, batch_size: int, seed: int, learning_rate: float = 1e-3,
                  cosine: bool = False, warmup: float = 0.0, x_test=None, y_test=None, log_updates: int = 20,
                  target: float = 0.90, probes: int = 1, verbose=0, progress=None, callbacks=()) -> TrainLog:
    """`hw5.homework.training.fit`, watched (see the module docstring); `callbacks` run after the probes."""
    import keras

    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    log_updates, probes = positive_int(log_updates, "log_updates"), positive_int(probes, "probes")
    if not 0 <= warmup < 1 or (warmup and not cosine):
        raise ValueError(f"warmup must be in [0, 1) and needs cosine=True, got warmup={warmup!r}")
    if warmup:   # fit's cosine is the plain decay: the warm-up schedule is built here and handed over as is
        steps = epochs * -(-len(x_train) // batch_size)
        warm = round(warmup * steps)
        learning_rate, cosine = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=steps - warm, warmup_target=learning_rate, warmup_steps=warm), False
    console = _Console(sys.stdout if verbose else None)   # Keras always draws its bar; shown only if verbose
    say = _bypassing(progress, sys.stdout) if progress is not None else None
    watchers = [] if x_test is None else [lambda log: _prober(log, x_test, y_test, probes, say)]
    watchers += [lambda log, c=c: c for c in callbacks]
    with contextlib.redirect_stdout(console):
        log = fit(model, x_train, y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                  learning_rate=learning_rate, cosine=cosine, x_test=x_test, y_test=y_test,
                  log_updates=log_updates, watchers=watchers)
    log.target, log.console = target, console.lines(log_updates)
    log.time_to_target = next((p["train_seconds"] for p in log.probes if p["test_accuracy"] >= target), None)
    return log
