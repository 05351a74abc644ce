"""The pictures of a suite's REPORT.md: the learning curves (one PNG per configuration and label
count) and the copies of one seed's sample grids."""

import shutil
from pathlib import Path

from ssgan.util import atomic_path
from ssgan.util import atomic_write

from benchmarks.plan import RECOMMENDED
from benchmarks.plan import label

# Improved-GAN (Salimans et al. 2016), Table 1: MNIST test errors (%) of the feature-matching
# model over 10 runs, as (mean, std) per number of labeled examples.
PAPER_MNIST = {20: ("16.77", "4.52"), 50: ("2.21", "1.36"), 100: ("0.93", "0.065"),
               200: ("0.90", "0.042")}


def _curve(plt, variant, labels, group):
    """The figure of one (configuration, label count): one line per seed."""
    import matplotlib.ticker

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
    ax.set_title(f"{label(variant)}, {labels} labels")
    return fig


def save_curves(plan, records, out):
    """Test error per epoch, one line per seed: one PNG per (configuration, label count)."""
    import matplotlib

    matplotlib.use("Agg")
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
        fig = _curve(plt, variant, labels, group)
        path = curve_dir / f"{variant}-l{labels}.png"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=80)
        plt.close(fig)
        paths[(variant, labels)] = path
    return paths


def copy_samples(plan, records, out):
    """The sample grids of the lowest seed of each (configuration, label count) that has them,
    copied to samples/<variant>-l<labels>-<file>; a copy already there stands in for a run folder
    that is gone (a committed suite's report regenerated without its runs/)."""
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
            target = sample_dir / f"{variant}-l{labels}-{source.name}"
            if source.exists():
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
            if target.exists():
                copied.setdefault((variant, labels), []).append((target, record["seed"]))
    return copied
