"""REPORT.md of a suite: one function per table or section (the pictures it shows are
`benchmarks.figures`')."""

import json
import math
import os
import statistics
from pathlib import Path

from ssgan.util import atomic_write

from benchmarks.plan import ABLATION_VARIANTS
from benchmarks.plan import LEGACY_ABLATION
from benchmarks.plan import RECOMMENDED
from benchmarks.plan import generators
from benchmarks.plan import label
from benchmarks.plan import variants
from benchmarks.figures import PAPER_MNIST
from benchmarks.figures import copy_samples
from benchmarks.figures import save_curves
from benchmarks.records import format_seconds
from benchmarks.records import run_epoch_seconds

USABLE = ("ok", "interrupted")  # an interrupted run is reported at its last epoch


# ------------------------------------------------------------------------------- numbers


def mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None, 0
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std, len(values)


def num(values, digits=1, scale=1.0):
    """`mean ± std` of the values (just the value for one; `—` for none)."""
    mean, std, n = mean_std(values)
    if mean is None:
        return "—"
    if n == 1:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def pct(values, digits=2):
    return num(values, digits, scale=100.0)


def seconds(values):
    mean, _, _ = mean_std(values)
    return "—" if mean is None else f"{mean:.2f}"


def compare(advantage, spread, n):
    """'reproduced' if the claimed winner is ahead by more than the seed spread, 'refuted' if it
    is behind by more, else 'inconclusive' (always with a single seed)."""
    if n < 2:
        return "inconclusive (one seed)"
    if advantage > spread:
        return "reproduced"
    if advantage < -spread:
        return "refuted"
    return "inconclusive (within the seed spread)"


class Runs:
    """The records of a plan's runs, by configuration and label count."""

    def __init__(self, plan, records):
        self.plan, self.records = plan, records

    def of(self, spec):
        return self.records.get(spec.key, {})

    def usable(self, variant, labels):
        """Records reported at their last epoch (finished or interrupted)."""
        return [self.records[s.key] for s in self.plan if s.variant == variant
                and s.labels == labels and self.of(s).get("status") in USABLE
                and self.of(s).get("final_test_error") is not None]

    def failed(self, variant, labels):
        return [self.records[s.key] for s in self.plan if s.variant == variant
                and s.labels == labels and s.key in self.records
                and self.of(s).get("status") not in USABLE]

    def count(self, status):
        return sum(1 for s in self.plan if self.of(s).get("status") == status)

    def shown(self, section, candidates):
        """The `candidates` variants that a run of `section` uses."""
        return [v for v in candidates if any(s.variant == v and section in s.sections
                                             for s in self.plan)]


def table(columns, align, heading=None):
    """A Markdown table's first two lines, after `heading` and a blank line when given; `align`
    says per column "l"eft, "r"ight or "c"entered."""
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    return ([heading, ""] if heading else []) + [row(columns), row(marks[a] for a in align)]


def row(cells):
    return "| " + " | ".join(cells) + " |"


def seeds_cell(group, bad=()):
    stopped = sorted({r.get("epochs_done") for r in group if r.get("status") == "interrupted"})
    return (f"{len(group)}"
            + (f" (interrupted after epoch {', '.join(map(str, stopped))})" if stopped else "")
            + (f" (+{len(bad)} failed)" if bad else ""))


# ------------------------------------------------------------------------------ sections


def header(suite, runs):
    """The title, the settings and how many runs are done."""
    lines = [f"# ssgan benchmark: {suite['name']}", ""]
    if suite.get("quick"):
        lines += ["> **--quick smoke run**: tiny models trained for a few steps. The numbers only "
                  "show that every path works; they say nothing about the method.", ""]
    s = suite["settings"]
    interrupted = runs.count("interrupted")
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
        f"Runs: {runs.count('ok')} ok "
        + (f"and {interrupted} interrupted " if interrupted else "")
        + f"of {len(runs.plan)} planned; `results.json` holds one record per run.",
        "",
    ]
    if suite.get("note"):
        lines += [f"Note: {suite['note']}.", ""]
    missing = [sp for sp in runs.plan if sp.key not in runs.records]
    if missing:
        lines += [f"Not run yet: {', '.join(sp.run_id for sp in missing)} "
                  "(`--resume` continues).", ""]
    return lines


def label_table(suite, runs):
    """Test error per label count beside the paper's Table 1."""
    label_counts = sorted({sp.labels for sp in runs.plan if "labels" in sp.sections})
    if not label_counts:
        return []
    lines = table(["labels", "seeds", "test error (%)", "best-epoch error (%)", "paper (%)",
                   "s/epoch", "compile (s)", "time to 99 % (s)"], "rrrrrrrr",
                  f"## Test error per label count ({label(RECOMMENDED)})")
    for labels in label_counts:
        group = runs.usable(RECOMMENDED, labels)
        paper = PAPER_MNIST.get(labels) if suite["dataset"] == "mnist" else None
        paper_text = f"{paper[0]} ± {paper[1]}" if paper else "—"
        reached = [r["time_to_99_seconds"] for r in group
                   if r.get("time_to_99_seconds") is not None]
        t99 = (f"{statistics.fmean(reached):.0f} ({len(reached)}/{len(group)} seeds)"
               if reached else (f"never (0/{len(group)})" if group else "—"))
        bad = runs.failed(RECOMMENDED, labels)
        lines.append(row([
            str(labels), seeds_cell(group, bad), pct([r["final_test_error"] for r in group]),
            pct([r["best_test_error"] for r in group]), paper_text,
            seconds([r.get("seconds_per_epoch") for r in group]),
            seconds([r.get("compile_seconds") for r in group]), t99]))
    lines += ["", "Paper: Salimans et al. (2016), *Improved Techniques for Training GANs*, "
              "Table 1 (feature matching, 10 runs). Test error: after the last epoch; "
              "best-epoch error: the minimum over epochs (selected on the test set, so "
              "optimistic). Time to 99 %: wall time from the start of the run (set-up and "
              "compilation included) to the first epoch at ≥ 99 % test accuracy.", ""]
    return lines


# How the ablation table names a variant's generator objective.
GENERATOR_LOSS = {"feature-matching": "feature matching", "minibatch": "GAN loss"}
# The ablation's minibatch-discrimination rows: the paper's model (the generator trained with the
# GAN loss), which the claims are tested on, and the earlier rows that kept the feature-matching
# generator (reported, with no verdict, for suites that hold them).
PAPER_MINIBATCH = ("mbd-gan", "mbd-gan-vbn")


def ablation_table(suite, runs):
    """Feature matching vs the paper's minibatch-discrimination model, ± VBN (and the earlier
    minibatch rows with the feature-matching generator, when the suite holds them), and the
    verdict on the paper."""
    ablation = runs.shown("ablation", ABLATION_VARIANTS)
    if not ablation:
        return []
    section_labels = suite["section_labels"]
    configurations = variants()
    lines = table(["configuration", "generator loss", "minibatch discr.", "VBN", "seeds",
                   "test error (%)", "MNIST-FID ↓", "s/epoch"], "llccrrrr",
                  f"## Ablation at {section_labels} labels")
    for variant in ablation:
        group = runs.usable(variant, section_labels)
        fields = configurations[variant]
        lines.append(row([
            fields["label"], GENERATOR_LOSS.get(fields["generator"], fields["generator"]),
            "✓" if fields.get("minibatch_discrimination") else "",
            "✓" if fields.get("vbn") else "", seeds_cell(group),
            pct([r["final_test_error"] for r in group]), num([r.get("fid") for r in group], 2),
            seconds([r.get("seconds_per_epoch") for r in group])]))
    return lines + [""] + ablation_verdict(runs, section_labels) + [""]


# The paper's two claims on the ablation, tested on its minibatch model ("mbd-gan"): (record key,
# lower is better; the configuration claimed better; the other; the scale of the means in the
# sentence; the sentence).
CLAIMS = (
    ("final_test_error", "fm", "mbd-gan", 100.0,
     "- *Feature matching is better for classification* (paper, MNIST experiments): feature "
     "matching {win:.2f} % vs the paper's minibatch model (minibatch discrimination, GAN loss) "
     "{lose:.2f} % test error → **{verdict}**."),
    ("fid", "mbd-gan", "fm", 1.0,
     "- *Minibatch discrimination gives better samples* (paper, MNIST experiments): MNIST-FID "
     "{win:.2f} with the paper's minibatch model (minibatch discrimination, generator trained "
     "with the GAN loss) vs {lose:.2f} with feature matching → **{verdict}**."),
)
# Each configuration with and without VBN in the generator, and how the sentence calls it.
VBN_PAIRS = (("fm", "fm-vbn", "feature matching"),
             ("mbd-gan", "mbd-gan-vbn", "the paper's minibatch model (GAN loss)"),
             ("mbd", "mbd-vbn", "minibatch discrimination with the feature-matching generator"))


def ablation_verdict(runs, labels):
    """The paper's claims (feature matching classifies better; its minibatch-discrimination
    model gives better samples) against the measurements, with the seed spread as the yardstick;
    then what VBN changes, and the earlier minibatch rows (feature-matching generator), which
    test neither claim."""

    def stats(variant, key):
        return mean_std([r.get(key) for r in runs.usable(variant, labels)])

    out = _claim_lines(stats) + _legacy_lines(stats) + _vbn_lines(stats)
    if not out:
        return out
    steps = ABLATION_VARIANTS[PAPER_MINIBATCH[0]]["generator_steps"]
    model = ("minibatch discrimination in the discriminator, the generator trained with the GAN "
             "loss (`-mean(softplus(l_gen))`, the reference `train_mnist_minibatch.py`; the "
             f"`minibatch` objective, {steps} generator updates per discriminator update)")
    if any(stats(v, "final_test_error")[0] is not None for v in PAPER_MINIBATCH):
        out.append(f"- The paper's minibatch model: {model}; feature matching trains the "
                   "generator to match the discriminator's features. Verdicts: 'reproduced' / "
                   "'refuted' when the difference exceeds the larger seed standard deviation, "
                   "else 'inconclusive'.")
    else:
        out.append("- No run of the paper's minibatch model here, so no verdict on its claims: "
                   f"that model is {model}, the ablation's `mbd-gan` rows.")
    return out


def _claim_lines(stats):
    """The verdicts of `CLAIMS` (`stats(variant, key)`: mean, std, count)."""
    out = []
    for key, winner, loser, scale, sentence in CLAIMS:
        (win, win_sd, n_win), (lose, lose_sd, n_lose) = stats(winner, key), stats(loser, key)
        if win is not None and lose is not None:
            verdict = compare(lose - win, max(win_sd, lose_sd), min(n_win, n_lose))
            out.append(sentence.format(win=scale * win, lose=scale * lose, verdict=verdict))
        elif (key == "fid" and stats("fm", "final_test_error")[0] is not None
              and stats(PAPER_MINIBATCH[0], "final_test_error")[0] is not None):
            out.append("- *Minibatch discrimination gives better samples*: no MNIST-FID (see "
                       "the note below).")
    return out


def _legacy_lines(stats):
    """The earlier minibatch rows (the layer alone, feature-matching generator) beside feature
    matching, without a verdict: they are not the model the paper's claims are about."""
    out = []
    for variant in LEGACY_ABLATION:
        base = "fm-vbn" if variant.endswith("-vbn") else "fm"
        err, fid = stats(base, "final_test_error")[0], stats(base, "fid")[0]
        err_mbd, fid_mbd = stats(variant, "final_test_error")[0], stats(variant, "fid")[0]
        if err is None or err_mbd is None:
            continue
        out.append(f"- {label(variant)} (an earlier row: the minibatch-discrimination layer "
                   "alone, not the paper's minibatch model, so it tests neither claim): test "
                   f"error {100 * err:.2f} % ({label(base)}) → {100 * err_mbd:.2f} %"
                   + (f", MNIST-FID {fid:.2f} → {fid_mbd:.2f}"
                      if fid is not None and fid_mbd is not None else "") + ".")
    return out


def _vbn_lines(stats):
    """What VBN in the generator changes, per configuration of `VBN_PAIRS` the suite holds."""
    out = []
    for base, with_vbn, name in VBN_PAIRS:
        err, _, _ = stats(base, "final_test_error")
        err_vbn, _, _ = stats(with_vbn, "final_test_error")
        fid, _, _ = stats(base, "fid")
        fid_vbn, _, _ = stats(with_vbn, "fid")
        if err is not None and err_vbn is not None:
            out.append(f"- VBN in the generator, {name}: test error {100 * err:.2f} % → "
                       f"{100 * err_vbn:.2f} %"
                       + (f", MNIST-FID {fid:.2f} → {fid_vbn:.2f}"
                          if fid is not None and fid_vbn is not None else "") + ".")
    return out


def _objectives(shown):
    """The registered objective classes of the `shown` variants, in order, without repeats."""
    from ssgan.objectives import OBJECTIVES

    configurations, found = variants(), []
    for variant in shown:
        objective = OBJECTIVES.get(configurations.get(variant, {}).get("generator"))
        if objective is not None and objective not in found:
            found.append(objective)
    return found


def generator_metrics(shown):
    """The metric columns ({key: label}) and notes of the objectives of the `shown` variants
    (`Objective.metrics`, `Objective.metric_note`), in order, without repeats."""
    columns, notes = {}, []
    for objective in _objectives(shown):
        for key, column in objective.metrics:
            columns.setdefault(key, column)
        if objective.metric_note and objective.metric_note not in notes:
            notes.append(objective.metric_note)
    return columns, notes


def same_seeds_cell(group, reference):
    """The reference configuration's test error on the seeds of `group` (`reference`: seed →
    error); "—" without any, and how many seeds it covers when not all."""
    same = [reference[r["seed"]] for r in group if r.get("seed") in reference]
    if not same:
        return "—"
    return pct(same) + (f" ({len(same)} of {len(group)} seeds)" if len(same) < len(group) else "")


INTRA_CLASS_NOTE = ("Intra-class MNIST-FID: the mean over classes k of the MNIST-FID of the "
                    "samples asked for class k against the test images of class k.")


def generator_table(suite, runs):
    """The generators side by side: test error (and feature matching's on the same seeds),
    MNIST-FID and their own metrics."""
    shown = runs.shown("generators", generators().values())
    if not shown:
        return []
    section_labels = suite["section_labels"]
    columns, notes = generator_metrics(shown)
    reference = {r["seed"]: r["final_test_error"]
                 for r in runs.usable(RECOMMENDED, section_labels) if "seed" in r}
    # The intra-class FID where any run has one (generators that take a class).
    intra = any(r.get("class_fid") is not None
                for variant in shown for r in runs.usable(variant, section_labels))
    fids = ["MNIST-FID ↓", *(["intra-class MNIST-FID ↓"] if intra else [])]
    if intra:
        notes = [INTRA_CLASS_NOTE, *notes]
    lines = table(["generator", "seeds", "test error (%)",
                   f"{label(RECOMMENDED)}, same seeds (%)", *fids, *columns.values()],
                  "l" + "r" * (3 + len(fids) + len(columns)),
                  f"## Generators at {section_labels} labels")
    for variant in shown:
        group = runs.usable(variant, section_labels)
        bad = runs.failed(variant, section_labels)
        note = ""
        if bad and not group:
            note = f" ({bad[0]['status']}: {bad[0].get('error', '')[:80]})"
        cells = [f"{label(variant)}{note}", seeds_cell(group),
                 pct([r["final_test_error"] for r in group]),
                 "—" if variant == RECOMMENDED else same_seeds_cell(group, reference),
                 num([r.get("fid") for r in group], 2)]
        if intra:
            cells.append(num([r.get("class_fid") for r in group], 2))
        cells += [pct([r.get(key) for r in group], 1) for key in columns]
        lines.append(row(cells))
    return lines + [""] + ([" ".join(notes), ""] if notes else [])


def metric_notes(suite, runs, evaluator_note):
    """What MNIST-FID is, and why generator metrics are missing or only smoke values."""
    keys = {sp.key for sp in runs.plan}
    errors = sorted({r["metrics_error"] for r in runs.records.values()
                     if r.get("key") in keys and r.get("metrics_error")})
    if not (evaluator_note or errors or suite.get("classifier_note")):
        return []
    lines = ["MNIST-FID: the Fréchet distance between the evaluation classifier's "
             "penultimate features of generated samples and of the test set "
             f"({suite['settings']['fid_samples']} samples; `ssgan.metrics`), not comparable "
             "with Inception FIDs."]
    for note in filter(None, [evaluator_note, suite.get("classifier_note"), *errors]):
        lines.append(f"*Note: {note}*")
    return lines + [""]


def failures(runs):
    """Runs that did not finish."""
    failed = [runs.records[sp.key] for sp in runs.plan
              if sp.key in runs.records and runs.of(sp).get("status") != "ok"]
    if not failed:
        return []
    lines = table(["run", "status", "error"], "lll", "## Failed or interrupted runs")
    for r in failed:
        error = (r.get("error") or "").replace("|", "/").replace("\n", " ")[:160]
        lines.append(row([r["id"], r["status"], error]))
    return lines + [""]


def time_table(runs):
    """Seconds per epoch, compilation and wall time per configuration and label count."""
    ok = [runs.of(sp) for sp in runs.plan if runs.of(sp).get("status") in USABLE]
    if not ok:
        return []
    # Runs side by side share one wall time: each counts its share of it.
    total = sum((r.get("wall_seconds") or 0) / max(r.get("runs_in_step") or 1, 1) for r in ok)
    lines = ["## Time", "",
             f"{len(ok)} runs, {format_seconds(total)} of training in all (wall time, "
             "evaluation and metrics included; runs side by side count once). Compile: the "
             "first compiled call of each run minus its steady-state share; on JAX the "
             "persistent compilation cache lets later seeds of a configuration skip XLA "
             "compilation (their compile time is tracing only). Seeds per step: runs "
             "trained side by side as one vectorized step (`--seeds-per-step`); their "
             "s/epoch is the time of one epoch of all of them together, and their wall time "
             "is the group's; s per run-epoch divides it by the runs in the step, the cost of "
             "one run's epoch.", ""]
    lines += table(["configuration", "labels", "seeds per step", "s/epoch", "s per run-epoch",
                    "compile (s)", "wall per run (s)"], "lrrrrrr")
    groups = {}
    for r in ok:
        groups.setdefault((r["variant"], r["labels"]), []).append(r)
    for (variant, labels), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        compiles = ", ".join(f"{r['compile_seconds']:.1f}" for r in
                             sorted(group, key=lambda r: r["seed"])
                             if r.get("compile_seconds") is not None) or "—"
        per_step = sorted({r.get("runs_in_step", 1) for r in group})
        lines.append(row([label(variant), str(labels), ", ".join(str(n) for n in per_step),
                          seconds([r.get("seconds_per_epoch") for r in group]),
                          seconds([run_epoch_seconds(r) for r in group]), compiles,
                          seconds([r.get("wall_seconds") for r in group])]))
    return lines + [""]


def _plan_order(plan):
    """(variant, labels) → its rank in the plan."""
    order = {}
    for spec in plan:
        order.setdefault((spec.variant, spec.labels), len(order))
    return order


def samples_section(out, runs, samples):
    """The copied sample grids, one row per configuration and label count."""
    if not samples:
        return []
    order = _plan_order(runs.plan)
    notes = [o.grid_note for o in _objectives([variant for variant, _ in samples]) if o.grid_note]
    lines = ["## Samples", "",
             "The grids of one seed per configuration (the lowest), after the last epoch"
             + ("; " + " ".join(notes) if notes else "."), ""]
    lines += table(["configuration", "labels", "seed", "random samples", "conditional grids"],
                   "lrrll")
    for (variant, labels), files in sorted(samples.items(), key=lambda kv: order[kv[0]]):
        cells = {"random": [], "other": []}
        for path, _ in files:
            rel = os.path.relpath(path, out)
            kind = "random" if path.name.endswith("-samples.png") else "other"
            cells[kind].append(f'<img src="{rel}" width="200" alt="{path.name}">')
        lines.append(row([label(variant), str(labels), str(files[0][1]),
                          " ".join(cells["random"]), " ".join(cells["other"])]))
    return lines + [""]


def curves_section(out, runs, curves):
    """The learning curves, in the plan's order."""
    if not curves:
        return []
    order = _plan_order(runs.plan)
    lines = ["## Learning curves", "", "Test error per epoch (log scale), one line per "
             "seed; dashed: the paper's mean.", ""]
    for (variant, labels), path in sorted(curves.items(), key=lambda kv: order[kv[0]]):
        rel = os.path.relpath(path, out)
        lines += [f"![{label(variant)}, {labels} labels]({rel})", ""]
    return lines


def write_report(out, suite, plan, records, evaluator_note=None):
    """REPORT.md: the tables, the sample grids and the learning curves."""
    curves = save_curves(plan, records, out)
    samples = copy_samples(plan, records, out)
    runs = Runs(plan, records)
    lines = (header(suite, runs) + label_table(suite, runs) + ablation_table(suite, runs)
             + generator_table(suite, runs) + metric_notes(suite, runs, evaluator_note)
             + failures(runs) + time_table(runs) + samples_section(out, runs, samples)
             + curves_section(out, runs, curves))
    path = Path(out) / "REPORT.md"
    with atomic_write(path) as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path
