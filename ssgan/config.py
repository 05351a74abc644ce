"""The settings of a training run, in one place: `TrainingConfig` and the named recipes.

Every setting is declared once below, with its default, its group (model, objective, optimizer,
losses, schedule, run), its allowed range and a line of help. The command line
(`python -m ssgan.fit`), the estimator (`SSGANClassifier`) and the benchmark harness read these
declarations; a new setting is added here and nowhere else. `None` means "derived": from the data
(steps per epoch), from other settings (the generator's Adam, the learning-rate schedule, the
moving-average rate) or from the architecture (widths); `resolve` fills them in.

This module imports nothing heavy: the command-line tools read it before a backend starts.
"""

import dataclasses
import math
from numbers import Integral
from numbers import Real

GROUPS = ("model", "objective", "optimizer", "losses", "schedule", "run")


@dataclasses.dataclass(frozen=True)
class Range:
    """The allowed values of a number: `low` ≤ (or <) value ≤ (or <) `high`; None is unbounded."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # which ends are included: "both", "left", "right" or "neither"

    def contains(self, value):
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left)):
            return False
        return self.high is None or not (value > self.high or (value == self.high and not right))

    def describe(self):
        parts = []
        if self.low is not None:
            parts.append(f"{'≥' if self.closed in ('both', 'left') else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'≤' if self.closed in ('both', 'right') else '<'} {self.high:g}")
        return " and ".join(parts) or "any number"


def _setting(default, group, help, kind, *, valid=None, choices=None, derived=None):
    """A dataclass field carrying its declaration. `kind`: "int", "float", "bool", "str",
    "ints" (a tuple of positive ints) or "dict"; `valid` a `Range`; `choices` allowed strings;
    `derived` says what None stands for."""
    if group not in GROUPS:
        raise ValueError(f"Unknown settings group {group!r}.")
    metadata = {"group": group, "help": help, "kind": kind, "range": valid, "choices": choices,
                "derived": derived}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


POSITIVE = Range(0, None, "neither")
AT_LEAST_ONE = Range(1, None)
NON_NEGATIVE = Range(0, None)
UNIT_OPEN = Range(0, 1, "left")  # [0, 1)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything that defines a training run besides the data (see the module docstring).

    The defaults are the paper's MNIST settings at 16 epochs, with VBN; the recipes (`RECIPES`)
    change some of them.
    """

    # ---- model
    architecture: str = _setting(
        "mlp", "model", "network pair, a name in ssgan.models.ARCHITECTURES: 'mlp' (the paper's "
        "MNIST pair, on flat images) or 'conv' (DCGAN-style)", "str")
    discriminator_hidden: tuple | None = _setting(
        None, "model", "hidden widths (mlp) or filters per block (conv) of the discriminator",
        "ints", derived="the architecture's")
    generator_hidden: tuple | None = _setting(
        None, "model", "hidden widths (mlp) or the two filter counts (conv) of the generator",
        "ints", derived="the architecture's")
    latent_dim: int = _setting(100, "model", "width of the generator's noise z", "int",
                               valid=AT_LEAST_ONE)
    minibatch_discrimination: bool = _setting(
        False, "model", "minibatch discrimination in the discriminator (paper §3.2)", "bool")
    vbn: bool = _setting(
        True, "model", "virtual batch normalization in the generator (and the conv "
        "discriminator): fast early learning, and it keeps the generator from collapsing; off: "
        "the paper's batch norm", "bool")
    input_shift: int = _setting(
        0, "model", "move each image the discriminator sees by up to this many pixels each way, "
        "at random, in training (image-shaped data only; 0 = off)", "int", valid=NON_NEGATIVE)
    init_examples: int = _setting(
        500, "model", "unlabeled examples of the data-dependent initialization", "int",
        valid=AT_LEAST_ONE)
    # ---- objective
    generator: str = _setting(
        "feature-matching", "objective", "generator objective, a name in "
        "ssgan.objectives.OBJECTIVES (feature-matching, cgan, infogan, ...)", "str")
    generator_options: dict = _setting(
        {}, "objective", "options of the generator objective (see ssgan.objectives)", "dict")
    # ---- optimizer
    learning_rate: float = _setting(0.003, "optimizer", "Adam learning rate", "float",
                                    valid=POSITIVE)
    beta_1: float = _setting(0.5, "optimizer", "Adam β1", "float", valid=UNIT_OPEN)
    beta_2: float = _setting(0.999, "optimizer", "Adam β2 of both players", "float",
                             valid=UNIT_OPEN)
    adam_epsilon: float = _setting(1e-8, "optimizer", "Adam ε, inside the square root",
                                   "float", valid=POSITIVE)
    generator_learning_rate: float | None = _setting(
        None, "optimizer", "the generator's own Adam learning rate", "float", valid=POSITIVE,
        derived="learning_rate")
    generator_beta_1: float | None = _setting(
        None, "optimizer", "the generator's own Adam β1", "float", valid=UNIT_OPEN,
        derived="beta_1")
    generator_steps: int = _setting(1, "optimizer", "generator updates per discriminator update",
                                    "int", valid=AT_LEAST_ONE)
    # ---- loss weights
    unlabeled_weight: float = _setting(
        1.0, "losses", "weight of the real/fake loss against the supervised one", "float",
        valid=NON_NEGATIVE)
    label_smoothing: float = _setting(
        0.0, "losses", "one-sided label smoothing of the real target (paper §3.4; 0 = off)",
        "float", valid=UNIT_OPEN)
    entropy_weight: float = _setting(
        0.0, "losses", "weight of the conditional entropy of the class predictions on unlabeled "
        "rows (entropy minimization, as in Bad GAN, Dai et al. 2017; 0 = off)", "float",
        valid=NON_NEGATIVE)
    consistency_weight: float = _setting(
        0.0, "losses", "weight of the consistency of the class predictions on unlabeled rows "
        "under two draws of the discriminator's noise (the Π-model, Laine & Aila 2017; 0 = off)",
        "float", valid=NON_NEGATIVE)
    distribution_alignment: bool = _setting(
        False, "losses", "scale the consistency term's targets by the labeled classes' shares over "
        "the running mean of the predictions, so that a class the classifier over-predicts "
        "gives up its doubtful rows (Berthelot et al. 2020; needs consistency_weight > 0)", "bool")
    historical_averaging: float = _setting(
        0.0, "losses", "weight of the historical-averaging penalty of both players (paper §3.3; "
        "0 = off)", "float", valid=NON_NEGATIVE)
    # ---- schedule
    epochs: int = _setting(16, "schedule", "training epochs", "int", valid=AT_LEAST_ONE)
    batch_size: int = _setting(
        100, "schedule", "size of each labeled, unlabeled and generated batch", "int",
        valid=AT_LEAST_ONE)
    steps_per_epoch: int | None = _setting(
        None, "schedule", "training steps per epoch", "int", valid=AT_LEAST_ONE,
        derived="one pass over the unlabeled data")
    lr_decay_start: int | None = _setting(
        None, "schedule", "epoch from which the learning rates decay linearly to 0 at the last "
        "epoch (epochs or more: constant)", "int", valid=NON_NEGATIVE, derived="half of epochs")
    ema_rate: float | None = _setting(
        None, "schedule", "per-step rate of the moving average of the discriminator's weights, "
        "which evaluates and predicts", "float", valid=Range(0, 1, "right"),
        derived="10 / total steps, within [1e-4, 1]: about the last tenth of training")
    ema_debias: bool = _setting(
        True, "schedule", "divide the moving average by 1 − (1 − rate)^t, as Adam does", "bool")
    generator_ema: bool = _setting(
        True, "schedule", "sample from a moving average of the generator's weights (at "
        "ema_rate, debiased as ema_debias says; batch norm's statistics drawn anew for them) "
        "instead of its last weights; training is unchanged", "bool")
    # ---- run
    seed: int = _setting(0, "run", "seed of the weights, noise, latent samples and batch order",
                         "int", valid=NON_NEGATIVE)
    matmul_precision: str = _setting(
        "highest", "run", "JAX matmul precision: 'highest' is true float32; 'default' allows "
        "TF32 on GPUs, which destabilizes training", "str",
        choices=("highest", "high", "default"))
    jit_compile: bool | None = _setting(
        None, "run", "TensorFlow: compile the step with XLA", "bool", derived="on GPUs only")
    steps_per_call: int | None = _setting(
        None, "run", "training steps per compiled call (the progress bar moves between calls)",
        "int", valid=AT_LEAST_ONE, derived="a divisor of the steps per epoch near 50")
    collapse_guard: bool = _setting(
        True, "run", "watch for the GAN collapse (real/fake loss → 0, generator loss running "
        "away, or the generator loss above 5 for 1500 steps) and roll back to an earlier healthy "
        "epoch with half the generator's learning rate, at most 3 times (ssgan.train.guard; "
        "single runs, not runs side by side)", "bool")

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = _checked(field, getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        if self.distribution_alignment and not self.consistency_weight:
            raise ValueError("distribution_alignment aligns the consistency term's targets: it "
                             "needs consistency_weight > 0.")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A config from `to_dict`'s output (unknown keys, e.g. of older versions, ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_recipe(cls, name="fast", **overrides):
        """The config of recipe `name` with `overrides` (None values ignored) on top."""
        return cls(**recipe_settings(name, **overrides))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def extended(self, epochs):
        """This configuration run for `epochs` epochs instead, a learning-rate decay tied to its
        epochs (the recipes' "constant" and "late") moved with them: what a resumed run that
        extends its epochs trains with."""
        start = self.lr_decay_start
        if start == self.epochs:
            start = epochs
        elif start == late_decay_start(self.epochs):
            start = late_decay_start(epochs)
        return self.replace(epochs=epochs, lr_decay_start=start)

    def steps_for(self, n_unlabeled):
        """Steps per epoch on `n_unlabeled` unlabeled examples: `steps_per_epoch`, else one pass."""
        return self.steps_per_epoch or max(n_unlabeled // self.batch_size, 1)

    def resolve(self, n_unlabeled):
        """This config with every derived (None) setting but the widths filled in, for
        `n_unlabeled` unlabeled examples: what a run actually uses."""
        steps = self.steps_for(n_unlabeled)
        per_call = self.steps_per_call or divisor_near(steps, 50)
        if steps % per_call:
            raise ValueError(f"steps_per_call={per_call} must divide steps_per_epoch={steps}.")
        return self.replace(
            steps_per_epoch=steps,
            steps_per_call=per_call,
            lr_decay_start=self.epochs // 2 if self.lr_decay_start is None else self.lr_decay_start,
            ema_rate=(min(1.0, max(1e-4, 10.0 / (self.epochs * steps))) if self.ema_rate is None
                      else self.ema_rate),
            generator_learning_rate=(self.learning_rate if self.generator_learning_rate is None
                                     else self.generator_learning_rate),
            generator_beta_1=self.beta_1 if self.generator_beta_1 is None else self.generator_beta_1,
        )


def _checked(field, value):
    """`value` of `field`, normalized (JSON lists to tuples), or a one-line ValueError."""
    meta = field.metadata
    kind, name = meta["kind"], field.name
    if value is None:
        if meta["derived"] is None:
            raise ValueError(f"{name} must be given (it has no derived value).")
        return None
    if kind == "ints":
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name} must be a sequence of positive ints, got {value!r}.")
        value = tuple(value)
        if not value or not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                                for v in value):
            raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {value!r}.")
        return tuple(int(v) for v in value)
    if kind == "bool" and getattr(getattr(value, "dtype", None), "kind", None) == "b":
        value = bool(value)  # a NumPy bool, e.g. from a parameter grid
    expected = {"int": Integral, "float": Real, "bool": bool, "str": str, "dict": dict}[kind]
    if not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool)):
        raise ValueError(f"{name} must be {_KIND_NAMES[kind]}, got {value!r}.")
    if meta["range"] is not None and not (math.isfinite(value) and meta["range"].contains(value)):
        raise ValueError(f"{name} must be {meta['range'].describe()}, got {value!r}.")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ValueError(f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}.")
    return {"int": int, "float": float}.get(kind, lambda v: v)(value)


_KIND_NAMES = {"int": "an int", "float": "a number", "bool": "True or False", "str": "a string",
               "dict": "a dict"}


def settings(group=None):
    """The fields of `TrainingConfig` (those of one group), in declaration order."""
    return [f for f in dataclasses.fields(TrainingConfig)
            if group is None or f.metadata["group"] == group]


def default(name):
    """The default of setting `name`."""
    field = {f.name: f for f in dataclasses.fields(TrainingConfig)}[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def divisor_near(n, target):
    """The divisor of n closest to `target` (ties towards the larger)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), -d))


# ---------------------------------------------------------------------------------- recipes

# Named settings measured to work together, as overrides of the defaults (benchmarks/STABILITY.md
# says why each looks as it does). As lr_decay_start, "constant" keeps the learning rates
# constant for any number of epochs and "late" decays them over the last LATE_DECAY_SHARE of
# the epochs, however many.
# What both recipes add for the unlabeled images: shifts of up to 2 pixels and a consistency
# term whose targets are aligned with the labeled classes' shares.
_UNLABELED_TERMS = {"input_shift": 2, "consistency_weight": 1.0, "distribution_alignment": True}
RECIPES = {
    # What a 2-core CPU trains in under ten minutes: 12 epochs of batches of 50 (twice the
    # paper's updates an epoch: with few labels the classifier is short of updates, not of
    # data), the learning rates decaying over the last eighth; the "full" recipe's batch-norm
    # generator at half its step (at 0.001 with batches of 50 its loss ran away), images moved
    # by up to 2 pixels and a consistency term whose targets are aligned with the labeled
    # classes' shares (with 5 labels a class, a cluster of fours read as nines held runs at
    # 5-8 % error) (benchmarks/STABILITY.md).
    "fast": {
        "epochs": 12, "batch_size": 50, "lr_decay_start": "late", "vbn": False,
        "generator_learning_rate": 0.0005, "generator_beta_1": 0.0, "beta_2": 0.9999,
        **_UNLABELED_TERMS,
    },
    # The paper's 300 epochs and batch-norm generator, with a gentler generator optimizer, and
    # the same shifts and aligned consistency term: without them, 50-label runs collapsed or
    # stalled at 5-6 % (benchmarks/STABILITY.md).
    "full": {
        "epochs": 300, "vbn": False, "lr_decay_start": "constant",
        "generator_learning_rate": 0.001, "generator_beta_1": 0.0, "beta_2": 0.9999,
        **_UNLABELED_TERMS,
    },
}
DEFAULT_RECIPE = "fast"
LATE_DECAY_SHARE = 0.125


def recipe_settings(name, **overrides):
    """The `TrainingConfig` fields of recipe `name`, with `overrides` (None values ignored) on
    top. A recipe's "constant" or "late" learning-rate decay becomes an epoch."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}: expected one of {', '.join(RECIPES)}.")
    values = dict(RECIPES[name])
    values.update({k: v for k, v in overrides.items() if v is not None})
    epochs = values.get("epochs", default("epochs"))
    if values.get("lr_decay_start") == "constant":
        values["lr_decay_start"] = epochs
    elif values.get("lr_decay_start") == "late":
        values["lr_decay_start"] = late_decay_start(epochs)
    return values


def late_decay_start(epochs):
    """The epoch from which the learning rates decay over the last LATE_DECAY_SHARE of `epochs`
    (at least the last one): training at the full rate for longer learns more with few labels
    or a bounded budget (benchmarks/STABILITY.md)."""
    return epochs - max(1, round(LATE_DECAY_SHARE * epochs))


# ------------------------------------------------------------------- the estimator's recipe

# `SSGANClassifier`'s default: the defaults (VBN in the generator) with `AUTO` on top, and the
# training budget, widths and latent size sized for the data (`adapted_settings`; the input shift
# only where the rows are given as images). Where the budget passes over the rows more often than
# BUDGET_PASSES times (small data sets), the discriminator would learn the few rows by heart: a
# gentler step and a stronger consistency term hold it back. The measurements:
# benchmarks/results/compare-sklearn-cpu/REPORT.md.
AUTO_RECIPE = "auto"
AUTO = {"consistency_weight": 1.0, "input_shift": 2}
AUTO_SMALL_DATA = {"learning_rate": 0.001, "consistency_weight": 3.0}
BUDGET_PASSES = 20  # a run's training: this many passes over the rows, kept within BUDGET_STEPS
BUDGET_STEPS = (6000, 12000)
ESTIMATOR_RECIPES = (AUTO_RECIPE, *RECIPES)


def budget_epochs(steps_per_epoch, bounds=BUDGET_STEPS, scale=1.0):
    """Epochs of the "auto" budget: BUDGET_PASSES passes over the data, lengthened to at
    least bounds[0] steps on small data sets and shortened to at most bounds[1] steps (but at
    least one pass) on large ones, so that small sets train enough and large ones in bounded
    time. Networks narrower than the architecture's by `scale` step faster: their bounds are
    divided by √scale."""
    low, high = (round(bound / math.sqrt(scale)) for bound in bounds)
    total = min(max(BUDGET_PASSES * steps_per_epoch, low), max(high, steps_per_epoch))
    return max(1, round(total / steps_per_epoch))


def recipe_value(recipe, name):
    """Setting `name` in `recipe` ("auto" or a name in RECIPES) before any sizing for the data."""
    overrides = AUTO if recipe == AUTO_RECIPE else recipe_settings(recipe)
    return overrides.get(name, default(name))


def adapted_settings(recipe, n_features, n_unlabeled, **given):
    """The `TrainingConfig` fields of `recipe` ("auto" or a name in RECIPES) with `given` (None
    values ignored) on top, for data of `n_features` features and `n_unlabeled` rows. "auto"
    derives what is not given: the widths and latent size from `n_features` (the architecture's
    `widths_for`), the epochs from `budget_epochs` (for networks of that size), and on small data
    sets (a budget of more than BUDGET_PASSES passes) `AUTO_SMALL_DATA`, on the others learning
    rates that decay late (`late_decay_start`): the budget stops training before it has
    converged."""
    if recipe != AUTO_RECIPE:
        return recipe_settings(recipe, **given)
    from ssgan.models import get_architecture  # light: the builders load on first use

    given = {k: v for k, v in given.items() if v is not None}
    values = dict(AUTO)
    widths_for = get_architecture(given.get("architecture", default("architecture"))).widths_for
    sized = dict(widths_for(n_features)) if widths_for is not None else {"scale": 1.0}
    scale = sized.pop("scale")
    if "discriminator_hidden" in given or "generator_hidden" in given:
        scale = 1.0  # the step's cost is the given networks'
    batch_size = given.get("batch_size", default("batch_size"))
    steps = given.get("steps_per_epoch") or max(n_unlabeled // batch_size, 1)
    passes = budget_epochs(steps, scale=scale)
    small = passes > BUDGET_PASSES
    if small:
        values.update(AUTO_SMALL_DATA)
    values.update(sized)
    values.update(given)
    values.setdefault("epochs", passes)
    if not small:
        values.setdefault("lr_decay_start", late_decay_start(values["epochs"]))
    return values


__all__ = ["AUTO", "AUTO_RECIPE", "AUTO_SMALL_DATA", "BUDGET_PASSES", "BUDGET_STEPS",
           "DEFAULT_RECIPE", "ESTIMATOR_RECIPES", "GROUPS", "LATE_DECAY_SHARE", "RECIPES", "Range",
           "TrainingConfig", "adapted_settings", "budget_epochs", "default", "divisor_near",
           "late_decay_start", "recipe_settings", "recipe_value", "settings"]
