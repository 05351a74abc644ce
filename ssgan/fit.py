"""`python -m ssgan.fit`: train the semi-supervised GAN on a data set and keep everything in a run
directory (config, metrics log, models, sample grids, learning curve, checkpoint, summary).

Besides the options of the data and the run directory, every `TrainingConfig` setting is an
option (`--learning-rate`, `--vbn/--no-vbn`, ...), made from its declaration in `ssgan.config`;
one left out takes the recipe's value, else the setting's default. The arguments are checked, and
the run directory taken, before the backend starts.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ssgan import __version__
from ssgan import config as settings
from ssgan.util import ArgumentParser

EXIT_USAGE = 2
EXIT_DIVERGED = 3
TOOL = "ssgan.fit"
# The defaults of the options that are not settings (a setting's default is the recipe's).
DEFAULTS = {"labeled": 100, "recipe": settings.DEFAULT_RECIPE, "dataset": "mnist",
            "unlabeled": "all", "verbose": 1, "save_every": "auto", "plot_every": "auto",
            "no_download": False, "generator_option": []}


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


def _positive(text):
    """A positive int (argparse `type`)."""
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def _every(text):
    """A positive int or "auto" (argparse `type`)."""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"expected a positive int or 'auto', got {text!r}")


def _add_setting(parser, field, choices=None):
    """The option of one `TrainingConfig` field (default None: the recipe's or the setting's)."""
    meta = field.metadata
    flag = "--" + field.name.replace("_", "-")
    default = settings.default(field.name)
    shown = meta["derived"] if default is None else default
    help_text = f"{meta['help']} (default: {shown})".replace("%", "%%")
    kind = meta["kind"]
    if kind == "bool":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    elif kind == "ints":
        parser.add_argument(flag, type=_ints, metavar="N,N,...", help=help_text)
    else:
        parser.add_argument(flag, type=_typed(kind, field), choices=choices or meta["choices"],
                            help=help_text)


def _program():
    return "ssgan-fit" if os.path.basename(sys.argv[0]) == "ssgan-fit" else "python -m ssgan.fit"


def _add_run_options(add):
    """The options of the data and the run directory (every default None: `DEFAULTS`)."""
    add("--version", action="version", version=f"ssgan {__version__}")
    add("--labeled", type=_positive, help="number of labeled training examples, drawn "
        "class-balanced (a multiple of the classes; default: 100)")
    fast = settings.RECIPES["fast"]
    add("--recipe", choices=sorted(settings.RECIPES), help="settings measured to work together "
        f"(ssgan.config.RECIPES): 'fast' ({fast['epochs']} epochs of batches of "
        f"{fast['batch_size']}, a gentler 'full' generator, images moved by up to 2 pixels, a "
        "consistency term: minutes on a CPU) or 'full' (the paper's 300 "
        "epochs and generator, gentler generator optimizer, the same shifts and consistency "
        "term: for a GPU); "
        f"the options below override it (default: {settings.DEFAULT_RECIPE})")
    add("--dataset", help="data set to train on: mnist, fashion_mnist, svhn_cropped, cifar10, "
        "tfds:NAME (an image classification set of tensorflow-datasets) or a .npz file holding "
        "x_train, y_train, x_test, y_test (default: mnist)")
    add("--data-dir", help="folder holding the data set's files (default: $SSGAN_DATA_DIR, then "
        "the cache)")
    add("--no-download", action="store_true", default=None,
        help="fail instead of downloading a data set that is not on disk")
    add("--unlabeled", choices=("all", "rest"), help="unlabeled pool: the whole training set (as "
        "in the paper) or the non-labeled rest (default: all)")
    add("--out", help="run directory (default: runs/<dataset>-<labels>-<generator>-seed<seed>)")
    add("--resume", action="store_true", help="continue the run in --out from its last "
        "checkpoint; it may change --epochs (upwards), --verbose, --save-every, --plot-every, "
        "--data-dir and --no-download, nothing else")
    add("--save-every", type=_every, metavar="N|auto", help="write the models and the checkpoint "
        "every N epochs and after the last; 'auto': when the training since the last write took "
        "10 times the write (default: auto)")
    add("--plot-every", type=_every, metavar="N|auto", help="draw the sample grids and the "
        "learning curve every N epochs and after the last (default: auto)")
    add("--verbose", type=int, choices=(0, 1, 2), help="0 silent, 1 a progress bar per epoch, "
        "2 one line per epoch and the backend's own log lines (default: 1)")
    add("--generator-option", action="append", metavar="KEY=VALUE",
        help="an option of the generator objective, e.g. tie_codes_to_labels=true for infogan "
        "(VALUE is read as JSON, else as a string); repeatable")


def build_parser():
    """The parser; building it imports no backend."""
    from ssgan.models import ARCHITECTURES
    from ssgan.objectives import OBJECTIVES

    parser = ArgumentParser(prog=_program(), tool=TOOL, description="Train an Improved-GAN "
                            "semi-supervised classifier (K+1-class discriminator and a "
                            "generator) and report its test accuracy.")
    _add_run_options(parser.add_argument)
    choices = {"architecture": list(ARCHITECTURES), "generator": list(OBJECTIVES)}
    for group in settings.GROUPS:
        options = parser.add_argument_group(f"{group} settings")
        for field in settings.settings(group):
            if field.metadata["kind"] != "dict":  # generator_options: --generator-option
                _add_setting(options, field, choices.get(field.name))
    return parser


def given(args):
    """The arguments given on the command line (the others are None), by name."""
    return {k: v for k, v in vars(args).items() if v is not None and k not in ("resume", "out")}


def effective(arguments):
    """`arguments` with the defaults of those not given (settings stay None: the recipe's)."""
    return {**DEFAULTS, **{k: v for k, v in arguments.items() if v is not None}}


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


def training_config(arguments, parser):
    """The `TrainingConfig` of the (effective) arguments: the recipe, then the settings given."""
    overrides = {f.name: arguments.get(f.name) for f in settings.settings()}
    options = _generator_options(parser, arguments["generator_option"])
    try:
        _check_generator_options(overrides["generator"] or settings.default("generator"), options)
        overrides["generator_options"] = options or None
        return settings.TrainingConfig.from_recipe(arguments["recipe"], **overrides)
    except ValueError as exc:
        parser.fail(exc)


def _check_generator_options(generator, options):
    """A ValueError naming the valid options for one the generator does not take."""
    from ssgan.objectives import objective_options

    accepted = objective_options(generator)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"--generator-option {', '.join(unknown)}: generator {generator!r} has "
                         "no such option; " + (f"its options: {', '.join(accepted)}."
                                               if accepted else "it takes no options."))


def _prepare_run(parser, args):
    """The run directory, locked, the run's effective arguments (a resumption's: the saved ones,
    with the few that may change), its config and its data set's info. Fails in well under a
    second on any problem (a `tfds:` set aside)."""
    from ssgan.rundir import RunDirectory, RunDirectoryError

    arguments = given(args)
    if not args.resume:  # checked before the lock: a mistake touches no run directory
        arguments = effective(arguments)
        config = training_config(arguments, parser)
        info = _dataset(parser, arguments)
    run = RunDirectory(args.out or _default_out(arguments, config))
    try:
        run.lock()
        if args.resume:
            arguments = _resumed(parser, run, arguments)
            config, info = training_config(arguments, parser), _dataset(parser, arguments)
    except RunDirectoryError as exc:
        run.release()
        parser.fail(exc)
    except SystemExit:
        run.release()
        raise
    if not args.resume and run.holds_a_run():
        run.release()
        parser.fail(f"{run.path} already holds a run; pass --resume to continue it or choose "
                    "another --out.")
    return run, arguments, config, info


def _default_out(arguments, config):
    """runs/<data set>-<labels>-<generator>-seed<seed>."""
    dataset = Path(arguments["dataset"].replace("tfds:", "")).stem
    return os.path.join("runs", f"{dataset}-{arguments['labeled']}-{config.generator}-seed"
                                f"{config.seed}")


def _resumed(parser, run, arguments):
    """The saved run's effective arguments with the given ones, which may not change the run."""
    from ssgan.rundir import changed_arguments

    saved = run.read_config()
    changes = changed_arguments(saved, arguments)
    if changes:
        parser.fail(f"--resume cannot change the run in {run.path}: {'; '.join(changes)}. "
                    "Only --epochs (upwards), --verbose, --save-every, --plot-every, "
                    "--data-dir and --no-download may change; start a new run with another "
                    "--out for the rest.")
    return effective({**saved["arguments"], **arguments})


def _dataset(parser, arguments):
    """The data set's `DatasetInfo`, checked without loading it (a one-line exit 2)."""
    from ssgan.data import DataError, dataset_info

    try:
        return dataset_info(arguments["dataset"], data_dir=arguments.get("data_dir"),
                            download=not arguments["no_download"])
    except DataError as exc:
        parser.fail(exc)


def _load_data(parser, arguments, info, config):
    """The scaled (x_labeled, y_labeled, x_unlabeled) and (x_test, y_test), or a one-line exit 2."""
    from ssgan.data import DataError, load_dataset, scale_images, semi_supervised_split
    from ssgan.models import get_architecture

    try:
        (x_train, y_train), (x_test, y_test) = load_dataset(
            info.name, data_dir=arguments.get("data_dir"), download=not arguments["no_download"])
        split = semi_supervised_split(y_train, arguments["labeled"], seed=config.seed,
                                      unlabeled=arguments["unlabeled"], n_classes=info.n_classes)
    except (DataError, ValueError, TypeError) as exc:
        parser.fail(exc)
    layout = get_architecture(config.architecture).layout
    x_train, x_test = scale_images(x_train, layout), scale_images(x_test, layout)
    train = (x_train[split.labeled], y_train[split.labeled], x_train[split.unlabeled])
    return train, (x_test, y_test)


def _trainer(parser, run, info, config, resume):
    """The trainer, continued from the run's checkpoint when resuming."""
    from ssgan.train import SemiSupervisedGAN
    from ssgan.train.checkpoint import CheckpointError, checkpoint_exists

    try:
        trainer = SemiSupervisedGAN(info.image_shape, info.n_classes, config)
        if resume and checkpoint_exists(run.checkpoint):
            trainer.load_checkpoint(run.checkpoint)
    except (CheckpointError, ValueError) as exc:
        parser.fail(exc)
    return trainer


def _train(parser, run, arguments, trainer, train, test):
    """Fit with the run directory's writers; a NaN is one line and exit code 3."""
    from ssgan.train import TrainingDivergedError
    from ssgan.train.callbacks import run_directory_callbacks

    title = f"{arguments['dataset']}, {arguments['labeled']} labels, {trainer.config.generator}"
    callbacks = run_directory_callbacks(run.path, seed=trainer.config.seed, title=title,
                                        save_every=arguments["save_every"],
                                        plot_every=arguments["plot_every"])
    try:
        trainer.fit(*train, validation_data=test, callbacks=callbacks,
                    verbose=arguments["verbose"])
    except TrainingDivergedError as exc:
        kept = "its last checkpoint" if trainer.epoch else "no checkpoint yet"
        parser.fail(f"{exc} The run directory keeps {kept}.", EXIT_DIVERGED)


def main(argv=None):
    start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.fail("--resume needs --out, the run directory to continue.")
    run, arguments, config, info = _prepare_run(parser, args)
    try:
        return _run(parser, run, arguments, (config, info), args.resume, start)
    finally:
        run.release()


def _run(parser, run, arguments, setting, resume, start):
    """Train the run: the backend, the data, the trainer, the fit, the summary."""
    from ssgan.backends import choose_backend, import_keras, prefer_cublas_gemm

    config, info = setting
    prefer_cublas_gemm()  # before JAX starts: see ssgan.backends (a no-op off GPUs)
    backend_choice = choose_backend()
    import_keras(arguments["verbose"])
    train, test = _load_data(parser, arguments, info, config)
    trainer = _trainer(parser, run, info, config, resume)
    print(f"{trainer.backend.device_description()} ({backend_choice}); recipe "
          f"{arguments['recipe']}, {config.epochs} epochs; run directory {run.path}"
          + (f", resumed after epoch {trainer.epoch}" if resume else ""), flush=True)
    trainer.set_up_for(train[2])
    run.write_config(arguments, trainer, {"n_labeled": len(train[1]),
                                          "n_unlabeled": len(train[2])})
    _train(parser, run, arguments, trainer, train, test)
    run.write_summary(trainer, time.perf_counter() - start)
    error = trainer.log[-1]["test_error"] if trainer.log else trainer.evaluate(*test)
    print(f"Run directory: {run.path}")
    print(f"Test accuracy: {100 * (1 - error):.2f}% (error {100 * error:.2f}%) after "
          f"{trainer.epoch} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
