"""`python benchmarks/stress_guard.py`: the collapse guard's stress test (issue 16).

The paper's MNIST recipe (`vbn=False`, Adam 0.003 / β1 0.5, constant learning rates, 100 labels,
the whole training set unlabeled) collapses within two epochs on the CPU when the generator's
learning rate is doubled to 0.006 (benchmarks/STABILITY.md). For each seed this trains three
runs of `--epochs` epochs, one after another, on the current machine (JAX by default):

* `unstressed`: the recipe as it is (the reference);
* `stressed`: generator learning rate 0.006, no guard;
* `guarded`: the same with the collapse guard (`ssgan.train.guard.CollapseGuard`).

It writes a JSON (after every run, so an interrupted measurement keeps what it did) with each
run's final test error, its test errors and losses per epoch, whether it collapsed or stalled
(first, and at the end) and what the guard did, and prints the issue's criterion: without the
guard every seed collapses; with it none ends collapsed and each ends within `--tolerance`
(1 point) of its unstressed run.
"""

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from ssgan.util import ArgumentParser
from ssgan.util import write_json

# name → (uses the stressed generator learning rate, collapse guard on)
VARIANTS = {"unstressed": (False, False), "stressed": (True, False), "guarded": (True, True)}


def _ints(text):
    try:
        return [int(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list of ints, got {text!r}") from None


def build_parser():
    parser = ArgumentParser(
        prog="python benchmarks/stress_guard.py", tool="stress_guard",
        description="The collapse guard's stress test: the paper's MNIST recipe at a collapsing "
                    "generator learning rate, without and with the guard, and unstressed.")
    add = parser.add_argument
    add("--seeds", type=_ints, default=[0, 1, 2], help="seeds (default 0,1,2)")
    add("--epochs", type=int, default=10, help="epochs per run (default 10)")
    add("--labels", type=int, default=100, help="labeled examples, class-balanced (default 100)")
    add("--generator-learning-rate", type=float, default=0.006,
        help="the stressed runs' generator learning rate (default 0.006; the recipe's: 0.003)")
    add("--variants", type=lambda t: [v for v in t.replace(",", " ").split()],
        default=list(VARIANTS), help=f"runs per seed, of {', '.join(VARIANTS)} (default all)")
    add("--backend", default="jax", choices=("jax", "tensorflow"),
        help="Keras backend (default jax, as the issue's criterion)")
    add("--test-size", type=int, default=None, help="test examples evaluated (default all)")
    add("--tolerance", type=float, default=0.01,
        help="how much worse than its unstressed run a guarded run may end (default 0.01)")
    add("--data-dir", default=None, help="MNIST's folder (default $SSGAN_DATA_DIR, the cache)")
    add("--verbose", type=int, default=2, choices=(0, 1, 2),
        help="0 silent, 1 progress bars, 2 one line per epoch (default)")
    add("--out", default=None, help="the JSON (default results/stress_guard.json under the "
        "current directory)")
    add("--resume", action="store_true",
        help="keep the runs already in --out (same epochs, labels and stressed learning rate) "
             "and train only the missing ones")
    return parser


def resumed_runs(path, suite):
    """The runs recorded in `path` by a measurement of the same settings as `suite`; a
    ValueError naming the difference otherwise."""
    old = json.loads(Path(path).read_text())
    for key in ("epochs", "labels", "stressed_generator_learning_rate", "backend"):
        if old["suite"].get(key) != suite[key]:
            raise ValueError(f"{path} was measured with {key} {old['suite'].get(key)!r}, not "
                             f"{suite[key]!r}: choose another --out or the same settings.")
    return list(old["runs"])


def config_for(args, seed, variant):
    """The run's `TrainingConfig`: the paper's recipe, stressed or not, guard on or off."""
    from ssgan.config import TrainingConfig

    stressed, guarded = VARIANTS[variant]
    return TrainingConfig(
        vbn=False, epochs=args.epochs, lr_decay_start=args.epochs, seed=seed,
        generator_learning_rate=args.generator_learning_rate if stressed else None,
        collapse_guard=guarded)


def load_data(args):
    """MNIST scaled to [0, 1] as the command line scales it: (x_train, y_train, x_test, y_test)."""
    from ssgan.data import load_dataset, scale_images

    (x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_dir=args.data_dir)
    n_test = len(x_test) if args.test_size is None else args.test_size
    return scale_images(x_train), y_train, scale_images(x_test[:n_test]), y_test[:n_test]


def train(args, data, seed, variant):
    """One run; its record."""
    from ssgan.data import semi_supervised_split
    from ssgan.train import SemiSupervisedGAN
    from ssgan.train.guard import diagnose, first_collapse, generator_loss_of, stalled

    x_train, y_train, x_test, y_test = data
    config = config_for(args, seed, variant)
    split = semi_supervised_split(y_train, args.labels, seed=seed)
    start = time.perf_counter()
    trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
    history = trainer.fit(x_train[split.labeled], y_train[split.labeled], x_train,
                          validation_data=(x_test, y_test), verbose=args.verbose)
    log, steps = trainer.log, history.params["steps"]
    seen = history.history.get("guard_collapsed", [])  # every epoch trained, rolled back too
    first = first_collapse(log, config.label_smoothing, steps_per_epoch=steps)
    ended_collapsed = bool(log) and (diagnose(log[-1], config.label_smoothing).collapsed
                                     or stalled(log, steps).collapsed)
    return {
        "seed": seed, "variant": variant, "collapse_guard": config.collapse_guard,
        "generator_learning_rate": trainer.resolved.generator_learning_rate,
        "epochs": args.epochs, "epochs_done": trainer.epoch,
        "epochs_trained": len(history.epoch),
        "final_test_error": log[-1]["test_error"] if log else None,
        "test_errors": [e["test_error"] for e in log],
        # The last epoch kept: collapsed or ending a stall, by the guard's detector
        # (`ssgan.train.guard`)?
        "collapsed": ended_collapsed,
        "first_collapsed_epoch": None if first is None else first + 1,
        "collapsed_epochs_rolled_back": int(sum(seen)),
        "rollbacks": log[-1].get("guard_rollbacks") if log else None,
        "generator_lr_scale": trainer.generator_lr_scale,
        "guard_gave_up": bool(config.collapse_guard and trainer.stop_training),
        "final_loss_unsupervised": log[-1]["loss_unsupervised"] if log else None,
        "final_loss_generator": log[-1]["loss_generator"] if log else None,
        # Per epoch kept: what the detector judged.
        "losses_unsupervised": [e["loss_unsupervised"] for e in log],
        "losses_generator": [generator_loss_of(e) for e in log],
        "wall_seconds": time.perf_counter() - start,
    }


def criterion(runs, tolerance):
    """Per seed: did the stressed run collapse, did the guarded one end healthy, and within
    `tolerance` of the unstressed one? Seeds missing a variant are left out."""
    by_seed = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["variant"]] = run
    rows = []
    for seed, found in sorted(by_seed.items()):
        if set(found) != set(VARIANTS):
            continue
        plain, stressed, guarded = found["unstressed"], found["stressed"], found["guarded"]
        gap = guarded["final_test_error"] - plain["final_test_error"]
        rows.append({
            "seed": seed,
            "stressed_collapsed": stressed["first_collapsed_epoch"] is not None,
            "guarded_healthy": not guarded["collapsed"] and not guarded["guard_gave_up"]
                               and guarded["epochs_done"] == guarded["epochs"],
            "guarded_minus_unstressed": gap, "within_tolerance": gap <= tolerance,
        })
    met = bool(rows) and all(r["stressed_collapsed"] and r["guarded_healthy"]
                             and r["within_tolerance"] for r in rows)
    return {"tolerance": tolerance, "seeds": rows, "met": met}


def print_table(document):
    print(f"{'seed':>4}  {'variant':<10}  {'test error':>10}  {'collapsed':>9}  "
          f"{'first':>5}  {'rollbacks':>9}  {'lr scale':>8}  {'minutes':>7}")
    for r in document["runs"]:
        first = r["first_collapsed_epoch"] if r["first_collapsed_epoch"] is not None else "-"
        print(f"{r['seed']:>4}  {r['variant']:<10}  {100 * r['final_test_error']:>9.2f}%  "
              f"{'yes' if r['collapsed'] else 'no':>9}  {first:>5}  "
              f"{r['rollbacks'] if r['rollbacks'] is not None else '-':>9}  "
              f"{r['generator_lr_scale']:>8g}  {r['wall_seconds'] / 60:>7.1f}")
    crit = document["criterion"]
    print(f"criterion (issue 16): {'met' if crit['met'] else 'not met'}")
    for row in crit["seeds"]:
        print(f"  seed {row['seed']}: stressed collapsed {row['stressed_collapsed']}, guarded "
              f"healthy {row['guarded_healthy']}, guarded − unstressed "
              f"{100 * row['guarded_minus_unstressed']:+.2f} points")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or args.epochs < 1 or args.labels < 10:
        parser.fail(f"unknown variants {unknown}" if unknown
                    else "--epochs must be ≥ 1 and --labels ≥ 10")
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras starts
    from ssgan.backends import get_backend, import_keras

    keras = import_keras(verbose=1)  # the backend's own log lines stay quiet
    out = Path(args.out) if args.out else Path.cwd() / "results" / "stress_guard.json"
    document = {"suite": {
        "argv": sys.argv[1:] if argv is None else list(argv), "seeds": args.seeds,
        "epochs": args.epochs, "labels": args.labels, "variants": args.variants,
        "stressed_generator_learning_rate": args.generator_learning_rate,
        "backend": keras.backend.backend(), "device": get_backend().device_description(),
        "keras": keras.__version__, "python": platform.python_version(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }, "runs": []}
    if args.resume and out.exists():
        try:
            document["runs"] = resumed_runs(out, document["suite"])
        except ValueError as error:
            parser.fail(str(error))
    done = {(run["seed"], run["variant"]) for run in document["runs"]}
    data = load_data(args)
    for seed in args.seeds:
        for variant in args.variants:
            if (seed, variant) in done:
                continue
            print(f"seed {seed}, {variant}", flush=True)
            document["runs"].append(train(args, data, seed, variant))
            document["criterion"] = criterion(document["runs"], args.tolerance)
            write_json(out, document)
    print_table(document)
    print(f"Results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
