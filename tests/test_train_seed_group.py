"""Runs side by side (`SeedGroup`): each ends where it would alone; what a group refuses."""

import json

import keras
import numpy as np
import pytest
from conftest import run_python, small_config

from ssgan.train import SeedGroup, SemiSupervisedGAN

_SEED_GROUP_SCRIPT = """
import json, sys
import keras
import numpy as np
from ssgan.train import SeedGroup, SemiSupervisedGAN, TrainingConfig
config = TrainingConfig.from_dict(json.loads(sys.argv[1]))
data = np.load(sys.argv[2])
seeds = (1, 2)

def dataset(seed):
    return data[f"x_lab{seed}"], data[f"y_lab{seed}"], data["x_unl"]

def trainer(seed):
    return SemiSupervisedGAN((28, 28, 1), 10, config.replace(seed=seed))

validation = (data["x_test"], data["y_test"])
alone = [trainer(seed) for seed in seeds]
for seed, t in zip(seeds, alone):
    t.fit(*dataset(seed), validation_data=validation, verbose=0)
together = [trainer(seed) for seed in seeds]
seen = [[] for _ in seeds]
callbacks = [[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs, i=i: seen[i].append(
    (e, logs["test_error"])))] for i in range(len(seeds))]
histories = SeedGroup(together).fit([dataset(seed) for seed in seeds],
                                    validation_data=validation, callbacks=callbacks, verbose=0)
pairs = [(np.asarray(a), np.asarray(b)) for x, y in zip(alone, together)
         for key in ("d_trainable", "g_trainable", "ema")
         for a, b in zip(getattr(x.state, key), getattr(y.state, key))]
result = {
    "max_difference": max(float(np.max(np.abs(a - b))) for a, b in pairs),
    "alone": [[h["test_error"] for h in t.log] for t in alone],
    "together": [[h["test_error"] for h in t.log] for t in together],
    "callbacks": [[list(c) for c in s] for s in seen],
    "histories": [h.history["test_error"] for h in histories],
    "runs_in_step": [t.log[-1]["runs_in_step"] for t in together],
    "weights_differ_between_seeds": float(np.max(np.abs(
        np.asarray(together[0].state.g_trainable[0])
        - np.asarray(together[1].state.g_trainable[0])))),
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
    config = small_config(epochs=2, steps_per_epoch=3)
    result = run_python(_SEED_GROUP_SCRIPT, json.dumps(config.to_dict()),
                        tmp_path / "data.npz", backend="jax")
    assert result["epochs"] == [2, 2] and result["runs_in_step"] == [2, 2]
    # Equal but for float32 rounding (eps 1.2e-7) in the batched matrix products of the
    # vectorized step: a few ulps of weights of order 1.
    assert result["max_difference"] < 1e-6, result
    assert result["weights_differ_between_seeds"] > 1e-3  # two different runs, not one twice
    np.testing.assert_allclose(result["together"], result["alone"], atol=2e-3)
    # Each run's own callbacks and History saw its own epochs.
    assert [[e for e, _ in seen] for seen in result["callbacks"]] == [[0, 1], [0, 1]]
    assert result["histories"] == result["together"]
    assert result["synced"] < 1e-6  # each trainer's model holds its own averaged weights


def test_seed_group_needs_equal_configurations_and_the_jax_backend(mnist_subset):
    def trainer(**overrides):
        return SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))

    with pytest.raises(ValueError, match="same configuration except their seed"):
        SeedGroup([trainer(seed=0), trainer(seed=1, learning_rate=0.001)])
    with pytest.raises(ValueError, match="at least one trainer"):
        SeedGroup([])
    if keras.backend.backend() != "tensorflow":
        return  # the suite's backend is TensorFlow; under JAX the group trains (test above)
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    group = SeedGroup([trainer(seed=0, epochs=1, steps_per_epoch=2),
                       trainer(seed=1, epochs=1, steps_per_epoch=2)])
    with pytest.raises(NotImplementedError, match="needs the JAX backend"):
        group.fit([(x_lab, y_lab, x_unl)] * 2, verbose=0)
    with pytest.raises(ValueError, match="one per trainer"):
        group.fit([(x_lab, y_lab, x_unl)], verbose=0)



def test_each_run_of_a_group_keeps_its_own_class_shares():
    """Labeled sets of different sizes are padded with zeros to stack them; the class shares
    come from each run's own labels, so the padding does not count as class 0."""
    group = SeedGroup([SemiSupervisedGAN((28, 28, 1), 2, small_config(seed=seed))
                       for seed in (0, 1)])
    x = np.zeros((4, 784), "float32")
    prepared = [(x[:2], np.array([1, 1], "int32"), x), (x, np.array([0, 1, 1, 1], "int32"), x)]
    data, axes = group._stack_data(prepared)
    np.testing.assert_allclose(np.asarray(data["class_shares"]), [[0.0, 1.0], [0.25, 0.75]])
    assert axes["class_shares"] == 0
    assert np.asarray(data["y_labeled"])[0].tolist() == [1, 1, 0, 0]  # the padding


_STOPPED_RUN_SCRIPT = """
import json, sys
import keras
import numpy as np
from ssgan.train import SeedGroup, SemiSupervisedGAN, TrainingConfig
from ssgan.train.state import flatten
config = TrainingConfig.from_dict(json.loads(sys.argv[1]))
data = np.load(sys.argv[2])
dataset = (data["x_lab"], data["y_lab"], data["x_unl"])
x_test, y_test = data["x_test"], data["y_test"]
seeds = (1, 2)
alone = SemiSupervisedGAN((28, 28, 1), 10, config.replace(seed=1))
alone.fit(*dataset, epochs=1, verbose=0)
together = [SemiSupervisedGAN((28, 28, 1), 10, config.replace(seed=s)) for s in seeds]
pending = []

def stop_first(epoch, logs):
    pending.append([t._state_source is not None for t in together])
    if epoch == 0:
        together[0].stop_training = True

callbacks = [[keras.callbacks.LambdaCallback(on_epoch_end=stop_first)], []]
SeedGroup(together).fit([dataset] * 2, validation_data=(x_test, y_test), callbacks=callbacks,
                        verbose=0)
first, last = flatten(alone.state), flatten(together[0].state)
result = {
    "epochs": [t.epoch for t in together],
    "pending_during": pending,
    "pending_after": [t._state_source is not None for t in together],
    "stopped_vs_alone": max(float(np.max(np.abs(np.asarray(first[k]) - np.asarray(last[k]))))
                            for k in first),
    "logged": [t.log[-1]["test_error"] for t in together],
    "evaluated": [t.evaluate(x_test, y_test) for t in together],
}
print("RESULT " + json.dumps(result))
"""


def test_a_run_that_stops_keeps_its_state_and_errors_match_its_model(mnist_subset, tmp_path):
    """JAX: each trainer reads its slice of the group's state only when needed; a run that stops
    early keeps the state of its last epoch while the others go on, and the errors measured for
    all runs in one call are those of each trainer's own model."""
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    np.savez(tmp_path / "data.npz", x_lab=x_lab[:40], y_lab=y_lab[:40], x_unl=x_unl[:1000],
             x_test=x_test[:500], y_test=y_test[:500])
    config = small_config(epochs=3, steps_per_epoch=3)
    result = run_python(_STOPPED_RUN_SCRIPT, json.dumps(config.to_dict()),
                        tmp_path / "data.npz", backend="jax")
    assert result["epochs"] == [1, 3]
    # Handed over after each epoch (run 0's callback comes before run 1's hand-over), read by
    # nobody until the end of fit, which takes them all.
    assert result["pending_during"] == [[True, False]], result
    assert result["pending_after"] == [False, False]
    assert result["stopped_vs_alone"] < 1e-6, result  # its epoch-1 state, not the group's last
    # Vectorized evaluation against each synced model: equal but for float32 rounding.
    np.testing.assert_allclose(result["logged"], result["evaluated"], atol=1 / 500 + 1e-9)
