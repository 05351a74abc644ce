"""Losses of ssgan.losses against hand-computed values and naive NumPy formulas."""

import math

import keras
import numpy as np
import pytest
from conftest import as_numpy

from ssgan import losses


def _np(tensor):
    return as_numpy(tensor, np.float64)


def _f32(values):
    return np.asarray(values, dtype=np.float32)


def _gradients(fn, *args):
    """Gradients of the scalar fn(*args) with respect to every argument, on the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            value = fn(*variables)
        grads = tape.gradient(value, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [g.numpy() for g in grads]
    if backend == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(fn, argnums=tuple(range(len(args))))(*args)]
    pytest.skip(f"no gradient helper for the {backend} backend")


def _naive_discriminator_loss(logits_real, logits_fake, real_target):
    """Binary cross-entropy on D(x) = Z/(Z+1), Z = Σ exp(l), formed directly."""
    d_real = np.exp(logits_real).sum(-1) / (np.exp(logits_real).sum(-1) + 1.0)
    d_fake = np.exp(logits_fake).sum(-1) / (np.exp(logits_fake).sum(-1) + 1.0)
    real = -(real_target * np.log(d_real) + (1.0 - real_target) * np.log(1.0 - d_real))
    return 0.5 * real.mean() + 0.5 * (-np.log(1.0 - d_fake)).mean()


def test_log_sum_exp_hand_values():
    logits = _f32([[1, 2, 3], [0, 0, 0], [1000, 1000, -1000]])
    expected = [math.log(math.e + math.e**2 + math.e**3), math.log(3), 1000 + math.log(2)]
    np.testing.assert_allclose(_np(losses.log_sum_exp(logits)), expected, rtol=1e-6)


def test_supervised_loss_hand_value():
    logits = _f32([[1, 2, 3], [1, 1, 1]])
    # Row 1: log(e + e² + e³) − 3; row 2: log(3e) − 1 = log 3.
    expected = 0.5 * ((math.log(math.e + math.e**2 + math.e**3) - 3) + math.log(3))
    value = losses.supervised_loss(logits, np.array([2, 0]))
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_supervised_loss_is_the_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    logits, labels = 3.0 * rng.normal(size=(8, 5)), rng.integers(0, 5, size=8)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -log_softmax[np.arange(8), labels].mean()
    assert float(losses.supervised_loss(_f32(logits), labels)) == pytest.approx(expected, rel=1e-5)


def test_unsupervised_discriminator_loss_hand_value():
    # Real logits [0, 0]: Z = 2, D = 2/3.  Fake logits [0, log 3]: Z = 4, D = 4/5.
    real, fake = _f32([[0, 0]]), _f32([[0, math.log(3)]])
    expected = 0.5 * -math.log(2 / 3) + 0.5 * -math.log(1 / 5)
    value = losses.unsupervised_discriminator_loss(real, fake)
    assert float(value) == pytest.approx(expected, rel=1e-6)
    smoothed = 0.5 * -(0.9 * math.log(2 / 3) + 0.1 * math.log(1 / 3)) + 0.5 * -math.log(1 / 5)
    value = losses.unsupervised_discriminator_loss(real, fake, real_target=0.9)
    assert float(value) == pytest.approx(smoothed, rel=1e-6)


@pytest.mark.parametrize("real_target", [1.0, 0.9, 0.75])
def test_unsupervised_discriminator_loss_is_binary_cross_entropy_on_d(real_target):
    rng = np.random.default_rng(1)
    logits_real, logits_fake = 2.0 * rng.normal(size=(6, 4)), 2.0 * rng.normal(size=(5, 4)) - 1.0
    value = losses.unsupervised_discriminator_loss(
        _f32(logits_real), _f32(logits_fake), real_target
    )
    expected = _naive_discriminator_loss(logits_real, logits_fake, real_target)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_only_changes_the_real_term():
    rng = np.random.default_rng(2)
    logits_real = _f32(rng.normal(size=(6, 3)))
    s_real = np.log(np.exp(logits_real.astype(np.float64)).sum(-1))
    for logits_fake in (_f32(rng.normal(size=(4, 3))), _f32(rng.normal(size=(7, 3)) + 5.0)):
        hard = float(losses.unsupervised_discriminator_loss(logits_real, logits_fake, 1.0))
        soft = float(losses.unsupervised_discriminator_loss(logits_real, logits_fake, 0.8))
        # softplus(s) − t·s: lowering t by 0.2 adds 0.2·s to each real term, whatever the fakes.
        assert soft - hard == pytest.approx(0.5 * 0.2 * s_real.mean(), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("real_target", [1.0, 0.9])
def test_unsupervised_discriminator_loss_stays_finite_for_extreme_logits(real_target):
    # Confidently right (real logits +1000, fake −1000): loss ≈ 0 when t = 1.
    # Confidently wrong: real term softplus(s) − s ≈ −s = 1000 − log 3; fake term ≈ s = 1000.
    big = _f32([[1000, -1000, 0], [1000, 1000, 1000]])
    small = _f32([[-1000, -1000, -1000], [-1000, -1000, -1000]])
    right = float(losses.unsupervised_discriminator_loss(big, small, real_target))
    wrong_real = _f32([[-1000, -1000, -1000]])
    wrong_fake = _f32([[1000, 0, -1000]])
    wrong = float(losses.unsupervised_discriminator_loss(wrong_real, wrong_fake, real_target))
    assert np.isfinite(right) and np.isfinite(wrong)
    s_big = np.array([1000.0, 1000.0 + math.log(3)])  # log Z of the two confident real rows
    assert right == pytest.approx(0.5 * np.mean((1.0 - real_target) * s_big), abs=1e-3)
    s_wrong = -1000.0 + math.log(3)
    assert wrong == pytest.approx(0.5 * (-real_target * s_wrong) + 0.5 * 1000.0, rel=1e-5)
    loss = lambda r, f: losses.unsupervised_discriminator_loss(r, f, real_target)  # noqa: E731
    grads = _gradients(loss, wrong_real, wrong_fake)
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("smoothing, target", [(0.0, 1.0), (0.1, 0.9), (0.25, 0.75)])
def test_one_sided_label_smoothing(smoothing, target):
    assert losses.one_sided_label_smoothing(smoothing) == pytest.approx(target)


@pytest.mark.parametrize("smoothing", [1.0, -0.1, 1.5, float("nan")])
def test_one_sided_label_smoothing_rejects_out_of_range(smoothing):
    with pytest.raises(ValueError, match="smoothing"):
        losses.one_sided_label_smoothing(smoothing)


def test_feature_matching_loss_hand_value():
    real = _f32([[1, 2], [3, 4]])  # batch mean [2, 3]
    fake = _f32([[0, 0], [2, 2]])  # batch mean [1, 1]
    # Difference [1, 2]: mean of squares (1 + 4) / 2.
    assert float(losses.feature_matching_loss(real, fake)) == pytest.approx(2.5)
    assert float(losses.feature_matching_loss(real, real[::-1])) == 0.0


def test_mode_seeking_loss_hand_value():
    # Rows 0, 1 pair with rows 2, 3: |o0 − o2| = (1, 1), |o1 − o3| = (3, 1), mean 1.5, over
    # |z0 − z2| = |z1 − z3| = 0.5: ratio 3.
    outputs = _f32([[0, 0], [1, 3], [1, 1], [4, 4]])
    latents = _f32([[0], [0.5], [0.5], [1]])
    assert float(losses.mode_seeking_loss(outputs, latents)) == pytest.approx(1 / 3, rel=1e-4)
    # An odd count leaves the middle row out: row 0 against row 2, (1, 1) over 0.5.
    assert float(losses.mode_seeking_loss(outputs[:3], latents[:3])) == pytest.approx(0.5,
                                                                                      rel=1e-4)
    # Outputs that ignore z: the loss is at its ceiling 1 / eps.
    same = _f32([[1, 1]] * 4)
    assert float(losses.mode_seeking_loss(same, _f32([[0], [1], [2], [3]]), eps=0.01)) == \
        pytest.approx(100.0)


def test_historical_averaging_penalty_hand_value():
    parameters = [_f32([[1, 2]]), _f32([3])]
    averages = [_f32([[0, 0]]), _f32([1])]
    # (1² + 2²) + 2² = 9.
    assert float(losses.historical_averaging_penalty(parameters, averages)) == pytest.approx(9.0)


def test_historical_averaging_gradient_moves_parameters_not_the_average():
    theta, average = _f32([1.0, -2.0, 0.5]), _f32([0.0, 1.0, 0.5])
    grad_theta, grad_average = _gradients(
        lambda t, a: losses.historical_averaging_penalty([t], [a]), theta, average
    )
    np.testing.assert_allclose(grad_theta, 2.0 * (theta - average))
    np.testing.assert_array_equal(grad_average, 0.0)


def test_update_historical_average_is_the_running_mean():
    rng = np.random.default_rng(3)
    history = [[_f32(rng.normal(size=(2, 3))), _f32(rng.normal(size=4))] for _ in range(6)]
    averages = [np.full((2, 3), 7.0, np.float32), np.zeros(4, np.float32)]  # overwritten at t = 1
    for t, parameters in enumerate(history, start=1):
        averages = losses.update_historical_average(averages, parameters, t)
        for i, average in enumerate(averages):
            expected = np.mean([step[i] for step in history[:t]], axis=0)
            np.testing.assert_allclose(_np(average), expected, rtol=1e-5, atol=1e-6)


def test_classification_error_hand_value():
    logits = _f32([[1, 2, 3], [3, 2, 1], [0, 5, 0], [1, 0, 0]])
    # Predictions 2, 0, 1, 0 against labels 2, 0, 0, 1: two of four wrong.
    assert float(losses.classification_error(logits, np.array([2, 0, 0, 1]))) == pytest.approx(0.5)
    assert float(losses.classification_error(logits, np.array([2, 0, 1, 0]))) == 0.0


def test_conditional_entropy_hand_values():
    # Uniform over 3 classes: log 3; one class certain: 0; the mean over rows.
    logits = _f32([[0, 0, 0], [1000, 0, -1000]])
    assert float(losses.conditional_entropy(logits)) == pytest.approx(0.5 * math.log(3), rel=1e-6)
    p = np.array([0.7, 0.2, 0.1])
    expected = -(p * np.log(p)).sum()
    assert float(losses.conditional_entropy(_f32([np.log(p)]))) == pytest.approx(expected, rel=1e-5)


def test_consistency_loss_hand_value_and_its_target_held_constant():
    # softmax([0, 0]) = (.5, .5), softmax([log 3, 0]) = (.75, .25): squared distance 2 · 0.25².
    a, b = _f32([[0.0, 0.0]]), _f32([[math.log(3.0), 0.0]])
    assert float(losses.consistency_loss(a, b)) == pytest.approx(0.125, rel=1e-6)
    assert float(losses.consistency_loss(a, a)) == 0.0
    grad_a, grad_b = _gradients(losses.consistency_loss, a, b)
    assert np.abs(grad_a).sum() > 0 and np.all(grad_b == 0)  # the second pass is the target


def test_aligned_targets_hand_values():
    # Class 0 predicted 60 % of the time against 50 % of the labels: (.9, .1) · (.5/.6, .5/.4)
    # = (.75, .125) → (6/7, 1/7); (.5, .5) → (.4167, .625) → (.4, .6).
    p, shares, mean = _f32([[0.9, 0.1], [0.5, 0.5]]), _f32([0.5, 0.5]), _f32([0.6, 0.4])
    aligned = as_numpy(losses.aligned_targets(p, shares, mean))
    np.testing.assert_allclose(aligned, [[6 / 7, 1 / 7], [0.4, 0.6]], rtol=1e-6)
    # Predictions in the labels' proportions leave the targets as they are.
    np.testing.assert_allclose(as_numpy(losses.aligned_targets(p, shares, shares)), p, rtol=1e-6)


def test_consistency_target_loss_hand_value_and_its_target_held_constant():
    a, target = _f32([[0.0, 0.0]]), _f32([[0.75, 0.25]])
    assert float(losses.consistency_target_loss(a, target)) == pytest.approx(0.125, rel=1e-6)
    grad_a, grad_t = _gradients(losses.consistency_target_loss, a, target)
    assert np.abs(grad_a).sum() > 0 and np.all(grad_t == 0)


def test_gan_generator_losses_hand_values():
    # Logits [0, log 3]: Z = 4, D = 4/5; logits [0, 0]: Z = 2, D = 2/3.
    fake = _f32([[0, math.log(3)], [0, 0]])
    minimax = 0.5 * (math.log(1 / 5) + math.log(1 / 3))  # mean log(1 − D)
    assert float(losses.minimax_generator_loss(fake)) == pytest.approx(minimax, rel=1e-6)
    non_saturating = -0.5 * (math.log(4 / 5) + math.log(2 / 3))  # −mean log D
    assert float(losses.non_saturating_generator_loss(fake)) == pytest.approx(non_saturating,
                                                                               rel=1e-6)


def test_gan_generator_losses_are_log_d_forms_and_stay_finite():
    rng = np.random.default_rng(4)
    logits = 2.0 * rng.normal(size=(7, 5))
    z = np.exp(logits).sum(-1)
    d = z / (z + 1.0)
    assert float(losses.minimax_generator_loss(_f32(logits))) == pytest.approx(
        np.log(1.0 - d).mean(), rel=1e-5)
    assert float(losses.non_saturating_generator_loss(_f32(logits))) == pytest.approx(
        -np.log(d).mean(), rel=1e-5)
    # d/dl_k of −softplus(s) is −D · softmax(l)_k (per row, over the batch mean).
    (grad,) = _gradients(losses.minimax_generator_loss, _f32(logits))
    softmax = np.exp(logits) / z[:, None]
    np.testing.assert_allclose(grad, -(d[:, None] * softmax) / len(logits), rtol=1e-4, atol=1e-7)
    extreme = _f32([[1000, 0, -1000], [-1000, -1000, -1000]])
    for loss in (losses.minimax_generator_loss, losses.non_saturating_generator_loss):
        assert np.isfinite(float(loss(extreme)))
        assert np.all(np.isfinite(_gradients(loss, extreme)[0]))
