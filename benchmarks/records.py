"""A suite's records: `results.json` and the per-run `result.json` files, what one run's record
holds, and the one-line summaries printed as runs end."""

import dataclasses
import datetime
import json
import math
import statistics
import traceback
from pathlib import Path

from ssgan.util import write_json

from benchmarks.plan import label
from benchmarks.plan import variants

# What a run's record holds besides its identity and status (see `history_summary`).
LOSS_KEYS = ("loss_supervised", "loss_unsupervised", "loss_generator", "train_error")


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


def merge_sections(records, plan):
    """The sections of a run recorded and planned again: those of both, in the record and the
    plan, so that a suite built by several invocations reports each run in every section it
    was run for, and results.json (`--report-only`) shows what the report shows. E.g. the
    ablation's rows first trained as generator rows, then resumed with `--ablation-rows`."""
    for spec in plan:
        if spec.key in records:
            merged = list(dict.fromkeys([*records[spec.key].get("sections", []),
                                         *spec.sections]))
            records[spec.key]["sections"] = merged
            spec.sections[:] = merged


def write_results(out, suite, records):
    """`results.json`: the suite's settings and one record per run, written atomically."""
    write_json(Path(out) / "results.json", {"suite": suite, "runs": list(records.values())})


def is_complete(record):
    """Recorded runs that --resume skips: finished, or diverged (it would diverge again)."""
    return record.get("status") in ("ok", "diverged")


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
    """The reportable records of known configurations that `plan` does not hold."""
    planned = {spec.key for spec in plan}
    known = variants()
    return [RecordedRun(r["key"], r["variant"], r["labels"], r["seed"], list(r["sections"]),
                        r["id"])
            for key, r in records.items()
            if key not in planned and r.get("variant") in known
            and (is_complete(r) or r.get("status") == "interrupted")]


# ------------------------------------------------------------------------------ one run


def now():
    return datetime.datetime.now().isoformat(timespec="seconds")


def base_record(spec, backend, device):
    """What a run's record holds before it trains (status "error" until it says otherwise)."""
    return {
        "key": spec.key, "id": spec.run_id, "sections": list(spec.sections),
        "variant": spec.variant, "variant_label": label(spec.variant),
        "dataset": spec.dataset, "labels": spec.labels, "seed": spec.seed,
        "generator": spec.config_fields["generator"],
        "options": {k: v for k, v in spec.identity.items()
                    if k not in ("dataset", "variant", "labels", "seed", "generator")},
        "epochs": spec.settings["epochs"], "backend": backend, "device": device,
        "status": "error",
    }


def error_fields(exc):
    """`error` and `traceback` of a run that raised `exc`."""
    return {"error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc, limit=8))}


def error_record(spec, backend, device, exc):
    """The record of a run that failed before training (its set-up raised `exc`)."""
    return {**base_record(spec, backend, device), **error_fields(exc), "wall_seconds": 0.0,
            "finished": now()}


def history_summary(log, epoch_walls, resumed_from):
    """A run's record fields from its trainer's per-epoch `log`: test errors, timing, time to
    99 % accuracy (from `epoch_walls`, seconds since the run's start) and the final losses."""
    errors = [logs.get("test_error") for logs in log]
    valid = [e for e in errors if e is not None]
    summary = {
        "test_errors": errors,
        "final_test_error": valid[-1] if valid else None,
        "best_test_error": min(valid) if valid else None,
        "best_epoch": (errors.index(min(valid)) + 1) if valid else None,
        "compile_seconds": next((logs["compile_seconds"] for logs in log
                                 if "compile_seconds" in logs), None),
        "epoch_seconds": [logs.get("seconds") for logs in log],
    }
    seconds = [logs["seconds"] for logs in log[resumed_from:] if "seconds" in logs]
    summary["seconds_per_epoch"] = float(statistics.median(seconds)) if seconds else None
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
    for key in LOSS_KEYS:
        if log and key in log[-1]:
            summary[f"final_{key}"] = log[-1][key]
    return summary


# ----------------------------------------------------------------------------- summaries


def format_seconds(seconds):
    """`42s`, `3m07s` or `2h05m`; `?` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def run_line(record):
    """The line printed when a run ends."""
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
    if record.get("class_fid") is not None:
        parts.append(f"intra-class FID {record['class_fid']:.2f}")
    parts.append(f"wall {format_seconds(record['wall_seconds'])}")
    if status != "ok" and record.get("error"):
        parts.append(record["error"].splitlines()[0][:200])
    return ", ".join(parts)


def run_epoch_seconds(record):
    """One run's share of an epoch: its step's s/epoch over the runs trained in that step."""
    seconds = record.get("seconds_per_epoch")
    return None if seconds is None else seconds / (record.get("runs_in_step") or 1)
