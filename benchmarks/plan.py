"""The plan of a suite: its configurations (variants), common settings, seeds and runs.

A variant is a set of `TrainingConfig` fields with a label. The ablation's are the harness's
own; the generator rows come from the objectives registry (`ssgan.objectives.OBJECTIVES`): one
per objective and one per entry of its `variants`, where an objective of the ablation reuses its
ablation variant (`ABLATION_ROWS`: feature matching's "fm", the label-count table's configuration,
and the minibatch model's "mbd-gan"), so that no run is trained twice. Nothing here imports Keras
at module level.
"""

import dataclasses
import hashlib
import json

from ssgan.config import TrainingConfig
from ssgan.config import default
from ssgan.config import recipe_settings
from ssgan.objectives import objective_defaults

# The ablation of the paper's two techniques, each with and without VBN in the generator:
# feature matching, and the paper's minibatch-discrimination model (the `minibatch` objective:
# minibatch discrimination in the discriminator, the generator trained with the GAN loss; its
# fields are `{"generator": "minibatch", **MinibatchGANObjective.harness_settings}`, which a test
# checks, spelled out here so that this module imports no Keras).
# "mbd" and "mbd-vbn" are the harness's earlier minibatch rows: the minibatch-discrimination layer
# with the *feature-matching* generator, not the paper's model. They are no longer run, but stay
# defined with their fields unchanged, so that committed suites holding them (e.g. mnist-cpu)
# keep their run keys and still report them. A label is not part of a run's key.
ABLATION_VARIANTS = {
    "fm": {"label": "feature matching", "generator": "feature-matching", "vbn": False},
    "fm-vbn": {"label": "feature matching + VBN", "generator": "feature-matching", "vbn": True},
    "mbd-gan": {"label": "minibatch discrimination (the paper's model: GAN loss)",
                "generator": "minibatch", "minibatch_discrimination": True, "vbn": False,
                "generator_steps": 3},
    "mbd-gan-vbn": {"label": "minibatch discrimination (the paper's model: GAN loss) + VBN",
                    "generator": "minibatch", "minibatch_discrimination": True, "vbn": True,
                    "generator_steps": 3},
    "mbd": {"label": "minibatch discrimination + feature-matching generator",
            "generator": "feature-matching", "minibatch_discrimination": True, "vbn": False},
    "mbd-vbn": {"label": "minibatch discrimination + feature-matching generator + VBN",
                "generator": "feature-matching", "minibatch_discrimination": True, "vbn": True},
}
ABLATION = ("fm", "fm-vbn", "mbd-gan", "mbd-gan-vbn")  # what `--ablation` runs
LEGACY_ABLATION = ("mbd", "mbd-vbn")  # reported when a suite holds them, never planned
# The configuration of the label-count table: feature matching with the paper's generator, the
# library's "full" recipe (`ssgan.config.RECIPES`), whose settings (optimizer, shifts,
# consistency term) every variant shares.
RECOMMENDED = "fm"
RECOMMENDED_GENERATOR = "feature-matching"  # the objective whose generator row is RECOMMENDED
# The objectives whose generator row is an ablation variant (their plain configuration).
ABLATION_ROWS = {RECOMMENDED_GENERATOR: RECOMMENDED, "minibatch": "mbd-gan"}
ALL_LABELS = (20, 50, 100, 200)
DEFAULT_SEEDS = 5

# The --quick smoke settings: every path, a few minutes on 2 CPU cores (the widths are the
# architecture's `smoke_hidden`).
QUICK = {
    "epochs": 2, "steps_per_epoch": 4, "steps_per_call": 2, "batch_size": 50,
    "init_examples": 100, "test_size": 500, "fid_samples": 500, "seeds": [0],
}
# The settings that enter a run's identity (a change means a different run, trained again).
SETTINGS = ("epochs", "batch_size", "steps_per_epoch", "steps_per_call", "architecture",
            "discriminator_hidden", "generator_hidden", "init_examples", "test_size",
            "fid_samples", "unlabeled", "overrides")
POSITIVE_FLAGS = ("epochs", "batch_size", "steps_per_epoch", "steps_per_call", "test_size",
                  "fid_samples")


# ------------------------------------------------------------------------------- variants


def _generator_rows():
    """(`--generators` name, variant id, variant fields) of every registered objective and of
    each of its `variants`, in registration order."""
    from ssgan.objectives import OBJECTIVES

    rows = []
    for name, objective in OBJECTIVES.items():
        fields = {"label": objective.label or name, "generator": name,
                  **objective.harness_settings}
        if name in ABLATION_ROWS:
            rows.append((name, ABLATION_ROWS[name], ABLATION_VARIANTS[ABLATION_ROWS[name]]))
        else:
            rows.append((name, name, fields))
        for row, (label, options) in objective.variants.items():
            rows.append((row, row, {**fields, "label": label,
                                    "generator_options": dict(options)}))
    return rows


def variants():
    """Every configuration by id: the ablation's, then the generator rows."""
    table = dict(ABLATION_VARIANTS)
    for _, variant, fields in _generator_rows():
        table.setdefault(variant, fields)
    return table


def generators():
    """`--generators` names → variant ids, in registration order."""
    return {name: variant for name, variant, _ in _generator_rows()}


def label(variant):
    """How reports call a configuration."""
    return variants()[variant]["label"]


# ------------------------------------------------------------------------------- settings


def int_list(text):
    """[int, ...] from "1,2 3"; a ValueError names the text."""
    try:
        return [int(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected integers separated by commas, got {text!r}") from None


def name_list(text):
    return [v for v in str(text).replace(",", " ").split() if v]


def seeds_from(text, quick):
    """The seeds of `--seeds`: a count N (0..N-1) or a comma-separated list; None: the default."""
    if text is None:
        return list(QUICK["seeds"]) if quick else list(range(DEFAULT_SEEDS))
    try:
        values = int_list(text)
    except ValueError as exc:
        raise ValueError(f"--seeds: {exc}") from None
    if len(values) == 1 and "," not in str(text):
        if values[0] <= 0:
            raise ValueError("--seeds N must be positive.")
        return list(range(values[0]))
    return values


def settings_from_args(args):
    """The suite's common settings: defaults, --quick's, then the explicit flags. A ValueError
    says which flag is wrong."""
    settings = {
        "epochs": 300, "batch_size": 100, "steps_per_epoch": None, "steps_per_call": None,
        "architecture": args.architecture, "discriminator_hidden": None, "generator_hidden": None,
        "init_examples": 500, "test_size": None, "fid_samples": 10000, "unlabeled": "all",
        "overrides": {},
    }
    if args.quick:
        from ssgan.models import get_architecture

        settings.update({k: v for k, v in QUICK.items() if k in settings})
        d_hidden, g_hidden = get_architecture(args.architecture).smoke_hidden
        settings.update(discriminator_hidden=list(d_hidden), generator_hidden=list(g_hidden))
    for flag in POSITIVE_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            if value <= 0:
                raise ValueError(f"--{flag.replace('_', '-')} must be positive.")
            settings[flag] = value
    settings["overrides"] = dict(args.overrides)
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(settings["overrides"]) - known)
    if unknown:
        raise ValueError(f"--set {', '.join(unknown)}: not a TrainingConfig field (fields: "
                         f"{', '.join(sorted(known))}).")
    return settings


# ------------------------------------------------------------------------------------ runs


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
        # The "full" recipe (constant learning rates, the gentler generator, the shifts and the
        # aligned consistency term), then the variant's own fields (generator, VBN, minibatch
        # discrimination); `--set generator_options` adds to the variant's options
        # (infogan-tied keeps its tied codes).
        fields = recipe_settings("full", epochs=self.settings["epochs"])
        del fields["epochs"]
        fields.update({k: v for k, v in variants()[self.variant].items() if k != "label"})
        fields["generator_options"] = {**fields.get("generator_options", {}),
                                       **self.settings["overrides"].get("generator_options", {})}
        fields.setdefault("minibatch_discrimination", False)
        return fields

    @property
    def identity(self):
        """What defines the run: equal identities give equal results (up to nondeterminism).
        The generator's options are complete, its defaults included: a run recorded before a
        default changed is another run. So is one whose samples came from the generator's
        last weights (before `generator_ema`, or with it off) and one that samples from their
        moving average: their classifiers are the same, their sample metrics not."""
        fields = self.config_fields
        options = {**objective_defaults(fields["generator"]), **fields["generator_options"]}
        settings = {k: self.settings[k] for k in SETTINGS}
        overrides = dict(settings["overrides"])
        averaged = overrides.pop("generator_ema", default("generator_ema"))
        return {"dataset": self.dataset, "variant": self.variant, "labels": self.labels,
                "seed": self.seed, **fields, "generator_options": options,
                **settings, "overrides": overrides,
                **({"generator_ema": True} if averaged else {})}

    @property
    def key(self):
        text = json.dumps(self.identity, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def run_id(self):
        return f"{self.variant}-l{self.labels}-s{self.seed}"


def build_plan(args, settings, seeds):
    """The runs, in order: the label counts, then the ablation, then the generators; a run
    needed by several sections appears once, with all its sections. An unknown `--generators`
    name or `--ablation-rows` row is a ValueError."""
    names = generators()
    for flag, given, known in (("--generators", args.generators, names),
                               ("--ablation-rows", args.ablation_rows, ABLATION)):
        unknown = [g for g in given if g not in known]
        if unknown:
            raise ValueError(f"Unknown {flag} {', '.join(unknown)}: expected names from "
                             f"{', '.join(known)}.")
    wanted = [("labels", RECOMMENDED, labels) for labels in args.labels]
    if args.ablation:
        wanted += [("ablation", v, args.section_labels) for v in ABLATION
                   if v in args.ablation_rows]
    wanted += [("generators", names[g], args.section_labels) for g in args.generators]
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


def training_config(spec):
    """The `TrainingConfig` of a run: its variant's fields (with `--set generator_options`),
    the settings, then the rest of `--set`."""
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
    values.update({k: v for k, v in s["overrides"].items() if k != "generator_options"})
    return TrainingConfig(**values)
