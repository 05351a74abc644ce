"""Training the runs of a plan: the backend's compilation settings, the data, the evaluation
classifier, the timing and ETA, one run or several side by side, and what a stop (Ctrl-C,
SIGTERM) leaves behind.

Keras is imported inside the functions: the command line picks the backend first.
"""

import contextlib
import dataclasses
import functools
import gc
import os
import shutil
import signal
import time
from pathlib import Path

from ssgan.util import cache_dir
from ssgan.util import write_json

from benchmarks import records as recs
from benchmarks.plan import training_config
from benchmarks.schedule import Timing
from benchmarks.schedule import group_label

# ------------------------------------------------------------------------- backend, device


def configure_compilation(backend, compile_cache):
    """Backend settings before the first trainer: the JAX persistent compilation cache (a new
    trainer's step then loads the executable compiled for an earlier one with identical shapes:
    the seeds of a configuration compile once). TensorFlow needs none: its step uses XLA on a
    GPU only (`TrainingConfig.jit_compile`; `--set jit_compile=true` forces it)."""
    notes = {}
    if backend == "jax" and compile_cache != "none":
        import jax

        directory = str(compile_cache or cache_dir("jax_compilation_cache"))
        os.makedirs(directory, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        notes["jax_compilation_cache"] = directory
    return notes


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_interrupts():
    """Inside the block SIGTERM (a scheduler's or `timeout`'s stop) ends the suite like Ctrl-C:
    the runs in progress are recorded as interrupted, with their curves."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------- data, metrics


class Data:
    """The data set, loaded and scaled once for the whole suite."""

    def __init__(self, dataset, data_dir, architecture, test_size):
        from ssgan.data import dataset_info, load_dataset, scale_images
        from ssgan.models import get_architecture

        self.info = dataset_info(dataset, data_dir)
        (x_train, self.y_train), (x_test, y_test) = load_dataset(dataset, data_dir=data_dir)
        layout = get_architecture(architecture).layout
        self.x_train = scale_images(x_train, layout)
        n_test = len(x_test) if test_size is None else min(test_size, len(x_test))
        self.x_test = scale_images(x_test[:n_test], layout)
        self.y_test = y_test[:n_test]

    def split(self, labels, seed, unlabeled):
        from ssgan.data import semi_supervised_split

        split = semi_supervised_split(self.y_train, labels, seed=seed, unlabeled=unlabeled,
                                      n_classes=self.info.n_classes)
        return (self.x_train[split.labeled], self.y_train[split.labeled],
                self.x_train[split.unlabeled])


SMOKE_NOTE = ("MNIST-FID and the generator metrics use a tiny classifier trained for this smoke "
              "run (`--classifier smoke`), not the evaluation classifier: the values only show "
              "that the path works.")


class Evaluator:
    """The evaluation classifier of MNIST-FID and the generator metrics (`ssgan.metrics`),
    loaded once per suite. `mode`: the `--classifier` choice."""

    def __init__(self, mode, dataset, classifier_cache, data_dir, quick):
        self.mode, self.dataset, self.data_dir, self.quick = mode, dataset, data_dir, quick
        self.classifier_cache = classifier_cache
        self.classifier = None
        self.kind = None
        self.note = None
        self.error = None

    def _mode(self, metrics):
        if self.mode != "auto":
            return self.mode
        model_path, meta_path = metrics.classifier_paths(self.dataset, self.classifier_cache)
        if model_path.is_file() and meta_path.is_file():
            return "cached"
        return "smoke" if self.quick else "train"

    def _load(self):
        from ssgan import metrics

        mode = self._mode(metrics)
        try:
            if mode == "smoke":
                self.classifier = self._smoke_classifier(metrics)
                self.kind, self.note = "smoke", SMOKE_NOTE
            else:
                start = time.perf_counter()
                self.classifier = metrics.load_evaluation_classifier(
                    self.dataset, cache_dir=self.classifier_cache, data_dir=self.data_dir,
                    train_if_missing=(mode == "train"), verbose=1,
                )
                self.kind = "evaluation"
                print(f"Evaluation classifier ready ({time.perf_counter() - start:.0f}s).",
                      flush=True)
        except Exception as exc:  # metrics must never cost the training results
            self.error = f"evaluation classifier unavailable: {type(exc).__name__}: {exc}"
            print(f"warning: {self.error}", flush=True)

    def _smoke_classifier(self, metrics):
        from ssgan.data import load_dataset

        (x_train, y_train), _ = load_dataset(self.dataset, data_dir=self.data_dir)
        model, _ = metrics.train_evaluation_classifier(
            x_train[:2000], y_train[:2000], epochs=1, filters=(8, 16), dense_units=32, seed=0,
        )
        return model

    def prepare(self):
        if self.mode != "none" and self.classifier is None and self.error is None:
            self._load()

    def __call__(self, trainer, n, seed):
        """The generator metrics of `trainer` (`fid` and its objective's own); the failures go
        into `metrics_error`."""
        if self.mode == "none":
            return {"metrics_error": "generator metrics off (--classifier none)"}
        self.prepare()
        if self.classifier is None:
            return {"metrics_error": self.error}
        from ssgan import metrics

        start = time.perf_counter()
        try:
            values = metrics.evaluate_generator(trainer, self.classifier, n=n, seed=seed,
                                                dataset=self.dataset, data_dir=self.data_dir)
        except Exception as exc:
            return {"metrics_error": f"{type(exc).__name__}: {exc}"}
        values["metrics_seconds"] = time.perf_counter() - start
        values["metrics_classifier"] = self.kind
        return values


# ------------------------------------------------------------------------------- context


@dataclasses.dataclass
class Context:
    """What the runs of one invocation share: where they train, how they report, the ETA of
    the units after the current one, and whether a stop has been asked for."""

    backend: str
    device: str
    checkpoint: bool = False
    verbose: int = 1
    timing: Timing = dataclasses.field(default_factory=Timing)
    units_left: list = dataclasses.field(default_factory=list)  # (group, epochs, runs) per unit
    unit: int = 0  # index of the unit in training
    interrupted: bool = False  # a stop arrived while a finished run measured its generator

    def eta_after_unit(self):
        """Seconds for the units after the current one (None before any measurement)."""
        return self.timing.estimate(self.units_left[self.unit + 1:])


# -------------------------------------------------------------------------------- training


def checkpoint_dir(out, run_id):
    """The checkpoint folder of run `run_id` in the suite folder `out` (`--checkpoint`)."""
    return Path(out) / "ckpt" / run_id


class Run:
    """One run being trained: its spec, record, trainer, data and checkpoint folder. Its clock
    starts when it is made, before its trainer is built (`Run.create`)."""

    def __init__(self, spec, out, context):
        self.spec, self.out, self.context = spec, Path(out), context
        self.run_dir = self.out / "runs" / spec.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.record = recs.base_record(spec, context.backend, context.device)
        self.started = time.perf_counter()
        self.epoch_walls = []
        self.trainer = None
        self.dataset = None
        self.ckpt = checkpoint_dir(self.out, spec.run_id) if context.checkpoint else None
        self.resumed_from = 0

    @classmethod
    def create(cls, spec, data, out, context):
        """A run set up to train: its data split, its trainer built (and resumed from its
        checkpoint if it has one)."""
        from ssgan.train import SemiSupervisedGAN
        from ssgan.train.checkpoint import checkpoint_exists

        run = cls(spec, out, context)
        run.dataset = data.split(spec.labels, spec.seed, spec.settings["unlabeled"])
        config = training_config(spec)
        run.record["config"] = config.to_dict()
        run.trainer = SemiSupervisedGAN(data.info.image_shape, data.info.n_classes, config)
        if run.ckpt is not None and checkpoint_exists(run.ckpt):
            run.trainer.load_checkpoint(run.ckpt)
            run.resumed_from = run.trainer.epoch
            print(f"  resuming {spec.run_id} from its checkpoint after epoch "
                  f"{run.resumed_from}", flush=True)
        run.record["resumed_from_epoch"] = run.resumed_from
        return run

    def callback(self, after=None):
        """The Keras callback of this run: wall time and checkpoint per epoch, then `after()`."""
        import keras

        def on_epoch_end(epoch, logs):
            self.epoch_walls.append(time.perf_counter() - self.started)
            if self.ckpt is not None:
                self.trainer.save_checkpoint(self.ckpt)
            if after is not None:
                after()

        return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)

    def progress(self, label, errors):
        """A progress line every tenth of the run: test errors, s/epoch, ETAs."""
        epochs, epoch = self.trainer.config.epochs, self.trainer.epoch
        if self.context.verbose < 1 or not 0 < epoch < epochs or epoch % max(1, epochs // 10):
            return  # (epoch 0: the collapse guard rolled the run back to its start)
        done = epoch - self.resumed_from
        walls = self.epoch_walls
        per_epoch = (walls[-1] - walls[0]) / (done - 1) if done > 1 else walls[-1]
        left = (epochs - epoch) * per_epoch
        suite_left = self.context.eta_after_unit()
        fmt = recs.format_seconds
        print(f"  {label} epoch {epoch}/{epochs}: test error "
              + " ".join(f"{100 * e:.2f}%" for e in errors)
              + f", {per_epoch:.2f} s/epoch, ETA {fmt(left)}"
              + (f", suite ETA {fmt(left + suite_left)}" if suite_left is not None else ""),
              flush=True)

    def finish(self, evaluator, diverged=None, error=None):
        """Summarize, save grids and generator metrics, write the run's result file. An
        interrupted run (`error` a KeyboardInterrupt: Ctrl-C or SIGTERM) keeps its curve."""
        record = self.record
        try:
            self._summarize(diverged, error)
            if record["status"] == "ok":
                if self.ckpt is not None:
                    shutil.rmtree(self.ckpt, ignore_errors=True)  # only unfinished runs need it
                self._measure(evaluator)
        except Exception as exc:
            record["status"] = "error"
            record.update(recs.error_fields(exc))
        record["wall_seconds"] = time.perf_counter() - self.started
        record["finished"] = recs.now()
        write_json(self.run_dir / "result.json", record)
        return record

    def _summarize(self, diverged, error):
        record, trainer = self.record, self.trainer
        record.update(recs.history_summary(trainer.log, self.epoch_walls, self.resumed_from))
        record["epochs_done"] = trainer.epoch
        record["train_wall_seconds"] = time.perf_counter() - self.started
        if trainer.log:
            record["runs_in_step"] = trainer.log[-1].get("runs_in_step", 1)
        if isinstance(error, KeyboardInterrupt):
            record["status"] = "interrupted"
            record["error"] = f"interrupted after epoch {trainer.epoch}"
        elif error is not None:
            raise error
        else:
            record["status"] = "diverged" if diverged else "ok"
            if diverged:
                record["error"] = diverged

    def _measure(self, evaluator):
        """Grids and generator metrics of a finished run. Stopped (SIGTERM, Ctrl-C) meanwhile:
        the trained run and its curve are kept (status ok, metrics missing), the unit's other
        runs skip theirs and the suite stops after this unit."""
        try:
            if self.context.interrupted:
                raise KeyboardInterrupt
            self.grids_and_metrics(evaluator)
        except KeyboardInterrupt:
            self.record["metrics_error"] = "interrupted before the generator metrics"
            self.context.interrupted = True

    def grids_and_metrics(self, evaluator):
        """The run's sample grids (`ssgan.grids`) and generator metrics, into its record."""
        from ssgan.grids import save_sample_grids

        record = self.record
        try:
            paths = save_sample_grids(self.trainer, str(self.run_dir), seed=self.spec.seed)
            record["samples"] = [os.path.relpath(p, self.out) for p in paths]
        except Exception as exc:
            record["samples_error"] = f"{type(exc).__name__}: {exc}"
        # Every run gets its generator metrics (a few seconds on a GPU): a run first done for
        # the labels section is then complete for the others too.
        record.update(evaluator(self.trainer, self.spec.settings["fid_samples"], self.spec.seed))


def _cleanup():
    """Free the finished runs' models before the next unit."""
    import keras
    import numpy as np

    gc.collect()
    keras.backend.clear_session()
    np.random.seed(None)


def last_test_error(trainer):
    """The test error of the trainer's last epoch kept; NaN when none is (the collapse guard
    may roll a run back to its start)."""
    return trainer.log[-1].get("test_error", float("nan")) if trainer.log else float("nan")


def _fit_verbosity(context):
    """The trainer's own verbosity: its line per epoch with --verbose 2."""
    return 2 if context.verbose >= 2 else 0


def train_run(spec, data, out, evaluator, context):
    """Train one run and return its record (status ok / diverged / error / interrupted)."""
    from ssgan.train import TrainingDivergedError

    try:
        run = Run.create(spec, data, out, context)
    except Exception as exc:
        return recs.error_record(spec, context.backend, context.device, exc)

    def progress():
        run.progress(spec.run_id, [last_test_error(run.trainer)])

    diverged = error = None
    try:
        run.trainer.fit(*run.dataset, validation_data=(data.x_test, data.y_test),
                        callbacks=[run.callback(progress)], verbose=_fit_verbosity(context))
    except TrainingDivergedError as exc:
        diverged = str(exc)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    record = run.finish(evaluator, diverged, error)
    run = None  # the trainer goes before the clean-up
    _cleanup()
    return record


def _fit_group(members, data, evaluator, context):
    """Train `members` (runs at one epoch) as one `SeedGroup`; returns their records."""
    from ssgan.train import SeedGroup

    group = SeedGroup([run.trainer for run in members])
    label = group_label([run.spec for run in members])

    def progress(run):  # after each run's epoch: the epoch's last live run prints one line
        alive = [other for i, other in enumerate(members) if i not in group.diverged]
        if alive and run is alive[-1]:
            run.progress(label, [last_test_error(other.trainer) for other in alive])

    callbacks = [[run.callback(functools.partial(progress, run))] for run in members]
    error = None
    try:
        group.fit([run.dataset for run in members], validation_data=(data.x_test, data.y_test),
                  callbacks=callbacks, verbose=_fit_verbosity(context))
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    return [run.finish(evaluator, group.diverged.get(i), error)
            for i, run in enumerate(members)]


def train_group(specs, data, out, evaluator, context):
    """Train runs of one configuration side by side as one vectorized step
    (`ssgan.train.SeedGroup`, JAX); returns their records, in the order of `specs`."""
    runs, records = [], {}
    for spec in specs:
        try:
            runs.append(Run.create(spec, data, out, context))
        except Exception as exc:
            records[spec.key] = recs.error_record(spec, context.backend, context.device, exc)
    # Runs resumed from checkpoints of different epochs train in separate groups.
    by_epoch = {}
    for run in runs:
        by_epoch.setdefault(run.trainer.epoch, []).append(run)
    for members in by_epoch.values():
        for record in _fit_group(members, data, evaluator, context):
            records[record["key"]] = record
    del runs, by_epoch
    _cleanup()
    return [records[spec.key] for spec in specs]
