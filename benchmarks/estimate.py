"""The plan's wall time on the machine at hand, before any run: a timing of the first
configuration's compiled step and evaluation (a "probe"), and the question whether to go on when
the plan runs past `CONFIRM_HOURS`.

The probe trains the first run's configuration for two short epochs of one compiled call each
(the first compiles) on the real data, so it sees this machine's backend, device, architecture,
batch size and test set; runs trained side by side are counted one after another (an upper
bound on a GPU, where they share the device). After the first unit the suite's own ETA
(`schedule.Timing`) takes over.
"""

import dataclasses
import sys
import time

from benchmarks.plan import training_config
from benchmarks.records import format_seconds

CONFIRM_HOURS = 3.0  # a plan longer than this asks before it starts (or needs --yes)
PROBE_STEPS = 50  # at most this many steps per timed call
GPU_PATH = 'pip install -e ".[jax]" "jax[cuda13]"'


@dataclasses.dataclass
class Probe:
    """Measured costs of one run of the plan's first configuration on this machine."""

    run_id: str
    steps: int  # steps in the timed call
    step_seconds: float  # one training step
    eval_seconds: float  # the evaluation of the test images after an epoch
    overhead_seconds: float  # building the trainer and compiling its step
    steps_per_epoch: int  # of the real runs

    def run_seconds(self, epochs):
        """One run of `epochs` epochs."""
        return self.overhead_seconds + epochs * (self.steps_per_epoch * self.step_seconds
                                                 + self.eval_seconds)


def probe(spec, data):
    """Time `spec`'s configuration: a trainer built, then two epochs of one compiled call each
    with the evaluation after each; the second is the steady one."""
    import keras

    from ssgan.train import SemiSupervisedGAN

    x_labeled, y_labeled, x_unlabeled = data.split(spec.labels, spec.seed,
                                                   spec.settings["unlabeled"])
    resolved = training_config(spec).resolve(len(x_unlabeled))
    steps = min(resolved.steps_per_call, PROBE_STEPS)
    config = training_config(spec).replace(epochs=2, steps_per_epoch=steps, steps_per_call=steps)
    start = time.perf_counter()
    ends = []
    trainer = SemiSupervisedGAN(data.info.image_shape, data.info.n_classes, config)
    trainer.fit(x_labeled, y_labeled, x_unlabeled, validation_data=(data.x_test, data.y_test),
                callbacks=[keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))],
                verbose=0)
    call = trainer.log[1]["seconds"]
    epoch_wall = ends[1] - ends[0]
    overhead = (ends[0] - start) - epoch_wall  # set-up and compilation: the first epoch's extra
    del trainer
    keras.backend.clear_session()
    return Probe(spec.run_id, steps, call / steps, max(epoch_wall - call, 0.0), max(overhead, 0.0),
                 resolved.steps_per_epoch)


def plan_seconds(measured, todo, done=None):
    """Seconds for the runs `todo` (their specs) by `measured`'s costs; `done` maps a run id to
    the epochs its checkpoint already holds (`--checkpoint --resume` continues after them)."""
    done = done or {}
    return sum(measured.run_seconds(max(spec.settings["epochs"] - done.get(spec.run_id, 0), 0))
               for spec in todo)


def estimate_line(measured, todo, device, done=None):
    """The line printed before training: the estimate and what it comes from."""
    seconds = plan_seconds(measured, todo, done)
    epochs = sorted({spec.settings["epochs"] for spec in todo})
    resumed = [e for e in ((done or {}).get(spec.run_id, 0) for spec in todo) if e]
    trained = sum(resumed)
    kept = (f" ({len(resumed)} continued from their checkpoints, {trained} "
            f"epoch{'s' * (trained != 1)} already trained)" if resumed else "")
    untimed = list(dict.fromkeys(s.variant for s in todo if s.variant != todo[0].variant))
    kept_out = (f"; {', '.join(untimed)} counted at its cost, not timed (their steps may cost "
                "more: the paper's minibatch model makes 3 generator updates a step)"
                if untimed else "")
    return (f"Estimate: ~{format_seconds(seconds)} for {len(todo)} runs × "
            f"{'/'.join(map(str, epochs))} epochs{kept} on this machine ({device}), from a "
            f"timing of {measured.steps} steps of {measured.run_id}: "
            f"{1000 * measured.step_seconds:.1f} ms a step ({measured.steps_per_epoch} an epoch), "
            f"{measured.eval_seconds:.1f} s an evaluation, {measured.overhead_seconds:.0f} s "
            f"set-up and compilation a run{kept_out}; runs side by side counted one after "
            "another, generator metrics left out")


def too_long_message(seconds):
    """Why a plan is not started without confirmation, and what else to do: one line."""
    return (f"the plan needs ~{format_seconds(seconds)} on this machine (over "
            f"{CONFIRM_HOURS:g} h): --quick runs every path in minutes, a GPU runs the suite in "
            f"about an hour ({GPU_PATH}), and --yes starts it anyway")


def confirm(seconds, yes, fail, stdin=None, ask=input):
    """Whether to train a plan of `seconds`: yes under `CONFIRM_HOURS` or with `--yes`; else the
    user is asked on a terminal, and without one `fail(message)` ends the invocation (exit 2)."""
    if yes or seconds <= 3600.0 * CONFIRM_HOURS:
        return True
    stdin = sys.stdin if stdin is None else stdin
    message = too_long_message(seconds)
    if not (stdin is not None and stdin.isatty()):
        fail(message)  # exits
        return False
    print(f"Note: {message}.", flush=True)
    try:
        answer = ask("Continue? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")
