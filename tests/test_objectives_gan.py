"""The paper's minibatch-discrimination model (`ssgan.objectives.gan`): the generator's GAN loss
on hand-computed values, its registration and the harness's settings for it."""

import math

import keras
import numpy as np
import pytest
from conftest import as_numpy as _np

from ssgan.objectives import OBJECTIVES, MinibatchGANObjective, make_objective

LATENT = 8


def _t(x, dtype="float32"):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype=dtype))


def test_registered_with_the_paper_settings():
    assert "minibatch" in OBJECTIVES and OBJECTIVES["minibatch"] is MinibatchGANObjective
    objective = make_objective("minibatch", 10, latent_dim=LATENT)
    assert objective.label == "minibatch discrimination (GAN loss)"
    assert objective.harness_settings["minibatch_discrimination"] is True
    assert objective.condition_dims == {} and objective.class_inputs([0, 1]) is None
    with pytest.raises(ValueError, match="its options: non_saturating"):
        make_objective("minibatch", 10, class_weight=1.0)


def test_generator_loss_is_the_reference_minimax_loss():
    """loss_gen = −mean(softplus(logsumexp l(G(z)))), as in train_mnist_minibatch.py: the mean
    of log(1 − D(G(z)))."""
    objective = MinibatchGANObjective(3, latent_dim=LATENT)
    # Row 1: Z = 1 + 3 + e^−30 ≈ 4, D = 4/5; row 2: Z = 3, D = 3/4.
    fake = {"logits": _t([[0.0, math.log(3.0), -30.0], [0.0, 0.0, 0.0]]),
            "features": _t(np.zeros((2, 4)))}
    real = {"features": _t(np.ones((2, 4)))}  # not used: no feature matching
    loss, metrics = objective.generator_loss(fake, real, {})
    assert float(loss) == pytest.approx(0.5 * (math.log(1 / 5) + math.log(1 / 4)), rel=1e-5)
    assert float(metrics["fake_realness"]) == pytest.approx(0.5 * (4 / 5 + 3 / 4), rel=1e-5)
    loss, _ = MinibatchGANObjective(3, non_saturating=True).generator_loss(fake, real, {})
    assert float(loss) == pytest.approx(-0.5 * (math.log(4 / 5) + math.log(3 / 4)), rel=1e-5)
    # The discriminator's loss is the plain K+1 one.
    d_loss, d_metrics = objective.discriminator_loss(fake, {}, fake, _t([0, 1], "int32"),
                                                     step=_t(5, "int32"))
    assert float(d_loss) == 0.0 and d_metrics == {}


def test_sample_is_uniform_noise():
    z, latent = MinibatchGANObjective(10, latent_dim=LATENT).sample(keras.random.SeedGenerator(0),
                                                                    500)
    z = _np(z)
    assert z.shape == (500, LATENT) and latent == {}
    assert z.min() >= 0 and z.max() <= 1 and abs(z.mean() - 0.5) < 0.05
