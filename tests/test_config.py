"""Settings (`ssgan.config`): one declaration each, validation, derived values, the recipes."""

import dataclasses

import pytest

from ssgan import config as settings
from ssgan.config import RECIPES, Range, TrainingConfig, recipe_settings


def test_every_setting_is_declared_once_with_group_help_and_kind():
    fields = settings.settings()
    assert len(fields) == len({f.name for f in fields}) == 35
    for field in fields:
        meta = field.metadata
        assert meta["group"] in settings.GROUPS and meta["help"], field.name
        assert meta["kind"] in ("int", "float", "bool", "str", "ints", "dict"), field.name
    assert [f.name for f in settings.settings("losses")] == [
        "unlabeled_weight", "label_smoothing", "entropy_weight", "consistency_weight",
        "distribution_alignment", "historical_averaging"]
    assert sum(len(settings.settings(group)) for group in settings.GROUPS) == len(fields)


def test_the_fast_recipe_is_the_full_recipes_generator_with_a_shift_and_a_consistency_term():
    assert settings.DEFAULT_RECIPE == "fast"
    config = TrainingConfig()
    assert (config.epochs, config.vbn, config.learning_rate) == (16, True, 0.003)
    assert (config.input_shift, config.consistency_weight) == (0, 0.0)
    fast, full = TrainingConfig.from_recipe("fast"), TrainingConfig.from_recipe("full")
    shared = ("vbn", "generator_beta_1", "beta_2", "input_shift", "consistency_weight",
              "distribution_alignment")
    assert fast == config.replace(
        epochs=12, batch_size=50, lr_decay_start=10,
        generator_learning_rate=full.generator_learning_rate / 2,
        **{name: getattr(full, name) for name in shared})
    assert (full.input_shift, full.consistency_weight, full.distribution_alignment) == (
        2, 1.0, True)
    assert full.lr_decay_start == 300  # constant
    assert settings.default("generator_options") == {} and settings.default("ema_rate") is None


@pytest.mark.parametrize("epochs, start", [(1, 0), (4, 3), (11, 10), (12, 10), (14, 12), (30, 26), (300, 262)])
def test_a_late_decay_covers_the_last_eighth_of_the_epochs_and_at_least_one(epochs, start):
    assert settings.late_decay_start(epochs) == start
    assert recipe_settings("fast", epochs=epochs)["lr_decay_start"] == start
    # A given start wins over the recipe's.
    assert recipe_settings("fast", epochs=epochs, lr_decay_start=0)["lr_decay_start"] == 0


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_config(name):
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    values = recipe_settings(name)
    assert set(values) <= fields
    assert TrainingConfig(**values).epochs == RECIPES[name].get("epochs", 16)


def test_full_recipe_keeps_its_learning_rate_constant_for_any_length():
    assert recipe_settings("full")["lr_decay_start"] == 300
    assert recipe_settings("full", epochs=40)["lr_decay_start"] == 40
    assert recipe_settings("full", epochs=40, lr_decay_start=30)["lr_decay_start"] == 30
    # None means "not given": the recipe's value stays.
    assert recipe_settings("full", vbn=None)["vbn"] is False
    assert recipe_settings("full", vbn=True)["vbn"] is True
    with pytest.raises(ValueError, match="fast, full"):
        recipe_settings("paper")


@pytest.mark.parametrize("start, extended", [(300, 400), (262, 350), (200, 200), (None, None)])
def test_an_extended_run_moves_a_decay_tied_to_its_epochs(start, extended):
    """Constant (start = epochs) and late (the last eighth) decays follow the new epochs; any
    other start stays."""
    config = TrainingConfig(epochs=300, lr_decay_start=start).extended(400)
    assert (config.epochs, config.lr_decay_start) == (400, extended)


def test_distribution_alignment_needs_the_consistency_term():
    with pytest.raises(ValueError, match="needs consistency_weight > 0"):
        TrainingConfig(distribution_alignment=True)
    assert TrainingConfig(distribution_alignment=True, consistency_weight=0.5).distribution_alignment


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 0}, "epochs must be ≥ 1, got 0"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"label_smoothing": 1.0}, "label_smoothing must be ≥ 0 and < 1"),
    ({"ema_rate": 5.0}, "ema_rate must be > 0 and ≤ 1"),
    ({"unlabeled_weight": float("nan")}, "unlabeled_weight must be ≥ 0"),
    ({"batch_size": 2.5}, "batch_size must be an int"),
    ({"vbn": 1}, "vbn must be True or False"),
    ({"matmul_precision": "low"}, "matmul_precision must be one of highest, high, default"),
    ({"discriminator_hidden": (10, 0)}, "discriminator_hidden must be a non-empty sequence"),
    ({"epochs": None}, "epochs must be given"),
])
def test_a_bad_value_is_one_line_naming_the_setting_and_its_range(changes, message):
    with pytest.raises(ValueError, match=message) as info:
        TrainingConfig(**changes)
    assert "\n" not in str(info.value)


def test_values_are_normalized():
    import numpy as np

    config = TrainingConfig(discriminator_hidden=[10, np.int64(5)], epochs=np.int64(3),
                            learning_rate=1, vbn=np.bool_(False))
    assert config.discriminator_hidden == (10, 5) and type(config.epochs) is int
    assert type(config.learning_rate) is float and config.vbn is False
    assert TrainingConfig.from_dict({**config.to_dict(), "old_setting": 1}) == config


def test_resolve_fills_the_derived_settings():
    config = TrainingConfig(epochs=10, batch_size=100)
    resolved = config.resolve(60000)
    assert resolved.steps_per_epoch == 600 and resolved.steps_per_call == 50
    assert resolved.lr_decay_start == 5 and resolved.ema_rate == pytest.approx(10 / 6000)
    assert (resolved.generator_learning_rate, resolved.generator_beta_1) == (0.003, 0.5)
    assert config.resolve(50).steps_per_epoch == 1  # at least one step
    assert TrainingConfig(epochs=1000).resolve(60000).ema_rate == 1e-4  # the paper's, at least
    assert TrainingConfig(steps_per_epoch=7).resolve(0).steps_per_call == 7
    with pytest.raises(ValueError, match="steps_per_call=4 must divide steps_per_epoch=10"):
        TrainingConfig(steps_per_epoch=10, steps_per_call=4).resolve(0)


def test_divisor_near_and_ranges():
    assert settings.divisor_near(600, 50) == 50 and settings.divisor_near(7, 50) == 7
    assert settings.divisor_near(96, 50) == 48
    assert Range(0, 1, "left").contains(0) and not Range(0, 1, "left").contains(1)
    assert Range(0, None, "neither").describe() == "> 0"


# ------------------------------------------------------------------- the estimator's recipe

def test_budget_lengthens_small_data_and_bounds_large_data():
    from ssgan.config import budget_epochs

    assert budget_epochs(600) == 20  # MNIST: 20 passes, 12000 steps
    assert budget_epochs(400) == 20  # 40000 rows: 8000 steps
    assert budget_epochs(12) == 500  # 1257 rows: at least 6000 steps
    assert budget_epochs(1) == 6000
    assert budget_epochs(4000) == 3  # 400k rows: at most 12000 steps
    assert budget_epochs(5000) == 2
    assert budget_epochs(50000) == 1  # but at least one pass
    assert budget_epochs(100, bounds=(10, 20)) == 1
    assert budget_epochs(12, scale=0.25) == 1000  # narrower networks: 12000 cheaper steps
    assert budget_epochs(5000, scale=0.25) == 5  # 24000 steps


def test_auto_recipe_sizes_what_is_not_given():
    from ssgan.config import AUTO, AUTO_SMALL_DATA, adapted_settings

    tiny = adapted_settings("auto", n_features=64, n_unlabeled=300)
    assert tiny["epochs"] == 4000 and tiny["latent_dim"] == 50  # 3 steps an epoch, 12000 steps
    assert "scale" not in tiny
    assert {k: tiny[k] for k in AUTO_SMALL_DATA} == AUTO_SMALL_DATA  # 2000 passes: small
    assert tiny["discriminator_hidden"] == (250, 125, 62, 62, 62)
    assert tiny["generator_hidden"] == (250, 250)
    large = adapted_settings("auto", n_features=784, n_unlabeled=60000)
    assert large["epochs"] == 20 and large["discriminator_hidden"] == (1000, 500, 250, 250, 250)
    assert {k: large[k] for k in AUTO} == AUTO == {"consistency_weight": 1.0, "input_shift": 2}
    assert "vbn" not in large  # the default's, VBN
    assert "learning_rate" not in large  # the fast recipe's
    # A large set decays its learning rates over the last eighth of the epochs, a small one over
    # the second half (the default, None); a given start or epoch count is followed.
    assert large["lr_decay_start"] == 18 and "lr_decay_start" not in tiny
    # 30000 rows (300 steps): 20 passes still reach the 6000-step floor, a large set; 29000 rows
    # need 21 passes to, a small one.
    assert adapted_settings("auto", 784, 30000)["lr_decay_start"] == 18
    assert adapted_settings("auto", 784, 29000)["learning_rate"] == 0.001
    assert adapted_settings("auto", 784, 60000, epochs=24)["lr_decay_start"] == 21
    assert adapted_settings("auto", 784, 60000, epochs=1)["lr_decay_start"] == 0
    assert adapted_settings("auto", 784, 60000, lr_decay_start=8)["lr_decay_start"] == 8
    given = adapted_settings("auto", 64, 300, epochs=3, latent_dim=7, steps_per_epoch=None,
                             consistency_weight=0.5)
    assert given["epochs"] == 3 and given["latent_dim"] == 7
    assert given["consistency_weight"] == 0.5 and given["learning_rate"] == 0.001
    assert adapted_settings("auto", 64, 300, steps_per_epoch=60)["epochs"] == 200
    given_widths = adapted_settings("auto", 64, 300, discriminator_hidden=(20,))
    assert given_widths["epochs"] == 2000 and given_widths["generator_hidden"] == (250, 250)
    conv = adapted_settings("auto", 784, 60000, architecture="conv")
    assert "discriminator_hidden" not in conv  # the conv pair keeps its own widths
    assert adapted_settings("full", 64, 300) == recipe_settings("full")
    TrainingConfig(**tiny)  # valid settings


def test_widths_follow_the_number_of_features():
    from ssgan.models.mlp import widths_for

    def sized(n):
        w = widths_for(n)
        return w["discriminator_hidden"], w["generator_hidden"], w["latent_dim"], w["scale"]

    assert sized(784) == ((1000, 500, 250, 250, 250), (500, 500), 100, 1.0)
    assert sized(5000) == sized(784)  # never wider than the paper's
    assert sized(392) == ((500, 250, 125, 125, 125), (250, 250), 50, 0.5)
    assert sized(4) == ((250, 125, 62, 62, 62), (250, 250), 50, 0.25)  # a floor of a quarter
