"""Training: batch schedule, a short run that learns, checkpoint/resume, NaN handling, backend parity."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ssgan.data import load_dataset, scale_images, semi_supervised_split
from ssgan.training import (
    SemiSupervisedGAN,
    TrainingConfig,
    TrainingDivergedError,
    epoch_indices,
)

SMALL = dict(discriminator_hidden=(200, 100, 100), generator_hidden=(100, 100), batch_size=50)


@pytest.fixture(scope="module")
def mnist_subset():
    """100 labeled (10 per class), 3000 unlabeled and 2000 test MNIST images, flat in [0, 1]."""
    (x_train, y_train), (x_test, y_test) = load_dataset("mnist")
    x_train, x_test = scale_images(x_train), scale_images(x_test)
    pool = np.random.default_rng(0).permutation(len(x_train))[:3000]
    split = semi_supervised_split(y_train[pool], 100, seed=0)
    labeled = pool[split.labeled]
    return (x_train[labeled], y_train[labeled], x_train[pool], x_test[:2000], y_test[:2000])


def _trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig(**{**SMALL, **overrides}))


def test_epoch_indices_tile_the_labeled_set_and_cover_the_unlabeled_set():
    idx = epoch_indices(seed=3, epoch=1, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    assert {k: v.shape for k, v in idx.items()} == {
        "labeled": (10, 50), "unlabeled": (10, 50), "unlabeled_2": (10, 50)
    }
    labeled = idx["labeled"].ravel()
    for block in labeled.reshape(-1, 20):  # consecutive reshuffles of the labeled set
        assert sorted(block) == list(range(20))
    assert sorted(idx["unlabeled"].ravel()) == list(range(500))
    assert not np.array_equal(idx["unlabeled"], idx["unlabeled_2"])
    again = epoch_indices(seed=3, epoch=1, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    other = epoch_indices(seed=3, epoch=2, n_labeled=20, n_unlabeled=500, steps=10, batch_size=50)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)
    assert not np.array_equal(idx["unlabeled"], other["unlabeled"])


def test_short_run_learns(mnist_subset):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = _trainer(epochs=3, steps_per_epoch=40, ema_rate=0.05)
    trainer.initialize(x_unl, 40)
    before = trainer.evaluate(x_test, y_test)
    history = trainer.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    assert len(history) == 3
    # From chance to clearly learned: 100 labels give an MLP well over 50% on MNIST.
    assert before > 0.7
    assert history[-1]["test_error"] < 0.4
    assert history[-1]["loss_supervised"] < 0.5 * history[0]["loss_supervised"]
    for logs in history:
        assert np.isfinite(logs["loss_generator"]) and np.isfinite(logs["loss_unsupervised"])
        assert logs["seconds"] > 0


def test_moving_average_is_debiased(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=4, ema_rate=0.1)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    raw_ema = [np.asarray(e) for e in trainer.state["ema"]]
    correction = 1 - 0.9**4
    for got, ema in zip(trainer.evaluation_weights(), raw_ema):
        np.testing.assert_allclose(got, ema / correction, rtol=1e-6)
    # The synced discriminator holds exactly these weights.
    for variable, value in zip(trainer.discriminator.trainable_variables,
                               trainer.evaluation_weights()):
        np.testing.assert_allclose(np.asarray(variable), value, rtol=1e-6)


def test_resume_from_checkpoint_repeats_the_uninterrupted_run(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    options = dict(epochs=2, steps_per_epoch=6, seed=5)
    straight = _trainer(**options)
    straight.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)

    first = _trainer(**options)
    first.fit(x_lab, y_lab, x_unl, epochs=1, validation_data=(x_test, y_test), verbose=0)
    first.save_checkpoint(tmp_path)
    resumed = _trainer(**options)
    resumed.load_checkpoint(tmp_path)
    assert resumed.epoch == 1 and len(resumed.history) == 1
    resumed.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)

    assert resumed.epoch == 2
    for key in ("d_trainable", "g_trainable", "ema"):
        for a, b in zip(straight.state[key], resumed.state[key]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert resumed.history[-1]["test_error"] == pytest.approx(straight.history[-1]["test_error"],
                                                              abs=2e-3)


def test_checkpoint_of_another_configuration_is_refused(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    trainer.save_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        _trainer(epochs=1, steps_per_epoch=2, learning_rate=0.01).load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        _trainer().load_checkpoint(tmp_path / "missing")


def test_nan_loss_stops_with_a_clear_error(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    x_bad = x_lab.copy()
    x_bad[3, 100] = np.nan
    trainer = _trainer(epochs=1, steps_per_epoch=4)
    with pytest.raises(TrainingDivergedError, match="NaN or infinite at epoch 1"):
        trainer.fit(x_bad, y_lab, x_unl, verbose=0)
    assert trainer.epoch == 0


def test_generate_and_predict_shapes(mnist_subset):
    x_lab, y_lab, x_unl, x_test, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    samples = trainer.generate(7, seed=1)
    assert samples.shape == (7, 784)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    logits = trainer.predict_logits(x_test[:123])
    assert logits.shape == (123, 10)
    # Padding the last batch must not change any prediction.
    np.testing.assert_allclose(logits[:50], trainer.predict_logits(x_test[:50]), rtol=1e-5,
                               atol=1e-5)


def test_conv_architecture_with_minibatch_discrimination_and_vbn_trains(mnist_subset):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig(
        architecture="conv", discriminator_hidden=(8, 16), generator_hidden=(16, 8),
        minibatch_discrimination=True, vbn=True, epochs=1, steps_per_epoch=3, batch_size=20,
    ))
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert trainer.epoch == 1
    assert trainer.generate(5).shape == (5, 28, 28, 1)
    assert np.isfinite(trainer.history[-1]["loss_generator"])


_PARITY_SCRIPT = """
import json, sys
import numpy as np
from ssgan.training import SemiSupervisedGAN, TrainingConfig
config = TrainingConfig.from_dict(json.loads(sys.argv[1]))
trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
trainer.load_checkpoint(sys.argv[2])
inputs = np.load(sys.argv[3])
losses = trainer.compute_losses(inputs["x_lab"], inputs["y_lab"], inputs["x_unl"],
                                inputs["x_unl2"], inputs["z"])
print("LOSSES " + json.dumps(losses))
"""


def _losses_in_subprocess(backend, config, checkpoint, inputs):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _PARITY_SCRIPT, json.dumps(config.to_dict()), str(checkpoint),
         str(inputs)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("LOSSES "))
    return json.loads(line[len("LOSSES "):])


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
        backend: _losses_in_subprocess(backend, config, tmp_path / "checkpoint",
                                       tmp_path / "inputs.npz")
        for backend in ("tensorflow", "jax")
    }
    tf_losses, jax_losses = results["tensorflow"], results["jax"]
    assert set(tf_losses) == set(jax_losses)
    for key in ("discriminator", "generator", "loss_supervised", "loss_unsupervised",
                "loss_generator"):
        assert jax_losses[key] == pytest.approx(tf_losses[key], rel=1e-5, abs=1e-5), key


def test_vbn_generator_reference_is_drawn_from_the_latent_distribution(mnist_subset):
    """A conditional generator's reference batch holds real one-hot classes, not uniform noise."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(generator="cgan", vbn=True, epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    classes = np.asarray(trainer.generator.get_layer("reference_y").reference)
    np.testing.assert_array_equal(classes.sum(axis=1), 1.0)
    assert set(np.unique(classes)) == {0.0, 1.0}
    z = np.asarray(trainer.generator.get_layer("reference_z").reference)
    assert z.min() >= 0.0 and z.max() <= 1.0 and z.std() > 0.2


_SEED_GROUP_SCRIPT = """
import json, sys
import numpy as np
from ssgan.training import SeedGroup, SemiSupervisedGAN, TrainingConfig
config = TrainingConfig.from_dict(json.loads(sys.argv[1]))
data = np.load(sys.argv[2])
seeds = (1, 2)

def dataset(seed):
    return data[f"x_lab{seed}"], data[f"y_lab{seed}"], data["x_unl"]

def trainer(seed):
    return SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig.from_dict({**config.to_dict(),
                                                                        "seed": seed}))

validation = (data["x_test"], data["y_test"])
alone = [trainer(seed) for seed in seeds]
for seed, t in zip(seeds, alone):
    t.fit(*dataset(seed), validation_data=validation, verbose=0)
together = [trainer(seed) for seed in seeds]
SeedGroup(together).fit([dataset(seed) for seed in seeds], validation_data=validation, verbose=0)
result = {"max_weight_difference": max(
    float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    for x, y in zip(alone, together) for key in ("d_trainable", "g_trainable", "ema")
    for a, b in zip(x.state[key], y.state[key])),
    "alone": [[h["test_error"] for h in t.history] for t in alone],
    "together": [[h["test_error"] for h in t.history] for t in together],
    "weights_differ_between_seeds": float(np.max(np.abs(
        np.asarray(together[0].state["g_trainable"][0])
        - np.asarray(together[1].state["g_trainable"][0])))),
    "epochs": [t.epoch for t in together],
    "synced": float(np.max(np.abs(np.asarray(together[1].discriminator.trainable_variables[0])
                                  - together[1].evaluation_weights()[0])))}
print("RESULT " + json.dumps(result))
"""


def test_seed_group_trains_each_seed_as_if_alone(mnist_subset, tmp_path):
    """JAX: seeds trained side by side (one vmapped step) end where each alone would."""
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    arrays = {"x_unl": x_unl[:1000], "x_test": x_test[:500], "y_test": y_test[:500]}
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        pick = rng.permutation(len(x_lab))[:{1: 50, 2: 30}[seed]]  # label counts may differ
        arrays[f"x_lab{seed}"], arrays[f"y_lab{seed}"] = x_lab[pick], y_lab[pick]
    np.savez(tmp_path / "data.npz", **arrays)
    config = TrainingConfig(**SMALL, epochs=2, steps_per_epoch=3)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _SEED_GROUP_SCRIPT, json.dumps(config.to_dict()),
                           str(tmp_path / "data.npz")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["epochs"] == [2, 2]
    assert result["max_weight_difference"] < 1e-5
    assert result["weights_differ_between_seeds"] > 1e-3  # two different runs, not one twice
    np.testing.assert_allclose(result["together"], result["alone"], atol=2e-3)
    assert result["synced"] < 1e-6  # each trainer's model holds its own averaged weights


def test_seed_group_needs_equal_configurations_and_the_jax_backend(mnist_subset):
    from ssgan.training import SeedGroup

    with pytest.raises(ValueError, match="same configuration except their seed"):
        SeedGroup([_trainer(seed=0), _trainer(seed=1, learning_rate=0.001)])
    import keras

    if keras.backend.backend() != "tensorflow":
        return  # the suite's backend is TensorFlow; under JAX the group trains (test above)
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    group = SeedGroup([_trainer(seed=0, epochs=1, steps_per_epoch=2),
                       _trainer(seed=1, epochs=1, steps_per_epoch=2)])
    with pytest.raises(NotImplementedError, match="needs the JAX backend"):  # tests run on TF
        group.fit([(x_lab, y_lab, x_unl)] * 2, verbose=0)
