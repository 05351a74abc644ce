"""Scheduling a suite: the training units (runs side by side), the ETA from what this invocation
measured, and the time limit."""

import statistics


class Timing:
    """Measured cost of this process's units, for the ETA: wall seconds per training epoch (with
    its evaluation) and the per-run overhead (set-up, compilation, grids, metrics), the latter
    apart for the first run of a configuration and for its repeats (other seeds, which on JAX
    load the compiled step from the compilation cache). A unit of `runs` runs side by side costs
    per epoch what a unit of the same configuration and size cost, else what any unit of that
    size cost, else the mean cost of one run's epoch times `runs` (benchmarks/README.md)."""

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

    def add_unit(self, unit, records, wall):
        """Measure a unit (its runs' specs) from its `records` and `wall` seconds."""
        trained = [r for r in records if r.get("status") == "ok" or r.get("epochs_done")]
        if not trained:
            return
        r = max(trained, key=lambda r: r.get("epochs_done") or 0)
        compile_s = r.get("compile_seconds") or 0.0
        epochs = (r.get("epochs_done") or 0) - r.get("resumed_from_epoch", 0)
        train_wall = r.get("train_wall_seconds", r["wall_seconds"])
        self.add((unit[0].variant, unit[0].labels), wall, epochs,
                 max(train_wall - compile_s, 0.0), runs=len(unit))

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


def units(todo, seeds_per_step, backend):
    """The training units: runs of one configuration side by side (JAX, up to `seeds_per_step`
    runs per unit; 0 = all), else one run per unit."""
    if backend != "jax" or seeds_per_step == 1:
        return [[spec] for spec in todo]
    groups = {}  # a configuration's label counts and seeds: one vectorized step
    for spec in todo:
        groups.setdefault(spec.variant, []).append(spec)
    result = []
    for specs in groups.values():
        size = seeds_per_step or len(specs)
        result += [specs[i : i + size] for i in range(0, len(specs), size)]
    return result


def unit_fits(timing, unit, used_seconds, limit_minutes):
    """Whether a unit ((group, epochs, runs)) ends within `limit_minutes` of the invocation's
    start, by the ETA of the units done so far; with no limit or no measurement yet, it does."""
    if limit_minutes is None:
        return True
    need = timing.estimate([unit])
    return need is None or used_seconds + need <= 60.0 * limit_minutes


def group_label(specs):
    """`fm-vbn labels 20,100 × seeds 0-4` for the runs of one unit."""
    labels = sorted({spec.labels for spec in specs})
    seeds = sorted({spec.seed for spec in specs})
    seed_text = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
                 and len(seeds) > 2 else ",".join(map(str, seeds)))
    return (f"{specs[0].variant} labels {','.join(map(str, labels))} × seeds {seed_text} "
            f"({len(specs)} runs)")
