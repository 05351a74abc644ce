"""`python -m ssgan.fit`: train the semi-supervised GAN on a data set and keep everything in a run
directory (config, metrics log, models, sample grid, learning curve, checkpoint)."""

import argparse
import json
import os
import sys

EXIT_USAGE = 2
EXIT_DIVERGED = 3

# Options that set a TrainingConfig field of the same name; those left at None take the
# recipe's value (`ssgan.recipes`), else TrainingConfig's default.
_TRAINING_OPTIONS = (
    "architecture", "generator", "minibatch_discrimination", "vbn", "epochs", "batch_size",
    "steps_per_epoch", "learning_rate", "lr_decay_start", "generator_learning_rate",
    "generator_beta_1", "beta_2", "unlabeled_weight", "label_smoothing", "historical_averaging",
    "ema_rate", "matmul_precision", "seed",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message):
        _fail(message)


def _fail(message, code=EXIT_USAGE):
    one_line = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"ssgan.fit: error: {one_line}", file=sys.stderr)
    sys.exit(code)


def build_parser():
    from ssgan.data import DATASETS
    from ssgan.objectives import OBJECTIVES
    from ssgan.recipes import RECIPES

    parser = _Parser(
        prog="python -m ssgan.fit",
        description="Train an Improved-GAN semi-supervised classifier (K+1-class discriminator "
        "and a generator) and report its test accuracy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--labeled", type=int, default=100,
        help="number of labeled training examples, drawn class-balanced (a multiple of the classes)")
    add("--recipe", default="fast", choices=sorted(RECIPES),
        help="settings measured to work together: 'fast' (16 epochs with VBN: about 97.6 %% on "
        "MNIST-100 in under 10 minutes on a 2-core CPU) or 'full' (the paper's 300 epochs and "
        "generator, gentler generator optimizer: 0.86 %% test error on MNIST-100 on a GPU); the "
        "options below override it")
    add("--epochs", type=int, default=None,
        help="training epochs (default: the recipe's, 16 or 300)")
    add("--seed", type=int, default=0, help="seed of the weights, noise, batches and labeled split")
    add("--batch-size", type=int, default=100,
        help="size of each labeled, unlabeled and generated batch")
    add("--dataset", default="mnist", choices=sorted(DATASETS), help="data set to train on")
    add("--data-dir", default=None,
        help="folder holding the data set's files (else $SSGAN_DATA_DIR, then the user cache)")
    add("--no-download", action="store_true",
        help="fail instead of downloading a data set that is not on disk")
    add("--out", default=None,
        help="run directory (default runs/<dataset>-<labels>-<generator>-seed<seed>)")
    add("--generator", default="feature-matching", choices=sorted(OBJECTIVES),
        help="generator objective: feature-matching (the plain Improved-GAN generator), cgan "
        "(class-conditional) or infogan (categorical and continuous codes)")
    add("--generator-option", action="append", default=[], metavar="KEY=VALUE",
        help="an option of the generator objective, e.g. tie_codes_to_labels=true for infogan "
        "(VALUE is read as JSON, else as a string); repeatable")
    add("--architecture", default="mlp", choices=("mlp", "conv"),
        help="the paper's MLP pair, or a DCGAN-style convolutional pair")
    add("--minibatch-discrimination", action="store_true",
        help="add minibatch discrimination (paper §3.2) to the discriminator")
    add("--vbn", action=argparse.BooleanOptionalAction, default=None,
        help="virtual batch normalization in the generator (and the conv discriminator): fast "
        "early learning, and it keeps the generator from collapsing at high learning rates; "
        "--no-vbn uses the paper's batch norm (default: the recipe's, on for 'fast')")
    add("--learning-rate", type=float, default=0.003, help="Adam learning rate of both players")
    add("--generator-learning-rate", type=float, default=None,
        help="the generator's own Adam learning rate (default: the recipe's, else "
        "--learning-rate)")
    add("--generator-beta-1", type=float, default=None,
        help="the generator's Adam β1 (default: the recipe's, else 0.5 as the discriminator)")
    add("--beta-2", type=float, default=None,
        help="Adam β2 of both players (default: the recipe's, else 0.999)")
    add("--lr-decay-start", type=int, default=None,
        help="epoch from which the learning rate decays linearly to 0 at the last epoch (default: "
        "the recipe's: half of --epochs for 'fast', constant for 'full'; equal to --epochs keeps "
        "it constant)")
    add("--unlabeled-weight", type=float, default=1.0, help="weight of the real/fake loss")
    add("--label-smoothing", type=float, default=0.0,
        help="one-sided label smoothing of the real target (paper §3.4; 0 = off)")
    add("--historical-averaging", type=float, default=0.0,
        help="weight of the historical-averaging penalty (paper §3.3; 0 = off)")
    add("--ema-rate", type=float, default=None,
        help="per-step rate of the moving average of the discriminator used for evaluation "
        "(default: 10 / total steps, at least the paper's 1e-4)")
    add("--steps-per-epoch", type=int, default=None,
        help="steps per epoch (default: one pass over the unlabeled data, 600 on MNIST)")
    add("--unlabeled", default="all", choices=("all", "rest"),
        help="unlabeled pool: the whole training set (as in the paper) or the non-labeled rest")
    add("--matmul-precision", default="highest", choices=("highest", "high", "default"),
        help="JAX matmul precision on GPUs; 'default' allows TF32, which destabilizes training")
    add("--resume", action="store_true",
        help="continue the run in --out from its last checkpoint")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line per epoch")
    return parser


def _generator_options(pairs):
    """{"key": value} from ["key=value", ...], each value parsed as JSON when it is JSON."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            _fail(f"--generator-option takes KEY=VALUE, got {pair!r}.")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def _training_config(args):
    from ssgan.recipes import recipe_settings
    from ssgan.training import TrainingConfig

    values = recipe_settings(getattr(args, "recipe", "fast"),
                             **{name: getattr(args, name, None) for name in _TRAINING_OPTIONS})
    values["generator_options"] = _generator_options(args.generator_option)
    return TrainingConfig(**values)


def _load_data(args):
    """The scaled train/test arrays and the labeled/unlabeled split, or a one-line exit 2."""
    from ssgan.data import DATASETS, DataError, load_dataset, scale_images, semi_supervised_split

    info = DATASETS[args.dataset]
    try:
        (x_train, y_train), (x_test, y_test) = load_dataset(
            args.dataset, data_dir=args.data_dir, download=not args.no_download
        )
        split = semi_supervised_split(
            y_train, args.labeled, seed=args.seed, unlabeled=args.unlabeled,
            n_classes=info.n_classes,
        )
    except (DataError, ValueError, TypeError) as exc:
        _fail(exc)
    layout = "flat" if args.architecture == "mlp" else "image"
    x_train, x_test = scale_images(x_train, layout), scale_images(x_test, layout)
    return info, (x_train, y_train), (x_test, y_test), split


def _run_callbacks(run_dir, trainer, args):
    """After every epoch: metrics line, checkpoint, models, sample grid and learning curve."""
    from ssgan.grids import save_sample_grids
    from ssgan.plots import save_learning_curve

    metrics_path = os.path.join(run_dir, "metrics.jsonl")

    def after_epoch(trainer, logs):
        with open(metrics_path, "a") as f:
            f.write(json.dumps(logs) + "\n")
        trainer.discriminator.save(os.path.join(run_dir, "discriminator.keras"))
        trainer.generator.save(os.path.join(run_dir, "generator.keras"))
        save_sample_grids(trainer, run_dir, seed=args.seed)
        save_learning_curve(trainer.history, os.path.join(run_dir, "learning_curve.png"),
                            title=f"{args.dataset}, {args.labeled} labels, {args.generator}")
        # The checkpoint goes last: a run killed before it resumes from the previous epoch,
        # whose files above are rewritten identically.
        trainer.save_checkpoint(os.path.join(run_dir, "checkpoint"))

    return [after_epoch]


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.labeled <= 0 or args.batch_size <= 0 or (args.epochs is not None and args.epochs <= 0):
        _fail("--labeled, --batch-size and --epochs must be positive.")
    run_dir = args.out or os.path.join(
        "runs", f"{args.dataset}-{args.labeled}-{args.generator}-seed{args.seed}"
    )
    checkpoint_dir = os.path.join(run_dir, "checkpoint")
    config_path = os.path.join(run_dir, "config.json")
    if args.resume:
        if not os.path.exists(config_path):
            _fail(f"--resume: no run to resume in {run_dir} (no config.json); start it without "
                  "--resume.")
        with open(config_path) as f:
            saved = json.load(f)
        epochs = args.epochs
        args = argparse.Namespace(**{**vars(args), **saved["arguments"], "resume": True,
                                     "verbose": args.verbose})
        if epochs is not None:
            args.epochs = epochs
    elif os.path.exists(checkpoint_dir):
        _fail(f"{run_dir} already holds a run; pass --resume to continue it or choose another "
              "--out.")

    info, (x_train, y_train), (x_test, y_test), split = _load_data(args)

    from ssgan.backends import prefer_cublas_gemm

    prefer_cublas_gemm()  # before JAX starts: see ssgan.backends (a no-op off GPUs)
    from ssgan.training import SemiSupervisedGAN, TrainingDivergedError

    try:
        config = _training_config(args)
        trainer = SemiSupervisedGAN(info.image_shape, info.n_classes, config)
    except (ValueError, TypeError) as exc:  # TypeError: an option the objective does not take
        _fail(exc)
    os.makedirs(run_dir, exist_ok=True)
    if args.resume and os.path.exists(checkpoint_dir):
        trainer.load_checkpoint(checkpoint_dir)
        # Epochs logged after the checkpoint (a kill between the two) are trained again.
        with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
            f.writelines(json.dumps(logs) + "\n" for logs in trainer.history)
        print(f"Resuming {run_dir} after epoch {trainer.epoch}.", flush=True)
    with open(config_path, "w") as f:
        json.dump({"arguments": {k: v for k, v in vars(args).items() if k != "resume"},
                   "training": config.to_dict(), "backend": trainer.backend.device_description(),
                   "n_labeled": int(len(split.labeled)), "n_unlabeled": int(len(split.unlabeled))},
                  f, indent=1)

    try:
        trainer.fit(
            x_train[split.labeled], y_train[split.labeled], x_train[split.unlabeled],
            validation_data=(x_test, y_test),
            callbacks=_run_callbacks(run_dir, trainer, args),
            verbose=args.verbose,
        )
    except TrainingDivergedError as exc:
        _fail(exc, EXIT_DIVERGED)
    error = trainer.history[-1]["test_error"] if trainer.history else trainer.evaluate(x_test, y_test)
    print(f"Run directory: {run_dir}")
    print(f"Test accuracy: {100 * (1 - error):.2f}% (error {100 * error:.2f}%) after "
          f"{trainer.epoch} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
