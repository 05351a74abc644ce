"""Generator objectives: what the generator is trained for, as plug-ins.

One module per objective, each an `Objective` subclass (`ssgan.objectives.base`) that owns its
sampling, its loss terms, its sample grids and its quality metrics. A new generator is one module
and one registry line below; users register their own with `register_objective`, from their own
code, and `--generator NAME`, `SSGANClassifier(generator=NAME)` and the benchmark harness find
it. Importing this package imports no backend: the built-ins load on first use.
"""

import ast
import importlib
import importlib.util
import inspect

from ssgan.registry import Registry

OBJECTIVES = Registry("generator")
OBJECTIVES.add_lazy("feature-matching", "ssgan.objectives.feature_matching:FeatureMatchingObjective")
OBJECTIVES.add_lazy("cgan", "ssgan.objectives.cgan:ConditionalObjective")
OBJECTIVES.add_lazy("infogan", "ssgan.objectives.infogan:InfoGANObjective")
OBJECTIVES.add_lazy("minibatch", "ssgan.objectives.gan:MinibatchGANObjective")


def register_objective(objective):
    """Add an `Objective` subclass to `OBJECTIVES` under its `name` (replacing one of the same
    name); returns it, so it also works as a class decorator."""
    from ssgan.objectives.base import Objective

    if not (isinstance(objective, type) and issubclass(objective, Objective) and objective.name):
        raise TypeError(f"{objective!r} is not an Objective subclass with a name.")
    OBJECTIVES[objective.name] = objective
    return objective


def get_objective(name):
    """The registered objective class called `name`, or a ValueError naming the known ones."""
    return OBJECTIVES.lookup(name)


def objective_options(name):
    """The options (keyword arguments) of the objective called `name`; a built-in's are read from
    its source, so that a command line can check them before Keras is imported."""
    return list(objective_defaults(name))


def objective_defaults(name):
    """{option: default} of the objective called `name` (None for an option without one); a
    built-in's are read from its source, without importing Keras. A run's identity holds them:
    a changed default trains a different run."""
    target = OBJECTIVES.source(name) if name in OBJECTIVES else None
    parameters = _parameters_in_source(target) if target else None
    if parameters is None:
        signature = inspect.signature(get_objective(name).__init__).parameters
        parameters = {p: None if v.default is inspect.Parameter.empty else v.default
                      for p, v in signature.items()}
    return {p: v for p, v in parameters.items() if p not in ("self", "n_classes", "latent_dim")}


def _parameters_in_source(target):
    """The `__init__` parameters and their literal defaults of the class "module:Class" from its
    source (None if unsure)."""
    module, _, attribute = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attribute:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return _literal_parameters(item.args)
            bases = [getattr(b, "id", None) for b in node.bases]
            return {} if bases == ["Objective"] else None  # the base class takes no options
    return None


def _literal_parameters(arguments):
    """{name: default} of an `ast.arguments` (None without a default); None where a default is
    not a literal."""
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(arguments.kwonlyargs,
                                                       arguments.kw_defaults))
    try:
        return {a.arg: None if d is None else ast.literal_eval(d) for a, d in pairs}
    except ValueError:
        return None


def make_objective(name, n_classes, latent_dim=100, **options):
    """An instance of the objective called `name`. An option it does not take is a ValueError
    naming the ones it does."""
    objective = get_objective(name)  # imported first: its options are then read from it
    accepted = objective_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"Generator {name!r} has no option {', '.join(unknown)}; its options: "
                         f"{', '.join(accepted) or 'none'}.")
    return objective(n_classes, latent_dim=latent_dim, **options)


_EXPORTS = {
    "Objective": "ssgan.objectives.base", "Grid": "ssgan.objectives.base",
    "FeatureMatchingObjective": "ssgan.objectives.feature_matching",
    "ConditionalObjective": "ssgan.objectives.cgan", "InfoGANObjective": "ssgan.objectives.infogan",
    "MinibatchGANObjective": "ssgan.objectives.gan", "PairTerm": "ssgan.objectives.base",
    "ComplementObjective": "ssgan.objectives.base",
    "categorical_cross_entropy": "ssgan.losses", "gaussian_negative_log_likelihood": "ssgan.losses",
}


def __getattr__(name):
    # The classes are imported on first use (they import Keras).
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ssgan.objectives' has no attribute {name!r}")


__all__ = ["OBJECTIVES", "get_objective", "make_objective", "objective_options",
           "register_objective", *_EXPORTS]
