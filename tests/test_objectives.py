"""The objective interface and registry (`ssgan.objectives`): lookup and options, every built-in
objective through a few training steps, and a user's own objective, defined here alone and
registered through the public API, trained by the trainer and by `python -m ssgan.fit`."""

import json

import keras
import numpy as np
import pytest
from conftest import TINY

from ssgan import fit
from ssgan.objectives import (
    OBJECTIVES,
    ComplementObjective,
    ConditionalObjective,
    Grid,
    Objective,
    get_objective,
    make_objective,
    objective_defaults,
    register_objective,
)
from ssgan.objectives.base import match_features, uniform_latent, uniform_z
from ssgan.train import SemiSupervisedGAN, TrainingConfig

LATENT = 8


def test_registry_and_options():
    assert list(OBJECTIVES)[:4] == ["feature-matching", "cgan", "infogan", "minibatch"]
    assert get_objective("cgan") is ConditionalObjective
    assert isinstance(make_objective("cgan", 10), ConditionalObjective)
    info = make_objective("infogan", 10, latent_dim=LATENT, tie_codes_to_labels=True)
    assert info.tie_codes_to_labels and info.latent_dim == LATENT
    assert info.condition_dims == {"c_cat": 10, "c_cont": 2}
    assert make_objective("cgan", 7).condition_dims == {"y": 7}
    with pytest.raises(ValueError, match="n_categories == n_classes"):
        make_objective("infogan", 10, n_categories=5, tie_codes_to_labels=True)
    # An unknown option names the valid ones.
    with pytest.raises(ValueError, match="has no option no_such_option; its options: "
                                         "class_weight, feature_matching_weight"):
        make_objective("cgan", 10, no_such_option=1)
    with pytest.raises(ValueError, match="class_weight"):
        make_objective("cgan", 10, class_weight=-1)
    with pytest.raises(ValueError, match="Unknown generator 'nope': expected one of cgan"):
        get_objective("nope")
    with pytest.raises(TypeError, match="not an Objective subclass"):
        register_objective(dict)


def test_complement_objectives_train_with_complement_rows_and_sample_without():
    """`sample` (training) draws round(share · batch) complement rows first; `generation_inputs`
    (what users get) none, through the one `_draw` hook."""

    class Marked(ComplementObjective):
        complement_share = 0.25

        def _draw(self, seed_generator, batch_size, free):
            z = uniform_latent(seed_generator, batch_size, self.latent_dim)
            return [z, keras.ops.arange(batch_size) >= free], {"free": free}

    objective, seeds = Marked(10, latent_dim=LATENT), keras.random.SeedGenerator(0)
    (z, marked), info = objective.sample(seeds, 10)
    assert info == {"free": 2} and keras.ops.shape(z) == (10, LATENT)
    assert keras.ops.convert_to_numpy(marked).tolist() == [False] * 2 + [True] * 8
    z, marked = objective.generation_inputs(seeds, 6)
    assert keras.ops.shape(z) == (6, LATENT) and bool(keras.ops.all(marked))
    assert isinstance(make_objective("cgan", 10), ComplementObjective)
    assert isinstance(make_objective("infogan", 10), ComplementObjective)
    assert not isinstance(make_objective("feature-matching", 10), ComplementObjective)


# The generated-pair term ramped over steps 1 to 3: shares 0, 0, ½, 1, 1 of 0.6 over 5 steps.
PAIRS = {"pair_weight": 0.6, "pair_start": 1, "pair_ramp": 2}
PAIR_METRICS = {"loss_pairs", "pair_weight"}


@pytest.mark.parametrize("generator, options, expected", [
    ("feature-matching", {}, set()),
    ("cgan", PAIRS, {"loss_class", "fake_class_accuracy", *PAIR_METRICS}),
    ("cgan", {"diversity_weight": 0.1}, {"loss_class", "loss_diversity"}),
    ("infogan", {"tie_codes_to_labels": True, "q_categorical_input": "class_logits", **PAIRS},
     {"loss_q_categorical", "loss_q_continuous", "loss_q_labels", "loss_info", *PAIR_METRICS}),
    ("infogan", {"tie_codes_to_labels": True, **PAIRS},  # Q = the classifier: nothing to tie
     {"loss_q_categorical", "loss_q_continuous", "loss_info", *PAIR_METRICS}),
    ("infogan", PAIRS, {"loss_q_categorical", "loss_info", *PAIR_METRICS}),
    ("infogan", {"diversity_weight": 0.1}, {"loss_info", "loss_balance", "loss_diversity"}),
    ("cgan", {}, {"loss_class", "loss_diversity", "loss_critic", "loss_critic_realness"}),
    ("infogan", {"critic_weight": 0.5, "critic_hidden": [16]},
     {"loss_info", "loss_critic", "loss_critic_realness"}),
    ("minibatch", {}, {"fake_realness"}),
])
def test_a_few_training_steps_stay_finite(tiny_mnist, generator, options, expected):
    x_lab, y_lab, x_unl = tiny_mnist
    settings = get_objective(generator).harness_settings  # minibatch discrimination, ...
    config = TrainingConfig(generator=generator, generator_options=options, epochs=1,
                            steps_per_epoch=5, **TINY, **settings)
    trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    logs = trainer.log[-1]
    assert expected <= set(logs)
    if "pair_weight" in expected:  # the epoch's mean weight: the schedule follows the steps
        assert logs["pair_weight"] == pytest.approx(0.6 * (0 + 0 + 0.5 + 1 + 1) / 5,
                                                    rel=1e-5)
    for key, value in logs.items():
        assert np.isfinite(value), key
    assert all(np.all(np.isfinite(np.asarray(w))) for w in trainer.discriminator.get_weights())
    samples = trainer.generate(8, seed=1)
    assert samples.shape == (8, 784) and np.all(np.isfinite(samples))


@pytest.mark.parametrize("generator", ["cgan", "infogan"])
def test_the_mode_seeking_term_skips_a_batch_with_one_conditioned_row(generator):
    """Batch 5 with complement share 0.8: one row has a condition, so no pair and no term; the
    batch's loss is the loss without the term, not an error."""
    default, off = make_objective(generator, 10), make_objective(generator, 10,
                                                                 diversity_weight=0.0)
    assert default.diversity_weight == 1.0
    _, latent = default.sample(keras.random.SeedGenerator(0), 5)
    assert "varied" not in latent
    rng = np.random.default_rng(0)
    fake = {"logits": keras.ops.convert_to_tensor(rng.normal(size=(5, 10)).astype("float32")),
            "features": keras.ops.convert_to_tensor(rng.normal(size=(5, 4)).astype("float32")),
            "q": keras.ops.convert_to_tensor(rng.normal(size=(5, 12)).astype("float32")),
            "critic": keras.ops.convert_to_tensor(rng.normal(size=(5, 1)).astype("float32"))}
    real = {"features": keras.ops.convert_to_tensor(rng.normal(size=(3, 4)).astype("float32"))}
    loss, metrics = default.generator_loss(fake, real, latent)
    assert "loss_diversity" not in metrics and np.isfinite(float(loss))
    assert float(loss) == pytest.approx(float(off.generator_loss(fake, real, latent)[0]))


# ----------------------------------------------------------------- a user's own objective


class ToyObjective(Objective):
    """A plug-in defined in this file alone: a generator G(z, s) with a scalar code s ~ U(0, 1)
    (free: nothing ties it to brightness), trained by weighted feature matching."""

    name = "toy-brightness"
    label = "toy (brightness code)"
    metrics = (("brightness_correlation", "brightness correlation (%)"),)
    metric_note = "Toy: correlation of the brightness code with the samples' mean pixel."

    def __init__(self, n_classes, latent_dim=100, weight=1.0):
        super().__init__(n_classes, latent_dim)
        self.weight = float(weight)

    @property
    def condition_dims(self):
        return {"s": 1}

    def sample(self, seed_generator, batch_size):
        s = keras.random.uniform((batch_size, 1), seed=seed_generator)
        return [uniform_latent(seed_generator, batch_size, self.latent_dim), s], {"s": s}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        return self.weight * match_features(fake_outputs, real_outputs), {}

    def _inputs(self, s, seed=0):
        z = uniform_z(np.random.default_rng(seed), len(s), self.latent_dim)
        return [z, np.asarray(s, "float32").reshape(-1, 1)]

    def grids(self, seed=0):
        return [Grid("toy_brightness.png", self._inputs(np.linspace(0, 1, 8), seed), 1, 8,
                     None, [f"{v:.1f}" for v in np.linspace(0, 1, 8)])]

    def quality_metrics(self, generate, classify, n, seed=0):
        s = np.linspace(0.0, 1.0, n)
        brightness = generate(self._inputs(s, seed)).reshape(n, -1).mean(axis=1)
        return {"brightness_correlation": float(np.corrcoef(s, brightness)[0, 1])}


def test_objective_defaults_match_the_constructors(toy_objective):
    """Read from the source for built-ins, from the signature for a user's objective: either way
    what the constructor would take."""
    import inspect

    for name in OBJECTIVES:
        signature = inspect.signature(get_objective(name).__init__).parameters
        expected = {p: v.default for p, v in signature.items()
                    if p not in ("self", "n_classes", "latent_dim")}
        assert objective_defaults(name) == expected, name
    assert objective_defaults("feature-matching") == {}
    assert objective_defaults("cgan")["pair_start"] == 2000
    assert objective_defaults(toy_objective.name) == {"weight": 1.0}


@pytest.fixture
def toy_objective():
    register_objective(ToyObjective)
    yield ToyObjective
    del OBJECTIVES[ToyObjective.name]


def test_a_users_objective_trains_through_the_trainer(toy_objective, tiny_mnist, tmp_path):
    from ssgan.grids import save_sample_grids

    x_lab, y_lab, x_unl = tiny_mnist
    config = TrainingConfig(generator=toy_objective.name, epochs=1, steps_per_epoch=3,
                            generator_options={"weight": 0.5}, **TINY)
    trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert trainer.objective.weight == 0.5
    assert [tuple(x.shape[1:]) for x in trainer.generator.inputs] == [(16,), (1,)]
    paths = save_sample_grids(trainer, tmp_path, seed=0)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["samples.png", "toy_brightness.png"]
    values = trainer.objective.quality_metrics(trainer.generate_from_inputs,
                                               lambda images: np.zeros(len(images)), n=20)
    assert -1.0 <= values["brightness_correlation"] <= 1.0


def test_a_users_objective_trains_through_the_command_line(toy_objective, tmp_path, capsys):
    run = tmp_path / "run"
    assert fit.main(["--generator", toy_objective.name, "--epochs", "1", "--steps-per-epoch",
                     "2", "--batch-size", "20", "--discriminator-hidden", "32,16",
                     "--generator-hidden", "32", "--labeled", "20", "--verbose", "0",
                     "--generator-option", "weight=0.2", "--out", str(run)]) == 0
    assert "Test accuracy: " in capsys.readouterr().out
    for name in ("samples.png", "toy_brightness.png", "metrics.jsonl", "checkpoint"):
        assert (run / name).exists(), name
    saved = json.loads((run / "config.json").read_text())
    assert saved["training"]["generator"] == toy_objective.name
    assert saved["training"]["generator_options"] == {"weight": 0.2}
