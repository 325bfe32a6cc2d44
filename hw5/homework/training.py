"""Step 3 — train: seeded, deterministic training that keeps the first gradient updates.

`fit` trains with Adam and cross-entropy, Keras drawing its bar at each of the first `log_updates` updates, and
returns a TrainLog: those updates (Keras logs running means, so a batch's own loss is k·mean_k − (k−1)·mean_(k−1))
and per epoch the loss, accuracy, training seconds and the test loss and accuracy. A seed gives the same weights.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TrainLog:
    updates: list = field(default_factory=list)   # dicts: update, loss, accuracy, running_loss, running_accuracy
    epochs: list = field(default_factory=list)    # dicts: epoch, loss, accuracy, train_seconds (, test_loss/accuracy)
    probes: list = field(default_factory=list)    # test evaluations inside epochs (the package's monitor adds them)
    test_loss: float = float("nan")
    test_accuracy: float = float("nan")
    train_seconds: float = 0.0                    # time spent in training steps only
    target: float = 0.90
    time_to_target: float | None = None
    console: list = field(default_factory=list)   # Keras' bar lines of the first updates, as printed


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def keras_inputs(x, y=None, batch_size=None, shuffle=None) -> dict:
    """Keyword arguments of Keras' fit/evaluate/predict for arrays x (, y): Keras' own tf.data pipeline for arrays
    (same batches, order, shuffle), autotuning off (it stalled each epoch's first step); else the arrays."""
    try:
        import tensorflow as tf
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return {k: v for k, v in dict(x=x, y=y, batch_size=batch_size, shuffle=shuffle).items() if v is not None}
    adapter = ArrayDataAdapter(x, y, batch_size=batch_size, shuffle=bool(shuffle))
    options = tf.data.Options()
    options.autotune.enabled = False
    data = adapter.get_tf_dataset().with_options(options).apply(
        tf.data.experimental.assert_cardinality(adapter.num_batches))   # Keras still knows the steps (1/469)
    return dict(x=data) if shuffle is None else dict(x=data, shuffle=False)   # it shuffles itself


def _callbacks(log: TrainLog, x_test, y_test, log_updates: int) -> list:
    """Keras' bar, drawn at each of the first `log_updates` updates (it redraws at most every 50 ms), and a
    recorder filling `log`; a step's time is counted from its batch's start to its end."""
    import keras

    class EveryEarlyStep(keras.callbacks.ProgbarLogger):
        def on_train_batch_end(self, batch, logs=None):
            if getattr(self, "progbar", None) is not None:   # made on the first update, always drawn
                self.progbar.interval = 0.0 if not log.epochs and batch < log_updates else 0.05
            super().on_train_batch_end(batch, logs)

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            log.train_seconds += time.perf_counter() - self.started
            if log.epochs or batch >= log_updates:
                return
            k, loss, accuracy = batch + 1, float(logs["loss"]), float(logs["accuracy"])
            before = log.updates[-1] if log.updates else dict(running_loss=0.0, running_accuracy=0.0)
            log.updates.append(dict(update=k, loss=k * loss - (k - 1) * before["running_loss"],
                                    accuracy=k * accuracy - (k - 1) * before["running_accuracy"],
                                    running_loss=loss, running_accuracy=accuracy))

        def on_epoch_end(self, epoch, logs=None):
            row = dict(epoch=epoch + 1, loss=float(logs["loss"]), accuracy=float(logs["accuracy"]),
                       train_seconds=log.train_seconds)
            if x_test is not None:
                row["test_loss"], row["test_accuracy"] = (
                    float(v) for v in self.model.evaluate(**keras_inputs(x_test, y_test, 1000), verbose=0))
            log.epochs.append(row)

    return [EveryEarlyStep(), Recorder()]


def fit(model, x_train, y_train, *, epochs: int, batch_size: int, seed: int, learning_rate=1e-3,
        cosine: bool = False, x_test=None, y_test=None, log_updates: int = 20, watchers=()) -> TrainLog:
    """Train `model` deterministically (`cosine`: the learning rate decays to 0 over the run). Build it after
    `make_deterministic(seed)`; fit seeds again for shuffling and dropout. `watchers`: functions TrainLog ->
    Keras callback, run after fit's own (the package's test probes; the homework needs none)."""
    import keras

    make_deterministic(seed)
    if cosine:
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * -(-len(x_train) // batch_size))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log = TrainLog()
    model.fit(**keras_inputs(x_train, y_train, batch_size, shuffle=True), epochs=epochs, verbose=1,
              callbacks=[*_callbacks(log, x_test, y_test, log_updates), *(watch(log) for watch in watchers)])
    if x_test is not None:
        log.test_loss, log.test_accuracy = log.epochs[-1]["test_loss"], log.epochs[-1]["test_accuracy"]
    return log
