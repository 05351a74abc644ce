"""Moving averages of weights: the debiasing on hand-computed cases, and batch norm's statistics
set anew for the averaged generator."""

import keras
import numpy as np
import pytest
from conftest import TINY
from conftest import small_config

from ssgan.train import SemiSupervisedGAN
from ssgan.train import averaging


def test_correction_and_the_debiased_average_on_hand_computed_cases():
    assert averaging.correction(0.1, 4) == pytest.approx(1 - 0.9**4)  # 0.3439
    assert averaging.correction(0.1, 4, debias=False) == 1.0
    assert averaging.correction(0.1, 0) == 1.0
    # One step from zero at rate 0.1 holds 0.1 · w: debiased, w itself.
    (got,) = averaging.current([np.zeros(2)], [np.array([0.1, -0.2])], 0.1, 1)
    np.testing.assert_allclose(got, [1.0, -2.0])


def test_current_is_the_weights_until_there_is_an_average_then_the_average_debiased():
    params, average = [np.array([3.0])], [np.array([0.1])]
    np.testing.assert_allclose(averaging.current(params, [], 0.1, 5)[0], [3.0])  # none kept
    np.testing.assert_allclose(averaging.current(params, average, 0.1, 0)[0], [3.0])  # step 0
    np.testing.assert_allclose(averaging.current(params, average, 0.1, 1)[0], [1.0])
    np.testing.assert_allclose(averaging.current(params, average, 0.1, 1, debias=False)[0], [0.1])


def test_batch_norm_statistics_are_those_of_the_averaged_generator(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, small_config(
        **TINY, vbn=False, generator_ema=True, epochs=1, steps_per_epoch=3, ema_rate=0.2))
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    layers = averaging.batch_norm_layers(trainer.generator)
    assert layers and all(layer.momentum == 0.9 for layer in layers)  # restored
    got = [(np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)) for layer in layers]
    # The state's statistics (of the last weights) are left as they were.
    state_stats = [np.asarray(v) for v in trainer.state.g_non_trainable]
    assert not any(np.allclose(got[0][0], s) for s in state_stats if s.shape == got[0][0].shape)

    # By hand: each layer's input over the same seeded batches, in training mode.
    seed = keras.random.SeedGenerator(averaging.RECALIBRATION_SEED)
    batches = [trainer.objective.sample(seed, trainer.config.batch_size)[0]
               for _ in range(averaging.RECALIBRATION_BATCHES)]
    for layer, (mean, variance) in zip(layers, got):
        before = keras.Model(trainer.generator.inputs, layer.input)
        h = [np.asarray(before(inputs, training=True)) for inputs in batches]
        np.testing.assert_allclose(mean, np.mean([a.mean(axis=0) for a in h], axis=0),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(variance, np.mean([a.var(axis=0) for a in h], axis=0),
                                   rtol=1e-4, atol=1e-5)


def test_batch_norm_is_recalibrated_once_when_sampled_not_every_epoch(mnist_subset, monkeypatch):
    """Epochs only mark the statistics stale; the first use of the generator draws them, once."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    calls = []
    recalibrate = averaging.recalibrate_batch_norm
    monkeypatch.setattr(averaging, "recalibrate_batch_norm",
                        lambda *args: calls.append(1) or recalibrate(*args))
    trainer = SemiSupervisedGAN((28, 28, 1), 10, small_config(
        **TINY, vbn=False, epochs=3, steps_per_epoch=2))
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert calls == []
    first = trainer.generate(4, seed=2)
    np.testing.assert_array_equal(first, trainer.generate(4, seed=2))
    assert calls == [1]
