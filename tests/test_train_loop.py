"""The epoch loop: batch indices, Keras callbacks as in `model.fit`, progress output, NaN."""

import csv
import threading

import keras
import numpy as np
import pytest
from conftest import small_config

from ssgan.train import SemiSupervisedGAN, TrainingDivergedError, epoch_indices
from ssgan.train.loop import EpochIndices


def _trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))


def test_epoch_indices_tile_the_labeled_set_and_cover_the_unlabeled_set():
    idx = epoch_indices(seed=3, epoch=1, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    assert {k: v.shape for k, v in idx.items()} == {
        "labeled": (10, 50), "unlabeled": (10, 50), "unlabeled_2": (10, 50)
    }
    labeled = idx["labeled"].ravel()
    for block in labeled.reshape(-1, 20):  # consecutive reshuffles of the labeled set
        assert sorted(block) == list(range(20))
    assert sorted(idx["unlabeled"].ravel()) == list(range(500))
    assert not np.array_equal(idx["unlabeled"], idx["unlabeled_2"])
    again = epoch_indices(seed=3, epoch=1, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    other = epoch_indices(seed=3, epoch=2, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)
    assert not np.array_equal(idx["unlabeled"], other["unlabeled"])


class DrawRecorder:
    """A `Runs` stand-in whose `epoch_indices` records each epoch drawn and in which thread."""

    def __init__(self):
        self.draws = []

    def epoch_indices(self, epoch):
        self.draws.append((epoch, threading.current_thread().name))
        return _small_epoch(epoch)


def _small_epoch(epoch):
    return epoch_indices(seed=1, epoch=epoch, n_labeled=10, n_unlabeled=50, steps=2, batch_size=5)


def test_epoch_indices_are_drawn_one_epoch_ahead_in_the_background():
    runs = DrawRecorder()
    indices = EpochIndices(runs, last_epoch=3)
    got = {epoch: indices(epoch) for epoch in (1, 2)}
    rolled_back = indices(2)  # e.g. after a rollback: epoch 3 was drawn ahead, 2 comes again
    last = indices(3)
    indices.close()
    for epoch, drawn in [*got.items(), (2, rolled_back), (3, last)]:
        expected = _small_epoch(epoch)
        assert all(np.array_equal(drawn[k], expected[k]) for k in expected)
    main = threading.current_thread().name
    assert [e for e, thread in runs.draws if thread == main] == [1, 2]  # 1st, and the rollback
    ahead = [e for e, thread in runs.draws if thread != main]
    assert sorted(ahead) == [2, 3, 3]  # after epochs 1, 2 (then dropped) and the rollback's 2
    assert all(thread.startswith("ssgan-indices") for e, thread in runs.draws if thread != main)


class Recorder(keras.callbacks.Callback):
    """Records the hooks called, in order, with the batch or epoch and the logs' keys."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs), self.model.epoch))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_callbacks_are_called_as_model_fit_calls_them(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=2, steps_per_epoch=4, steps_per_call=2)
    recorder = Recorder()
    trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test[:200], y_test[:200]),
                callbacks=[recorder], verbose=0)
    names = [call[0] for call in recorder.calls]
    assert names == ["train_begin", "epoch_begin", "batch_end", "batch_end", "epoch_end",
                     "epoch_begin", "batch_end", "batch_end", "epoch_end", "train_end"]
    # Batch hooks after every compiled call (2 steps), with the epoch's running means.
    batch_calls = [call for call in recorder.calls if call[0] == "batch_end"]
    assert [call[1] for call in batch_calls] == [1, 3, 1, 3]
    assert batch_calls[0][2] == ["loss_generator", "loss_supervised", "loss_unsupervised",
                                 "train_error"]
    _, epoch, logs, done = recorder.calls[4]
    assert (epoch, done) == (0, 1) and "epoch" not in logs
    assert logs == {k: v for k, v in trainer.log[0].items() if k != "epoch"}
    assert 0.0 <= logs["test_accuracy"] <= 1.0
    assert logs["loss_supervised"] == pytest.approx(trainer.log[0]["loss_supervised"])


def test_early_stopping_stops_and_restores_the_best_state(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=6, steps_per_epoch=2)
    snapshots = []
    keep = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(trainer.get_weights()))
    # A metric that only worsens after the first epoch: stop after `patience` more.
    worse = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update(made_up_loss=float(epoch)))
    stop = keras.callbacks.EarlyStopping(monitor="made_up_loss", mode="min", patience=2,
                                         restore_best_weights=True)
    trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test[:200], y_test[:200]),
                callbacks=[keep, worse, stop], verbose=0)
    assert trainer.epoch == 3 and stop.stopped_epoch == 2
    for got, want in zip(trainer.get_weights(), snapshots[0]):  # the first epoch's state
        np.testing.assert_array_equal(got, want)


def test_csv_logger_model_checkpoint_and_tensorboard_work(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=2, steps_per_epoch=2)
    callbacks = [
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="test_error",
                                        mode="min", save_best_only=True),
        keras.callbacks.TensorBoard(str(tmp_path / "tb"), histogram_freq=1),
    ]
    trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test[:200], y_test[:200]),
                callbacks=callbacks, verbose=0)
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[-1]["test_error"]) == pytest.approx(trainer.log[-1]["test_error"])
    saved = keras.saving.load_model(tmp_path / "best.keras")  # the discriminator
    assert set(saved.output) == {"logits", "features"}
    assert any((tmp_path / "tb" / "train").iterdir())


def test_progress_bar_and_one_line_per_epoch(mnist_subset, capsys):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    _trainer(epochs=2, steps_per_epoch=2).fit(x_lab, y_lab, x_unl, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss_generator" in out
    _trainer(epochs=2, steps_per_epoch=2).fit(x_lab, y_lab, x_unl, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss_supervised" in line]
    assert len(lines) == 2 and lines[0].startswith("2/2")
    _trainer(epochs=1, steps_per_epoch=2).fit(x_lab, y_lab, x_unl, verbose=0)
    assert capsys.readouterr().out == ""


def test_nan_loss_stops_with_a_clear_error(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    x_bad = x_lab.copy()
    x_bad[3, 100] = np.nan
    trainer = _trainer(epochs=1, steps_per_epoch=4)
    with pytest.raises(TrainingDivergedError, match="NaN or infinite at epoch 1, step 1-4"):
        trainer.fit(x_bad, y_lab, x_unl, verbose=0)
    assert trainer.epoch == 0 and trainer.log == []


def test_stop_training_ends_the_loop_after_the_epoch(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=5, steps_per_epoch=2)
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(trainer, "stop_training", epoch == 1))
    trainer.fit(x_lab, y_lab, x_unl, callbacks=[stop], verbose=0)
    assert trainer.epoch == 2
