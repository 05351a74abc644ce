"""`python benchmarks/run_all.py`: the MNIST benchmark suite of ssgan.

Trains the semi-supervised GAN for every (section, configuration, label count, seed) of the plan
and writes `benchmarks/results/<name>/` (or `--out`):

* `results.json`: one record per run (data, labels, seed, generator, options, epochs, final and
  best test error, seconds per epoch, wall time, time to 99 % accuracy, backend, device, compile
  seconds, per-epoch test errors, generator metrics), rewritten atomically after every run;
* `runs/<run id>/`: the run's own `result.json` and its sample grids;
* `REPORT.md`: the tables — test error per label count beside the Improved-GAN paper, the
  ablation (feature matching vs minibatch discrimination, with and without VBN) with accuracy
  and MNIST-FID, and the generators side by side;
* `samples/`: the sample grids of one seed per configuration; `curves/`: learning curves (test
  error per epoch, one line per seed), one PNG per label count / configuration.

Sections of the plan:

* `labels`: feature matching at every `--labels` count (the paper's Table 1);
* `ablation`: feature matching / minibatch discrimination, each with and without VBN, at
  `--section-labels` labels;
* `generators`: feature matching, CGAN, InfoGAN, InfoGAN with codes tied to labels, at
  `--section-labels` labels.

A run shared by several sections (feature matching at 100 labels) is trained once. `--resume`
skips the runs already recorded (in `results.json` or a run's `result.json`) with the same
settings, so an interrupted suite continues where it stopped. See `benchmarks/README.md`.
"""

import argparse
import dataclasses
import datetime
import gc
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXIT_USAGE = 2

# Improved-GAN (Salimans et al. 2016), Table 1: MNIST test errors (%) of the feature-matching
# model over 10 runs, as (mean, std) per number of labeled examples.
PAPER_MNIST = {20: ("16.77", "4.52"), 50: ("2.21", "1.36"), 100: ("0.93", "0.065"),
               200: ("0.90", "0.042")}

# Configurations: TrainingConfig fields on top of the suite's common settings.
VARIANTS = {
    "fm": {"label": "feature matching", "generator": "feature-matching", "vbn": False},
    "fm-vbn": {"label": "feature matching + VBN", "generator": "feature-matching", "vbn": True},
    "mbd": {"label": "minibatch discrimination", "generator": "feature-matching",
            "minibatch_discrimination": True, "vbn": False},
    "mbd-vbn": {"label": "minibatch discrimination + VBN", "generator": "feature-matching",
                "minibatch_discrimination": True, "vbn": True},
    "cgan": {"label": "CGAN", "generator": "cgan", "vbn": True},
    "infogan": {"label": "InfoGAN (free codes)", "generator": "infogan", "vbn": True},
    "infogan-tied": {"label": "InfoGAN (codes tied to labels)", "generator": "infogan",
                     "vbn": True, "generator_options": {"tie_codes_to_labels": True}},
}
ABLATION = ("fm", "fm-vbn", "mbd", "mbd-vbn")
# The configuration of the label-count table: feature matching with the paper's generator, the
# library's "full" recipe (`ssgan.recipes`), whose optimizer settings every variant shares.
RECOMMENDED = "fm"
# --generators names → variants.
GENERATORS = {"feature-matching": RECOMMENDED, "cgan": "cgan", "infogan": "infogan",
              "infogan-tied": "infogan-tied"}
ALL_LABELS = (20, 50, 100, 200)

# The --quick smoke settings: every path, a few minutes on 2 CPU cores.
QUICK = {
    "epochs": 2, "steps_per_epoch": 4, "steps_per_call": 2, "batch_size": 50,
    "discriminator_hidden": [64, 32], "generator_hidden": [64], "init_examples": 100,
    "test_size": 500, "fid_samples": 500, "seeds": [0],
}
# The settings that enter a run's identity (a change means a different run, trained again).
SETTINGS = ("epochs", "batch_size", "steps_per_epoch", "steps_per_call", "architecture",
            "discriminator_hidden", "generator_hidden", "init_examples", "test_size",
            "fid_samples", "unlabeled", "overrides")


def _fail(message, code=EXIT_USAGE):
    one_line = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"run_all: error: {one_line}", file=sys.stderr, flush=True)
    sys.exit(code)


# ------------------------------------------------------------------------------- arguments


def _int_list(text):
    try:
        return [int(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")


def _name_list(text):
    return [v for v in str(text).replace(",", " ").split() if v]


def _override(text):
    key, sep, value = str(text).partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a bare string
    return key.strip(), value


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        _fail(message)


def build_parser():
    parser = _Parser(
        prog="python benchmarks/run_all.py",
        description="Run ssgan's MNIST benchmark suite and write results.json, REPORT.md, sample "
        "grids and learning curves.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true",
        help="CPU-sized smoke run of every path (all label counts, the ablation, every "
        "generator) with tiny models and epochs: a few minutes on 2 cores; numbers meaningless")
    add("--name", default=None, help="suite name: results go to benchmarks/results/<name> "
        "(default: the --out folder's name, else 'quick' with --quick, else the data set's)")
    add("--out", default=None, help="results directory (overrides --name)")
    add("--resume", action="store_true",
        help="continue the suite in --out: runs already recorded with the same settings are "
        "skipped")
    add("--labels", type=_int_list, default=list(ALL_LABELS),
        help="label counts of the `labels` section (comma-separated)")
    add("--seeds", default=None,
        help="a count N (seeds 0..N-1) or a comma-separated list of seeds (default 5; --quick "
        "1)")
    add("--generators", type=_name_list, default=list(GENERATORS),
        help=f"generators of the `generators` section, from {', '.join(GENERATORS)}")
    add("--ablation", action=argparse.BooleanOptionalAction, default=True,
        help="run the ablation section (feature matching vs minibatch discrimination, ± VBN)")
    add("--section-labels", type=int, default=100,
        help="label count of the ablation and generators sections")
    add("--epochs", type=int, default=None,
        help="epochs per run (default 300, the paper's; --quick 2)")
    add("--steps-per-epoch", type=int, default=None,
        help="steps per epoch (default one pass over the unlabeled data: 600 at batch 100)")
    add("--steps-per-call", type=int, default=None,
        help="training steps per compiled call (default: the trainer's choice, ~50)")
    add("--batch-size", type=int, default=None, help="batch size (default 100)")
    add("--architecture", default="mlp", choices=("mlp", "conv"),
        help="the paper's MLP pair or the convolutional pair")
    add("--test-size", type=int, default=None,
        help="test images evaluated after every epoch (default all 10000; --quick 500)")
    add("--fid-samples", type=int, default=None,
        help="generated samples per MNIST-FID / generator metric (default 10000; --quick 500)")
    add("--set", dest="overrides", type=_override, action="append", default=[],
        metavar="KEY=VALUE", help="set a TrainingConfig field for every run (JSON value), e.g. "
        "--set learning_rate=0.001; repeatable")
    add("--classifier", default="auto", choices=("auto", "cached", "train", "smoke", "none"),
        help="evaluation classifier of MNIST-FID and the generator metrics: 'cached' (fail "
        "if not cached), 'train' (cached, else trained and cached: minutes on a CPU, seconds on "
        "a GPU), 'smoke' (a tiny one trained now, not cached: smoke tests only), 'none' (no "
        "generator metrics); 'auto' = 'cached' if cached, else 'smoke' with --quick and 'train' "
        "without")
    add("--classifier-cache", default=None,
        help="directory of the cached evaluation classifier (default $XDG_CACHE_HOME/ssgan/"
        "eval_classifier)")
    add("--compile-cache", default=None,
        help="JAX persistent compilation cache directory: seeds of one configuration then reuse "
        "the compiled step instead of compiling it again; 'none' disables (default "
        "$XDG_CACHE_HOME/ssgan/jax_compilation_cache)")
    add("--seeds-per-step", type=int, default=5,
        help="JAX: train up to this many runs of a configuration (its seeds and label counts) "
        "side by side as one vectorized step (0 = all of them; 1 = one run at a time). On an "
        "H200, 5 runs side by side took 1.00 s an epoch with their evaluation, 0.20 s per "
        "run-epoch against 0.40 one at a time: 5 × 300 epochs in 5.5 minutes "
        "(benchmarks/SPEED.md)")
    add("--time-limit", type=float, default=None, metavar="MINUTES",
        help="do not start a unit (a run, or runs side by side) that would end more than this "
        "many minutes after the start, by the ETA of the units done so far; the suite then stops "
        "cleanly and --resume continues it (the first unit always starts: keep `timeout` as the "
        "backstop). For fixed slots such as a 10-minute device call")
    add("--checkpoint", action="store_true",
        help="also checkpoint each run after every epoch (in <out>/ckpt/), so that --resume "
        "continues an interrupted run mid-way instead of restarting it")
    add("--dataset", default="mnist", help="data set (the paper's figures are MNIST's)")
    add("--data-dir", default=None, help="data folder (else $SSGAN_DATA_DIR, then the cache)")
    add("--dry-run", action="store_true", help="print the plan and exit")
    add("--report-only", action="store_true",
        help="rewrite REPORT.md, the curves and the sample copies of --out from its "
        "results.json, training nothing")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="0: one line per run; 1: also a progress line every tenth of a run; 2: also the "
        "trainer's line per epoch")
    return parser


def _seeds(text, quick):
    if text is None:
        return list(QUICK["seeds"]) if quick else [0, 1, 2, 3, 4]
    values = _int_list(text)
    if len(values) == 1 and "," not in str(text):
        if values[0] <= 0:
            _fail("--seeds N must be positive.")
        return list(range(values[0]))
    return values


def settings_from_args(args):
    """The suite's common settings: defaults, --quick's, then the explicit flags."""
    settings = {
        "epochs": 300, "batch_size": 100, "steps_per_epoch": None, "steps_per_call": None,
        "architecture": args.architecture, "discriminator_hidden": None, "generator_hidden": None,
        "init_examples": 500, "test_size": None, "fid_samples": 10000, "unlabeled": "all",
        "overrides": {},
    }
    if args.quick:
        settings.update({k: v for k, v in QUICK.items() if k in settings})
        if args.architecture == "conv":  # filters of the conv pair (its generator takes two)
            settings.update(discriminator_hidden=[8, 16], generator_hidden=[16, 8])
    for flag in ("epochs", "batch_size", "steps_per_epoch", "steps_per_call", "test_size",
                 "fid_samples"):
        value = getattr(args, flag)
        if value is not None:
            if value <= 0:
                _fail(f"--{flag.replace('_', '-')} must be positive.")
            settings[flag] = value
    settings["overrides"] = dict(args.overrides)
    return settings


# ------------------------------------------------------------------------------------ plan


@dataclasses.dataclass
class RunSpec:
    """One training run of the plan."""

    variant: str
    labels: int
    seed: int
    sections: list
    dataset: str
    settings: dict

    @property
    def config_fields(self):
        from ssgan.recipes import recipe_settings

        # The "full" recipe's optimizer (constant learning rates, the gentler generator), then
        # the variant's own fields (generator, VBN, minibatch discrimination).
        fields = recipe_settings("full", epochs=self.settings["epochs"])
        del fields["epochs"]
        fields.update({k: v for k, v in VARIANTS[self.variant].items() if k != "label"})
        fields.setdefault("generator_options", {})
        fields.setdefault("minibatch_discrimination", False)
        return fields

    @property
    def identity(self):
        """What defines the run: equal identities give equal results (up to nondeterminism)."""
        return {"dataset": self.dataset, "variant": self.variant, "labels": self.labels,
                "seed": self.seed, **self.config_fields,
                **{k: self.settings[k] for k in SETTINGS}}

    @property
    def key(self):
        text = json.dumps(self.identity, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def run_id(self):
        return f"{self.variant}-l{self.labels}-s{self.seed}"


def build_plan(args, settings, seeds):
    """The runs, in order: the label counts, then the ablation, then the generators; a run
    needed by several sections appears once, with all its sections."""
    unknown = [g for g in args.generators if g not in GENERATORS]
    if unknown:
        _fail(f"Unknown --generators {', '.join(unknown)}: expected names from "
              f"{', '.join(GENERATORS)}.")
    wanted = []
    for labels in args.labels:
        wanted += [("labels", RECOMMENDED, labels)]
    if args.ablation:
        wanted += [("ablation", v, args.section_labels) for v in ABLATION]
    wanted += [("generators", GENERATORS[g], args.section_labels) for g in args.generators]
    runs = {}
    for section, variant, labels in wanted:
        for seed in seeds:
            spec = runs.get((variant, labels, seed))
            if spec is None:
                spec = runs[(variant, labels, seed)] = RunSpec(
                    variant, labels, seed, [], args.dataset, settings)
            if section not in spec.sections:
                spec.sections.append(section)
    return list(runs.values())


@dataclasses.dataclass
class RecordedRun:
    """A run of `results.json` outside the current plan: reported with the planned ones, so
    that suites built up by several `--resume` invocations (say 5 seeds at 100 labels, 2 at the
    other counts) get one report."""

    key: str
    variant: str
    labels: int
    seed: int
    sections: list
    run_id: str


def recorded_runs(records, plan):
    planned = {spec.key for spec in plan}
    return [RecordedRun(r["key"], r["variant"], r["labels"], r["seed"], list(r["sections"]),
                        r["id"])
            for key, r in records.items()
            if key not in planned and r.get("variant") in VARIANTS
            and (is_complete(r) or r.get("status") == "interrupted")]


# ------------------------------------------------------------------------- backend, device


def choose_backend():
    """Use JAX when KERAS_BACKEND is unset and JAX sees a GPU; returns a note on the choice.

    Must run before Keras is imported."""
    if os.environ.get("KERAS_BACKEND"):
        return f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} (from the environment)"
    try:
        import jax

        if any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices()):
            os.environ["KERAS_BACKEND"] = "jax"
            return "KERAS_BACKEND=jax (JAX sees a GPU)"
    except Exception as exc:  # no JAX, or a broken GPU plug-in: keep the default backend
        return f"Keras' default backend (JAX unavailable: {type(exc).__name__})"
    return "Keras' default backend (no GPU visible to JAX)"


def configure_compilation(backend, compile_cache):
    """Backend settings before the first trainer: the JAX persistent compilation cache (a new
    trainer's step then loads the executable compiled for an earlier one with identical shapes:
    the seeds of a configuration compile once). TensorFlow needs none: its step uses XLA on a
    GPU only (`TrainingConfig.jit_compile`; `--set jit_compile=true` forces it)."""
    notes = {}
    if backend == "jax" and compile_cache != "none":
        import jax

        directory = compile_cache or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
            "ssgan", "jax_compilation_cache")
        os.makedirs(directory, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        notes["jax_compilation_cache"] = directory
    return notes


# ----------------------------------------------------------------------------------- files


def _write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def load_records(out):
    """Recorded runs by key: results.json, completed by the per-run result files."""
    records = {}
    path = Path(out) / "results.json"
    if path.exists():
        try:
            for record in json.loads(path.read_text()).get("runs", []):
                records[record["key"]] = record
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            print(f"warning: ignoring unreadable {path} ({exc}); using the per-run files",
                  flush=True)
    for run_file in sorted((Path(out) / "runs").glob("*/result.json")):
        try:
            record = json.loads(run_file.read_text())
            records.setdefault(record["key"], record)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return records


def write_results(out, suite, records):
    _write_json(Path(out) / "results.json", {"suite": suite, "runs": list(records.values())})


def is_complete(record):
    """Recorded runs that --resume skips: finished, or diverged (it would diverge again)."""
    return record.get("status") in ("ok", "diverged")


# --------------------------------------------------------------------------------- metrics


class Evaluator:
    """The evaluation classifier of MNIST-FID and the generator metrics (`ssgan.metrics`),
    loaded once per suite."""

    def __init__(self, mode, dataset, cache_dir, data_dir, quick):
        self.mode, self.dataset, self.cache_dir, self.data_dir = mode, dataset, cache_dir, data_dir
        self.quick = quick
        self.classifier = None
        self.kind = None
        self.note = None
        self.error = None

    def _load(self):
        try:
            from ssgan import metrics
        except ImportError as exc:
            self.error = f"ssgan.metrics unavailable ({exc})"
            return
        mode = self.mode
        if mode == "auto":
            model_path, meta_path = metrics.classifier_paths(self.dataset, self.cache_dir)
            cached = model_path.is_file() and meta_path.is_file()
            mode = "cached" if cached else ("smoke" if self.quick else "train")
        try:
            if mode == "smoke":
                self.classifier = self._smoke_classifier(metrics)
                self.kind = "smoke"
                self.note = ("MNIST-FID and the generator metrics use a tiny classifier trained "
                             "for this smoke run (`--classifier smoke`), not the evaluation "
                             "classifier: the values only show that the path works.")
            else:
                start = time.perf_counter()
                self.classifier = metrics.load_evaluation_classifier(
                    self.dataset, cache_dir=self.cache_dir, data_dir=self.data_dir,
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
        """The generator metrics of `trainer`; the failures go into `metrics_error`."""
        if self.mode == "none":
            return {"metrics_error": "generator metrics off (--classifier none)"}
        if self.classifier is None and self.error is None:
            self._load()
        if self.classifier is None:
            return {"metrics_error": self.error}
        from ssgan import metrics

        start = time.perf_counter()
        try:
            values = metrics.evaluate_generator(trainer, self.classifier, n=n, seed=seed,
                                                dataset=self.dataset, data_dir=self.data_dir)
        except Exception as exc:
            return {"metrics_error": f"{type(exc).__name__}: {exc}"}
        values = {k: v for k, v in values.items()}
        values["metrics_seconds"] = time.perf_counter() - start
        values["metrics_classifier"] = self.kind
        return values


# ------------------------------------------------------------------------------- training


def _format_seconds(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Timing:
    """Measured cost of this process's units, for the ETA: wall seconds per training epoch (with
    its evaluation) and the per-run overhead (set-up, compilation, grids, metrics), the latter
    apart for the first run of a configuration and for its repeats (other seeds), which on JAX
    load the compiled step from the compilation cache. A unit trains `runs` runs side by side;
    its epoch costs what a unit of the same configuration and size cost, else what any unit of
    that size cost, else the mean cost of one run's epoch times `runs` (minibatch
    discrimination's epoch costs four times feature matching's on a CPU; five runs side by
    side cost 2.6 times one on an H200, 5 times on a CPU)."""

    def __init__(self):
        self.epoch_seconds = []  # (group, runs, seconds per epoch of the unit)
        self.overheads = {False: [], True: []}  # per run, by "a run of this group came before"
        self.groups = set()

    def add(self, group, wall, epochs, epoch_wall, runs=1):
        repeat = group in self.groups
        self.groups.add(group)
        if epochs:
            self.epoch_seconds.append((group, runs, epoch_wall / epochs))
            self.overheads[repeat].append(max(wall - epoch_wall, 0.0) / runs)

    def _unit_epoch(self, group, runs):
        for match in (lambda g, n: g == group and n == runs, lambda g, n: n == runs):
            same = [seconds for g, n, seconds in self.epoch_seconds if match(g, n)]
            if same:
                return statistics.fmean(same)
        return runs * statistics.fmean(seconds / n for _, n, seconds in self.epoch_seconds)

    def estimate(self, units):
        """Seconds for `units`, a list of (group, epochs left, runs side by side); None before
        any measurement."""
        if not self.epoch_seconds:
            return None
        first = statistics.fmean(self.overheads[False] or self.overheads[True])
        repeat = statistics.fmean(self.overheads[True]) if self.overheads[True] else first
        seen, total = set(self.groups), 0.0
        for group, epochs, runs in units:
            total += ((repeat if group in seen else first) * runs
                      + epochs * self._unit_epoch(group, runs))
            seen.add(group)
        return total


class Data:
    """The data set, loaded and scaled once for the whole suite."""

    def __init__(self, dataset, data_dir, architecture, test_size):
        from ssgan.data import DATASETS, load_dataset, scale_images

        self.info = DATASETS[dataset]
        (x_train, self.y_train), (x_test, y_test) = load_dataset(dataset, data_dir=data_dir)
        layout = "flat" if architecture == "mlp" else "image"
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


def training_config(spec):
    from ssgan.training import TrainingConfig

    s = spec.settings
    values = {
        **spec.config_fields,
        "architecture": s["architecture"], "epochs": s["epochs"], "batch_size": s["batch_size"],
        "steps_per_epoch": s["steps_per_epoch"], "steps_per_call": s["steps_per_call"],
        "init_examples": s["init_examples"], "seed": spec.seed,
    }
    for key in ("discriminator_hidden", "generator_hidden"):
        if s[key] is not None:
            values[key] = tuple(s[key])
    values.update(s["overrides"])
    return TrainingConfig(**values)


class _Run:
    """One run being trained: its spec, record, trainer, data and checkpoint folder."""

    def __init__(self, spec, data, out, ctx):
        from ssgan.training import SemiSupervisedGAN

        self.spec, self.out, self.ctx = spec, Path(out), ctx
        self.run_dir = self.out / "runs" / spec.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.record = _base_record(spec, ctx)
        self.start = time.perf_counter()
        self.epoch_walls = []
        self.trainer = None
        self.dataset = data.split(spec.labels, spec.seed, spec.settings["unlabeled"])
        config = training_config(spec)
        self.record["config"] = config.to_dict()
        self.trainer = SemiSupervisedGAN(data.info.image_shape, data.info.n_classes, config)
        self.ckpt = self.out / "ckpt" / spec.run_id if ctx["checkpoint"] else None
        self.resumed_from = 0
        if self.ckpt is not None and (self.ckpt / "checkpoint.json").exists():
            self.trainer.load_checkpoint(self.ckpt)
            self.resumed_from = self.trainer.epoch
            print(f"  resuming {spec.run_id} from its checkpoint after epoch "
                  f"{self.resumed_from}", flush=True)
        self.record["resumed_from_epoch"] = self.resumed_from

    def after_epoch(self, trainer, logs):
        self.epoch_walls.append(time.perf_counter() - self.start)
        if self.ckpt is not None:
            trainer.save_checkpoint(self.ckpt)

    def progress(self, ctx, label, errors):
        """A progress line every tenth of the run: test errors, s/epoch, ETAs."""
        epochs, epoch = self.trainer.config.epochs, self.trainer.epoch
        if ctx["verbose"] < 1 or epoch % max(1, epochs // 10) or epoch >= epochs:
            return
        done = epoch - self.resumed_from
        walls = self.epoch_walls
        per_epoch = (walls[-1] - walls[0]) / (done - 1) if done > 1 else walls[-1]
        left = (epochs - epoch) * per_epoch
        suite_left = ctx["eta_after_run"]()
        print(f"  {label} epoch {epoch}/{epochs}: test error "
              + " ".join(f"{100 * e:.2f}%" for e in errors)
              + f", {per_epoch:.2f} s/epoch, ETA {_format_seconds(left)}"
              + (f", suite ETA {_format_seconds(left + suite_left)}"
                 if suite_left is not None else ""), flush=True)

    def finish(self, evaluator, diverged=None, error=None):
        """Summarize, save grids and generator metrics, write the run's result file. An
        interrupted run (`error` a KeyboardInterrupt: Ctrl-C or SIGTERM) keeps its curve."""
        record, trainer = self.record, self.trainer
        try:
            record.update(_history_summary(trainer.history, self.epoch_walls, self.resumed_from))
            record["epochs_done"] = trainer.epoch
            record["train_wall_seconds"] = time.perf_counter() - self.start
            if trainer.history:
                record["runs_in_step"] = trainer.history[-1].get("runs_in_step", 1)
            if isinstance(error, KeyboardInterrupt):
                record["status"] = "interrupted"
                record["error"] = f"interrupted after epoch {trainer.epoch}"
            elif error is not None:
                raise error
            else:
                record["status"] = "diverged" if diverged else "ok"
                if diverged:
                    record["error"] = diverged
            if self.ckpt is not None and record["status"] == "ok":
                shutil.rmtree(self.ckpt, ignore_errors=True)  # only an unfinished run needs it
            if record["status"] == "ok":
                # Stopped (SIGTERM, Ctrl-C) while saving grids or measuring: the trained run
                # and its curve are kept (status ok, metrics missing), the unit's other runs
                # skip theirs and the suite stops after this unit.
                try:
                    if self.ctx.get("interrupted"):
                        raise KeyboardInterrupt
                    self._grids_and_metrics(evaluator)
                except KeyboardInterrupt:
                    record["metrics_error"] = "interrupted before the generator metrics"
                    self.ctx["interrupted"] = True
        except Exception as exc:
            record["status"] = "error"
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["traceback"] = "".join(traceback.format_exception(exc, limit=8))
        record["wall_seconds"] = time.perf_counter() - self.start
        record["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        _write_json(self.run_dir / "result.json", record)
        return record

    def _grids_and_metrics(self, evaluator):
        record = self.record
        try:
            record["samples"] = [os.path.relpath(p, self.out) for p in
                                 _save_grids(self.trainer, self.run_dir, self.spec.seed)]
        except Exception as exc:
            record["samples_error"] = f"{type(exc).__name__}: {exc}"
        # Every run gets its generator metrics (a few seconds on a GPU): a run first done for
        # the labels section is then complete for the others too.
        record.update(evaluator(self.trainer, self.spec.settings["fid_samples"], self.spec.seed))


def _base_record(spec, ctx):
    """What a run's record holds before it trains (status "error" until it says otherwise)."""
    return {
        "key": spec.key, "id": spec.run_id, "sections": list(spec.sections),
        "variant": spec.variant, "variant_label": VARIANTS[spec.variant]["label"],
        "dataset": spec.dataset, "labels": spec.labels, "seed": spec.seed,
        "generator": spec.config_fields["generator"],
        "options": {k: v for k, v in spec.identity.items()
                    if k not in ("dataset", "variant", "labels", "seed", "generator")},
        "epochs": spec.settings["epochs"], "backend": ctx["backend"], "device": ctx["device"],
        "status": "error",
    }


def _error_record(spec, ctx, exc):
    """The record of a run that failed before training (its set-up raised `exc`)."""
    return {**_base_record(spec, ctx), "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc, limit=8)), "wall_seconds": 0.0,
            "finished": datetime.datetime.now().isoformat(timespec="seconds")}


def _cleanup():
    import keras
    import numpy as np

    gc.collect()
    keras.backend.clear_session()
    np.random.seed(None)


def train_run(spec, data, out, evaluator, ctx):
    """Train one run and return its record (status ok / diverged / error)."""
    from ssgan.training import TrainingDivergedError

    try:
        run = _Run(spec, data, out, ctx)
    except Exception as exc:
        return _error_record(spec, ctx, exc)

    def after_epoch(trainer, logs):
        run.after_epoch(trainer, logs)
        run.progress(ctx, spec.run_id, [logs.get("test_error", float("nan"))])

    diverged = error = None
    try:
        run.trainer.fit(*run.dataset, validation_data=(data.x_test, data.y_test),
                        callbacks=[after_epoch], verbose=2 if ctx["verbose"] >= 2 else 0)
    except TrainingDivergedError as exc:
        diverged = str(exc)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    record = run.finish(evaluator, diverged, error)
    del run
    _cleanup()
    return record


def train_group(specs, data, out, evaluator, ctx):
    """Train the seeds of one configuration side by side as one vectorized step
    (`ssgan.training.SeedGroup`, JAX); returns their records."""
    from ssgan.training import SeedGroup

    runs, records = [], {}
    for spec in specs:
        try:
            runs.append(_Run(spec, data, out, ctx))
        except Exception as exc:
            records[spec.key] = _error_record(spec, ctx, exc)
    # Runs resumed from checkpoints of different epochs train in separate groups.
    by_epoch = {}
    for run in runs:
        by_epoch.setdefault(run.trainer.epoch, []).append(run)
    for members in by_epoch.values():
        by_trainer = {id(run.trainer): run for run in members}
        group = SeedGroup([run.trainer for run in members])
        label = _group_label([run.spec for run in members])

        def after_epoch(trainer, logs, group=group, members=members, label=label):
            by_trainer[id(trainer)].after_epoch(trainer, logs)
            alive = [run for i, run in enumerate(members) if i not in group.diverged]
            if alive and trainer is alive[-1].trainer:  # the epoch's last run: one line
                alive[-1].progress(ctx, label, [run.trainer.history[-1].get(
                    "test_error", float("nan")) for run in alive])

        error = None
        try:
            group.fit([run.dataset for run in members],
                      validation_data=(data.x_test, data.y_test), callbacks=[after_epoch],
                      verbose=2 if ctx["verbose"] >= 2 else 0)
        except (Exception, KeyboardInterrupt) as exc:
            error = exc
        for i, run in enumerate(members):
            records[run.spec.key] = run.finish(evaluator, group.diverged.get(i), error)
    del runs
    _cleanup()
    return [records[spec.key] for spec in specs]


def _history_summary(history, epoch_walls, resumed_from):
    import numpy as np

    errors = [logs.get("test_error") for logs in history]
    valid = [e for e in errors if e is not None]
    summary = {
        "test_errors": errors,
        "final_test_error": valid[-1] if valid else None,
        "best_test_error": min(valid) if valid else None,
        "best_epoch": (errors.index(min(valid)) + 1) if valid else None,
        "compile_seconds": next((logs["compile_seconds"] for logs in history
                                 if "compile_seconds" in logs), None),
        "epoch_seconds": [logs.get("seconds") for logs in history],
    }
    seconds = [logs["seconds"] for logs in history[resumed_from:] if "seconds" in logs]
    summary["seconds_per_epoch"] = float(np.median(seconds)) if seconds else None
    # Time to 99 % test accuracy: wall time from the run's start (set-up and compilation
    # included) to the end of the first epoch whose evaluation reaches it.
    summary["time_to_99_seconds"] = None
    summary["epochs_to_99"] = None
    for i, error in enumerate(errors[resumed_from:]):
        if error is not None and error <= 0.01:
            summary["time_to_99_seconds"] = epoch_walls[i]
            summary["epochs_to_99"] = resumed_from + i + 1
            break
    if resumed_from:
        summary["time_to_99_note"] = "measured after resuming from a checkpoint"
    for key in ("loss_supervised", "loss_unsupervised", "loss_generator", "train_error"):
        if history and key in history[-1]:
            summary[f"final_{key}"] = history[-1][key]
    return summary


def _save_grids(trainer, run_dir, seed):
    from ssgan.grids import save_sample_grids

    return save_sample_grids(trainer, str(run_dir), seed=seed)


# -------------------------------------------------------------------------------- report


def _mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None, 0
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std, len(values)


def _pct(values, digits=2):
    return _num(values, digits, scale=100.0)


def _num(values, digits=1, scale=1.0):
    mean, std, n = _mean_std(values)
    if mean is None:
        return "—"
    if n == 1:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _seconds(values):
    mean, _, _ = _mean_std(values)
    return "—" if mean is None else f"{mean:.2f}"


def save_curves(plan, records, out):
    """Test error per epoch, one line per seed: one PNG per (configuration, label count)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib import pyplot as plt

    groups = {}
    for spec in plan:
        record = records.get(spec.key)
        if record and record.get("test_errors"):
            groups.setdefault((spec.variant, spec.labels), []).append(record)
    paths = {}
    curve_dir = Path(out) / "curves"
    curve_dir.mkdir(parents=True, exist_ok=True)
    for (variant, labels), group in sorted(groups.items()):
        fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
        for record in sorted(group, key=lambda r: r["seed"]):
            errors = record["test_errors"]
            epochs = [i + 1 for i, e in enumerate(errors) if e is not None]
            values = [100 * e for e in errors if e is not None]
            ax.plot(epochs, values, marker="." if len(values) < 30 else None,
                    label=f"seed {record['seed']}")
        if variant == RECOMMENDED and labels in PAPER_MNIST and group[0]["dataset"] == "mnist":
            mean = float(PAPER_MNIST[labels][0])
            ax.axhline(mean, color="gray", linestyle="--", label=f"paper {mean}%")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        ax.set_title(f"{VARIANTS[variant]['label']}, {labels} labels")
        path = curve_dir / f"{variant}-l{labels}.png"
        tmp = path.with_name(f".{path.stem}.tmp.png")
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        os.replace(tmp, path)
        paths[(variant, labels)] = path
    return paths


def copy_samples(plan, records, out):
    """The sample grids of the lowest seed of each (configuration, label count) that has them,
    copied to samples/<variant>-l<labels>-<file>."""
    chosen = {}
    for spec in plan:
        record = records.get(spec.key)
        if not record or not record.get("samples"):
            continue
        group = (spec.variant, spec.labels)
        if group not in chosen or spec.seed < chosen[group]["seed"]:
            chosen[group] = record
    sample_dir = Path(out) / "samples"
    sample_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    for (variant, labels), record in sorted(chosen.items()):
        for rel in record["samples"]:
            source = Path(out) / rel
            if source.exists():
                target = sample_dir / f"{variant}-l{labels}-{source.name}"
                shutil.copyfile(source, target)
                copied.setdefault((variant, labels), []).append((target, record["seed"]))
    return copied


def write_report(out, suite, plan, records, evaluator_note=None):
    """REPORT.md: the tables, the sample grids and the learning curves."""
    curves = save_curves(plan, records, out)
    samples = copy_samples(plan, records, out)

    usable = ("ok", "interrupted")  # an interrupted run is reported at its last epoch

    def recs(variant, labels):
        return [records[s.key] for s in plan if s.variant == variant and s.labels == labels
                and s.key in records and records[s.key].get("status") in usable
                and records[s.key].get("final_test_error") is not None]

    def failed(variant, labels):
        return [records[s.key] for s in plan if s.variant == variant and s.labels == labels
                and s.key in records and records[s.key].get("status") not in usable]

    def seeds_cell(group, bad=()):
        stopped = sorted({r.get("epochs_done") for r in group if r.get("status") == "interrupted"})
        return (f"{len(group)}"
                + (f" (interrupted after epoch {', '.join(map(str, stopped))})" if stopped else "")
                + (f" (+{len(bad)} failed)" if bad else ""))

    interrupted = sum(1 for sp in plan
                      if records.get(sp.key, {}).get("status") == "interrupted")
    lines = [f"# ssgan benchmark: {suite['name']}", ""]
    if suite.get("quick"):
        lines += ["> **--quick smoke run**: tiny models trained for a few steps. The numbers only "
                  "show that every path works; they say nothing about the method.", ""]
    s = suite["settings"]
    lines += [
        f"Backend: **{suite['device']}** ({suite['backend_choice']}). "
        f"{s['epochs']} epochs of {s['steps_per_epoch'] or 'one pass (60000/batch)'} steps, "
        f"batch {s['batch_size']}, architecture `{s['architecture']}`"
        + (f", D hidden {s['discriminator_hidden']}, G hidden {s['generator_hidden']}"
           if s["discriminator_hidden"] or s["generator_hidden"] else "")
        + (f", overrides `{json.dumps(s['overrides'])}`" if s["overrides"] else "")
        + f"; test error on {suite['test_images']} test images after every epoch, with the "
        "moving average of the discriminator. Errors are mean ± std over seeds (the "
        "labeled split and the weights change with the seed).",
        "",
        f"Runs: {sum(1 for sp in plan if records.get(sp.key, {}).get('status') == 'ok')} ok "
        + (f"and {interrupted} interrupted " if interrupted else "")
        + f"of {len(plan)} planned; `results.json` holds one record per run.",
        "",
    ]
    if suite.get("note"):
        lines += [f"Note: {suite['note']}.", ""]
    missing = [sp for sp in plan if sp.key not in records]
    if missing:
        lines += [f"Not run yet: {', '.join(sp.run_id for sp in missing)} "
                  "(`--resume` continues).", ""]

    # ---- Table 1: label counts
    label_counts = sorted({sp.labels for sp in plan if "labels" in sp.sections})
    if label_counts:
        lines += [f"## Test error per label count ({VARIANTS[RECOMMENDED]['label']})", "",
                  "| labels | seeds | test error (%) | best-epoch error (%) | paper (%) | "
                  "s/epoch | compile (s) | time to 99 % (s) |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for labels in label_counts:
            group = recs(RECOMMENDED, labels)
            paper = PAPER_MNIST.get(labels) if suite["dataset"] == "mnist" else None
            paper_text = f"{paper[0]} ± {paper[1]}" if paper else "—"
            reached = [r["time_to_99_seconds"] for r in group
                       if r.get("time_to_99_seconds") is not None]
            t99 = (f"{statistics.fmean(reached):.0f} ({len(reached)}/{len(group)} seeds)"
                   if reached else (f"never (0/{len(group)})" if group else "—"))
            bad = failed(RECOMMENDED, labels)
            lines.append(
                f"| {labels} | {seeds_cell(group, bad)} | "
                f"{_pct([r['final_test_error'] for r in group])} | "
                f"{_pct([r['best_test_error'] for r in group])} | {paper_text} | "
                f"{_seconds([r.get('seconds_per_epoch') for r in group])} | "
                f"{_seconds([r.get('compile_seconds') for r in group])} | {t99} |")
        lines += ["", "Paper: Salimans et al. (2016), *Improved Techniques for Training GANs*, "
                  "Table 1 (feature matching, 10 runs). Test error: after the last epoch; "
                  "best-epoch error: the minimum over epochs (selected on the test set, so "
                  "optimistic). Time to 99 %: wall time from the start of the run (set-up and "
                  "compilation included) to the first epoch at ≥ 99 % test accuracy.", ""]

    # ---- Table 2: ablation
    ablation = [v for v in ABLATION if any(sp.variant == v and "ablation" in sp.sections
                                           for sp in plan)]
    section_labels = suite["section_labels"]
    if ablation:
        lines += [f"## Ablation at {section_labels} labels", "",
                  "| configuration | minibatch discr. | VBN | seeds | test error (%) | "
                  "MNIST-FID ↓ | s/epoch |",
                  "| --- | :---: | :---: | ---: | ---: | ---: | ---: |"]
        for variant in ablation:
            group = recs(variant, section_labels)
            fields = {k: v for k, v in VARIANTS[variant].items()}
            lines.append(
                f"| {fields['label']} | {'✓' if fields.get('minibatch_discrimination') else ''} "
                f"| {'✓' if fields.get('vbn') else ''} | {seeds_cell(group)} | "
                f"{_pct([r['final_test_error'] for r in group])} | "
                f"{_num([r.get('fid') for r in group], 2)} | "
                f"{_seconds([r.get('seconds_per_epoch') for r in group])} |")
        lines += [""] + _ablation_verdict(recs, section_labels) + [""]

    # ---- Table 3: generators
    generators = [v for v in GENERATORS.values()
                  if any(sp.variant == v and "generators" in sp.sections for sp in plan)]
    if generators:
        lines += [f"## Generators at {section_labels} labels", "",
                  "| generator | seeds | test error (%) | MNIST-FID ↓ | CGAN class consistency "
                  "(%) | InfoGAN code→class acc. (%) | code k ↦ class k (%) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for variant in generators:
            group = recs(variant, section_labels)
            bad = failed(variant, section_labels)
            note = ""
            if bad and not group:
                note = f" ({bad[0]['status']}: {bad[0].get('error', '')[:80]})"
            lines.append(
                f"| {VARIANTS[variant]['label']}{note} | {seeds_cell(group)} | "
                f"{_pct([r['final_test_error'] for r in group])} | "
                f"{_num([r.get('fid') for r in group], 2)} | "
                f"{_pct([r.get('class_consistency') for r in group], 1)} | "
                f"{_pct([r.get('code_accuracy') for r in group], 1)} | "
                f"{_pct([r.get('code_identity_accuracy') for r in group], 1)} |")
        lines += ["", "CGAN class consistency: share of G(z, y) that the evaluation classifier "
                  "labels y. InfoGAN code→class accuracy: agreement of the categorical code with "
                  "the classifier's label under the best one-to-one matching of codes to "
                  "classes; code k ↦ class k: without the matching (what tying codes to labels "
                  "aims for).", ""]
    metric_errors = sorted({r["metrics_error"] for r in records.values()
                            if r.get("key") in {sp.key for sp in plan} and r.get("metrics_error")})
    if evaluator_note or metric_errors or suite.get("classifier_note"):
        lines += ["MNIST-FID: the Fréchet distance between the evaluation classifier's "
                  "penultimate features of generated samples and of the test set "
                  f"({s['fid_samples']} samples; `ssgan.metrics`), not comparable with "
                  "Inception FIDs."]
        for note in filter(None, [evaluator_note, suite.get("classifier_note"), *metric_errors]):
            lines.append(f"*Note: {note}*")
        lines.append("")

    # ---- Failures
    failures = [records[sp.key] for sp in plan
                if sp.key in records and records[sp.key].get("status") != "ok"]
    if failures:
        lines += ["## Failed or interrupted runs", "", "| run | status | error |",
                  "| --- | --- | --- |"]
        for r in failures:
            error = (r.get("error") or "").replace("|", "/").replace("\n", " ")[:160]
            lines.append(f"| {r['id']} | {r['status']} | {error} |")
        lines.append("")

    # ---- Timing
    ok = [records[sp.key] for sp in plan if records.get(sp.key, {}).get("status") in usable]
    if ok:
        total = sum(r.get("wall_seconds") or 0 for r in ok)
        lines += ["## Time", "",
                  f"{len(ok)} runs, {_format_seconds(total)} of training in all (wall time, "
                  "evaluation and metrics included). Compile: the first compiled call of each "
                  "run minus its steady-state share; on JAX the persistent compilation cache "
                  "lets later seeds of a configuration skip XLA compilation (their compile time "
                  "is tracing only). Seeds per step: runs trained side by side as one vectorized "
                  "step (`--seeds-per-step`); their s/epoch is the time of one epoch of all of "
                  "them together, and their wall time is the group's; s per run-epoch divides "
                  "it by the runs in the step, the cost of one run's epoch.", "",
                  "| configuration | labels | seeds per step | s/epoch | s per run-epoch | "
                  "compile (s) | wall per run (s) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        groups = {}
        for r in ok:
            groups.setdefault((r["variant"], r["labels"]), []).append(r)
        for (variant, labels), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            compiles = ", ".join(f"{r['compile_seconds']:.1f}" for r in
                                 sorted(group, key=lambda r: r["seed"])
                                 if r.get("compile_seconds") is not None) or "—"
            per_step = sorted({r.get("runs_in_step", 1) for r in group})
            lines.append(f"| {VARIANTS[variant]['label']} | {labels} | "
                         f"{', '.join(str(n) for n in per_step)} | "
                         f"{_seconds([r.get('seconds_per_epoch') for r in group])} | "
                         f"{_seconds([_run_epoch_seconds(r) for r in group])} | "
                         f"{compiles} | {_seconds([r.get('wall_seconds') for r in group])} |")
        lines.append("")

    # ---- Samples and curves, in the plan's order
    order = {}
    for spec in plan:
        order.setdefault((spec.variant, spec.labels), len(order))
    if samples:
        lines += ["## Samples", "",
                  "The grids of one seed per configuration (the lowest), after the last epoch; "
                  "CGAN: row k requests class k; InfoGAN: rows are the categorical code, "
                  "columns sweep one continuous code.", "",
                  "| configuration | labels | seed | random samples | conditional grids |",
                  "| --- | ---: | ---: | --- | --- |"]
        for (variant, labels), files in sorted(samples.items(), key=lambda kv: order[kv[0]]):
            cells = {"random": [], "other": []}
            for path, seed in files:
                rel = os.path.relpath(path, out)
                kind = "random" if path.name.endswith("-samples.png") else "other"
                cells[kind].append(f'<img src="{rel}" width="200" alt="{path.name}">')
            lines.append(f"| {VARIANTS[variant]['label']} | {labels} | {files[0][1]} | "
                         f"{' '.join(cells['random'])} | {' '.join(cells['other'])} |")
        lines.append("")
    if curves:
        lines += ["## Learning curves", "", "Test error per epoch (log scale), one line per "
                  "seed; dashed: the paper's mean.", ""]
        for (variant, labels), path in sorted(curves.items(), key=lambda kv: order[kv[0]]):
            rel = os.path.relpath(path, out)
            lines += [f"![{VARIANTS[variant]['label']}, {labels} labels]({rel})", ""]
    text = "\n".join(lines).rstrip() + "\n"
    path = Path(out) / "REPORT.md"
    tmp = path.with_name(f".REPORT.md.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _ablation_verdict(recs, labels):
    """The paper's claims (feature matching classifies better; minibatch discrimination gives
    better samples) against the measurements, with the seed spread as the yardstick."""

    def stats(variant, key):
        return _mean_std([r.get(key) for r in recs(variant, labels)])

    out = []
    fm_err, fm_err_sd, n_fm = stats("fm", "final_test_error")
    mbd_err, mbd_err_sd, n_mbd = stats("mbd", "final_test_error")
    if fm_err is not None and mbd_err is not None:
        spread = max(fm_err_sd, mbd_err_sd)
        verdict = _compare(mbd_err - fm_err, spread, min(n_fm, n_mbd))
        out.append(f"- *Feature matching is better for classification* (paper, MNIST "
                   f"experiments): feature matching {100 * fm_err:.2f} % vs minibatch discrimination "
                   f"{100 * mbd_err:.2f} % test error → **{verdict}**.")
    fm_fid, fm_fid_sd, n_fm = stats("fm", "fid")
    mbd_fid, mbd_fid_sd, n_mbd = stats("mbd", "fid")
    if fm_fid is not None and mbd_fid is not None:
        verdict = _compare(fm_fid - mbd_fid, max(fm_fid_sd, mbd_fid_sd), min(n_fm, n_mbd))
        out.append(f"- *Minibatch discrimination gives better samples* (paper, MNIST "
                   f"experiments): MNIST-FID {mbd_fid:.2f} with vs {fm_fid:.2f} without → **{verdict}**.")
    elif fm_err is not None:
        out.append("- *Minibatch discrimination gives better samples*: no MNIST-FID (see the "
                   "note below).")
    for base, with_vbn, label in (("fm", "fm-vbn", "feature matching"),
                                  ("mbd", "mbd-vbn", "minibatch discrimination")):
        err, _, _ = stats(base, "final_test_error")
        err_vbn, _, _ = stats(with_vbn, "final_test_error")
        fid, _, _ = stats(base, "fid")
        fid_vbn, _, _ = stats(with_vbn, "fid")
        if err is not None and err_vbn is not None:
            out.append(f"- VBN in the generator, {label}: test error {100 * err:.2f} % → "
                       f"{100 * err_vbn:.2f} %"
                       + (f", MNIST-FID {fid:.2f} → {fid_vbn:.2f}"
                          if fid is not None and fid_vbn is not None else "") + ".")
    if out:
        out.append("- Here both train the generator by feature matching; minibatch "
                   "discrimination is a layer of the discriminator (the paper's minibatch model "
                   "also changed the generator's objective). Verdicts: 'reproduced' / 'refuted' "
                   "when the difference exceeds the larger seed standard deviation, else "
                   "'inconclusive'.")
    return out


def _run_epoch_seconds(record):
    """One run's share of an epoch: its step's s/epoch over the runs trained in that step."""
    seconds = record.get("seconds_per_epoch")
    return None if seconds is None else seconds / (record.get("runs_in_step") or 1)


def _compare(advantage, spread, n):
    """'reproduced' if the claimed winner is ahead by more than the seed spread, 'refuted' if it
    is behind by more, else 'inconclusive' (always with a single seed)."""
    if n < 2:
        return "inconclusive (one seed)"
    if advantage > spread:
        return "reproduced"
    if advantage < -spread:
        return "refuted"
    return "inconclusive (within the seed spread)"


# ------------------------------------------------------------------------------------ main


def main(argv=None):
    invocation_start = time.perf_counter()
    args = build_parser().parse_args(argv)
    seeds = _seeds(args.seeds, args.quick)
    if any(n <= 0 for n in args.labels):
        _fail("--labels must be positive.")
    if args.time_limit is not None and args.time_limit <= 0:
        _fail("--time-limit must be positive.")
    if args.seeds_per_step < 0:
        _fail("--seeds-per-step must be 0 (all seeds) or positive.")
    settings = settings_from_args(args)
    out = Path(args.out) if args.out else (
        HERE / "results" / (args.name or ("quick" if args.quick else args.dataset)))
    name = args.name or out.name
    plan = build_plan(args, settings, seeds)
    if args.report_only:
        path = out / "results.json"
        if not path.exists():
            _fail(f"--report-only: no results.json in {out}.")
        suite = json.loads(path.read_text())["suite"]
        records = load_records(out)
        report = write_report(out, suite, recorded_runs(records, []), records)
        print(f"Report: {report}", flush=True)
        return 0
    if args.dry_run:
        for spec in plan:
            print(f"{spec.run_id}  sections={','.join(spec.sections)}  key={spec.key}")
        return 0
    if (out / "results.json").exists() and not args.resume:
        _fail(f"{out} already holds a suite; pass --resume to continue it, or choose another "
              "--out / --name.")

    # SIGTERM (a scheduler's or `timeout`'s stop) ends the suite like Ctrl-C: the runs in
    # progress are recorded as interrupted, with their curves, and the report is written.
    signal.signal(signal.SIGTERM, _interrupt)
    from ssgan.backends import prefer_cublas_gemm

    prefer_cublas_gemm()  # before JAX starts: see ssgan.backends (a no-op off GPUs)
    # The backend must be chosen before Keras is imported.
    backend_choice = choose_backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from ssgan.backends import get_backend
    from ssgan.training import TrainingConfig

    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(settings["overrides"]) - known)
    if unknown:
        _fail(f"--set {', '.join(unknown)}: not a TrainingConfig field (fields: "
              f"{', '.join(sorted(known))}).")
    backend = keras.backend.backend()
    notes = configure_compilation(backend, args.compile_cache)
    device = get_backend().device_description()
    print(f"Backend: {device} ({backend_choice})"
          + (f"; JAX compilation cache {notes['jax_compilation_cache']}"
             if "jax_compilation_cache" in notes else ""), flush=True)

    records = load_records(out) if args.resume else {}
    out.mkdir(parents=True, exist_ok=True)
    from ssgan.objectives import OBJECTIVES

    todo, unavailable = [], []
    reported = plan + recorded_runs(records, plan)
    for spec in plan:
        record = records.get(spec.key)
        if record is not None and is_complete(record):
            continue
        if spec.config_fields["generator"] not in OBJECTIVES:
            unavailable.append(spec)
            continue
        todo.append(spec)
    done = len(plan) - len(todo) - len(unavailable)
    print(f"Plan: {len(plan)} runs ({done} already done, {len(todo)} to train"
          + (f", {len(unavailable)} skipped: generator not in this ssgan" if unavailable else "")
          + f") → {out}", flush=True)
    for spec in plan:
        if spec.key in records and is_complete(records[spec.key]):
            print(f"  skip {spec.run_id}: done ({records[spec.key]['status']})", flush=True)
    for spec in unavailable:
        print(f"  skip {spec.run_id}: generator {spec.config_fields['generator']!r} is not in "
              f"ssgan.objectives.OBJECTIVES", flush=True)

    suite = {
        "name": name, "quick": args.quick, "dataset": args.dataset, "settings": settings,
        "seeds": seeds, "labels": args.labels, "section_labels": args.section_labels,
        "generators": args.generators, "ablation": args.ablation, "backend": backend,
        "backend_choice": backend_choice, "device": device, **notes,
        "python": platform.python_version(), "keras": keras.__version__,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    data = None
    if todo:
        start = time.perf_counter()
        try:
            data = Data(args.dataset, args.data_dir, settings["architecture"],
                        settings["test_size"])
        except Exception as exc:
            _fail(exc)
        print(f"Data: {len(data.x_train)} training and {len(data.x_test)} test images "
              f"({time.perf_counter() - start:.1f}s)", flush=True)
    suite["test_images"] = len(data.x_test) if data else settings["test_size"] or 10000
    evaluator = Evaluator(args.classifier, args.dataset, args.classifier_cache, args.data_dir,
                          args.quick)
    if todo:  # before the first run, so that its wall time does not include it
        evaluator.prepare()
    timing = Timing()
    suite_start = time.perf_counter()
    units = _units(todo, args.seeds_per_step, backend)
    units_left = [((unit[0].variant, unit[0].labels), settings["epochs"], len(unit))
                 for unit in units]
    for i, unit in enumerate(units):
        ctx = {"backend": backend, "device": device, "checkpoint": args.checkpoint,
               "verbose": args.verbose,
               "eta_after_run": lambda i=i: timing.estimate(units_left[i + 1:])}
        eta = timing.estimate(units_left[i:])
        if not _unit_fits(timing, units_left[i], time.perf_counter() - invocation_start,
                          args.time_limit):
            write_results(out, suite, records)
            write_report(out, suite, reported, records, evaluator.note)
            need = _format_seconds(timing.estimate([units_left[i]]))
            print(f"Time limit ({args.time_limit:g} min): {len(units) - i} of {len(units)} "
                  f"units not started (the next needs ~{need}); run the same command with "
                  f"--resume to continue. Report: {out / 'REPORT.md'}", flush=True)
            return 0
        names = unit[0].run_id if len(unit) == 1 else _group_label(unit) + " side by side"
        print(f"[{i + 1}/{len(units)}] {names} ({', '.join(unit[0].sections)}): training "
              f"{settings['epochs']} epochs; suite ETA "
              f"{_format_seconds(eta) if eta is not None else 'after the first run'}",
              flush=True)
        unit_start = time.perf_counter()
        if len(unit) == 1:
            unit_records = [train_run(unit[0], data, out, evaluator, ctx)]
        else:
            unit_records = train_group(unit, data, out, evaluator, ctx)
        for record in unit_records:
            records[record["key"]] = record
        trained = [r for r in unit_records if r.get("status") == "ok" or r.get("epochs_done")]
        if trained:
            r = max(trained, key=lambda r: r.get("epochs_done") or 0)
            compile_s = r.get("compile_seconds") or 0.0
            epochs = (r.get("epochs_done") or 0) - r.get("resumed_from_epoch", 0)
            train_wall = r.get("train_wall_seconds", r["wall_seconds"])
            timing.add((unit[0].variant, unit[0].labels), time.perf_counter() - unit_start,
                       epochs, max(train_wall - compile_s, 0.0), runs=len(unit))
        write_results(out, suite, records)
        eta = timing.estimate(units_left[i + 1:])
        for record in unit_records:
            print(_run_line(record), flush=True)
        if ctx.get("interrupted") or any(r.get("status") == "interrupted"
                                         for r in unit_records):
            write_report(out, suite, reported, records, evaluator.note)
            print(f"Interrupted: what was trained is in {out} (REPORT.md); --resume trains the "
                  "interrupted runs again.", flush=True)
            return 130
        print(f"  suite ETA {_format_seconds(eta)}", flush=True)
    suite["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    suite["wall_seconds_this_invocation"] = time.perf_counter() - suite_start
    write_results(out, suite, records)
    report = write_report(out, suite, reported, records, evaluator.note)
    print(f"Report: {report}", flush=True)
    failed = [spec.run_id for spec in plan
              if records.get(spec.key, {}).get("status") not in (None, "ok")]
    if failed:
        print(f"Failed runs: {', '.join(failed)} (see REPORT.md)", flush=True)
    return 0


def _unit_fits(timing, unit, used_seconds, limit_minutes):
    """Whether a unit ((group, epochs, runs)) ends within `limit_minutes` of the invocation's
    start, by the ETA of the units done so far; with no limit or no measurement yet, it does."""
    if limit_minutes is None:
        return True
    need = timing.estimate([unit])
    return need is None or used_seconds + need <= 60.0 * limit_minutes


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _group_label(specs):
    """`fm-vbn labels 20,100 × seeds 0-4` for the runs of one unit."""
    labels = sorted({spec.labels for spec in specs})
    seeds = sorted({spec.seed for spec in specs})
    seed_text = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
                 and len(seeds) > 2 else ",".join(map(str, seeds)))
    return (f"{specs[0].variant} labels {','.join(map(str, labels))} × seeds {seed_text} "
            f"({len(specs)} runs)")


def _units(todo, seeds_per_step, backend):
    """The training units: runs of one configuration side by side (JAX, up to `seeds_per_step`
    seeds per unit; 0 = all), else one run per unit."""
    if backend != "jax" or seeds_per_step == 1:
        return [[spec] for spec in todo]
    groups = {}  # a configuration's label counts and seeds: one vectorized step
    for spec in todo:
        groups.setdefault(spec.variant, []).append(spec)
    units = []
    for specs in groups.values():
        size = seeds_per_step or len(specs)
        units += [specs[i : i + size] for i in range(0, len(specs), size)]
    return units


def _run_line(record):
    status = record["status"]
    parts = [f"  {record['id']}: {status}"]
    if record.get("final_test_error") is not None:
        parts.append(f"test error {100 * record['final_test_error']:.2f}% "
                     f"(best {100 * record['best_test_error']:.2f}%)")
    if record.get("seconds_per_epoch") is not None:
        parts.append(f"{record['seconds_per_epoch']:.2f} s/epoch")
    if record.get("compile_seconds") is not None:
        parts.append(f"compile {record['compile_seconds']:.1f}s")
    if record.get("fid") is not None:
        parts.append(f"FID {record['fid']:.2f}")
    parts.append(f"wall {_format_seconds(record['wall_seconds'])}")
    if status != "ok" and record.get("error"):
        parts.append(record["error"].splitlines()[0][:200])
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
