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
default = settings.default
_KIND_CONSTRAINTS = {"bool": ["boolean"], "ints": [tuple, list], "dict": [dict], "str": [str]}
_KIND_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str",
               "ints": "tuple of int", "dict": "dict"}

# What the estimator adds to a setting's documentation.
_NOTES = {
    "architecture": "'mlp' takes rows of any length; 'conv' needs `image_shape`.",
    "minibatch_discrimination": "Its outputs depend on the other rows of a batch: predictions of "
                                "a row can change (slightly) with the other rows passed.",
    "generator_options": "None: the objective's defaults.",
    "steps_per_epoch": "One pass over X is ``max(n_samples // batch_size, 1)`` steps.",
    "ema_rate": "The averaged (debiased) weights are the ones that predict.",
}


def rows_parameter(method):
    """Write the numpydoc "Parameters" section of a method taking rows X into its "{rows}"."""
    method.__doc__ = method.__doc__.replace("{rows}", """Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, in the units of the X passed to `fit`.""")
    return method


def parameter_constraints(own):
    """`_parameter_constraints`: every setting's (`constraints`), then the estimator's `own`
    (a function of `Interval`); empty without scikit-learn's validation."""
    if not SKLEARN_VALIDATES:
        return {}
    return {**{name: constraints(f) for name, f in CONFIG_PARAMETERS.items()}, **own(Interval)}


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
    if meta["derived"] is not None or kind == "dict":
        constraints.append(None)
    return constraints


def parameter_docs(estimator):
    """The numpydoc "Parameters" entries: the settings (from their declarations) and the
    estimator's own parameters, in the signature's order."""
    own = {
        "image_shape": ("tuple of int or None", "None", "Shape of one example as (height, width, "
                        "channels), or (height, width) for one channel; X stays flat, rows in the "
                        "C order of ``images.reshape(len(images), -1)``. Required by "
                        "``architecture='conv'``; with 'mlp' only checked against the number of "
                        "features."),
        "random_state": ("int, RandomState instance or None", "None", "Seeds the weights, the "
                         "noise layers, the generator's samples and the batch order: two fits "
                         "with the same int on the same data give the same predictions. An int in "
                         "[0, 2**21) is the training seed itself (``TrainingConfig(seed=...)``); "
                         "other values draw one. Fitting also sets TensorFlow's global seed "
                         "(Python's and NumPy's global states are restored)."),
        "verbose": ("int", "0", "0: silent; 1: a progress bar per epoch; 2: one line per epoch."),
    }
    entries = []
    for name, parameter in inspect.signature(estimator.__init__).parameters.items():
        if name == "self":
            continue
        if name in own:
            kind, default, text = own[name]
        else:
            meta = CONFIG_PARAMETERS[name].metadata
            default = repr(parameter.default)
            kind = _KIND_TYPES[meta["kind"]] + (" or None" if parameter.default is None else "")
            text = meta["help"][0].upper() + meta["help"][1:] + "."
            if meta["derived"] is not None:
                text += f" None: {meta['derived']}."
            if name in _NOTES:
                text += " " + _NOTES[name]
        body = textwrap.fill(text, 92, initial_indent=" " * 8, subsequent_indent=" " * 8)
        entries.append(f"    {name} : {kind}, default={default}\n{body}\n")
    return "\n".join(entries) + "\n"
