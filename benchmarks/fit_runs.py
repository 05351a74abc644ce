"""`python benchmarks/fit_runs.py RUN_DIR... --out FOLDER`: a report of `ssgan.fit` runs.

Runs of the command line (`python -m ssgan.fit --out RUN_DIR ...`) keep their settings in
`config.json` and one line per epoch in `metrics.jsonl`. This copies those two files of each run
into `FOLDER/<run>/` (not the weights: they are large and `--resume` needs the whole run folder
anyway) and writes `FOLDER/REPORT.md`: each run's labels, seed, epochs, final test error and what
the collapse guard did, the mean and spread over the seeds of each label count, and the test
error after every epoch as a picture (`test_error.png`).
"""

import json
import shutil
import statistics
from pathlib import Path

from ssgan.util import ArgumentParser
from ssgan.util import atomic_path
from ssgan.util import atomic_write

TITLE = "# ssgan runs: {name}\n"
CURVES = "test_error.png"


def read_run(run_dir):
    """A run's record: its name, command-line arguments, resolved settings and epochs."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
              if line.strip()]
    if not epochs:
        raise ValueError(f"{run_dir / 'metrics.jsonl'} holds no epoch.")
    return {"name": run_dir.name, "arguments": config.get("arguments", {}),
            "settings": config.get("resolved") or config.get("training", {}), "epochs": epochs}


def summary(run):
    """One run's row: labels, seed, epochs, final test error and what the guard did."""
    last = run["epochs"][-1]
    return {
        "run": run["name"],
        "labels": run["arguments"].get("labeled"),
        "seed": run["settings"].get("seed"),
        "epochs": last.get("epoch", len(run["epochs"])),
        "test_error": last["test_error"],
        "rollbacks": int(last.get("guard_rollbacks", 0)),
        "generator_lr_scale": last.get("generator_lr_scale", 1.0),
    }


def pct(value):
    return f"{100 * value:.2f} %"


def label_table(rows):
    """Mean ± standard deviation (and the worst run) of the final test error per label count."""
    lines = ["| labels | runs | seeds | test error, mean ± sd (points) | worst |",
             "| ---: | ---: | --- | ---: | ---: |"]
    for labels in sorted({row["labels"] for row in rows}, key=lambda n: (n is None, n or 0)):
        errors = [row["test_error"] for row in rows if row["labels"] == labels]
        seeds = ", ".join(str(row["seed"]) for row in rows if row["labels"] == labels)
        spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
        lines.append(f"| {labels} | {len(errors)} | {seeds} | {pct(statistics.mean(errors))} ± "
                     f"{100 * spread:.2f} | {pct(max(errors))} |")
    return lines


def run_table(rows):
    lines = ["| run | labels | seed | epochs | test error | guard rollbacks | generator step at "
             "the end |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| `{row['run']}` | {row['labels']} | {row['seed']} | {row['epochs']} | "
                     f"{pct(row['test_error'])} | {row['rollbacks']} | "
                     f"×{row['generator_lr_scale']:g} |")
    return lines


def save_curves(runs, path):
    """The test error after every epoch of each run, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        errors = [100 * epoch["test_error"] for epoch in run["epochs"]]
        ax.plot(range(1, len(errors) + 1), errors, label=run["name"])
    ax.set(xlabel="epoch", ylabel="test error (%)", yscale="log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_report(run_dirs, out, note="", by_label=True):
    """Copy the runs' records into `out` and write its REPORT.md and curves; returns the rows.
    `by_label=False` leaves out the means per label count (for runs of different settings)."""
    out = Path(out)
    runs = [read_run(d) for d in run_dirs]
    names = [run["name"] for run in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"two runs share a folder name: {sorted(names)}")
    out.mkdir(parents=True, exist_ok=True)
    for run_dir in map(Path, run_dirs):
        (out / run_dir.name).mkdir(exist_ok=True)
        for name in ("config.json", "metrics.jsonl"):
            shutil.copyfile(run_dir / name, out / run_dir.name / name)
    rows = [summary(run) for run in runs]
    save_curves(runs, out / CURVES)
    text = [TITLE.format(name=out.name)]
    if note:
        text += [note.strip(), ""]
    if by_label:
        text += ["## By label count", "", *label_table(rows), ""]
    text += ["## Runs", "", *run_table(rows), "",
             "## Test error after each epoch", "", f"![test error after each epoch]({CURVES})", ""]
    with atomic_write(out / "REPORT.md") as f:
        f.write("\n".join(text))
    return rows


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders of `python -m ssgan.fit --out`")
    parser.add_argument("--out", required=True, help="the report's folder")
    parser.add_argument("--note", default="", help="a paragraph under the title (how the runs "
                        "were made: the command, the machine)")
    parser.add_argument("--runs-only", action="store_true", help="no means per label count: "
                        "the runs differ in more than their seeds")
    args = parser.parse_args(argv)
    rows = write_report(args.runs, args.out, args.note, by_label=not args.runs_only)
    print("\n".join(run_table(rows) if args.runs_only else label_table(rows)))


if __name__ == "__main__":
    main()
