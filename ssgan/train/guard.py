"""The collapse guard: a detector of the Improved-GAN collapse in the loss traces, and a Keras
callback that rolls a collapsed run back to an earlier healthy state and goes on with a gentler
generator step.

The collapse (benchmarks/STABILITY.md): the generator's sigmoid saturates, its samples become one
image, the discriminator rejects that image, so its real/fake loss goes to ~0, and the
feature-matching loss runs away (tens to thousands). Both signs are in every epoch's logs
(`loss_unsupervised`, `loss_generator` or `loss_feature_matching`); the detector needs both.

The thresholds separate every trace recorded so far (MNIST, the paper's MLP pair, CPU and H200;
the stress test of STABILITY.md per epoch and per 50 steps, and the final epochs of the 83 runs
in benchmarks/results):

* real/fake loss (above its floor under label smoothing): healthy ≥ 0.020 over 50 steps, ≥ 0.07
  over an epoch, ≥ 0.20 at the end of the 78 healthy runs; collapsed ≤ 0.0053 over an epoch,
  ≤ 0.0012 at the end of the 5 collapsed runs. Threshold 0.01, about the geometric mean.
* generator loss: healthy ≤ 4.6 over an epoch (the first of the paper's recipe), ≤ 1.37 at the
  end of the healthy runs; collapsed 8.1 to 1158. Threshold 5.

The slow form (STABILITY.md): the real/fake loss stays above 0.01 while the generator's loss
stays high, epoch after epoch, and the test accuracy stalls (the stressed seed 1: 11.4, 10.3, 6.5,
6.3, 6.1, 6.1 with a real/fake loss of 0.04 to 0.13; the full recipe's generator with shifted
images, seed 1: 4.9, 8.8, 11, 15, … up to 34). A healthy run of the paper's recipe may start
above 5 for two epochs of 600 steps (seeds 1 and 2: 6.1, 5.5 and 7.0, 5.4, then below 4); so a
run stalls when its generator loss is above the threshold in every epoch of the last 1500 steps
or more (`stall_steps`: 3 epochs of MNIST at batch 100; the unit is steps, not epochs, so that
short epochs do not make a stall of a few noisy steps).

They are the guard's defaults (`Thresholds`); other data or networks may need their own.
"""

import math
import warnings
from typing import NamedTuple

import keras
import numpy as np


class Thresholds(NamedTuple):
    """A run is collapsed when its real/fake loss (above its floor) is below `real_fake_loss`
    and its generator loss is above `generator_loss`; it stalls when its generator loss is above
    `generator_loss` in every epoch of the last `stall_steps` steps or more (0: never)."""

    real_fake_loss: float = 0.01
    generator_loss: float = 5.0
    stall_steps: int = 1500


DEFAULT_THRESHOLDS = Thresholds()


class Verdict(NamedTuple):
    """The detector's answer: `collapsed` (or stalled), why in words, and which of the two
    (`kind`, for the console)."""

    collapsed: bool
    reason: str
    kind: str = "collapsed"


def real_fake_floor(label_smoothing=0.0):
    """The least real/fake loss possible: with a real target t = 1 − smoothing the real term
    cannot go below the binary entropy H(t), and the loss is half of it plus the fake term."""
    t = 1.0 - float(label_smoothing)
    if t >= 1.0:
        return 0.0
    return 0.5 * -(t * math.log(t) + (1.0 - t) * math.log(1.0 - t))


def generator_loss_of(metrics):
    """The generator's feature-matching loss in `metrics` (the objectives that add terms report
    it apart), else its whole loss; None when neither is there."""
    return metrics.get("loss_feature_matching", metrics.get("loss_generator"))


def diagnose(metrics, label_smoothing=0.0, thresholds=DEFAULT_THRESHOLDS):
    """Whether the losses of one epoch (or one compiled call), a dict of the step's metrics,
    show the collapse. Losses that are missing or not finite say nothing (healthy)."""
    real_fake = metrics.get("loss_unsupervised")
    generator = generator_loss_of(metrics)
    if real_fake is None or generator is None:
        return Verdict(False, "no real/fake or generator loss to judge")
    floor = real_fake_floor(label_smoothing)
    excess, generator = float(real_fake) - floor, float(generator)
    if not (math.isfinite(excess) and math.isfinite(generator)):
        return Verdict(False, "losses not finite")
    wins, away = excess < thresholds.real_fake_loss, runs_away(metrics, thresholds)
    above = f" − its floor {floor:.3g}" if floor else ""
    text = (f"real/fake loss {float(real_fake):.3g}{above} {'<' if wins else '≥'} "
            f"{thresholds.real_fake_loss:g}, generator loss {generator:.3g} "
            f"{'>' if away else '≤'} {thresholds.generator_loss:g}")
    return Verdict(wins and away, text)


def runs_away(metrics, thresholds=DEFAULT_THRESHOLDS):
    """Whether the generator's loss in `metrics` is above `thresholds.generator_loss`."""
    generator = generator_loss_of(metrics)
    return (generator is not None and math.isfinite(float(generator))
            and float(generator) > thresholds.generator_loss)


def stall_epochs(steps_per_epoch, thresholds=DEFAULT_THRESHOLDS):
    """How many epochs of `steps_per_epoch` steps make a stall: those covering `stall_steps`
    (0 when stalls are not judged)."""
    if thresholds.stall_steps <= 0:
        return 0
    return max(1, math.ceil(thresholds.stall_steps / max(1, int(steps_per_epoch))))


def stalled(epochs, steps_per_epoch, thresholds=DEFAULT_THRESHOLDS):
    """Whether `epochs` (per-epoch metric dicts, of `steps_per_epoch` steps each) end with a
    stall: a generator loss above its threshold in each of the last `stall_steps` steps' epochs."""
    n = stall_epochs(steps_per_epoch, thresholds)
    recent = list(epochs)[-n:] if n else []
    if not n or len(recent) < n or not all(runs_away(m, thresholds) for m in recent):
        return Verdict(False, "no stall")
    losses = ", ".join(f"{float(generator_loss_of(m)):.3g}" for m in recent)
    return Verdict(True, f"generator loss above {thresholds.generator_loss:g} in {n} epochs "
                         f"running ({losses})", "stalled")


def first_collapse(trace, label_smoothing=0.0, thresholds=DEFAULT_THRESHOLDS,
                   steps_per_epoch=None):
    """The index of the first collapsed entry of `trace` (metric dicts, e.g. a trainer's `log`),
    or None when every entry is healthy. Given `steps_per_epoch`, the entries are epochs of that
    many steps and a stall counts too; entries of single calls are too noisy for it."""
    for i, metrics in enumerate(trace):
        if diagnose(metrics, label_smoothing, thresholds).collapsed:
            return i
        if steps_per_epoch and stalled(trace[:i + 1], steps_per_epoch, thresholds).collapsed:
            return i
    return None


class CollapseGuard(keras.callbacks.Callback):
    """Rolls a collapsed run back to an earlier healthy state and goes on from there with the
    generator's learning rate scaled by `factor`.

    It keeps copies of the states after the last `keep` healthy epochs (or the start), leaving
    out epochs whose generator loss is above its threshold (a stall may be starting). A
    collapse rolls back past the newest of them: the state just before a collapse may carry it
    already (in the stress test of benchmarks/STABILITY.md the state after epoch 1 collapsed
    again at every generator learning rate down to ×0.125: its generator was saturating). When
    the state rolled back to last time collapses again, the next rollback goes further back.
    Rolling back restores the state, the epoch count and the log, so the run goes on consistent
    with its schedule and checkpoints.

    An epoch is healthy when both its mean losses and those of its last compiled call are
    (`diagnose`) and it does not end a stall (`stalled`, with the epochs before it). Every
    epoch's logs get `guard_rollbacks` (rollbacks so far), `generator_lr_scale` (the scale in
    force after it) and `guard_collapsed` (1 for a collapsed epoch, else 0). History, CSVLogger
    and the console see collapsed epochs; the trainer's `log` (metrics.jsonl, checkpoints) keeps
    the epochs the run went on from, the last of them updated after a rollback. After
    `max_rollbacks` rollbacks a further collapse restores the healthy state once more and stops
    training, with a warning.

    Single runs only: runs side by side (`SeedGroup`) share one compiled step, so one run's
    learning rate cannot change alone. `SemiSupervisedGAN.fit` installs it when
    `TrainingConfig.collapse_guard` is on.
    """

    def __init__(self, factor=0.5, max_rollbacks=3, keep=3, thresholds=DEFAULT_THRESHOLDS,
                 verbose=1):
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must lie in (0, 1), got {factor!r}.")
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep!r}.")
        self.factor = float(factor)
        self.max_rollbacks = int(max_rollbacks)
        self.keep = int(keep)
        self.thresholds = Thresholds(*thresholds)
        self.verbose = verbose
        self.rollbacks = 0
        self._healthy = []  # (epoch, weights, log) after the last `keep` healthy epochs
        self._target = None  # the epoch rolled back to last
        self._calls = None  # (steps done, running means) after the epoch's last call so far
        self._last_call = None  # that call's own mean metrics

    # ------------------------------------------------------------------------------- hooks

    def on_train_begin(self, logs=None):
        if self.params and self.params.get("vectorized"):
            raise ValueError(
                "CollapseGuard guards single runs: runs side by side (SeedGroup) share one "
                "compiled step, whose generator learning rate cannot change for one run.")
        trainer = self.model
        # A resumed run continues where the guard left off (the log says so).
        last = trainer.log[-1] if trainer.log else {}
        self.rollbacks = int(last.get("guard_rollbacks", 0))
        scale = float(last.get("generator_lr_scale", 1.0))
        if scale != trainer.generator_lr_scale:
            trainer.set_generator_lr_scale(scale)
        self._healthy, self._target = [], None
        self._remember()

    def on_epoch_begin(self, epoch, logs=None):
        self._calls = self._last_call = None

    def on_train_batch_end(self, batch, logs=None):
        # The loop passes running means over the epoch so far: the last call's own means
        # are what two consecutive ones differ by.
        done, running = batch + 1, dict(logs or {})
        before, previous = self._calls or (0, {})
        self._last_call = {k: (v * done - previous.get(k, 0.0) * before) / (done - before)
                           for k, v in running.items()}
        self._calls = (done, running)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        verdict = self._judge(logs)
        if verdict.collapsed:
            self._recover(epoch, logs, verdict)
        else:
            self._annotate(logs, self.model.log[-1])
            if not runs_away(logs, self.thresholds):  # a stall may be starting: not a cure
                self._remember()

    # ----------------------------------------------------------------------------- helpers

    def _judge(self, logs):
        """The verdict on the epoch: collapsed if its means or its last call's are, or stalled
        with the epochs before it (the trainer's log ends with this epoch's entry)."""
        smoothing = self.model.config.label_smoothing
        verdict = diagnose(logs, smoothing, self.thresholds)
        if not verdict.collapsed and self._last_call is not None:
            last = diagnose(self._last_call, smoothing, self.thresholds)
            if last.collapsed:
                return Verdict(True, f"at the epoch's end: {last.reason}")
        if not verdict.collapsed:
            stall = stalled([*self.model.log[:-1], logs], self.params.get("steps") or 1,
                            self.thresholds)
            if stall.collapsed:
                return stall
        return verdict

    def _annotate(self, *entries, collapsed=False):
        for entry in entries:  # every key in every epoch: CSVLogger fixes its columns once
            entry["guard_collapsed"] = int(collapsed)
            entry["guard_rollbacks"] = self.rollbacks
            entry["generator_lr_scale"] = self.model.generator_lr_scale

    def _remember(self):
        """Keep copies of the trainer's state, epoch and log (the `keep` newest)."""
        trainer = self.model
        self._healthy.append((trainer.epoch, trainer.get_weights(),
                              [dict(e) for e in trainer.log]))
        del self._healthy[:-self.keep]

    def _rollback_target(self):
        """The healthy state to go back to; the states after it are dropped (they led here)."""
        kept = self._healthy
        if len(kept) > 1:
            kept.pop()  # the state just before the collapse
        if self._target is not None and any(e == self._target for e, _, _ in kept):
            # The state rolled back to last time collapsed again: it is no cure either.
            while len(kept) > 1 and kept[-1][0] >= self._target:
                kept.pop()
        self._target = kept[-1][0]
        return kept[-1]

    def _recover(self, epoch, logs, verdict):
        """Roll back to an earlier healthy state; with rollbacks left, go on with a gentler
        generator step, else stop training."""
        trainer = self.model
        healthy_epoch, weights, log = self._rollback_target()
        give_up = self.rollbacks >= self.max_rollbacks
        if not give_up:
            self.rollbacks += 1
        self._annotate(logs, collapsed=True)
        # Copies: the restored arrays may become the step's (donated) buffers.
        trainer.set_weights([np.array(w) for w in weights])
        trainer.epoch = healthy_epoch
        trainer.log = [dict(e) for e in log]
        if give_up:
            trainer.stop_training = True
        else:
            trainer.set_generator_lr_scale(trainer.generator_lr_scale * self.factor)
        if trainer.log:  # what holds after the epoch the run goes on from (for a resumption)
            self._annotate(trainer.log[-1])
        if give_up:
            self._say(f"CollapseGuard: epoch {epoch + 1} {verdict.kind} again ({verdict.reason}) "
                      f"after {self.rollbacks} rollbacks; training stopped with the healthy "
                      f"state after epoch {healthy_epoch}. A lower generator learning rate or "
                      "VBN (--vbn) may help.", warn=True)
        else:
            self._say(f"CollapseGuard: epoch {epoch + 1} {verdict.kind} ({verdict.reason}); "
                      f"rolled back to epoch {healthy_epoch} (rollback {self.rollbacks} of "
                      f"{self.max_rollbacks}), generator learning rate "
                      f"×{trainer.generator_lr_scale:g} from now on.")

    def _say(self, message, warn=False):
        """A console line when verbose; a `RuntimeWarning` instead when silent and `warn`."""
        if self.verbose:  # after a progress bar's unfinished line (verbose 1), on a new one
            print(("\n" if self.verbose == 1 else "") + message, flush=True)
        elif warn:
            warnings.warn(message, RuntimeWarning, stacklevel=3)
