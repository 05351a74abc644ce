"""Keras callbacks that keep a run directory: the metrics log, the models, the sample grids, the
learning curve and the checkpoint, written after every epoch (each file atomically).

Pass them to `SemiSupervisedGAN.fit(callbacks=...)` in this order: the checkpoint last, so that a
run killed before it resumes from the previous epoch, whose other files are rewritten identically.
"""

import json
import os

import keras

from ssgan.util import atomic_path
from ssgan.util import atomic_write


class RunDirectoryCallback(keras.callbacks.Callback):
    """A callback writing into `directory`; its `model` is the trainer."""

    def __init__(self, directory):
        super().__init__()
        self.directory = str(directory)

    def path(self, name):
        return os.path.join(self.directory, name)


class MetricsLog(RunDirectoryCallback):
    """`metrics.jsonl`: the trainer's log, one JSON line per epoch, rewritten when training starts
    and after every epoch (so that it holds epochs 1..n once each, also after a resumption)."""

    def on_train_begin(self, logs=None):
        self.on_epoch_end(None)

    def on_epoch_end(self, epoch, logs=None):
        with atomic_write(self.path("metrics.jsonl")) as f:
            f.writelines(json.dumps(entry) + "\n" for entry in self.model.log)


class SaveModels(RunDirectoryCallback):
    """`discriminator.keras` (the averaged weights: the classifier) and `generator.keras`."""

    def on_epoch_end(self, epoch, logs=None):
        for name, model in (("discriminator", self.model.discriminator),
                            ("generator", self.model.generator)):
            with atomic_path(self.path(f"{name}.keras")) as tmp:
                model.save(tmp)


class SampleGrids(RunDirectoryCallback):
    """`samples.png` and the objective's grids (`ssgan.grids.save_sample_grids`)."""

    def __init__(self, directory, seed=0):
        super().__init__(directory)
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        from ssgan.grids import save_sample_grids

        save_sample_grids(self.model, self.directory, seed=self.seed)


class LearningCurve(RunDirectoryCallback):
    """`learning_curve.png`: test error and losses per epoch (`ssgan.plots`)."""

    def __init__(self, directory, title=None):
        super().__init__(directory)
        self.title = title

    def on_epoch_end(self, epoch, logs=None):
        from ssgan.plots import save_learning_curve

        save_learning_curve(self.model.log, self.path("learning_curve.png"), title=self.title)


class Checkpoint(RunDirectoryCallback):
    """`checkpoint/`: the whole training state (`SemiSupervisedGAN.save_checkpoint`)."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.save_checkpoint(self.path("checkpoint"))


def run_directory_callbacks(directory, seed=0, title=None):
    """The run directory's writers, in order (the checkpoint last)."""
    return [MetricsLog(directory), SaveModels(directory), SampleGrids(directory, seed),
            LearningCurve(directory, title), Checkpoint(directory)]
