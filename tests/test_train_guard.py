"""The collapse guard: the detector on recorded loss traces, the rollback to the exact saved
state, the setting that turns it off, no change to a healthy run, and a stressed run that it
turns into a healthy one."""

import keras
import numpy as np
import pytest
from conftest import TINY

from ssgan.config import TrainingConfig
from ssgan.data import scale_images, semi_supervised_split
from ssgan.train import SemiSupervisedGAN
from ssgan.train.guard import CollapseGuard
from ssgan.train.guard import Thresholds
from ssgan.train.guard import diagnose
from ssgan.train.guard import first_collapse
from ssgan.train.guard import real_fake_floor

# Recorded on the 2-core CPU (JAX, MNIST, 100 labels, seed 0, the paper's recipe: vbn=False,
# constant learning rates, 600 steps an epoch): (loss_unsupervised, loss_generator) per epoch
# and per compiled call of 50 steps.
PAPER_EPOCHS = [(0.0821, 4.618), (0.0728, 3.82), (0.1441, 2.576), (0.1784, 2.305)]
# Its first epoch's calls: the lowest real/fake loss and the highest generator loss recorded in
# a healthy run (0.0202 with 6.013; 0.0336 with 7.056).
PAPER_CALLS = [(0.4156, 2.775), (0.0484, 4.759), (0.0336, 7.056), (0.0424, 6.43),
               (0.0873, 4.18), (0.0896, 2.099), (0.0618, 3.592), (0.0526, 3.287),
               (0.0549, 4.289), (0.0381, 5.17), (0.0202, 6.013), (0.0408, 5.766)]
# The same with generator_learning_rate=0.006: it collapses in epoch 2.
STRESSED_EPOCHS = [(0.0721, 6.502), (0.0053, 21.392), (0.0004, 29.109), (0.0013, 92.081)]
STRESSED_EPOCH_2_CALLS = [(0.0123, 16.742), (0.0056, 23.819), (0.0141, 23.355),
                          (0.0178, 12.441), (0.0041, 18.396), (0.0029, 20.337),
                          (0.0014, 43.534), (0.0011, 18.681), (0.0016, 19.175),
                          (0.0017, 17.291), (0.0008, 20.123), (0.0005, 22.814)]
# Final epochs of recorded runs (benchmarks/results): the most extreme healthy ones, and the
# collapsed ones (50 labels seed 2 on the H200; minibatch discrimination on the CPU).
HEALTHY_FINAL = [(0.2025, 0.504), (0.5847, 0.339), (0.4621, 1.366)]
COLLAPSED_FINAL = [(6.44e-06, 1157.78), (0.0012, 8.112), (0.0002, 25.279)]


def _trace(pairs, generator_key="loss_generator"):
    return [{"loss_unsupervised": u, generator_key: g} for u, g in pairs]


def test_detector_on_recorded_traces():
    for healthy in (PAPER_EPOCHS, PAPER_CALLS, HEALTHY_FINAL):
        assert first_collapse(_trace(healthy)) is None
    assert first_collapse(_trace(STRESSED_EPOCHS)) == 1  # epoch 2, as measured
    assert first_collapse(_trace(STRESSED_EPOCH_2_CALLS)) == 1
    assert all(diagnose(m).collapsed for m in _trace(COLLAPSED_FINAL))
    # Objectives that add terms to the generator's loss are judged on feature matching.
    assert first_collapse(_trace(STRESSED_EPOCHS, "loss_feature_matching")) == 1
    assert not diagnose({"loss_unsupervised": 0.001, "loss_generator": 2.0,
                         "loss_feature_matching": 1.0}).collapsed


def test_detector_needs_both_signs_and_knows_label_smoothing():
    assert not diagnose({"loss_unsupervised": 0.001, "loss_generator": 1.0}).collapsed
    assert not diagnose({"loss_unsupervised": 0.3, "loss_generator": 500.0}).collapsed
    assert not diagnose({"loss_generator": 500.0}).collapsed  # nothing to judge
    assert not diagnose({"loss_unsupervised": float("nan"), "loss_generator": 500.0}).collapsed
    # Smoothing 0.2: the real term cannot go below H(0.8), so the loss's floor is H(0.8) / 2.
    floor = real_fake_floor(0.2)
    assert floor == pytest.approx(0.5 * 0.5004, abs=1e-4) and real_fake_floor(0.0) == 0.0
    smoothed = {"loss_unsupervised": floor + 0.002, "loss_generator": 60.0}
    assert diagnose(smoothed, label_smoothing=0.2).collapsed
    assert not diagnose(smoothed).collapsed
    strict = Thresholds(real_fake_loss=0.001, generator_loss=100.0)
    assert first_collapse(_trace(STRESSED_EPOCHS), thresholds=strict) is None


# ------------------------------------------------------------------------- the callback

def _tiny_trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, TrainingConfig(**{**TINY, **overrides}))


ALWAYS = Thresholds(real_fake_loss=float("inf"), generator_loss=float("-inf"))


class Keep(keras.callbacks.Callback):
    """Records the trainer's state, epoch and log after every epoch (after the guard)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((self.model.get_weights(), self.model.epoch, dict(logs),
                          [dict(e) for e in self.model.log]))


def collapse_at(epoch, times=None):
    """A callback (to go before the guard) making epoch `epoch`'s logs look collapsed (the
    first `times` times; None: always)."""
    done = []

    def fake(index, logs):
        if index + 1 == epoch and (times is None or len(done) < times):
            done.append(index)
            logs.update(loss_unsupervised=0.0005, loss_generator=50.0)

    return keras.callbacks.LambdaCallback(on_epoch_end=fake)


def test_rollback_restores_the_exact_saved_state_then_gives_up(tiny_mnist):
    trainer = _tiny_trainer(epochs=3, steps_per_epoch=3, collapse_guard=False)
    trainer.fit(*tiny_mnist, epochs=1, verbose=0)
    saved, saved_log = trainer.get_weights(), [dict(e) for e in trainer.log]
    base_rate = trainer.optimizers.generator.learning_rate
    # A guard that sees a collapse in every epoch: two rollbacks to epoch 1, then it gives up.
    guard, keep = CollapseGuard(max_rollbacks=2, keep=1, thresholds=ALWAYS, verbose=0), Keep()
    with pytest.warns(RuntimeWarning, match="collapsed again .* after 2 rollbacks"):
        history = trainer.fit(*tiny_mnist, callbacks=[guard, keep], verbose=0)
    assert len(keep.seen) == 3  # epoch 2, twice rolled back, then given up on
    for weights, epoch, logs, log in keep.seen:
        assert epoch == 1 and len(log) == 1
        assert len(weights) == len(saved)
        for got, want in zip(weights, saved):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)  # bit-equal
        assert logs["guard_collapsed"] == 1
    assert [logs["guard_rollbacks"] for _, _, logs, _ in keep.seen] == [1, 2, 2]
    assert history.history["generator_lr_scale"] == [1.0, 0.5, 0.25]
    assert trainer.stop_training and trainer.epoch == 1
    assert trainer.log[0]["loss_generator"] == saved_log[0]["loss_generator"]
    assert (trainer.log[0]["guard_rollbacks"], trainer.log[0]["generator_lr_scale"]) == (2, 0.25)
    assert trainer.generator_lr_scale == 0.25
    assert trainer.optimizers.generator.learning_rate == pytest.approx(0.25 * base_rate)


def test_rollback_goes_past_the_newest_state_and_further_back_when_it_fails(tiny_mnist):
    trainer = _tiny_trainer(epochs=4, steps_per_epoch=2, collapse_guard=False)
    keep = Keep()
    with pytest.warns(RuntimeWarning, match="after 3 rollbacks"):
        trainer.fit(*tiny_mnist, callbacks=[collapse_at(3), CollapseGuard(verbose=0), keep],
                    verbose=0)
    collapsed = [(logs["guard_rollbacks"], epoch) for _, epoch, logs, _ in keep.seen
                 if logs["guard_collapsed"]]
    # (rollbacks so far, epoch rolled back to): epoch 3 collapses every time; the state after
    # epoch 2 is never gone back to, the one after epoch 1 once, then the start.
    assert collapsed == [(1, 1), (2, 0), (3, 0), (3, 0)]
    assert trainer.epoch == 0 and trainer.log == []


def test_a_resumed_run_keeps_the_gentler_step(tiny_mnist, tmp_path):
    trainer = _tiny_trainer(epochs=3, steps_per_epoch=2)
    trainer.fit(*tiny_mnist, callbacks=[collapse_at(3, times=1), CollapseGuard(verbose=0)],
                verbose=0)
    assert trainer.epoch == 3 and trainer.generator_lr_scale == 0.5
    # Rolled back to epoch 1, whose entry now says what holds after it.
    assert [e["guard_rollbacks"] for e in trainer.log] == [1, 1, 1]
    assert [e["generator_lr_scale"] for e in trainer.log] == [0.5, 0.5, 0.5]
    trainer.save_checkpoint(tmp_path)
    resumed = _tiny_trainer(epochs=4, steps_per_epoch=2)
    resumed.load_checkpoint(tmp_path)
    resumed.fit(*tiny_mnist, verbose=0)
    assert resumed.generator_lr_scale == 0.5 and resumed.log[-1]["guard_rollbacks"] == 1
    rate = resumed.resolved.generator_learning_rate
    assert resumed.optimizers.generator.learning_rate == pytest.approx(0.5 * rate)


def test_guard_is_installed_by_the_setting_and_off_when_asked(tiny_mnist):
    on = _tiny_trainer(epochs=1, steps_per_epoch=2)
    on.fit(*tiny_mnist, verbose=0)
    assert on.config.collapse_guard is True  # the default
    assert on.log[-1]["guard_rollbacks"] == 0 and on.log[-1]["guard_collapsed"] == 0
    off = _tiny_trainer(epochs=1, steps_per_epoch=2, collapse_guard=False)
    off.fit(*tiny_mnist, verbose=0)
    assert not any(key.startswith("guard_") for key in off.log[-1])
    assert "guard_rollbacks" not in off.history.history


def test_guard_changes_nothing_in_a_healthy_run(tiny_mnist):
    weights = {}
    for guarded in (True, False):
        trainer = _tiny_trainer(epochs=3, steps_per_epoch=4, steps_per_call=2,
                                collapse_guard=guarded)
        trainer.fit(*tiny_mnist, verbose=0)
        weights[guarded] = trainer.get_weights()
        assert trainer.epoch == 3
    assert trainer.log[-1]["loss_unsupervised"] > 0.1  # healthy, as the guard saw it
    for with_guard, without in zip(weights[True], weights[False]):
        np.testing.assert_array_equal(with_guard, without)


def test_guard_refuses_runs_side_by_side():
    guard = CollapseGuard()
    guard.set_params({"vectorized": True})
    with pytest.raises(ValueError, match="single runs"):
        guard.on_train_begin()


@pytest.fixture(scope="module")
def stress_data(mnist):
    """100 labeled (10 per class) and 20000 unlabeled MNIST images, flat in [0, 1]: enough
    unlabeled data that the discriminator does not win by memorizing them."""
    (x_train, y_train), _ = mnist
    pool = np.random.default_rng(0).permutation(len(x_train))[:20000]
    labeled = pool[semi_supervised_split(y_train[pool], 100, seed=0).labeled]
    return scale_images(x_train[labeled]), y_train[labeled], scale_images(x_train[pool])


@pytest.mark.slow
def test_a_stressed_run_ends_healthy_with_the_guard(stress_data):
    # The paper's networks and recipe (vbn=False, constant rates). 80 steps at generator
    # learning rate 0.05 collapse as 700 steps at 0.006 do on all of MNIST (the stress test of
    # benchmarks/STABILITY.md): real/fake loss ~0.001, feature matching ~20; at 0.003 the same
    # 80 steps stay healthy.
    runs = {}
    for guarded in (False, True):
        config = TrainingConfig(vbn=False, generator_learning_rate=0.05, epochs=8,
                                steps_per_epoch=10, lr_decay_start=8, collapse_guard=guarded)
        trainer = SemiSupervisedGAN((28, 28, 1), 10, config)
        runs[guarded] = trainer.fit(*stress_data, verbose=0), trainer
    _, unguarded = runs[False]
    assert first_collapse(unguarded.log) is not None
    assert diagnose(unguarded.log[-1]).collapsed
    history, guarded = runs[True]
    assert guarded.epoch == 8 and not guarded.stop_training
    assert first_collapse(guarded.log) is None
    assert guarded.log[-1]["guard_rollbacks"] >= 1 and guarded.generator_lr_scale < 1.0
    assert 1 in history.history["guard_collapsed"]  # the collapses, as History saw them
