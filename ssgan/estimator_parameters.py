"""The estimator's parameters made from the settings (`ssgan.config`): which settings are
parameters, their defaults, their scikit-learn constraints and their numpydoc entries, so that a
setting added to the config reaches `SSGANClassifier` without a second declaration."""

import inspect
import textwrap
from numbers import Integral
from numbers import Real

from ssgan import config as settings

try:  # scikit-learn's parameter validation is private API; without it the settings validate
    from sklearn.utils._param_validation import Interval
    from sklearn.utils._param_validation import StrOptions
except ImportError:  # pragma: no cover - depends on the scikit-learn release
    Interval = StrOptions = None
SKLEARN_VALIDATES = Interval is not None

# The estimator's parameters that are `TrainingConfig` settings (all but the seed, which is
# `random_state`): their defaults, constraints and documentation come from `ssgan.config`.
CONFIG_PARAMETERS = {f.name: f for f in settings.settings() if f.name != "seed"}
_KIND_CONSTRAINTS = {"bool": ["boolean"], "ints": [tuple, list], "dict": [dict], "str": [str]}
_KIND_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str",
               "ints": "tuple of int", "dict": "dict"}

# What the estimator adds to a setting's documentation.
_SIZED = ("epochs", "discriminator_hidden", "generator_hidden", "latent_dim")
_NOTES = {
    "architecture": "'mlp' takes rows of any length; 'conv' needs images (`image_shape`).",
    "minibatch_discrimination": "Its outputs depend on the other rows of a batch: predictions of "
                                "a row can change (slightly) with the other rows passed.",
    "input_shift": "On rows taken as vectors (see `image_shape`) None means 0, and more is an "
                   "error.",
    "generator_options": "{}: the objective's defaults.",
    "steps_per_epoch": "One pass over X is ``max(n_samples // batch_size, 1)`` steps.",
    "ema_rate": "The averaged (debiased) weights are the ones that predict.",
    "generator_ema": "The averaged weights are the ones that `sample`.",
}


def rows_parameter(method):
    """Write the numpydoc "Parameters" section of a method taking rows X into its "{rows}"."""
    method.__doc__ = method.__doc__.replace("{rows}", """Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, in the units of the X passed to `fit`.""")
    return method


def parameter_constraints(own):
    """`_parameter_constraints`: every setting's (`constraints`, and None: the recipe's value),
    then the estimator's `own` (a function of `Interval` and `StrOptions`); empty without
    scikit-learn's validation."""
    if not SKLEARN_VALIDATES:
        return {}
    settings_constraints = {name: constraints(f) + [None] for name, f in CONFIG_PARAMETERS.items()}
    return {**settings_constraints, **own(Interval, StrOptions)}


def constraints(field):
    """scikit-learn's parameter constraints of a `TrainingConfig` setting."""
    meta = field.metadata
    kind = meta["kind"]
    if meta["choices"] is not None:
        constraints = [StrOptions(set(meta["choices"]))]
    elif kind in ("int", "float"):
        valid = meta["range"] or settings.Range()
        # scikit-learn's intervals are open at an unbounded (None) end.
        left = valid.low is not None and valid.closed in ("both", "left")
        right = valid.high is not None and valid.closed in ("both", "right")
        closed = {(True, True): "both", (True, False): "left", (False, True): "right",
                  (False, False): "neither"}[left, right]
        constraints = [Interval(Integral if kind == "int" else Real, valid.low, valid.high,
                                closed=closed)]
    else:
        constraints = list(_KIND_CONSTRAINTS[kind])
    return constraints


def _recipe_values(name):
    """How the recipes set setting `name`, e.g. "0.001 in 'auto', 0.003 in 'fast' and 'full'"."""
    by_value = {}
    for recipe in settings.ESTIMATOR_RECIPES:
        value = repr(settings.recipe_value(recipe, name))
        if recipe == settings.AUTO_RECIPE and name in _SIZED:
            value = "sized for the data"
        elif recipe == settings.AUTO_RECIPE and name in settings.AUTO_SMALL_DATA:
            value += f" ({settings.AUTO_SMALL_DATA[name]!r} on small data sets)"
        elif recipe == settings.AUTO_RECIPE and name == "lr_decay_start":
            value = (f"{1 - settings.LATE_DECAY_SHARE:g}·epochs ({value}: half of them, on "
                     "small data sets)")
        elif settings.RECIPES.get(recipe, {}).get(name) == "constant":
            value = "epochs"
        elif settings.RECIPES.get(recipe, {}).get(name) == "late":
            value = f"{1 - settings.LATE_DECAY_SHARE:g}·epochs"
        by_value.setdefault(value, []).append(repr(recipe))
    if len(by_value) == 1:
        return f"{next(iter(by_value))} in every recipe"
    return ", ".join(f"{value} in {' and '.join(recipes)}" for value, recipes in by_value.items())


def _setting_doc(name):
    """(type, text) of the documentation of the parameter of setting `name`."""
    meta = CONFIG_PARAMETERS[name].metadata
    kind = _KIND_TYPES[meta["kind"]] + " or None"
    text = meta["help"][0].upper() + meta["help"][1:] + "."
    text += f" None: the recipe's value ({_recipe_values(name)})."
    if meta["derived"] is not None:
        text += f" Where that is None: {meta['derived']}."
    if name in _NOTES:
        text += " " + _NOTES[name]
    return kind, text


def parameter_docs(estimator):
    """The numpydoc "Parameters" entries: the settings (from their declarations) and the
    estimator's own parameters, in the signature's order."""
    own = {
        "image_shape": ("'auto', tuple of int or None", "'auto'", "Shape of one example as "
                        "(height, width, channels), or (height, width) for one channel; X stays "
                        "flat, rows in the C order of ``images.reshape(len(images), -1)``. An "
                        "image shape turns on the recipe's `input_shift` and is what "
                        "``architecture='conv'`` reshapes to. 'auto' takes the rows for square "
                        "images of at least 16×16 pixels (one channel or three, channels last) "
                        "where neighbouring pixels correlate, the way MNIST's do, and for vectors "
                        "otherwise; None: always vectors."),
        "random_state": ("int, RandomState instance or None", "None", "Seeds the weights, the "
                         "noise layers, the generator's samples and the batch order: two fits "
                         "with the same int on the same data give the same predictions. An int in "
                         "[0, 2**21) is the training seed itself (``TrainingConfig(seed=...)``); "
                         "other values draw one. Fitting also sets TensorFlow's global seed "
                         "(Python's and NumPy's global states are restored)."),
        "verbose": ("int", "0", "0: silent; 1: a progress bar per epoch; 2: one line per epoch."),
        "recipe": ("str", "'auto'", "Named settings that the parameters left at None take: "
                   "'auto' (the defaults with a consistency term, a 2-pixel `input_shift` "
                   "on images (see `image_shape`), and widths, latent size "
                   f"and training budget sized for the data: {settings.BUDGET_PASSES} passes "
                   f"over X, at least {settings.BUDGET_STEPS[0]} and at most "
                   f"{settings.BUDGET_STEPS[1]} steps, twice that for the quarter-width networks "
                   f"of few features; where that is more than {settings.BUDGET_PASSES} passes, "
                   "a small data set, a gentler "
                   "learning rate and a stronger consistency term), or 'fast' or "
                   "'full' as on the command line (``python -m ssgan.fit --recipe``, "
                   "ssgan.config.RECIPES)."),
        "early_stopping": ("bool", "False", "Hold out `validation_fraction` of the labeled rows "
                           "(stratified) and stop when their accuracy has not improved by `tol` "
                           "for `n_iter_no_change` epochs, keeping the best epoch's weights "
                           "(and their moving average, which predicts). The held-out rows still "
                           "serve as unlabeled rows."),
        "validation_fraction": ("float", "0.1", "Share of the labeled rows held out for early "
                                "stopping (at least one row; every class keeps a training row)."),
        "n_iter_no_change": ("int", "10", "Epochs without an improvement of `tol` after which "
                             "early stopping stops."),
        "tol": ("float", "1e-4", "Smallest improvement of the validation accuracy that counts."),
    }
    entries = []
    for name, parameter in inspect.signature(estimator.__init__).parameters.items():
        if name == "self":
            continue
        if name in own:
            kind, default, text = own[name]
        else:
            default = repr(parameter.default)
            kind, text = _setting_doc(name)
        body = textwrap.fill(text, 92, initial_indent=" " * 8, subsequent_indent=" " * 8)
        entries.append(f"    {name} : {kind}, default={default}\n{body}\n")
    return "\n".join(entries) + "\n"
