"""The estimator's parameters made from the settings (`ssgan.estimator_parameters`): every
setting a parameter with its default, range and documentation; the settings validating alone
where scikit-learn's private validation is missing."""

from conftest import run_python

from ssgan import SSGANClassifier


ESTIMATOR_OWN = {"image_shape", "random_state", "verbose", "recipe", "early_stopping",
                 "validation_fraction", "n_iter_no_change", "tol"}


def test_parameters_are_the_settings_defaulting_to_the_recipe():
    """Every `TrainingConfig` setting but the seed (`random_state`) is a parameter, None by
    default (the recipe's value), constrained by the setting's range or None."""
    from ssgan import config as settings

    params = SSGANClassifier().get_params()
    fields = {f.name for f in settings.settings()}
    assert set(params) == fields - {"seed"} | ESTIMATOR_OWN
    assert all(params[name] is None for name in fields - {"seed"})
    assert params["recipe"] == "auto" and params["early_stopping"] is False
    constraints = SSGANClassifier._parameter_constraints
    assert set(constraints) == set(params)
    assert None in constraints["learning_rate"] and None in constraints["ema_rate"]
    assert not constraints["learning_rate"][0].is_satisfied_by(-1.0)
    for name in params:  # every parameter is documented
        assert f"\n    {name} : " in SSGANClassifier.__doc__, name


def test_documentation_states_each_recipes_value():
    doc = SSGANClassifier.__doc__
    entry = doc[doc.index("    learning_rate : "):doc.index("    beta_1 : ")]
    assert ("0.003 (0.001 on small data sets) in 'auto', 0.003 in 'fast' and 'full'"
            in " ".join(entry.split()))
    entry = doc[doc.index("    epochs : "):doc.index("    batch_size : ")]
    assert "sized for the data in 'auto'" in " ".join(entry.split())


def test_the_recipe_fills_the_parameters_left_at_none():
    """recipe='full' takes the command line's full recipe; given parameters win over it."""
    from ssgan.config import TrainingConfig

    config = SSGANClassifier(recipe="full")._config(3, 784, 60000, images=True)
    assert config == TrainingConfig.from_recipe("full", seed=3)
    vectors = SSGANClassifier(recipe="full")._config(seed=3, n_features=784, n_rows=60000)
    assert vectors == TrainingConfig.from_recipe("full", seed=3, input_shift=0)
    config = SSGANClassifier(recipe="full", epochs=20)._config(3, 784, 60000)
    assert config.epochs == 20 and config.lr_decay_start == 20 and config.vbn is False
    auto = SSGANClassifier(learning_rate=0.002)._config(0, 64, 1797)
    assert auto.learning_rate == 0.002 and auto.consistency_weight == 3.0  # a small data set
    assert auto.discriminator_hidden == (250, 125, 62, 62, 62) and auto.latent_dim == 50



def test_the_recipes_input_shift_applies_only_to_rows_taken_for_images():
    """On vectors the recipes' 2-pixel shift stays off; on images (given or detected) it is on;
    asked for on vectors it is a clear error."""
    import numpy as np
    import pytest

    assert SSGANClassifier()._config(0, 784, 60000).input_shift == 0
    assert SSGANClassifier(recipe="fast")._config(0, 784, 60000).input_shift == 0
    assert SSGANClassifier()._config(0, 784, 60000, images=True).input_shift == 2
    given = SSGANClassifier(input_shift=1)._config(0, 784, 60000, images=True)
    assert given.input_shift == 1
    X = np.random.default_rng(0).uniform(size=(40, 16))
    y = np.where(np.arange(40) < 10, np.arange(40) % 2, -1)
    with pytest.raises(ValueError, match=r"input_shift=2 moves images.*\(16,\)"):
        SSGANClassifier(input_shift=2, epochs=1, steps_per_epoch=1).fit(X, y)

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


def test_auto_budget_on_a_tiny_and_a_large_x():
    """A few dozen rows still train 6000 steps (12000 of the quarter-width networks sized for
    10 features); two million rows train one pass of 20000 steps, not 16 of them."""
    tiny = SSGANClassifier()._config(0, n_features=10, n_rows=60).resolve(60)
    assert tiny.steps_per_epoch == 1 and tiny.epochs == 12000
    assert tiny.lr_decay_start == 6000 and tiny.ema_rate == 10 / 12000  # the schedule follows
    large = SSGANClassifier()._config(0, n_features=784, n_rows=2_000_000).resolve(2_000_000)
    assert large.steps_per_epoch == 20000 and large.epochs == 1
    assert large.lr_decay_start == 0  # decays over its last eighth, rounded up to its one epoch
    given = SSGANClassifier(epochs=3)._config(0, n_features=10, n_rows=60)
    assert given.epochs == 3


def test_image_shape_auto_takes_smooth_square_rows_for_images_and_none_keeps_vectors():
    """The default detects 16 × 16 images (the shift on, the examples reshaped); None keeps the
    same rows flat and unshifted; "conv" on rows not recognized as images is a clear error."""
    import numpy as np
    import pytest

    from conftest import ESTIMATOR_TINY as tiny
    from conftest import blurred_images

    X = blurred_images(64, 16)
    y = np.where(np.arange(64) < 16, np.arange(64) % 2, -1)
    auto = SSGANClassifier(**tiny).fit(X, y)
    assert auto.image_shape_ == (16, 16) and auto.config_.input_shift == 2
    assert auto.generate(2, random_state=0).shape == (2, 256)
    flat = SSGANClassifier(image_shape=None, **tiny).fit(X, y)
    assert flat.image_shape_ == (256,) and flat.config_.input_shift == 0
    conv = SSGANClassifier(architecture="conv", **tiny)
    with pytest.raises(ValueError, match="not recognized as square images"):
        conv.fit(np.random.default_rng(0).uniform(size=(64, 256)), y)
