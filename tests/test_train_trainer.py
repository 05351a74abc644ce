"""`SemiSupervisedGAN`: a short run that learns, the averaged weights, predictions, generation,
the conv pair, the generator's VBN reference, and its interface to Keras callbacks."""

import keras
import numpy as np
import pytest
from conftest import small_config

from ssgan.train import SemiSupervisedGAN, TrainingConfig


def _trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))


def test_short_run_learns(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=3, steps_per_epoch=40, ema_rate=0.05)
    trainer.initialize(x_unl)
    before = trainer.evaluate(x_test, y_test)
    history = trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    log = trainer.log
    assert len(log) == 3 and [e["epoch"] for e in log] == [1, 2, 3]
    # The Keras History of the call holds the same values, epoch by epoch.
    assert history is trainer.history and history.epoch == [0, 1, 2]
    assert history.history["test_error"] == [e["test_error"] for e in log]
    # From chance to clearly learned: 100 labels give an MLP well over 50% on MNIST.
    assert before > 0.7
    assert log[-1]["test_error"] < 0.4
    assert log[-1]["loss_supervised"] < 0.5 * log[0]["loss_supervised"]
    for logs in log:
        assert np.isfinite(logs["loss_generator"]) and np.isfinite(logs["loss_unsupervised"])
        assert logs["seconds"] > 0


def test_resolved_config_fills_every_derived_setting(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=2)
    trainer.initialize(x_unl)
    resolved = trainer.resolved
    assert resolved.steps_per_epoch == len(x_unl) // 50 == 60
    assert resolved.steps_per_call == 60 and resolved.lr_decay_start == 1
    assert resolved.ema_rate == pytest.approx(10 / 120)
    assert (resolved.generator_learning_rate, resolved.generator_beta_1) == (0.003, 0.5)
    assert trainer.config.steps_per_epoch is None  # the user's settings stay as given


def test_moving_average_is_debiased(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=4, ema_rate=0.1)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    raw_ema = [np.asarray(e) for e in trainer.state.ema]
    correction = 1 - 0.9**4
    for got, ema in zip(trainer.evaluation_weights(), raw_ema):
        np.testing.assert_allclose(got, ema / correction, rtol=1e-6)
    # The synced discriminator holds exactly these weights.
    for variable, value in zip(trainer.discriminator.trainable_variables,
                               trainer.evaluation_weights()):
        np.testing.assert_allclose(np.asarray(variable), value, rtol=1e-6)


def test_generator_average_samples_without_changing_training(mnist_subset):
    """With `generator_ema` the generator samples from the debiased moving average of its
    weights (after one step: exactly those weights), and every weight that trains is as
    without it."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    options = dict(epochs=1, ema_rate=0.1, seed=3)
    one_step = _trainer(steps_per_epoch=1, **options)  # on by default
    one_step.fit(x_lab, y_lab, x_unl, verbose=0)
    for got, last in zip(one_step.sampling_weights(), one_step.state.g_trainable):
        np.testing.assert_allclose(got, np.asarray(last), rtol=1e-5, atol=1e-7)

    averaged = _trainer(steps_per_epoch=4, generator_ema=True, **options)
    averaged.fit(x_lab, y_lab, x_unl, verbose=0)
    plain = _trainer(steps_per_epoch=4, generator_ema=False, **options)
    plain.fit(x_lab, y_lab, x_unl, verbose=0)
    assert plain.state.g_ema == [] and len(averaged.state.g_ema) == len(plain.state.g_trainable)
    for key in ("d_trainable", "g_trainable", "ema"):
        for a, b in zip(getattr(averaged.state, key), getattr(plain.state, key)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    correction = 1 - 0.9**4
    for got, ema, variable in zip(averaged.sampling_weights(), averaged.state.g_ema,
                                  averaged.generator.trainable_variables):
        np.testing.assert_allclose(got, np.asarray(ema) / correction, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(variable), got, rtol=1e-6)  # synced
    for variable, last in zip(plain.generator.trainable_variables, plain.state.g_trainable):
        np.testing.assert_array_equal(np.asarray(variable), np.asarray(last))
    assert not np.allclose(averaged.generate(5, seed=1), plain.generate(5, seed=1))


def test_generate_and_predict_shapes(mnist_subset):
    x_lab, y_lab, x_unl, x_test, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    samples = trainer.generate(7, seed=1)
    assert samples.shape == (7, 784)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    np.testing.assert_array_equal(samples, trainer.generate(7, seed=1))  # seeded
    logits = trainer.predict_logits(x_test[:123])
    assert logits.shape == (123, 10)
    # Padding the last batch must not change any prediction.
    np.testing.assert_allclose(logits[:50], trainer.predict_logits(x_test[:50]), rtol=1e-5,
                               atol=1e-5)
    z = np.random.default_rng(0).uniform(size=(3, 100)).astype("float32")
    assert trainer.generate_from_inputs(z).shape == (3, 28, 28, 1)


def test_generate_given_labels(mnist_subset):
    """A conditional generator samples the classes asked for (one for all, or one each),
    seeded; an unconditional one, or labels out of range, are one-line errors."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2, generator="cgan")
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    plain = trainer.generate(4, seed=1)
    threes = trainer.generate(4, seed=1, labels=3)
    assert threes.shape == plain.shape == (4, 784) and threes.dtype == np.float32
    np.testing.assert_array_equal(threes, trainer.generate(4, seed=1, labels=[3, 3, 3, 3]))
    mixed = trainer.generate(4, seed=1, labels=np.array([3, 7, 3, 7]))
    np.testing.assert_array_equal(mixed[[0, 2]], threes[[0, 2]])  # the same z, the same class
    # Without labels: every row with a class drawn at random, none of the complement rows.
    drawn = [keras.ops.convert_to_numpy(a) for a in
             trainer.objective.generation_inputs(keras.random.SeedGenerator(1), 4)]
    np.testing.assert_array_equal(drawn[1].sum(axis=1), 1.0)
    np.testing.assert_allclose(plain, trainer.generate_from_inputs(drawn).reshape(plain.shape),
                               rtol=1e-6, atol=1e-6)
    assert not np.array_equal(mixed[1], threes[1])
    for bad in ([3, 7], 10, -1, [0.5] * 4):
        with pytest.raises(ValueError, match=r"labels must be an int or 4 ints in \[0, 10\)"):
            trainer.generate(4, labels=bad)
    unconditional = _trainer(epochs=1, steps_per_epoch=2)
    unconditional.fit(x_lab, y_lab, x_unl, verbose=0)
    with pytest.raises(ValueError, match="'feature-matching' generator takes no class"):
        unconditional.generate(4, labels=3)


def test_conv_architecture_with_minibatch_discrimination_and_vbn_trains(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig(
        architecture="conv", discriminator_hidden=(8, 16), generator_hidden=(16, 8),
        minibatch_discrimination=True, vbn=True, epochs=1, steps_per_epoch=3, batch_size=20,
    ))
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert trainer.epoch == 1 and trainer.model.batch_coupled
    assert trainer.generate(5).shape == (5, 28, 28, 1)
    assert np.isfinite(trainer.log[-1]["loss_generator"])


def test_vbn_generator_reference_is_drawn_from_the_latent_distribution(mnist_subset):
    """A conditional generator's reference batch is drawn as its training batches are: real
    one-hot classes, not uniform noise, after the complement rows' zero conditions."""
    from ssgan.objectives.base import complement_size

    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(generator="cgan", vbn=True, epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    classes = np.asarray(trainer.generator.get_layer("reference_y").reference)
    free = complement_size(len(classes), trainer.objective.complement_share)
    assert 0 < free < len(classes)  # the default share makes both kinds of row
    np.testing.assert_array_equal(classes[:free], 0.0)
    np.testing.assert_array_equal(classes[free:].sum(axis=1), 1.0)
    assert set(np.unique(classes[free:])) == {0.0, 1.0}
    z = np.asarray(trainer.generator.get_layer("reference_z").reference)
    assert z.min() >= 0.0 and z.max() <= 1.0 and z.std() > 0.2


def test_get_and_set_weights_round_trip_the_whole_state(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=2, steps_per_epoch=3)
    trainer.fit(x_lab, y_lab, x_unl, epochs=1, verbose=0)
    saved = trainer.get_weights()
    error = trainer.evaluate(x_test, y_test)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)  # epoch 2 moves every array
    assert not np.array_equal(trainer.get_weights()[0], saved[0])
    trainer.set_weights(saved)
    for got, want in zip(trainer.get_weights(), saved):
        np.testing.assert_array_equal(got, want)
    assert trainer.evaluate(x_test, y_test) == error  # the models were synced
    with pytest.raises(ValueError, match="arrays"):
        trainer.set_weights(saved[:-1])


def test_a_second_fit_with_other_data_sizes_is_refused(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=2)
    trainer.fit(x_lab, y_lab, x_unl[:500], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="set up for 10 steps per epoch"):
        trainer.fit(x_lab, y_lab, x_unl, verbose=0)
