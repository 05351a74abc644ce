"""Evaluation from the training state on the device (`ssgan.train.evaluation`): the same error as
the synced Keras model's, the debiased average, the fallback for batch-coupled discriminators,
and models synced only when used."""

import numpy as np
import pytest
from conftest import TINY, small_config

from ssgan.backends import get_backend
from ssgan.train import SemiSupervisedGAN, TrainingConfig
from ssgan.train import evaluation


def _fitted(mnist_subset, epochs=2, **overrides):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, small_config(
        epochs=epochs, steps_per_epoch=5, ema_rate=0.2, **overrides))
    trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    return trainer


def test_the_state_error_is_the_synced_models_error(mnist_subset):
    *_, x_test, y_test = mnist_subset
    trainer = _fitted(mnist_subset)
    logged = [entry["test_error"] for entry in trainer.log]
    # Measured after each epoch from the state, without the Keras models:
    assert trainer._stale_models
    # and equal to the error of the synced model (its debiased moving average), to the example.
    assert trainer.evaluate(x_test, y_test) == logged[-1]
    assert not trainer._stale_models
    predicted = np.argmax(trainer.predict_logits(x_test), axis=-1)
    assert trainer.state_evaluator.error(trainer.state, x_test, y_test) == np.mean(
        predicted != y_test)
    assert 0.0 < logged[-1] < 0.9 and logged[0] != logged[-1]


def test_count_errors_counts_the_rows_not_of_their_class(mnist_subset):
    """On a hand-made case: the averaged weights divided by their debiasing divisor."""
    *_, x_test, y_test = mnist_subset
    trainer = _fitted(mnist_subset, epochs=1)
    backend = trainer.backend
    x, y = x_test[:40], y_test[:40]
    predicted = np.argmax(trainer.predict_logits(x), axis=-1)
    wrong = predicted != y
    count = evaluation.count_errors(
        trainer.model.discriminator, [backend.to_device(w) for w in trainer.evaluation_weights()],
        trainer.state.d_non_trainable, backend.to_device(np.float32(1.0)),
        (backend.to_device(trainer.as_inputs(x)), backend.to_device(y.astype("int32"))))
    assert int(backend.to_numpy(count)) == int(wrong.sum())
    # Every label changed to one the model does not predict: every row is an error.
    other = ((predicted + 1) % 10).astype("int32")
    count = evaluation.count_errors(
        trainer.model.discriminator, trainer.state.ema, trainer.state.d_non_trainable,
        backend.to_device(np.float32(1 - 0.8**5)),
        (backend.to_device(trainer.as_inputs(x)), backend.to_device(other)))
    assert int(backend.to_numpy(count)) == 40


def test_a_batch_coupled_discriminator_is_evaluated_through_its_model(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig(
        **TINY, minibatch_discrimination=True, epochs=1, steps_per_epoch=3))
    trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test[:200], y_test[:200]), verbose=0)
    assert not trainer.state_evaluator.on_device
    assert trainer.log[-1]["test_error"] == trainer.evaluate(x_test[:200], y_test[:200])
    with pytest.raises(ValueError, match="couples the examples of a batch"):
        trainer.state_evaluator.errors(trainer.state, x_test[:200], y_test[:200])


def test_models_are_synced_on_first_use_after_training(mnist_subset):
    trainer = _fitted(mnist_subset, epochs=1)
    assert trainer._stale_models
    for variable, value in zip(trainer.discriminator.trainable_variables,
                               trainer.evaluation_weights()):
        np.testing.assert_array_equal(np.asarray(variable), value)
    assert not trainer._stale_models
    trainer._stale_models = True
    for variable, value in zip(trainer.generator.trainable_variables,
                               trainer.sampling_weights()):
        np.testing.assert_array_equal(np.asarray(variable), value)


def test_deferred_state_is_taken_when_read(mnist_subset):
    trainer = _fitted(mnist_subset, epochs=1)
    state, calls = trainer.state, []

    def source():
        calls.append(1)
        return state

    trainer.defer_state(source)
    assert calls == [] and trainer._stale_models
    assert trainer.state is state and trainer.state is state and calls == [1]
    trainer.defer_state(source)
    trainer.state = state  # set explicitly: the pending source is dropped
    assert trainer.state is state and calls == [1]


def test_several_runs_in_one_call_need_jax():
    backend = get_backend()
    if backend.__name__.endswith("jax_backend"):
        pytest.skip("the suite's backend vectorizes (tests/test_train_seed_group.py)")
    with pytest.raises(NotImplementedError, match="needs the JAX backend"):
        backend.compile_function(lambda a, b: a, in_axes=(0, None))
