"""`python benchmarks/speed.py`: steady-state training speed of ssgan on the current backend.

Times a trainer's compiled calls of `steps_per_call` steps for each architecture and batch size,
compilation apart; optionally the wall time to 99 % test accuracy. Writes a table and a JSON
(`--out`). How it measures: benchmarks/README.md; the measurements: benchmarks/SPEED.md.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ssgan.config import RECIPES
from ssgan.util import ArgumentParser
from ssgan.util import write_json

EPOCH_EXAMPLES = 60000  # one pass over the MNIST training set
BACKENDS = {  # name → (environment, arguments) of its process
    "tensorflow": ({"KERAS_BACKEND": "tensorflow"}, ["--jit-compile", "off"]),
    "tensorflow-xla": ({"KERAS_BACKEND": "tensorflow"}, ["--jit-compile", "on"]),
    "jax": ({"KERAS_BACKEND": "jax"}, []),
}
JIT = {"auto": None, "on": True, "off": False}
# --quick, by the architecture's layout: steps per call and batch sizes (a batch-500 step of the
# convolutional pair takes ~15 s on 2 CPU cores).
QUICK = {"flat": {"steps_per_call": 2, "batch_sizes": [100, 500]},
         "image": {"steps_per_call": 1, "batch_sizes": [100]}}


def _list(cast):
    def parse(text):
        try:
            return [cast(v) for v in str(text).replace(",", " ").split()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")

    return parse


def build_parser():
    from ssgan.models import ARCHITECTURES

    parser = ArgumentParser(
        prog="python benchmarks/speed.py", tool="speed",
        description="Time steady-state training steps of ssgan's models (compilation apart).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true",
        help="a few seconds per configuration on a CPU: few steps per call, 2 timed calls")
    add("--models", type=_list(str), default=list(ARCHITECTURES),
        help="architectures to time (ssgan.models.ARCHITECTURES)")
    add("--batch-sizes", type=_list(int), default=None,
        help="batch sizes to time (default 100,500; --quick: 100,500 for the MLP, 100 for the "
        "conv model, whose batch-500 step takes ~15 s on 2 CPU cores)")
    add("--steps-per-call", type=int, default=None,
        help="training steps per compiled call (default one epoch, 60000/batch; --quick: 2 for "
        "the MLP, 1 for the conv model)")
    add("--calls", type=int, default=None, help="timed calls after the warm-up (default 5; "
        "--quick 2)")
    add("--backends", type=_list(str), default=None,
        help=f"run each of these backends in its own process ({', '.join(BACKENDS)}); default: "
        "the current backend only")
    add("--seeds-in-step", type=_list(int), default=[1],
        help="also time S runs (seeds) trained side by side as one vectorized step "
        "(ssgan.train.SeedGroup, JAX only), for each S listed")
    add("--xla-flops", action="store_true",
        help="JAX: also report XLA's FLOP count of one step (compiles the step once more)")
    add("--to-99", action="store_true",
        help="also measure the wall time to 99%% test accuracy (MLP, batch 100, 100 labels)")
    add("--to-99-max-epochs", type=int, default=100, help="give up after this many epochs")
    add("--to-99-recipe", default=None, choices=tuple(RECIPES),
        help="train the --to-99 run with this recipe of ssgan.config (its own schedule) instead "
        "of the defaults")
    add("--jit-compile", default="auto", choices=tuple(JIT),
        help="TensorFlow: XLA-compile the step (TrainingConfig.jit_compile; auto = on a GPU only)")
    add("--matmul-precision", default="highest", choices=("highest", "high", "default"),
        help="JAX matmul precision ('default' allows TF32 on GPUs)")
    add("--out", default=None, help="JSON of the results (default results/speed.json under the "
        "current directory, never the source tree; the committed measurements are in "
        "benchmarks/results/)")
    add("--data-dir", default=None, help="MNIST folder (else $SSGAN_DATA_DIR, then the cache)")
    add("--no-table", action="store_true", help=argparse.SUPPRESS)  # --backends' children
    return parser


# --------------------------------------------------------------------------------- FLOPs


def mlp_step_flops(input_dim=784, d_hidden=(1000, 500, 250, 250, 250), n_classes=10,
                   latent_dim=100, g_hidden=(500, 500), batch=100):
    """Matmul FLOPs (2 per multiply-add) of one training step of the paper's MLP pair, weight-norm
    and element-wise work left out (they are O(units), not O(units²)).

    D update: G forward on a batch (no gradient), D forward on 3 batches (labeled, unlabeled,
    generated), D backward on the 3 batches (weight gradients everywhere, input gradients for
    every layer but the first: the data need none). G update (feature matching on the last hidden
    layer): G forward, D forward on 2 batches (real: stop-gradient; fake), D backward of the fake
    batch for input gradients only, from the feature layer down, and G backward.
    """
    d_layers = list(zip((input_dim,) + tuple(d_hidden), tuple(d_hidden) + (n_classes,)))
    g_layers = list(zip((latent_dim,) + tuple(g_hidden), tuple(g_hidden) + (input_dim,)))
    d_fwd = sum(a * b for a, b in d_layers)
    g_fwd = sum(a * b for a, b in g_layers)
    d_bwd = 2 * d_fwd - d_layers[0][0] * d_layers[0][1]  # no input gradient of the first layer
    d_input_grad_to_features = sum(a * b for a, b in d_layers[:-1])  # the logits layer is off-path
    g_bwd = 2 * g_fwd - g_layers[0][0] * g_layers[0][1]
    macs = {
        "d_update": batch * (g_fwd + 3 * d_fwd + 3 * d_bwd),
        "g_update": batch * (g_fwd + 2 * d_fwd + d_input_grad_to_features + g_bwd),
    }
    flops = {k: 2 * v for k, v in macs.items()}
    flops["step"] = flops["d_update"] + flops["g_update"]
    return flops


def counted_step_flops(model, batch):
    """`mlp_step_flops` of one step of architecture `model` when it is the paper's MLP pair
    (`mlp`, the pair of `ssgan.models.mlp`, at its default widths); None for the others."""
    from ssgan.models import get_architecture

    if get_architecture(model).name != "mlp":
        return None
    return mlp_step_flops(batch=batch)["step"]


def xla_step_flops(trainer, data, batch):
    """XLA's own FLOP count of one training step (JAX only: `cost_analysis` of the compiled
    `trainer.train_step`)."""
    import jax
    import numpy as np

    indices = {k: np.zeros((batch,), "int32") for k in ("labeled", "unlabeled", "unlabeled_2")}
    lowered = jax.jit(trainer.train_step).lower(trainer.state, data, indices)
    analysis = lowered.compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops")) if analysis and analysis.get("flops") else None


# ---------------------------------------------------------------------------------- timing


def _load_mnist(data_dir):
    """(x_train, y_train, x_test, y_test) as uint8/int arrays; random data (same shapes) when MNIST
    is not on disk: the speed does not depend on the pixel values."""
    import numpy as np

    from ssgan.data import DataError, load_dataset

    try:
        (x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_dir=data_dir,
                                                            download=False)
        return x_train, y_train, x_test, y_test, "mnist"
    except DataError:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (EPOCH_EXAMPLES, 28, 28), dtype="uint8")
        y = np.tile(np.arange(10), EPOCH_EXAMPLES // 10)
        return x, y, x[:10000], y[:10000], "random (MNIST not found)"


def _scaled(x, model):
    """`x` scaled to [0, 1] in the layout of architecture `model`."""
    from ssgan.data import scale_images
    from ssgan.models import get_architecture

    return scale_images(x, get_architecture(model).layout)


def _train(config, runs, labeled, y_labeled, x):
    """Train `runs` trainers of `config` (seeds 0..runs-1, side by side when more than one: the
    same data, as the speed does not depend on the split); returns the first and the wall time."""
    from ssgan.train import SeedGroup, SemiSupervisedGAN

    start = time.perf_counter()
    trainers = [SemiSupervisedGAN((28, 28, 1), 10, config.replace(seed=seed))
                for seed in range(runs)]
    if runs == 1:
        trainers[0].fit(labeled, y_labeled, x, verbose=0)
    else:
        SeedGroup(trainers).fit([(labeled, y_labeled, x)] * runs, verbose=0)
    return trainers[0], time.perf_counter() - start


def time_config(model, batch, steps_per_call, calls, precision, arrays, jit_compile=None,
                runs=1, xla_flops=False):
    """Time one (model, batch size, runs per step): returns a result dict."""
    from ssgan.config import TrainingConfig
    from ssgan.data import semi_supervised_split

    y_train = arrays[1]
    x = _scaled(arrays[0], model)
    split = semi_supervised_split(y_train, 100, seed=0, n_classes=10)
    labeled, y_labeled = x[split.labeled], y_train[split.labeled]
    # One epoch = one compiled call of `steps_per_call` steps: epoch i's `seconds` is call i's
    # time, metrics pulled (the trainer's own synchronization). Epoch 1 includes compilation.
    config = TrainingConfig(architecture=model, batch_size=batch, steps_per_epoch=steps_per_call,
                            steps_per_call=steps_per_call, epochs=1 + calls,
                            matmul_precision=precision, seed=0, jit_compile=jit_compile)
    trainer, wall = _train(config, runs, labeled, y_labeled, x)
    seconds = [logs["seconds"] for logs in trainer.log]
    steady = statistics.median(seconds[1:])
    # The trainer compiles ahead of time and reports it apart (its first epoch's seconds exclude
    # it); a backend without ahead-of-time compilation (TensorFlow) compiles in the first call.
    ahead = trainer.log[0].get("compile_seconds", 0.0)
    per_step = steady / steps_per_call
    steps_per_epoch = EPOCH_EXAMPLES // batch
    result = {
        "model": model, "batch_size": batch, "runs_in_step": runs,
        "seconds_per_epoch_per_run": per_step * steps_per_epoch / runs,
        "steps_per_call": steps_per_call, "calls": calls,
        "call_seconds": seconds[1:], "warmup_call_seconds": seconds[0],
        "compile_seconds": ahead + max(seconds[0] - steady, 0.0),
        "setup_seconds": wall - sum(seconds) - ahead,
        "ms_per_step": 1000 * per_step, "steps_per_second": 1.0 / per_step,
        "examples_per_second": batch / per_step,
        "seconds_per_epoch": per_step * steps_per_epoch, "steps_per_epoch": steps_per_epoch,
        "spread": (max(seconds[1:]) - min(seconds[1:])) / steady if steady else None,
        "wall_seconds": wall,
    }
    flops = counted_step_flops(model, batch)
    if flops is not None:
        result["flops_per_step"] = runs * flops
        result["achieved_gflops"] = runs * flops / per_step / 1e9
        result["tflop_per_epoch"] = runs * flops * steps_per_epoch / 1e12
    if xla_flops and runs == 1 and trainer.backend.__name__.endswith("jax_backend"):
        try:
            data = trainer.device_data(labeled, y_labeled, x)
            result["xla_flops_per_step"] = xla_step_flops(trainer, data, batch)
        except Exception as exc:  # a count, never a reason to lose the timing
            result["xla_flops_error"] = f"{type(exc).__name__}: {exc}"
    return result


class _Reached(Exception):
    pass


def time_to_99(arrays, max_epochs, precision, jit_compile=None, recipe=None):
    """Wall time from the trainer's creation to 99 % test accuracy, 100 labels: the default
    settings (the paper's MLP pair, batch 100) trained for `max_epochs`, or a `recipe`'s (its own
    schedule of epochs, stopped after `max_epochs`)."""
    import keras

    from ssgan.config import TrainingConfig
    from ssgan.config import recipe_settings
    from ssgan.data import semi_supervised_split
    from ssgan.train import SemiSupervisedGAN

    settings = recipe_settings(recipe) if recipe else {"epochs": max_epochs}
    config = TrainingConfig(**settings, matmul_precision=precision, seed=0,
                            jit_compile=jit_compile)
    x_train, y_train, x_test, y_test = arrays[:4]
    x, x_te = _scaled(x_train, config.architecture), _scaled(x_test, config.architecture)
    split = semi_supervised_split(y_train, 100, seed=0, n_classes=10)
    start = time.perf_counter()
    marks = []

    def stop_at_99(epoch, logs):
        marks.append((epoch + 1, time.perf_counter() - start, logs["test_error"]))
        if logs["test_accuracy"] >= 0.99:
            raise _Reached
        if epoch + 1 >= max_epochs:
            trainer.stop_training = True

    trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
    try:
        trainer.fit(x[split.labeled], y_train[split.labeled], x, validation_data=(x_te, y_test),
                    callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=stop_at_99)],
                    verbose=0)
        reached = False
    except _Reached:
        reached = True
    epoch, seconds, error = marks[-1]
    return {"reached": reached, "epochs": epoch, "wall_seconds": seconds if reached else None,
            "last_test_error": error, "max_epochs": max_epochs, "recipe": recipe,
            "test_errors": [m[2] for m in marks]}


def _environment(args):
    """This process's backend label, device and TensorFlow XLA choice; prints them."""
    import keras

    from ssgan.backends import get_backend

    backend = keras.backend.backend()
    jit_compile = JIT[args.jit_compile]
    if backend == "tensorflow" and jit_compile is None:  # the library's choice: XLA on a GPU
        import tensorflow as tf

        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    if backend != "tensorflow":
        jit_compile = None
    label = "tensorflow-xla" if jit_compile else backend
    device = get_backend().device_description()
    load = _load_average()
    print(f"Backend: {label} — {device}"
          + (f"; load average {load:.1f} on {os.cpu_count()} CPUs" if load is not None else ""),
          flush=True)
    return backend, label, device, jit_compile


def _load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _configurations(args, backend):
    """(model, batch, steps per call, runs in step) to time, in order; prints the skipped."""
    for model in args.models:
        quick = QUICK[_layout(model)]
        for batch in args.batch_sizes or (quick["batch_sizes"] if args.quick else [100, 500]):
            steps = args.steps_per_call or (
                quick["steps_per_call"] if args.quick else EPOCH_EXAMPLES // batch)
            for runs in args.seeds_in_step:
                if runs > 1 and backend != "jax":
                    print(f"  {model} batch {batch}, {runs} seeds per step: skipped (vectorized "
                          "seeds need the JAX backend)", flush=True)
                    continue
                yield model, batch, steps, runs


def _layout(model):
    from ssgan.models import get_architecture

    return get_architecture(model).layout


def run_here(args, out):
    """Time every configuration on this process's backend; returns the results document, also
    written to `out` after every configuration (an interrupted run keeps what it measured)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    backend, label, device, jit_compile = _environment(args)
    x_train, y_train, x_test, y_test, source = _load_mnist(args.data_dir)
    arrays = (x_train, y_train, x_test, y_test)
    calls = args.calls or (2 if args.quick else 5)
    results = []
    document = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick, "data": source, "python": platform.python_version(),
        "keras": keras.__version__, "cpu_count": os.cpu_count(), "load_average": _load_average(),
        "matmul_precision": args.matmul_precision, "results": results, "to_99": [],
    }
    for model, batch, steps, runs in _configurations(args, backend):
        print(f"  {model} batch {batch}"
              + (f", {runs} seeds per step" if runs > 1 else "")
              + f": {calls} calls of {steps} steps after a warm-up...", flush=True)
        result = time_config(model, batch, steps, calls, args.matmul_precision, arrays,
                             jit_compile, runs, args.xla_flops)
        result.update(backend=label, device=device, jit_compile=jit_compile,
                      load_average=_load_average())
        results.append(result)
        write_json(out, document)
        print("    " + _row(result), flush=True)
    if args.to_99:
        document["to_99"].append(_time_to_99(args, arrays, jit_compile, label, device))
        write_json(out, document)
    return document


def _time_to_99(args, arrays, jit_compile, label, device):
    from ssgan.config import default

    settings = f"the {args.to_99_recipe} recipe" if args.to_99_recipe else "batch 100"
    print(f"  time to 99% test accuracy ({default('architecture')}, {settings}, 100 labels, ≤ "
          f"{args.to_99_max_epochs} epochs)...", flush=True)
    t99 = time_to_99(arrays, args.to_99_max_epochs, args.matmul_precision, jit_compile,
                     args.to_99_recipe)
    t99.update(backend=label, device=device)
    print("    " + (f"{t99['wall_seconds']:.0f}s ({t99['epochs']} epochs)" if t99["reached"]
                    else f"not reached in {t99['epochs']} epochs"), flush=True)
    return t99


def run_backends(parser, args, argv):
    """Each backend in its own process (a process has one Keras backend); merged results."""
    merged = None
    forwarded = _strip_option(argv, "--backends")
    forwarded = _strip_option(forwarded, "--out")
    forwarded = _strip_option(forwarded, "--jit-compile")
    for name in args.backends:
        if name not in BACKENDS:
            parser.fail(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "speed.json")
            env = {**os.environ, **BACKENDS[name][0]}
            print(f"== {name}", flush=True)
            proc = subprocess.run([sys.executable, __file__, *forwarded, *BACKENDS[name][1],
                                   "--out", out, "--no-table"], env=env)
            if proc.returncode != 0:
                print(f"warning: the {name} process failed (exit {proc.returncode})"
                      + ("; keeping what it measured" if os.path.exists(out) else ""), flush=True)
            if not os.path.exists(out):
                continue
            with open(out) as f:
                document = json.load(f)
        if merged is None:
            merged = document
        else:
            merged["results"] += document["results"]
            merged["to_99"] += document["to_99"]
    if merged is None:
        parser.fail("no backend produced results")
    return merged


def _strip_option(argv, option):
    """`argv` without `option` and its value (`--x v` or `--x=v`)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out


def _row(r):
    return (f"{r['backend']:<15} {r['model']:<4} {r['batch_size']:>5} "
            f"{r.get('runs_in_step', 1):>4} {r['steps_per_call']:>5} "
            f"{r['ms_per_step']:>9.2f} {r['steps_per_second']:>8.1f} "
            f"{r['seconds_per_epoch']:>9.2f} {r['compile_seconds']:>8.1f} "
            + (f"{r['achieved_gflops']:>8.1f}" if r.get("achieved_gflops") else f"{'—':>8}"))


HEADER = (f"{'backend':<15} {'model':<4} {'batch':>5} {'runs':>4} {'K':>5} {'ms/step':>9} "
          f"{'steps/s':>8} "
          f"{'s/epoch':>9} {'compile':>8} {'GFLOP/s':>8}")


def print_table(document):
    print()
    print(HEADER)
    for r in document["results"]:
        print(_row(r))
    for t in document.get("to_99", []):
        text = (f"{t['wall_seconds']:.0f}s, {t['epochs']} epochs" if t["reached"]
                else f"not reached in {t['epochs']} epochs")
        print(f"time to 99% ({t['backend']}): {text}")
    print("runs: seeds trained side by side in one step (s/epoch is for all of them); "
          "K: steps per compiled call; s/epoch: 60000/batch steps at the median call; compile: "
          "warm-up call minus a steady one; GFLOP/s: matmul FLOPs (mlp_step_flops) per second.")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    from ssgan.backends import prefer_cublas_gemm

    prefer_cublas_gemm()  # before JAX starts, as the library's tools do; XLA_FLAGS overrides
    parser = build_parser()
    args = parser.parse_args(argv)
    if any(b <= 0 for b in args.batch_sizes or []) or (args.calls is not None and args.calls <= 0) \
            or (args.steps_per_call is not None and args.steps_per_call <= 0):
        parser.fail("batch sizes, --calls and --steps-per-call must be positive")
    known = parser.get_default("models")
    unknown = [m for m in args.models if m not in known]
    if unknown:
        parser.fail(f"unknown models {unknown}: expected {', '.join(known)}")
    out = Path(args.out) if args.out else Path.cwd() / "results" / "speed.json"
    document = run_backends(parser, args, argv) if args.backends else run_here(args, out)
    write_json(out, document)
    if not args.no_table:
        print_table(document)
        print(f"Results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
