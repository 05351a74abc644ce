"""`python -m ssgan.fit`: train the semi-supervised GAN on a data set and keep everything in a run
directory (config, metrics log, models, sample grids, learning curve, checkpoint).

Besides the options of the data and the run directory, every `TrainingConfig` setting is an
option (`--learning-rate`, `--vbn/--no-vbn`, ...), made from its declaration in `ssgan.config`;
one left out takes the recipe's value, else the setting's default.
"""

import argparse
import json
import os
import sys

from ssgan import config as settings
from ssgan.util import ArgumentParser

EXIT_USAGE = 2
EXIT_DIVERGED = 3
PROG = "ssgan.fit"


def _typed(kind, field):
    """The argparse `type` of a setting: parses and range-checks one value."""
    cast = {"int": int, "float": float, "str": str}[kind]
    meta = field.metadata

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
        if meta["range"] is not None and not meta["range"].contains(value):
            raise argparse.ArgumentTypeError(f"must be {meta['range'].describe()}, got {text}")
        return value

    return parse


def _ints(text):
    try:
        values = tuple(int(v) for v in str(text).replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _add_setting(parser, field, choices=None):
    """The option of one `TrainingConfig` field (default None: the recipe's or the setting's)."""
    meta = field.metadata
    flag = "--" + field.name.replace("_", "-")
    default = settings.default(field.name)
    shown = meta["derived"] if default is None else default
    help_text = f"{meta['help']} (default: {shown})".replace("%", "%%")
    kind = meta["kind"]
    if kind == "bool":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                            help=help_text)
    elif kind == "ints":
        parser.add_argument(flag, type=_ints, default=None, metavar="N,N,...", help=help_text)
    else:
        parser.add_argument(flag, type=_typed(kind, field), default=None,
                            choices=choices or meta["choices"], help=help_text)


def build_parser():
    from ssgan.data import DATASETS
    from ssgan.models import ARCHITECTURES
    from ssgan.objectives import OBJECTIVES

    parser = ArgumentParser(
        prog="python -m ssgan.fit", tool=PROG,
        description="Train an Improved-GAN semi-supervised classifier (K+1-class discriminator "
        "and a generator) and report its test accuracy.",
    )
    add = parser.add_argument
    add("--labeled", type=int, default=100,
        help="number of labeled training examples, drawn class-balanced (a multiple of the "
        "classes; default: 100)")
    add("--recipe", default=settings.DEFAULT_RECIPE, choices=sorted(settings.RECIPES),
        help="settings measured to work together (ssgan.config.RECIPES): 'fast' (the defaults: "
        "16 epochs with VBN, minutes on a CPU) or 'full' (the paper's 300 epochs and generator, "
        "gentler generator optimizer: for a GPU); the options below override it (default: "
        f"{settings.DEFAULT_RECIPE})")
    add("--dataset", default="mnist", choices=sorted(DATASETS),
        help="data set to train on (default: mnist)")
    add("--data-dir", default=None,
        help="folder holding the data set's files (default: $SSGAN_DATA_DIR, then the cache)")
    add("--no-download", action="store_true",
        help="fail instead of downloading a data set that is not on disk")
    add("--unlabeled", default="all", choices=("all", "rest"),
        help="unlabeled pool: the whole training set (as in the paper) or the non-labeled rest "
        "(default: all)")
    add("--out", default=None,
        help="run directory (default: runs/<dataset>-<labels>-<generator>-seed<seed>)")
    add("--resume", action="store_true",
        help="continue the run in --out from its last checkpoint")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="0 silent, 1 a progress bar per epoch, 2 one line per epoch (default: 1)")
    add("--generator-option", action="append", default=[], metavar="KEY=VALUE",
        help="an option of the generator objective, e.g. tie_codes_to_labels=true for infogan "
        "(VALUE is read as JSON, else as a string); repeatable")
    choices = {"architecture": sorted(ARCHITECTURES), "generator": sorted(OBJECTIVES)}
    for group in settings.GROUPS:
        options = parser.add_argument_group(f"{group} settings")
        for field in settings.settings(group):
            if field.metadata["kind"] != "dict":  # generator_options: --generator-option
                _add_setting(options, field, choices.get(field.name))
    return parser


def _generator_options(parser, pairs):
    """{"key": value} from ["key=value", ...], each value parsed as JSON when it is JSON."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            parser.fail(f"--generator-option takes KEY=VALUE, got {pair!r}.")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def training_config(args, parser=None):
    """The `TrainingConfig` of parsed arguments: the recipe, then the options given."""
    parser = parser or build_parser()
    overrides = {f.name: getattr(args, f.name, None) for f in settings.settings()}
    overrides["generator_options"] = _generator_options(parser, args.generator_option) or None
    try:
        return settings.TrainingConfig.from_recipe(args.recipe, **overrides)
    except ValueError as exc:
        parser.fail(exc)


def _load_data(args, config, parser):
    """The scaled train/test arrays and the labeled/unlabeled split, or a one-line exit 2."""
    from ssgan.data import DATASETS, DataError, load_dataset, scale_images, semi_supervised_split
    from ssgan.models import get_architecture

    info = DATASETS[args.dataset]
    try:
        (x_train, y_train), (x_test, y_test) = load_dataset(
            args.dataset, data_dir=args.data_dir, download=not args.no_download
        )
        split = semi_supervised_split(
            y_train, args.labeled, seed=config.seed, unlabeled=args.unlabeled,
            n_classes=info.n_classes,
        )
    except (DataError, ValueError, TypeError) as exc:
        parser.fail(exc)
    layout = get_architecture(config.architecture).layout
    x_train, x_test = scale_images(x_train, layout), scale_images(x_test, layout)
    return info, (x_train, y_train), (x_test, y_test), split


def _resumed_arguments(args, config_path, parser):
    """The saved run's arguments, with this call's --epochs (to extend it) and --verbose."""
    if not os.path.exists(config_path):
        parser.fail(f"--resume: no run to resume in {os.path.dirname(config_path)} (no "
                    "config.json); start it without --resume.")
    with open(config_path) as f:
        saved = json.load(f)
    epochs = args.epochs
    args = argparse.Namespace(**{**vars(args), **saved["arguments"], "resume": True,
                                 "verbose": args.verbose})
    if epochs is not None:
        args.epochs = epochs
    return args


def _write_config(path, args, trainer, split):
    from ssgan.util import write_json

    write_json(path, {
        "arguments": {k: v for k, v in vars(args).items() if k != "resume"},
        "training": trainer.config.to_dict(), "resolved": trainer.resolved.to_dict(),
        "backend": trainer.backend.device_description(),
        "n_labeled": int(len(split.labeled)), "n_unlabeled": int(len(split.unlabeled)),
    })


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.labeled <= 0:
        parser.fail(f"--labeled must be positive, got {args.labeled}.")
    config = training_config(args, parser)
    run_dir = args.out or os.path.join(
        "runs", f"{args.dataset}-{args.labeled}-{config.generator}-seed{config.seed}")
    checkpoint_dir = os.path.join(run_dir, "checkpoint")
    config_path = os.path.join(run_dir, "config.json")
    if args.resume:
        args = _resumed_arguments(args, config_path, parser)
        config = training_config(args, parser)
    elif os.path.exists(checkpoint_dir):
        parser.fail(f"{run_dir} already holds a run; pass --resume to continue it or choose "
                    "another --out.")

    info, (x_train, y_train), (x_test, y_test), split = _load_data(args, config, parser)

    from ssgan.backends import prefer_cublas_gemm

    prefer_cublas_gemm()  # before JAX starts: see ssgan.backends (a no-op off GPUs)
    from ssgan.train import SemiSupervisedGAN, TrainingDivergedError
    from ssgan.train.callbacks import run_directory_callbacks

    try:
        trainer = SemiSupervisedGAN(info.image_shape, info.n_classes, config)
    except ValueError as exc:
        parser.fail(exc)
    os.makedirs(run_dir, exist_ok=True)
    if args.resume and os.path.exists(checkpoint_dir):
        trainer.load_checkpoint(checkpoint_dir)
        print(f"Resuming {run_dir} after epoch {trainer.epoch}.", flush=True)
    trainer.set_up_for(x_train[split.unlabeled])
    _write_config(config_path, args, trainer, split)
    print(f"Training on {trainer.backend.device_description()}, recipe {args.recipe}, "
          f"{config.epochs} epochs → {run_dir}", flush=True)
    title = f"{args.dataset}, {args.labeled} labels, {config.generator}"
    try:
        trainer.fit(
            x_train[split.labeled], y_train[split.labeled], x_train[split.unlabeled],
            validation_data=(x_test, y_test),
            callbacks=run_directory_callbacks(run_dir, seed=config.seed, title=title),
            verbose=args.verbose,
        )
    except TrainingDivergedError as exc:
        parser.fail(exc, EXIT_DIVERGED)
    error = trainer.log[-1]["test_error"] if trainer.log else trainer.evaluate(x_test, y_test)
    print(f"Run directory: {run_dir}")
    print(f"Test accuracy: {100 * (1 - error):.2f}% (error {100 * error:.2f}%) after "
          f"{trainer.epoch} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
