"""The pure training step: it only maps a state to a new one; its pieces; backend parity."""

import json

import numpy as np
import pytest
from conftest import run_python, small_config

from ssgan.train import SemiSupervisedGAN, TrainingConfig
from ssgan.train import step as steps
from ssgan.train.state import flatten


def _set_up(mnist_subset, **overrides):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))
    data = trainer.device_data(x_lab, y_lab, x_unl)
    rng = np.random.default_rng(0)
    indices = {"labeled": rng.integers(0, len(x_lab), 50).astype("int32"),
               "unlabeled": rng.integers(0, len(x_unl), 50).astype("int32"),
               "unlabeled_2": rng.integers(0, len(x_unl), 50).astype("int32")}
    return trainer, data, indices


def test_the_step_is_a_pure_function_of_the_state(mnist_subset):
    trainer, data, indices = _set_up(mnist_subset, historical_averaging=0.01, epochs=1)
    before = {k: np.array(v) for k, v in flatten(trainer.state).items()}
    first, metrics = trainer.train_step(trainer.state, data, indices)
    again, _ = trainer.train_step(trainer.state, data, indices)
    for key, value in flatten(trainer.state).items():  # the input state is untouched
        np.testing.assert_array_equal(np.asarray(value), before[key])
    for key, value in flatten(first).items():  # the same inputs, the same new state
        np.testing.assert_array_equal(np.asarray(value), np.asarray(flatten(again)[key]))
    assert int(np.asarray(first.step)) == 1
    assert not np.array_equal(np.asarray(first.latent_seed), before["latent_seed"])
    assert set(metrics) == {"loss_supervised", "loss_unsupervised", "train_error",
                            "loss_generator"}
    assert all(np.asarray(v).dtype == np.float32 for v in metrics.values())
    # Historical averaging: the running mean of one step's parameters is those parameters.
    np.testing.assert_allclose(np.asarray(first.d_history[0]), np.asarray(first.d_trainable[0]),
                               rtol=1e-6)


def test_entropy_and_consistency_terms_add_their_weighted_values(mnist_subset):
    """Each term adds weight × its value to the discriminator's loss; with the noise off the two
    passes of the consistency term agree (0); with it on they differ."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    z = np.random.default_rng(1).uniform(size=(50, 100)).astype("float32")
    args = (x_lab[:50], y_lab[:50], x_unl[:50], x_unl[50:100], z)

    def losses(training=False, **weights):
        trainer, _, _ = _set_up(mnist_subset, **weights)
        return trainer.compute_losses(*args, training=training)

    plain = losses()
    assert "loss_entropy" not in plain and "loss_consistency" not in plain
    entropy = losses(entropy_weight=0.5)
    assert 0 < entropy["loss_entropy"] <= np.log(10) + 1e-6
    assert entropy["discriminator"] == pytest.approx(
        plain["discriminator"] + 0.5 * entropy["loss_entropy"], rel=1e-5)
    consistency = losses(consistency_weight=2.0)
    # the same rows twice: equal up to the rounding of rows placed apart in one matmul
    assert consistency["loss_consistency"] == pytest.approx(0.0, abs=1e-12)
    assert consistency["discriminator"] == pytest.approx(plain["discriminator"], rel=1e-6)
    assert losses(training=True, consistency_weight=2.0)["loss_consistency"] > 0


def test_distribution_alignment_keeps_a_running_mean_of_the_predictions(mnist_subset):
    """Off, the state has no mean prediction; on, it starts uniform and moves towards the
    batch's mean prediction at ALIGNMENT_RATE, and the step reports the imbalance it sees."""
    trainer, data, indices = _set_up(mnist_subset, consistency_weight=1.0)
    assert trainer.state.mean_prediction == []
    _, metrics = trainer.train_step(trainer.state, data, indices)
    assert "prediction_imbalance" not in metrics
    trainer, data, indices = _set_up(mnist_subset, consistency_weight=1.0,
                                     distribution_alignment=True)
    start = np.asarray(trainer.state.mean_prediction[0])
    np.testing.assert_allclose(start, np.full(10, 0.1), rtol=1e-6)
    first, metrics = trainer.train_step(trainer.state, data, indices)
    moved = np.asarray(first.mean_prediction[0])
    assert moved.sum() == pytest.approx(1.0, rel=1e-5)
    step = np.abs(moved - start)
    assert 0 < step.max() <= steps.ALIGNMENT_RATE * 0.9 + 1e-7  # (p − 0.1) · rate, p ≤ 1
    assert float(np.asarray(metrics["prediction_imbalance"])) == pytest.approx(
        moved.max() / moved.min(), rel=1e-5)
    assert "batch_prediction" not in metrics


def test_class_shares_are_the_labels_shares():
    trainer = SemiSupervisedGAN((28, 28, 1), 4, small_config())
    np.testing.assert_allclose(trainer.class_shares([0, 0, 1, 3]), [0.5, 0.25, 0.0, 0.25])
    assert trainer.class_shares([2]).dtype == np.float32


def test_the_step_schedules_the_objectives_terms_by_its_count(mnist_subset):
    """The state's step count reaches the objective: CGAN's generated-pair term is off at step
    0 and on (full weight, no ramp) from step 1."""
    options = {"pair_weight": 0.5, "pair_start": 1, "pair_ramp": 0}
    trainer, data, indices = _set_up(mnist_subset, generator="cgan", generator_options=options)
    first, metrics = trainer.train_step(trainer.state, data, indices)
    assert float(np.asarray(metrics["pair_weight"])) == 0.0
    assert float(np.asarray(metrics["loss_pairs"])) > 0
    _, metrics = trainer.train_step(first, data, indices)
    assert float(np.asarray(metrics["pair_weight"])) == 0.5


def test_objectives_without_the_step_argument_still_work():
    """A user's objective written before `step` and `unlabeled_outputs` existed gets the old call;
    one that takes them (or **kwargs) gets them."""
    seen = {}

    class Old:
        def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
            return 1.0, {}

    class New:
        def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels, **extra):
            seen.update(extra)
            return 2.0, {}

    assert steps.objective_discriminator_loss(Old(), {}, {}, {}, None, step=7) == (1.0, {})
    unlabeled = {"logits": np.zeros((2, 10), "float32")}
    assert steps.objective_discriminator_loss(
        New(), {}, {}, {}, None, step=7, unlabeled_outputs=unlabeled) == (2.0, {})
    assert seen == {"step": 7, "unlabeled_outputs": unlabeled}


def test_moving_average_formula():
    average = steps.moving_average([np.float32(1.0)], [np.float32(3.0)], 0.25)
    assert float(average[0]) == pytest.approx(1.5)


def test_batches_go_through_together_or_apart_with_the_same_result(mnist_subset):
    trainer, data, indices = _set_up(mnist_subset)
    state, model = trainer.state, trainer.model
    batches = [np.asarray(data["x_unlabeled"])[:7], np.asarray(data["x_unlabeled"])[7:20]]
    together, _ = steps.discriminate(model, state.d_trainable, state.d_non_trainable, batches,
                                     training=False)
    apart, _ = steps.discriminate(model._replace(batch_coupled=True), state.d_trainable,
                                  state.d_non_trainable, batches, training=False)
    for a, b in zip(together, apart):
        assert a["logits"].shape == b["logits"].shape
        np.testing.assert_allclose(np.asarray(a["logits"]), np.asarray(b["logits"]), rtol=1e-5,
                                   atol=1e-5)


_PARITY_SCRIPT = """
import json, sys
import numpy as np
from ssgan.train import SemiSupervisedGAN, TrainingConfig
config = TrainingConfig.from_dict(json.loads(sys.argv[1]))
trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
trainer.load_checkpoint(sys.argv[2])
inputs = np.load(sys.argv[3])
losses = trainer.compute_losses(inputs["x_lab"], inputs["y_lab"], inputs["x_unl"],
                                inputs["x_unl2"], inputs["z"])
print("RESULT " + json.dumps(losses))
"""


def test_tensorflow_and_jax_compute_the_same_losses(mnist_subset, tmp_path):
    """Same weights, same inputs: the two backends' losses agree to 1e-5."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    config = TrainingConfig(epochs=1, steps_per_epoch=3, seed=11)  # the paper's full-size pair
    trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)  # a few real updates: not just initial weights
    trainer.save_checkpoint(tmp_path / "checkpoint")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "inputs.npz", x_lab=x_lab, y_lab=y_lab, x_unl=x_unl[:100],
             x_unl2=x_unl[100:200], z=rng.uniform(size=(100, 100)).astype("float32"))
    results = {
        backend: run_python(_PARITY_SCRIPT, json.dumps(config.to_dict()),
                            tmp_path / "checkpoint", tmp_path / "inputs.npz", backend=backend)
        for backend in ("tensorflow", "jax")
    }
    tf_losses, jax_losses = results["tensorflow"], results["jax"]
    assert set(tf_losses) == set(jax_losses)
    for key in ("discriminator", "generator", "loss_supervised", "loss_unsupervised",
                "loss_generator"):
        assert jax_losses[key] == pytest.approx(tf_losses[key], rel=1e-5, abs=1e-5), key
