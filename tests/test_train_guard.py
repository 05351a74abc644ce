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
from ssgan.train.guard import stall_epochs
from ssgan.train.guard import stalled

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
# The slow collapse, per epoch: the stressed seed 1 (its test error stuck near 21 %), and the
# full recipe's generator on shifted images, seed 1 (accuracy stuck at 95 %). Healthy starts
# above the generator threshold: the paper's recipe, seeds 1 and 2, unstressed.
STALLED_EPOCHS = [(0.0391, 11.431), (0.0429, 10.269), (0.0577, 6.531), (0.0873, 6.326),
                  (0.1109, 6.081), (0.1332, 6.12)]
RUNAWAY_EPOCHS = [(0.317, 0.703), (0.152, 2.54), (0.103, 4.92), (0.0568, 8.79), (0.0533, 11.0),
                  (0.0425, 15.0), (0.0381, 18.6)]
HIGH_STARTS = [[(0.0974, 6.117), (0.0594, 5.496), (0.123, 3.63), (0.182, 2.909)],
               [(0.0833, 7.016), (0.0710, 5.438), (0.1187, 3.361)]]


def _trace(pairs, generator_key="loss_generator"):
    return [{"loss_unsupervised": u, generator_key: g} for u, g in pairs]


def test_detector_on_recorded_traces():
    for healthy in (PAPER_EPOCHS, *HIGH_STARTS):
        assert first_collapse(_trace(healthy), steps_per_epoch=600) is None
    for healthy in (PAPER_CALLS, HEALTHY_FINAL):
        assert first_collapse(_trace(healthy)) is None
    # Calls are noisy: three running above 5 in a healthy epoch (150 steps), hence a stall
    # needs 1500 steps.
    assert first_collapse(_trace(PAPER_CALLS), steps_per_epoch=50) is None
    assert first_collapse(_trace(PAPER_CALLS), thresholds=Thresholds(stall_steps=150),
                          steps_per_epoch=50) == 11
    assert first_collapse(_trace(STRESSED_EPOCHS), steps_per_epoch=600) == 1  # epoch 2
    assert first_collapse(_trace(STRESSED_EPOCH_2_CALLS)) == 1
    assert all(diagnose(m).collapsed for m in _trace(COLLAPSED_FINAL))
    # Objectives that add terms to the generator's loss are judged on feature matching.
    assert first_collapse(_trace(STRESSED_EPOCHS, "loss_feature_matching")) == 1
    assert not diagnose({"loss_unsupervised": 0.001, "loss_generator": 2.0,
                         "loss_feature_matching": 1.0}).collapsed


def test_stall_is_1500_steps_above_the_generator_threshold():
    # Neither slow collapse ever shows the fast one's real/fake loss.
    assert not any(diagnose(m).collapsed for m in _trace(STALLED_EPOCHS + RUNAWAY_EPOCHS))
    assert first_collapse(_trace(STALLED_EPOCHS), steps_per_epoch=600) == 2  # epoch 3
    assert first_collapse(_trace(RUNAWAY_EPOCHS), steps_per_epoch=600) == 5  # epoch 6
    assert first_collapse(_trace(STALLED_EPOCHS)) is None  # not judged without epochs
    # 1500 steps: 3 epochs of 600 or of 500 steps, 2 of 750, 6 of 250.
    assert [stall_epochs(n) for n in (600, 500, 750, 250, 5000)] == [3, 3, 2, 6, 1]
    assert stall_epochs(600, Thresholds(stall_steps=0)) == 0
    verdict = stalled(_trace(STALLED_EPOCHS[:3]), 600)
    assert verdict.collapsed and "11.4, 10.3, 6.53" in verdict.reason
    assert verdict.kind == "stalled" and diagnose(_trace(STRESSED_EPOCHS)[1]).kind == "collapsed"
    assert not stalled(_trace(STALLED_EPOCHS[:2]), 600).collapsed  # too few epochs yet
    assert stalled(_trace(STALLED_EPOCHS[:2]), 750).collapsed
    assert not stalled(_trace(STALLED_EPOCHS + [(0.15, 4.9)]), 600).collapsed
    assert not stalled(_trace(STALLED_EPOCHS), 600, Thresholds(stall_steps=0)).collapsed
    assert stalled(_trace(STALLED_EPOCHS), 250).collapsed  # 6 epochs of 250 steps...
    assert not stalled(_trace(STALLED_EPOCHS[1:]), 250).collapsed  # ...not 5
    assert not stalled(_trace([(0.1, float("nan"))] * 3), 600).collapsed


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


class Stall(keras.callbacks.Callback):
    """Goes before the guard: makes the generator's loss of epochs `epochs` (1-based) high in
    the logs and the trainer's log, the first time each is trained."""

    def __init__(self, epochs):
        super().__init__()
        self.left = set(epochs)

    def on_epoch_end(self, index, logs=None):
        if index + 1 in self.left:
            self.left.discard(index + 1)
            logs["loss_generator"] = self.model.log[-1]["loss_generator"] = 50.0


def test_a_stall_rolls_back_before_it_began(tiny_mnist, capsys):
    trainer = _tiny_trainer(epochs=4, steps_per_epoch=2)
    keep, guard = Keep(), CollapseGuard(thresholds=Thresholds(stall_steps=6), verbose=2)
    trainer.fit(*tiny_mnist, callbacks=[Stall({2, 3, 4}), guard, keep], verbose=0)
    assert ("CollapseGuard: epoch 4 stalled (generator loss above 5 in 3 epochs running "
            "(50, 50, 50)); rolled back to epoch 0") in capsys.readouterr().out
    # Epochs 2-4 ran away: the states after 2 and 3 were never kept, and the one just before
    # the stall (after epoch 1) is skipped as after a collapse: back to the start, once.
    assert [logs["guard_collapsed"] for _, _, logs, _ in keep.seen] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert keep.seen[3][1] == 0 and trainer.epoch == 4
    assert trainer.generator_lr_scale == 0.5 and trainer.log[-1]["guard_rollbacks"] == 1
    # Two epochs (4 steps) running away are not a stall of 6 steps, nor 3 of the default 1500.
    for epochs, stall_steps in ((3, 6), (4, 1500)):
        guard = CollapseGuard(thresholds=Thresholds(stall_steps=stall_steps), verbose=0)
        trainer = _tiny_trainer(epochs=epochs, steps_per_epoch=2)
        stall = Stall(set(range(2, epochs + 1)))
        trainer.fit(*tiny_mnist, callbacks=[stall, guard], verbose=0)
        assert trainer.log[-1]["guard_rollbacks"] == 0 and trainer.generator_lr_scale == 1.0


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
