"""The command line of the benchmark suite, `python benchmarks/run_all.py`: its flags, and a `main`
made of phases (check the flags, report only, dry run, set up with the estimate of the plan's
time, train the units, finish); a stop (Ctrl-C, SIGTERM) in any phase ends with one line.

The backend is chosen before Keras is first imported (the flags' choices come from the
registries, which import it).
"""

import argparse
import dataclasses
import datetime
import json
import platform
import time
from pathlib import Path

from ssgan.util import ArgumentParser

from benchmarks import estimate
from benchmarks import plan as planning
from benchmarks import records as recs
from benchmarks import report
from benchmarks import runner
from benchmarks import schedule

HERE = Path(__file__).resolve().parent
TOOL = "run_all"
EXIT_INTERRUPTED = 130
EXIT_DECLINED = 1  # a long plan the user chose not to start


# ------------------------------------------------------------------------------------ flags


def _int_list(text):
    try:
        return planning.int_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _override(text):
    key, sep, value = str(text).partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a bare string
    return key.strip(), value


def _add_plan_flags(add):
    """What is trained: sections, label counts, seeds, generators, settings."""
    from ssgan.models import ARCHITECTURES

    names = list(planning.generators())
    add("--labels", type=_int_list, default=list(planning.ALL_LABELS),
        help="label counts of the `labels` section (comma-separated)")
    add("--seeds", default=None,
        help="a count N (seeds 0..N-1) or a comma-separated list of seeds (default 5; --quick "
        "1)")
    add("--generators", type=planning.name_list, default=names,
        help=f"generators of the `generators` section, from {', '.join(names)}")
    add("--ablation", action=argparse.BooleanOptionalAction, default=True,
        help="run the ablation section (feature matching vs the paper's minibatch-discrimination "
        "model, whose generator is trained with the GAN loss; each ± VBN)")
    add("--ablation-rows", type=planning.name_list, default=list(planning.ABLATION),
        help=f"the ablation's rows to run, from {', '.join(planning.ABLATION)} (default all)")
    add("--section-labels", type=int, default=100,
        help="label count of the ablation and generators sections")
    add("--epochs", type=int, default=None,
        help="epochs per run (default 300, the paper's; --quick 2)")
    add("--steps-per-epoch", type=int, default=None,
        help="steps per epoch (default one pass over the unlabeled data: 600 at batch 100)")
    add("--steps-per-call", type=int, default=None,
        help="training steps per compiled call (default: the trainer's choice, ~50)")
    add("--batch-size", type=int, default=None, help="batch size (default 100)")
    add("--architecture", default=next(iter(ARCHITECTURES)), choices=tuple(ARCHITECTURES),
        help="the paper's MLP pair or the convolutional pair")
    add("--test-size", type=int, default=None,
        help="test images evaluated after every epoch (default all 10000; --quick 500)")
    add("--fid-samples", type=int, default=None,
        help="generated samples per MNIST-FID / generator metric (default 10000; --quick 500)")
    add("--set", dest="overrides", type=_override, action="append", default=[],
        metavar="KEY=VALUE", help="set a TrainingConfig field for every run (JSON value), e.g. "
        "--set learning_rate=0.001; repeatable; generator_options add to a variant's own")


def _add_run_flags(add):
    """How it is trained and measured."""
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
    add("--yes", action="store_true",
        help=f"start a plan estimated to run past {estimate.CONFIRM_HOURS:g} hours without asking "
        "(without a terminal such a plan otherwise stops with an error)")
    add("--dry-run", action="store_true", help="print the plan and exit")
    add("--report-only", action="store_true",
        help="rewrite REPORT.md, the curves and the sample copies of --out from its "
        "results.json, training nothing")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="0: one line per run; 1: also a progress line every tenth of a run; 2: also the "
        "trainer's line per epoch")


def build_parser():
    parser = ArgumentParser(
        prog="python benchmarks/run_all.py", tool=TOOL,
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
    _add_plan_flags(add)
    _add_run_flags(add)
    return parser


@dataclasses.dataclass
class Invocation:
    """The checked flags: where the suite goes, its seeds, settings and plan."""

    args: argparse.Namespace
    out: Path
    name: str
    seeds: list
    settings: dict
    plan: list
    started: float


def parse(parser, argv, started):
    """The `Invocation` of `argv`; a wrong flag exits with one error line (code 2)."""
    args = parser.parse_args(argv)
    try:
        seeds = planning.seeds_from(args.seeds, args.quick)
        if any(n <= 0 for n in args.labels):
            raise ValueError("--labels must be positive.")
        if args.time_limit is not None and args.time_limit <= 0:
            raise ValueError("--time-limit must be positive.")
        if args.seeds_per_step < 0:
            raise ValueError("--seeds-per-step must be 0 (all seeds) or positive.")
        settings = planning.settings_from_args(args)
        plan = planning.build_plan(args, settings, seeds)
    except ValueError as exc:
        parser.fail(exc)
    out = Path(args.out) if args.out else (
        HERE / "results" / (args.name or ("quick" if args.quick else args.dataset)))
    return Invocation(args, out, args.name or out.name, seeds, settings, plan, started)


# ----------------------------------------------------------------------------------- phases


def choose_backend():
    """Before Keras is imported: cuBLAS GEMMs on GPUs (`ssgan.backends.prefer_cublas_gemm`, before
    JAX starts) and the Keras backend (`ssgan.backends.choose_backend`: JAX when it sees a GPU,
    as `ssgan.fit`); returns the note on it."""
    from ssgan.backends import choose_backend as choose
    from ssgan.backends import prefer_cublas_gemm

    prefer_cublas_gemm()
    return choose()


def report_only(parser, out):
    """`--report-only`: REPORT.md and its pictures from `out/results.json`."""
    path = out / "results.json"
    if not path.exists():
        parser.fail(f"--report-only: no results.json in {out}.")
    suite = json.loads(path.read_text())["suite"]
    records = recs.load_records(out)
    written = report.write_report(out, suite, recs.recorded_runs(records, []), records)
    print(f"Report: {written}", flush=True)
    return 0


def dry_run(plan):
    """`--dry-run`: one line per run of the plan."""
    for spec in plan:
        print(f"{spec.run_id}  sections={','.join(spec.sections)}  key={spec.key}")
    return 0


@dataclasses.dataclass
class Suite:
    """A suite being trained: its folder, `results.json`'s suite document and records, the runs
    its report covers and the evaluation classifier."""

    out: Path
    document: dict
    records: dict
    reported: list
    evaluator: runner.Evaluator
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def save(self, report_too=True):
        """Write results.json (and REPORT.md); returns the report's path."""
        recs.write_results(self.out, self.document, self.records)
        if report_too:
            return report.write_report(self.out, self.document, self.reported, self.records,
                                       self.evaluator.note)
        return None


def to_train(plan, records):
    """The runs of `plan` still to train, and those whose generator this ssgan lacks."""
    from ssgan.objectives import OBJECTIVES

    todo, unavailable = [], []
    for spec in plan:
        record = records.get(spec.key)
        if record is not None and recs.is_complete(record):
            continue
        (todo if spec.config_fields["generator"] in OBJECTIVES else unavailable).append(spec)
    return todo, unavailable


def print_plan(inv, records, todo, unavailable):
    """What the invocation trains and skips."""
    plan = inv.plan
    done = len(plan) - len(todo) - len(unavailable)
    print(f"Plan: {len(plan)} runs ({done} already done, {len(todo)} to train"
          + (f", {len(unavailable)} skipped: generator not in this ssgan" if unavailable else "")
          + f") → {inv.out}", flush=True)
    for spec in plan:
        if spec.key in records and recs.is_complete(records[spec.key]):
            print(f"  skip {spec.run_id}: done ({records[spec.key]['status']})", flush=True)
    for spec in unavailable:
        print(f"  skip {spec.run_id}: generator {spec.config_fields['generator']!r} is not in "
              f"ssgan.objectives.OBJECTIVES", flush=True)


def suite_document(inv, environment, keras_version):
    """`results.json`'s "suite": the invocation's settings and the `environment` it runs in."""
    args = inv.args
    return {
        "name": inv.name, "quick": args.quick, "dataset": args.dataset,
        "settings": inv.settings, "seeds": inv.seeds, "labels": args.labels,
        "section_labels": args.section_labels, "generators": args.generators,
        "ablation": args.ablation, "ablation_rows": args.ablation_rows, **environment,
        "python": platform.python_version(), "keras": keras_version,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }


@dataclasses.dataclass
class Stage:
    """Where an invocation is, for the line a stop (Ctrl-C, SIGTERM) ends it with."""

    phase: str = "setting up"
    suite: "Suite | None" = None


def set_up(parser, inv, backend_choice, stage):
    """The backend, the records, the data, the estimate and the evaluator: a `Suite`, the runs to
    train, the data (None with nothing to train) and the training context; None when the user
    declines a long plan."""
    from ssgan.backends import get_backend, import_keras

    keras = import_keras(inv.args.verbose)  # the backend's start-up log lines with --verbose 2 only

    args = inv.args
    backend = keras.backend.backend()
    notes = runner.configure_compilation(backend, args.compile_cache)
    device = get_backend().device_description()
    print(f"Backend: {device} ({backend_choice})"
          + (f"; JAX compilation cache {notes['jax_compilation_cache']}"
             if "jax_compilation_cache" in notes else ""), flush=True)
    records = recs.load_records(inv.out) if args.resume else {}
    recs.merge_sections(records, inv.plan)
    todo, unavailable = to_train(inv.plan, records)
    print_plan(inv, records, todo, unavailable)
    stage.phase = "loading the data"
    data = load_data(parser, args, inv.settings) if todo else None
    if todo and not estimate_and_confirm(parser, inv, todo, data, device, stage):
        return None
    inv.out.mkdir(parents=True, exist_ok=True)
    environment = {"backend": backend, "backend_choice": backend_choice, "device": device,
                   **notes}
    document = suite_document(inv, environment, keras.__version__)
    document["test_images"] = len(data.x_test) if data else inv.settings["test_size"] or 10000
    evaluator = runner.Evaluator(args.classifier, args.dataset, args.classifier_cache,
                                 args.data_dir, args.quick)
    if todo:  # before the first run, so that its wall time does not include it
        stage.phase = "preparing the evaluation classifier"
        evaluator.prepare()
    suite = stage.suite = Suite(inv.out, document, records,
                                inv.plan + recs.recorded_runs(records, inv.plan), evaluator)
    context = runner.Context(backend, device, args.checkpoint, args.verbose)
    return suite, todo, data, context


def estimate_and_confirm(parser, inv, todo, data, device, stage):
    """Print the plan's estimated wall time (`benchmarks.estimate`); whether to go on."""
    stage.phase = "timing the first configuration"
    try:
        measured = estimate.probe(todo[0], data)
    except Exception as exc:  # the estimate is advice: the runs report their own errors
        print(f"Estimate: unavailable ({type(exc).__name__}: {exc})", flush=True)
        return True
    done = {}
    if inv.args.checkpoint:  # runs that --resume continues after their checkpointed epochs
        from ssgan.train.checkpoint import checkpoint_epoch

        done = {spec.run_id: checkpoint_epoch(runner.checkpoint_dir(inv.out, spec.run_id))
                for spec in todo}
    print(estimate.estimate_line(measured, todo, device, done), flush=True)
    if estimate.confirm(estimate.plan_seconds(measured, todo, done), inv.args.yes, parser.fail):
        return True
    print("Not started: nothing was trained.", flush=True)
    return False


def load_data(parser, args, settings):
    start = time.perf_counter()
    try:
        data = runner.Data(args.dataset, args.data_dir, settings["architecture"],
                           settings["test_size"])
    except Exception as exc:
        parser.fail(exc)
    print(f"Data: {len(data.x_train)} training and {len(data.x_test)} test images "
          f"({time.perf_counter() - start:.1f}s)", flush=True)
    return data


def train_units(inv, suite, todo, data, context):
    """Train the units in order; returns an exit code when the suite stops early (time limit:
    0, interruption: 130), else None."""
    args, epochs = inv.args, inv.settings["epochs"]
    units = schedule.units(todo, args.seeds_per_step, context.backend)
    context.units_left = [((u[0].variant, u[0].labels), epochs, len(u)) for u in units]
    fmt = recs.format_seconds
    for i, unit in enumerate(units):
        context.unit = i
        eta = context.timing.estimate(context.units_left[i:])
        used = time.perf_counter() - inv.started
        if not schedule.unit_fits(context.timing, context.units_left[i], used, args.time_limit):
            suite.save()
            need = fmt(context.timing.estimate([context.units_left[i]]))
            print(f"Time limit ({args.time_limit:g} min): {len(units) - i} of {len(units)} "
                  f"units not started (the next needs ~{need}); run the same command with "
                  f"--resume to continue. Report: {suite.out / 'REPORT.md'}", flush=True)
            return 0
        names = unit[0].run_id if len(unit) == 1 else schedule.group_label(unit) + " side by side"
        print(f"[{i + 1}/{len(units)}] {names} ({', '.join(unit[0].sections)}): training "
              f"{epochs} epochs; suite ETA "
              f"{fmt(eta) if eta is not None else 'after the first run'}", flush=True)
        unit_records = train_unit(unit, data, suite, context)
        if context.interrupted or any(r.get("status") == "interrupted" for r in unit_records):
            suite.save()
            print(f"Interrupted: what was trained is in {suite.out} (REPORT.md); "
                  f"{resume_hint(context.checkpoint)}.", flush=True)
            return EXIT_INTERRUPTED
        print(f"  suite ETA {fmt(context.eta_after_unit())}", flush=True)
    return None


def resume_hint(checkpoint):
    """What --resume does with the interrupted runs: continue them after their last
    checkpointed epoch, or train them again without --checkpoint."""
    if checkpoint:
        return "--resume continues the interrupted runs after their last epoch (their checkpoints)"
    return ("--resume trains the interrupted runs again from the start (--checkpoint would let "
            "them continue)")


def train_unit(unit, data, suite, context):
    """Train one unit, record and measure it, write results.json; returns its records."""
    start = time.perf_counter()
    if len(unit) == 1:
        unit_records = [runner.train_run(unit[0], data, suite.out, suite.evaluator, context)]
    else:
        unit_records = runner.train_group(unit, data, suite.out, suite.evaluator, context)
    for record in unit_records:
        suite.records[record["key"]] = record
    context.timing.add_unit(unit, unit_records, time.perf_counter() - start)
    suite.save(report_too=False)
    for record in unit_records:
        print(recs.run_line(record), flush=True)
    return unit_records


def finish(inv, suite):
    suite.document["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    suite.document["wall_seconds_this_invocation"] = time.perf_counter() - suite.started
    print(f"Report: {suite.save()}", flush=True)
    failed = [spec.run_id for spec in inv.plan
              if suite.records.get(spec.key, {}).get("status") not in (None, "ok")]
    if failed:
        print(f"Failed runs: {', '.join(failed)} (see REPORT.md)", flush=True)
    return 0


def stopped(stage):
    """A stop (Ctrl-C, SIGTERM) outside a run: keep what is recorded, say so in one line."""
    suite, kept = stage.suite, "nothing was trained"
    if suite is not None and suite.records:
        try:
            suite.save()
            kept = f"what was done is in {suite.out} (REPORT.md); --resume continues"
        except (Exception, KeyboardInterrupt):  # results.json is rewritten after every run
            kept = (f"the runs recorded are in {suite.out / 'results.json'}; --report-only "
                    "rewrites REPORT.md")
    print(f"Interrupted while {stage.phase}: {kept}.", flush=True)
    return EXIT_INTERRUPTED


def run_suite(parser, inv, backend_choice, stage):
    """Set up, train the units, finish; returns the exit code."""
    started = set_up(parser, inv, backend_choice, stage)
    if started is None:
        return EXIT_DECLINED
    suite, todo, data, context = started
    stage.phase = "training"
    code = train_units(inv, suite, todo, data, context)
    if code is not None:
        return code
    stage.phase = "writing the report"
    return finish(inv, suite)


def main(argv=None):
    started = time.perf_counter()
    backend_choice = choose_backend()
    parser = build_parser()
    inv = parse(parser, argv, started)
    if inv.args.report_only:
        return report_only(parser, inv.out)
    if inv.args.dry_run:
        return dry_run(inv.plan)
    if (inv.out / "results.json").exists() and not inv.args.resume:
        parser.fail(f"{inv.out} already holds a suite; pass --resume to continue it, or choose "
                    "another --out / --name.")
    stage = Stage()
    with runner.sigterm_interrupts():
        try:
            return run_suite(parser, inv, backend_choice, stage)
        except KeyboardInterrupt:
            return stopped(stage)
