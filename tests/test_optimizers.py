"""The pure-function Adam of ssgan.optimizers against NumPy, its linear decay, and Keras' Adam."""

import keras
import numpy as np
import pytest
from conftest import as_numpy

from ssgan.optimizers import Adam


def _np(tensor):
    return as_numpy(tensor, np.float64)


def _numpy_adam(params, grads_per_step, lr_at, beta_1, beta_2, epsilon):
    """θ ← θ − lr_t · m̂ / sqrt(v̂ + ε), in float64."""
    params = [np.asarray(p, np.float64) for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g**2
            m_hat, v_hat = m[i] / (1 - beta_1**t), v[i] / (1 - beta_2**t)
            params[i] = params[i] - lr_at(t) * m_hat / np.sqrt(v_hat + epsilon)
    return params, m, v


def _run(optimizer, params, grads_per_step):
    params = [np.asarray(p, np.float32) for p in params]
    slots = optimizer.init(params)
    for grads in grads_per_step:
        params, slots = optimizer.apply(slots, [np.asarray(g, np.float32) for g in grads], params)
    return params, slots


def _problem(seed, steps, grad_scale=1.0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads = [[grad_scale * rng.normal(size=p.shape) for p in params] for _ in range(steps)]
    return params, grads


def test_init_gives_zero_moments_and_step():
    params = [np.ones((2, 3), np.float32), np.ones(4, np.float32)]
    slots = Adam().init(params)
    assert int(slots.step) == 0
    for moments in (slots.m, slots.v):
        assert [tuple(x.shape) for x in moments] == [(2, 3), (4,)]
        assert all(np.all(_np(x) == 0) for x in moments)


@pytest.mark.parametrize(
    "learning_rate, beta_1, beta_2, epsilon, grad_scale",
    [(0.003, 0.5, 0.999, 1e-8, 1.0), (0.01, 0.9, 0.99, 1e-3, 0.05), (0.1, 0.5, 0.999, 1e-8, 1e-5)],
)
def test_apply_matches_numpy_adam(learning_rate, beta_1, beta_2, epsilon, grad_scale):
    params, grads = _problem(0, steps=5, grad_scale=grad_scale)
    optimizer = Adam(learning_rate, beta_1, beta_2, epsilon)
    new_params, slots = _run(optimizer, params, grads)
    expected, m, v = _numpy_adam(params, grads, lambda t: learning_rate, beta_1, beta_2, epsilon)
    assert int(slots.step) == 5
    for actual, want in zip(new_params, expected):
        np.testing.assert_allclose(_np(actual), want, rtol=1e-5, atol=1e-6)
    for actual, want in zip(slots.m + slots.v, m + v):
        np.testing.assert_allclose(_np(actual), want, rtol=1e-5, atol=1e-12)


def test_constant_learning_rate_without_decay():
    optimizer = Adam(learning_rate=0.02)
    for step in (1, 50, 10_000):
        assert float(optimizer.learning_rate_at(step)) == pytest.approx(0.02)


def test_linear_decay_schedule():
    # Update `step` (from 1) has index i = step − 1 and rate lr·clip((T − i)/(T − D), 0, 1).
    optimizer = Adam(learning_rate=0.01, decay_start=100, total_steps=300)
    rate = lambda step: float(optimizer.learning_rate_at(step))  # noqa: E731
    assert rate(1) == pytest.approx(0.01)
    assert rate(101) == pytest.approx(0.01)  # index 100: decay starts
    assert rate(201) == pytest.approx(0.005)  # halfway
    assert rate(251) == pytest.approx(0.0025)
    assert rate(300) == pytest.approx(0.01 / 200)  # the last of 300 updates: one step from 0
    assert rate(301) == pytest.approx(0.0, abs=1e-12)
    assert rate(400) == pytest.approx(0.0, abs=1e-12)
    rates = [rate(step) for step in range(101, 302)]
    assert np.all(np.diff(rates) < 0)
    np.testing.assert_allclose(np.diff(rates), -0.01 / 200, rtol=1e-3)


def test_decay_requires_total_steps():
    with pytest.raises(ValueError, match="total_steps"):
        Adam(decay_start=10)


def test_apply_follows_the_decay_schedule():
    params, grads = _problem(1, steps=8)
    optimizer = Adam(learning_rate=0.1, decay_start=2, total_steps=6)
    new_params, _ = _run(optimizer, params, grads)
    lr_at = lambda t: 0.1 * np.clip((6 - (t - 1)) / 4, 0.0, 1.0)  # noqa: E731
    expected, _, _ = _numpy_adam(params, grads, lr_at, 0.5, 0.999, 1e-8)
    for actual, want in zip(new_params, expected):
        np.testing.assert_allclose(_np(actual), want, rtol=1e-5, atol=1e-6)
    # Updates 7 and 8 have a zero rate: the parameters after 6 and after 8 updates agree.
    after_six, _ = _run(optimizer, params, grads[:6])
    for a, b in zip(new_params, after_six):
        np.testing.assert_allclose(_np(a), _np(b), rtol=0, atol=1e-7)


def _keras_adam_step(gradient, learning_rate, epsilon):
    variable = keras.Variable(np.zeros(1, np.float32))
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999, epsilon=epsilon)
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.float32([gradient])), variable)])
    return -float(_np(variable)[0])


def _ssgan_adam_step(gradient, learning_rate, epsilon):
    optimizer = Adam(learning_rate, 0.5, 0.999, epsilon)
    params, _ = _run(optimizer, [np.zeros(1)], [[np.array([gradient])]])
    return -float(_np(params[0])[0])


def test_differs_from_keras_adam_only_where_the_second_moment_is_tiny():
    lr, eps = 0.01, 1e-8
    # Large gradients: both steps are ≈ lr·sign(g).
    assert _ssgan_adam_step(1.0, lr, eps) == pytest.approx(_keras_adam_step(1.0, lr, eps), rel=1e-4)
    assert _ssgan_adam_step(1.0, lr, eps) == pytest.approx(lr, rel=1e-4)
    # g = 1e-6: v̂ = 1e-12, so m̂/sqrt(v̂ + 1e-8) ≈ 0.01; Keras' m̂/(sqrt(v̂) + ε') is near 1.
    tiny_ssgan, tiny_keras = _ssgan_adam_step(1e-6, lr, eps), _keras_adam_step(1e-6, lr, eps)
    assert tiny_ssgan == pytest.approx(lr * 1e-6 / np.sqrt(1e-12 + eps), rel=1e-3)
    assert tiny_keras > 0.5 * lr
    assert tiny_ssgan < 0.02 * tiny_keras
