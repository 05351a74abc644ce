"""Keras callbacks that keep a run directory: the metrics log, the models, the sample grids, the
learning curve and the checkpoint, each file written atomically.

The metrics log is written after every epoch. The others are written every `every` epochs, and
always after the last one (or when training stops early); `every="auto"` writes after an epoch
once the training since the last write took at least ten times what that write took, so that
writing costs at most a tenth of the training time: every epoch on a CPU, every few epochs on a
GPU, whose epochs are shorter than a checkpoint's write. Pass them to `fit(callbacks=...)` in the
order of `run_directory_callbacks`: the checkpoint last, so that a run killed before it resumes
from an earlier epoch, whose other files are then rewritten.
"""

import json
import os
import time

import keras

from ssgan.util import atomic_path
from ssgan.util import atomic_write

AUTO = "auto"
AUTO_RATIO = 10  # "auto": train at least this many times a write's cost between writes


class RunDirectoryCallback(keras.callbacks.Callback):
    """A callback writing into `directory` every `every` epochs (an int, or "auto"); its
    `model` is the trainer. Subclasses implement `write()`."""

    def __init__(self, directory, every=1):
        super().__init__()
        if every != AUTO and not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a positive int or {AUTO!r}, got {every!r}.")
        self.directory = str(directory)
        self.every = every
        self._cost = None
        self._since = time.perf_counter()

    def path(self, name):
        return os.path.join(self.directory, name)

    def on_train_begin(self, logs=None):
        self._since = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._due(epoch):
            start = time.perf_counter()
            self.write()
            self._cost = time.perf_counter() - start
            self._since = time.perf_counter()

    def _due(self, epoch):
        last = self.params is not None and epoch + 1 >= self.params.get("epochs", 0)
        if last or self.model.stop_training or self.every == 1:
            return True
        if self.every == AUTO:
            elapsed = time.perf_counter() - self._since
            return self._cost is None or elapsed >= AUTO_RATIO * self._cost
        return (epoch + 1) % self.every == 0

    def write(self):
        raise NotImplementedError


class MetricsLog(RunDirectoryCallback):
    """`metrics.jsonl`: the trainer's log, one JSON line per epoch, rewritten when training starts
    and after every epoch (so that it holds epochs 1..n once each, also after a resumption)."""

    def __init__(self, directory):
        super().__init__(directory, every=1)

    def on_train_begin(self, logs=None):
        self.write()

    def write(self):
        with atomic_write(self.path("metrics.jsonl")) as f:
            f.writelines(json.dumps(entry) + "\n" for entry in self.model.log)


class SaveModels(RunDirectoryCallback):
    """`discriminator.keras` (the averaged weights: the classifier) and `generator.keras`."""

    def write(self):
        for name, model in (("discriminator", self.model.discriminator),
                            ("generator", self.model.generator)):
            with atomic_path(self.path(f"{name}.keras")) as tmp:
                model.save(tmp)


class SampleGrids(RunDirectoryCallback):
    """`samples.png` and the objective's grids (`ssgan.grids.save_sample_grids`)."""

    def __init__(self, directory, every=1, seed=0):
        super().__init__(directory, every)
        self.seed = seed

    def write(self):
        from ssgan.grids import save_sample_grids

        save_sample_grids(self.model, self.directory, seed=self.seed)


class LearningCurve(RunDirectoryCallback):
    """`learning_curve.png`: test error and losses per epoch (`ssgan.plots`)."""

    def __init__(self, directory, every=1, title=None):
        super().__init__(directory, every)
        self.title = title

    def write(self):
        from ssgan.plots import save_learning_curve

        save_learning_curve(self.model.log, self.path("learning_curve.png"), title=self.title)


class Checkpoint(RunDirectoryCallback):
    """`checkpoint/`: the whole training state (`SemiSupervisedGAN.save_checkpoint`)."""

    def write(self):
        self.model.save_checkpoint(self.path("checkpoint"))


def run_directory_callbacks(directory, seed=0, title=None, save_every=1, plot_every=1):
    """The run directory's writers, in order (the checkpoint last): the models and the
    checkpoint every `save_every` epochs, the grids and the curve every `plot_every`."""
    return [MetricsLog(directory), SaveModels(directory, save_every),
            SampleGrids(directory, plot_every, seed), LearningCurve(directory, plot_every, title),
            Checkpoint(directory, save_every)]
