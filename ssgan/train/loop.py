"""The epoch loop: one loop for a single run and for runs side by side, driven by Keras callbacks.

Each run's trainer is the `model` of its own `keras.callbacks.CallbackList`, as a Keras model is
in `model.fit`: `History`, `ProgbarLogger`, `CSVLogger`, `EarlyStopping` (`stop_training`, and
`get_weights` / `set_weights` for its best weights), `ModelCheckpoint`, `TensorBoard` and users'
own callbacks see the epoch logs (losses, `test_error`, `test_accuracy`, seconds). Runs side by
side share one progress bar showing their mean.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from keras.callbacks import CallbackList


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; training stops and the last good checkpoint is kept."""


def _tiled_permutations(rng, n, count):
    """`count` indices into range(n): consecutive random permutations of range(n), cut to length."""
    reps = math.ceil(count / n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:count]


def epoch_indices(seed, epoch, n_labeled, n_unlabeled, steps, batch_size):
    """Batch indices of one epoch, a pure function of (seed, epoch) so that a resumed run repeats
    exactly the batches the interrupted one would have seen."""
    rng = np.random.default_rng([seed, epoch])
    count = steps * batch_size
    shape = (steps, batch_size)
    return {
        "labeled": _tiled_permutations(rng, n_labeled, count).reshape(shape).astype("int32"),
        "unlabeled": _tiled_permutations(rng, n_unlabeled, count).reshape(shape).astype("int32"),
        "unlabeled_2": _tiled_permutations(rng, n_unlabeled, count).reshape(shape).astype("int32"),
    }


class Runs:
    """What the loop trains: the trainers of one run, or of several side by side, their compiled
    steps, their data on the device and their (stacked) state. Subclasses say how an epoch's
    batch indices are laid out, how a run's state is found in `state` and what divergence does.

    Attributes:
        trainers: the `SemiSupervisedGAN`s, equal in configuration but for the seed.
        run_steps: the compiled steps (`ssgan.backends`: `run(state, data, indices)`).
        data: the device arrays the step reads (`x_labeled`, `y_labeled`, `class_shares`,
            `x_unlabeled`).
        steps, per_call: steps per epoch and per compiled call.
        epoch: the last epoch every run has finished.
        diverged: run index → message, for runs whose losses became NaN or infinite.
        stopped: indices of runs whose trainer set `stop_training`.
    """

    vectorized = False

    def __init__(self, trainers, run_steps, data, steps, per_call):
        self.trainers = list(trainers)
        self.run_steps = run_steps
        self.data = data
        self.steps = steps
        self.per_call = per_call
        self.epoch = self.trainers[0].epoch
        self.diverged = {}
        self.stopped = set()

    @property
    def backend(self):
        return self.trainers[0].backend

    def active(self):
        """Indices of the runs still training."""
        return [i for i in range(len(self.trainers))
                if i not in self.diverged and i not in self.stopped]

    def epoch_indices(self, epoch):
        raise NotImplementedError

    def hand_over(self, index):
        """After an epoch: give run `index`'s trainer its state (a run alone: it holds it)."""

    def validation_errors(self, validation_data):
        """Each run's error on `validation_data` after an epoch, when measured for all runs at
        once (index → error); else {} and each trainer measures its own."""
        del validation_data
        return {}

    def diverge(self, index, message):
        self.diverged[index] = message

    def finish_epoch(self):
        """After an epoch and its callbacks: count it."""
        self.epoch += 1


class EpochIndices:
    """Each epoch's batch indices, the next epoch's drawn in a background thread while the device
    trains this one: drawn between epochs, the NumPy permutations (tens of milliseconds a run)
    would keep an accelerator idle. An epoch other than the one drawn ahead (after a rollback)
    is drawn on the spot; either way the indices are `runs.epoch_indices(epoch)`."""

    def __init__(self, runs, last_epoch):
        self.runs = runs
        self.last_epoch = last_epoch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssgan-indices")
        self._ahead = None  # (epoch, future)

    def __call__(self, epoch):
        """Epoch `epoch`'s indices; starts drawing the next epoch's."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == epoch:
            indices = ahead[1].result()
        else:
            indices = self.runs.epoch_indices(epoch)
        if epoch < self.last_epoch:
            self._ahead = (epoch + 1, self._executor.submit(self.runs.epoch_indices, epoch + 1))
        return indices

    def close(self):
        self._ahead = None
        self._executor.shutdown(wait=True, cancel_futures=True)


def run_calls(runs, indices, collect):
    """One epoch as `steps / per_call` compiled calls that update `runs.state`.

    Each call is queued before the previous call's metrics are pulled by `collect(first_step,
    metrics)` (JAX dispatches asynchronously, so the device never idles on the host). The first
    call is compiled ahead of time, to time compilation apart; returns its seconds (None when
    already compiled).
    """
    compile_seconds = None
    pending = None
    to_device = runs.backend.to_device
    for first in range(0, runs.steps, runs.per_call):
        chunk = {k: to_device(v[first : first + runs.per_call]) for k, v in indices.items()}
        if not runs.run_steps.compiled:
            compile_start = time.perf_counter()
            runs.run_steps.compile(runs.state, runs.data, chunk)
            compile_seconds = time.perf_counter() - compile_start
        runs.state, metrics = runs.run_steps(runs.state, runs.data, chunk)
        if pending is not None:
            collect(*pending)
        pending = (first, metrics)
    collect(*pending)
    return compile_seconds


def _mean_logs(logs):
    """The mean of each key over a list of log dicts."""
    return {k: float(np.mean([entry[k] for entry in logs])) for k in logs[0]} if logs else {}


class _Epoch:
    """One epoch of `runs`: the per-run running sums of the step metrics, and the callbacks'
    batch hooks after every compiled call."""

    def __init__(self, runs, epoch, lists, progress):
        self.runs, self.epoch, self.lists, self.progress = runs, epoch, lists, progress
        self.totals = [{} for _ in runs.trainers]
        self.active = runs.active()

    def collect(self, first, metrics):
        runs = self.runs
        metrics = {k: runs.backend.to_numpy(v) for k, v in metrics.items()}
        metrics = {k: v.reshape(len(v), -1) for k, v in metrics.items()}  # (steps, runs)
        done = first + runs.per_call
        for i in self.active:
            if i in runs.diverged:
                continue
            bad = [k for k, v in metrics.items() if not np.all(np.isfinite(v[:, i]))]
            if bad:
                runs.diverge(i, f"{', '.join(bad)} became NaN or infinite at epoch {self.epoch}, "
                                f"step {first + 1}-{done}")
                continue
            for k, v in metrics.items():
                self.totals[i][k] = self.totals[i].get(k, 0.0) + float(np.sum(v[:, i]))
            self.lists[i].on_train_batch_begin(first)
            self.lists[i].on_train_batch_end(done - 1, self.running(i, done))
        alive = [i for i in self.active if i not in runs.diverged]
        if self.progress is not None and alive:
            self.progress.on_train_batch_end(done - 1,
                                             _mean_logs([self.running(i, done) for i in alive]))

    def running(self, i, done):
        return {k: v / done for k, v in self.totals[i].items()}


def _train_epoch(runs, epoch, lists, progress, validation_data, indices):
    """Train epoch number `epoch` (from 1) of every active run, on batches `indices(epoch)`; end
    it for each with its logs."""
    current = _Epoch(runs, epoch, lists, progress)
    for i in current.active:
        lists[i].on_epoch_begin(epoch - 1)
    if progress is not None:
        progress.on_epoch_begin(epoch - 1)
    start = time.perf_counter()
    compile_seconds = run_calls(runs, indices(epoch), current.collect)
    seconds = time.perf_counter() - start - (compile_seconds or 0.0)
    first = runs.trainers[0]
    learning_rate = float(first.optimizers.discriminator.learning_rate_at(epoch * runs.steps))
    errors = runs.validation_errors(validation_data) if validation_data is not None else {}
    ended = []
    for i in current.active:
        if i in runs.diverged:
            continue
        logs = {"epoch": epoch, **current.running(i, runs.steps)}
        if compile_seconds is not None:
            logs["compile_seconds"] = compile_seconds
        logs["seconds"] = seconds  # with runs side by side: the time of all of them
        if runs.vectorized:
            logs["runs_in_step"] = len(runs.trainers)
        logs["learning_rate"] = learning_rate
        trainer = runs.trainers[i]
        runs.hand_over(i)
        trainer.end_epoch(epoch, logs, validation_data, errors.get(i))
        callback_logs = {k: v for k, v in logs.items() if k != "epoch"}
        lists[i].on_epoch_end(epoch - 1, callback_logs)
        ended.append(callback_logs)
        if trainer.stop_training:
            runs.stopped.add(i)
    if progress is not None:
        progress.on_epoch_end(epoch - 1, _mean_logs(ended))


def fit_runs(runs, epochs, validation_data=None, callbacks=None, verbose=1):
    """Train every run of `runs` from its current epoch up to `epochs`.

    Args:
        runs: a `Runs` (one trainer's run, or a `SeedGroup`).
        validation_data: optional (x, y) evaluated after every epoch; its error goes into the
            logs as `test_error` and `test_accuracy`.
        callbacks: one list of `keras.callbacks.Callback`s per run (or None).
        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch (Keras').

    A run stops at `epochs`, when its trainer's `stop_training` is set (`EarlyStopping`), or when
    its losses become NaN (one run alone: `TrainingDivergedError`; side by side it is left out
    and noted in `runs.diverged`). Returns each run's `keras.callbacks.History`.
    """
    trainers = runs.trainers
    callbacks = callbacks if callbacks is not None else [[] for _ in trainers]
    if len(callbacks) != len(trainers):
        raise ValueError(f"Expected one list of callbacks per run ({len(trainers)}), got "
                         f"{len(callbacks)}.")
    params = {"verbose": verbose, "epochs": epochs, "steps": runs.steps,
              "vectorized": runs.vectorized}
    lists = [CallbackList(list(cbs), add_history=True,
                          add_progbar=bool(verbose) and not runs.vectorized, model=trainer,
                          **params)
             for trainer, cbs in zip(trainers, callbacks)]
    progress = (CallbackList(None, add_progbar=bool(verbose), **params) if runs.vectorized
                else None)
    for trainer, callback_list in zip(trainers, lists):
        trainer.stop_training = False
        callback_list.on_train_begin()
    if progress is not None:
        progress.on_train_begin()
    indices = EpochIndices(runs, epochs)
    try:
        while runs.epoch < epochs and runs.active():
            _train_epoch(runs, runs.epoch + 1, lists, progress, validation_data, indices)
            runs.finish_epoch()
    finally:
        indices.close()
    for i, callback_list in enumerate(lists):
        if i not in runs.diverged:
            callback_list.on_train_end()
    if progress is not None:
        progress.on_train_end()
    return [trainer.history for trainer in trainers]
