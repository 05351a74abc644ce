"""The estimator's parameters made from the settings (`ssgan.estimator_parameters`): every
setting a parameter with its default, range and documentation; the settings validating alone
where scikit-learn's private validation is missing."""

from conftest import run_python

from ssgan import SSGANClassifier


def test_parameters_are_the_settings_with_their_defaults_and_ranges():
    """Every `TrainingConfig` setting but the seed (`random_state`) is a parameter, with the
    setting's default (None for an empty `generator_options`) and its range as a constraint."""
    from ssgan import config as settings

    params = SSGANClassifier().get_params()
    fields = {f.name for f in settings.settings()}
    assert set(params) == fields - {"seed"} | {"image_shape", "random_state", "verbose"}
    for name in fields - {"seed", "generator_options"}:
        assert params[name] == settings.default(name), name
    assert params["generator_options"] is None and settings.default("generator_options") == {}
    constraints = SSGANClassifier._parameter_constraints
    assert set(constraints) == set(params)
    assert None in constraints["ema_rate"] and None not in constraints["learning_rate"]
    for name in params:  # every parameter is documented
        assert f"\n    {name} : " in SSGANClassifier.__doc__, name


_WITHOUT_PRIVATE_VALIDATION = """
import sys
import sklearn.base, sklearn.utils.multiclass, sklearn.utils.validation  # noqa: E401
sys.modules["sklearn.utils._param_validation"] = None  # as if a release had moved it
import numpy as np
from ssgan import SSGANClassifier
from ssgan.estimator_parameters import SKLEARN_VALIDATES
X = np.random.default_rng(0).normal(size=(60, 4))
y = np.where(np.arange(60) % 3 == 0, np.arange(60) % 2, -1)
tiny = dict(discriminator_hidden=(8,), generator_hidden=(8,), latent_dim=4, epochs=1,
            steps_per_epoch=2, batch_size=10, random_state=0)
fitted = SSGANClassifier(**tiny).fit(X, y).predict(X).shape
try:
    SSGANClassifier(**{**tiny, "label_smoothing": 2.0}).fit(X, y)
    message = None
except ValueError as exc:
    message = str(exc)
print("RESULT " + __import__("json").dumps(
    {"validates": SKLEARN_VALIDATES, "fitted": list(fitted), "message": message}))
"""


def test_without_scikit_learns_private_validation_the_settings_validate():
    result = run_python(_WITHOUT_PRIVATE_VALIDATION)
    assert result["validates"] is False and result["fitted"] == [60]
    assert result["message"] == "label_smoothing must be ≥ 0 and < 1, got 2.0."
