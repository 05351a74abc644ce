"""The critic of the complement-row objectives (`ComplementObjective.critic_weight`): a real/fake
head of its own for the rows with a condition, its losses on hand-computed values, the K+1 term's
fakes, its options, and that it shares no layer with the classifier."""

import keras
import numpy as np
import pytest
from conftest import as_numpy

from ssgan.backends import get_backend
from ssgan.models.mlp import build_mlp_discriminator
from ssgan.objectives import make_objective
from ssgan.train import step as steps

LATENT = 8


def _softplus(x):
    return np.log1p(np.exp(x))


def _outputs(rng, rows, n_classes=10, critic=True):
    outputs = {"logits": rng.normal(size=(rows, n_classes)).astype("float32"),
               "features": rng.normal(size=(rows, 4)).astype("float32")}
    if critic:
        outputs["critic"] = rng.normal(size=(rows, 1)).astype("float32")
    return {k: keras.ops.convert_to_tensor(v) for k, v in outputs.items()}


@pytest.mark.parametrize("generator", ["cgan", "infogan"])
def test_the_critic_losses_on_hand_computed_values(generator):
    objective = make_objective(generator, 10, latent_dim=LATENT, critic_weight=0.5,
                               diversity_weight=0.0)
    _, latent = objective.sample(keras.random.SeedGenerator(0), 10)  # 8 complement rows, 2 not
    rng = np.random.default_rng(0)
    fake, real = _outputs(rng, 10), _outputs(rng, 6)
    critic_fake, critic_real = as_numpy(fake["critic"])[8:, 0], as_numpy(real["critic"])[:, 0]
    loss, metrics = objective.critic_discriminator_loss(fake, real, latent)
    expected = 0.5 * _softplus(-critic_real).mean() + 0.5 * _softplus(critic_fake).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["loss_critic"]) == pytest.approx(expected, rel=1e-5)
    loss, metrics = objective.critic_generator_loss(fake, latent)
    realness = _softplus(-critic_fake).mean()
    assert float(metrics["loss_critic_realness"]) == pytest.approx(realness, rel=1e-5)
    assert float(loss) == pytest.approx(0.5 * realness, rel=1e-5)
    # The K+1 real/fake term counts the complement rows only.
    kept = as_numpy(objective.classifier_fakes(fake, latent))
    np.testing.assert_array_equal(kept, as_numpy(fake["logits"])[:8])
    np.testing.assert_array_equal(as_numpy(steps.fake_logits(objective, fake, latent)), kept)


@pytest.mark.parametrize("generator", ["cgan", "infogan"])
def test_the_critic_is_on_by_default(generator):
    objective = make_objective(generator, 10, latent_dim=LATENT)
    assert objective.critic_weight == 1.0
    model = build_mlp_discriminator(784, 10, hidden_units=(8,), extra_heads=(
        objective.discriminator_heads), seed=0)
    assert "critic" in model.output


@pytest.mark.parametrize("generator", ["cgan", "infogan"])
def test_without_the_critic_nothing_changes(generator):
    objective = make_objective(generator, 10, latent_dim=LATENT, critic_weight=0.0)
    assert objective.critic_weight == 0.0
    _, latent = objective.sample(keras.random.SeedGenerator(0), 10)
    rng = np.random.default_rng(1)
    fake, real = _outputs(rng, 10, critic=False), _outputs(rng, 6, critic=False)
    assert float(objective.critic_discriminator_loss(fake, real, latent)[0]) == 0.0
    assert objective.critic_generator_loss(fake, latent)[1] == {}
    np.testing.assert_array_equal(as_numpy(objective.classifier_fakes(fake, latent)),
                                  as_numpy(fake["logits"]))
    model = build_mlp_discriminator(784, 10, hidden_units=(8,), extra_heads=(
        objective.discriminator_heads), seed=0)
    assert "critic" not in model.output


def test_the_critic_shares_no_layer_with_the_classifier():
    """The classifier's logits do not move with the critic's weights, nor the critic's output
    with the classifier's: the gradient of each through the other's variables is zero."""
    objective = make_objective("cgan", 10, latent_dim=LATENT, critic_weight=1.0,
                               critic_hidden=(6, 5))
    model = build_mlp_discriminator(784, 10, hidden_units=(8, 7), input_shift=0,
                                    extra_heads=objective.discriminator_heads, seed=0)
    x = np.random.default_rng(0).uniform(size=(4, 784)).astype("float32")
    out = model(x)
    assert tuple(out["critic"].shape) == (4, 1)
    critic = [v for v in model.trainable_variables if v.path.startswith("critic")]
    assert len(critic) == 2 * 3  # three dense layers
    assert [tuple(v.shape) for v in critic[::2]] == [(784, 6), (6, 5), (5, 1)]
    other = [v for v in model.trainable_variables if not v.path.startswith("critic")]

    def grads_of(name, which):
        def total(values):
            with keras.StatelessScope(state_mapping=list(zip(which, values))):
                return keras.ops.sum(model(x, training=False)[name]), {}
        values = [keras.ops.convert_to_tensor(v.value) for v in which]
        return get_backend().value_and_grad(total)(values)[1]

    for grad in grads_of("logits", critic):
        assert grad is None or float(np.abs(as_numpy(grad)).max()) == 0.0
    for grad in grads_of("critic", other):
        assert grad is None or float(np.abs(as_numpy(grad)).max()) == 0.0
    # The check can fail: each head does move with its own weights.
    assert float(np.abs(as_numpy(grads_of("critic", critic)[-2])).max()) > 0.0


def test_the_critic_options_are_checked():
    for options, match in (({"critic_weight": -1.0}, "critic_weight must be ≥ 0"),
                           ({"critic_weight": 1.0, "critic_hidden": ()}, "critic_hidden"),
                           ({"critic_weight": 1.0, "critic_hidden": (4, 0)}, "critic_hidden")):
        for generator in ("cgan", "infogan"):
            with pytest.raises(ValueError, match=match):
                make_objective(generator, 10, **options)
    assert make_objective("cgan", 10, critic_weight=1.0, critic_hidden=32).critic_hidden == (32,)
    with pytest.raises(ValueError, match="needs an architecture"):
        make_objective("cgan", 10, critic_weight=1.0).discriminator_heads(None, None)


def test_without_complement_rows_every_row_stays_a_fake_of_the_classifier():
    objective = make_objective("cgan", 10, latent_dim=LATENT, complement_share=0.0)
    _, latent = objective.sample(keras.random.SeedGenerator(0), 6)
    fake = _outputs(np.random.default_rng(2), 6)
    np.testing.assert_array_equal(as_numpy(objective.classifier_fakes(fake, latent)),
                                  as_numpy(fake["logits"]))
    assert float(objective.critic_generator_loss(fake, latent)[0]) > 0.0
