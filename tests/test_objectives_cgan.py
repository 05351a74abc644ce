"""CGAN (`ssgan.objectives.cgan`): sampling, conditioning, losses on hand-computed values, the
generated-pair term's schedule, the class grid and the class-consistency metric."""

import math

import keras
import numpy as np
import pytest
from conftest import as_numpy as _np
from conftest import assert_diversity_term
from conftest import assert_pair_term
from conftest import softmax_cross_entropy

from ssgan import losses
from ssgan.models import build_generator
from ssgan.objectives import ConditionalObjective

LATENT = 8


def _without_critic(n_classes, **options):
    """A CGAN objective without its critic: these tests check the other terms on outputs that
    have no critic head (tests/test_objectives_critic.py checks the critic)."""
    return ConditionalObjective(n_classes, critic_weight=0.0, **options)


def _t(x, dtype="float32"):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype=dtype))


def test_cgan_sample_shapes_and_uniform_classes():
    # Every row conditioned (no complement rows), so each carries a one-hot class.
    objective = ConditionalObjective(10, latent_dim=LATENT, complement_share=0.0)
    (z, y_hot), latent = objective.sample(keras.random.SeedGenerator(0), 2000)
    z, y_hot, y = _np(z), _np(y_hot), _np(latent["y"])
    assert z.shape == (2000, LATENT) and y_hot.shape == (2000, 10) and y.shape == (2000,)
    assert z.min() >= 0 and z.max() <= 1
    np.testing.assert_array_equal(np.argmax(y_hot, axis=1), y)
    np.testing.assert_array_equal(y_hot.sum(axis=1), 1.0)
    counts = np.bincount(y, minlength=10)
    assert counts.min() > 140 and counts.max() < 260  # ~200 each: uniform over the classes


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_cgan_generator_output_changes_with_the_class(architecture):
    objective = ConditionalObjective(10, latent_dim=LATENT)
    hidden = (32,) if architecture == "mlp" else (8, 4)
    generator = build_generator(architecture, (28, 28, 1), hidden=hidden, latent_dim=LATENT,
                                condition_dims=objective.condition_dims, seed=0)
    assert [tuple(x.shape[1:]) for x in generator.inputs] == [(LATENT,), (10,)]
    outputs = [_np(generator(objective.inputs_for(np.full(4, k), seed=0), training=False))
               for k in (0, 1)]
    assert outputs[0].shape[0] == 4
    # Same z, another class: another image (the condition reaches the output).
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
    again = _np(generator(objective.inputs_for(np.full(4, 0), seed=0), training=False))
    np.testing.assert_allclose(again, outputs[0])


def test_cgan_losses_on_hand_computed_values():
    objective = _without_critic(3, latent_dim=LATENT, class_weight=0.5,
                                feature_matching_weight=2.0, pair_weight=0.3,
                                diversity_weight=0.0)
    fake = {"logits": _t([[0.0, math.log(3.0), 0.0], [2.0, 0.0, 0.0]]),
            "features": _t([[0.0, 0.0], [2.0, 2.0]])}
    real = {"logits": _t(np.zeros((2, 3))), "features": _t([[1.0, 2.0], [3.0, 4.0]])}
    latent = {"y": _t([1, 1], "int32")}
    loss, metrics = objective.generator_loss(fake, real, latent)
    class_ce = (math.log(5.0 / 3.0) + math.log(math.exp(2.0) + 2.0)) / 2  # log Z − l_y, averaged
    fm = (1.0**2 + 2.0**2) / 2  # mean real features (2, 3), fake (1, 1)
    assert float(metrics["loss_class"]) == pytest.approx(class_ce, rel=1e-5)
    assert float(metrics["loss_feature_matching"]) == pytest.approx(fm, rel=1e-5)
    assert float(loss) == pytest.approx(2.0 * fm + 0.5 * class_ce, rel=1e-5)
    assert float(metrics["fake_class_accuracy"]) == pytest.approx(0.5)
    # The discriminator's generated-pair term: CE of the fakes' class logits toward y, weighted
    # (full weight without a step; none before the schedule starts; none when switched off).
    d_loss, d_metrics = objective.discriminator_loss(fake, latent, real, _t([0, 0], "int32"))
    assert float(d_loss) == pytest.approx(0.3 * class_ce, rel=1e-5)
    assert float(d_metrics["loss_pairs"]) == pytest.approx(class_ce, rel=1e-5)
    d_loss, d_metrics = objective.discriminator_loss(fake, latent, real, _t([0, 0], "int32"),
                                                     step=_t(1999, "int32"))
    assert float(d_loss) == 0.0 and float(d_metrics["pair_weight"]) == 0.0
    off = _without_critic(3, latent_dim=LATENT, pair_weight=0.0)
    d_loss, d_metrics = off.discriminator_loss(fake, latent, real, _t([0, 0], "int32"))
    assert float(d_loss) == 0.0 and d_metrics == {}


def _pair_value_and_gradient(objective, logits, latent, step):
    """The objective's discriminator term, its metrics and its gradient w.r.t. the fakes' logits."""
    from ssgan.backends import get_backend

    def loss(params):
        return objective.discriminator_loss({"logits": params}, latent, None, None,
                                            step=_t(step, "int32"))

    (value, metrics), grads = get_backend().value_and_grad(loss)(_t(logits))
    return float(value), {k: float(v) for k, v in metrics.items()}, _np(grads, np.float64)


@pytest.mark.parametrize("step, share", [
    (0, 0.0), (99, 0.0), (100, 0.0), (130, 0.75), (140, 1.0), (10_000, 1.0),
])
def test_cgan_pair_term_follows_its_schedule_in_value_and_gradient(step, share):
    """0 up to pair_start (value and gradient exactly), then a linear ramp to the full weight
    over pair_ramp steps: weight × the NumPy cross-entropy and its gradient."""
    objective = _without_critic(4, latent_dim=LATENT, pair_weight=0.5, pair_start=100,
                                pair_ramp=40)
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(6, 4)).astype("float32")
    labels = rng.integers(0, 4, 6)
    value, metrics, grads = _pair_value_and_gradient(objective, logits,
                                                     {"y": _t(labels, "int32")}, step)
    assert_pair_term(value, metrics, grads, logits, labels, 0.5 * share)


def test_pair_term_without_a_ramp_starts_at_once_and_options_are_checked():
    objective = _without_critic(3, latent_dim=LATENT, pair_weight=2.0, pair_start=5,
                                pair_ramp=0)
    weights = [float(objective.pairs.weight_at(_t(t, "int32"))) for t in (0, 4, 5, 6)]
    assert weights == [0.0, 0.0, 2.0, 2.0]
    for option in ("pair_weight", "pair_start", "pair_ramp"):
        for bad in (-1, None, "0.3", True):
            with pytest.raises(ValueError, match=option):
                ConditionalObjective(3, **{option: bad})
    with pytest.raises(ValueError, match="pair_start must be a whole number"):
        ConditionalObjective(3, pair_start=2.5)
    assert ConditionalObjective(3, pair_weight=np.float32(0.5), pair_start=np.int64(3)).pairs == (
        0.5, 3, 2000)


def test_cgan_class_term_is_independent_of_the_real_fake_decision():
    """Shifting all K logits of an example by c moves D(x) = Z/(Z+1) but not the class posterior:
    the class term is blind to how real the fake looks, the K+1 loss to which class it is."""
    objective = _without_critic(4, latent_dim=LATENT, diversity_weight=0.0)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32")
    shift = rng.normal(scale=3.0, size=(6, 1)).astype("float32")
    features = _t(np.zeros((6, 3)))
    latent = {"y": _t(rng.integers(0, 4, 6), "int32")}

    def class_term(l):
        _, metrics = objective.generator_loss({"logits": _t(l), "features": features},
                                              {"features": features}, latent)
        return float(metrics["loss_class"])

    assert class_term(logits + shift) == pytest.approx(class_term(logits), rel=1e-5)
    real_fake = losses.unsupervised_discriminator_loss
    assert float(real_fake(_t(logits), _t(logits + shift))) != pytest.approx(
        float(real_fake(_t(logits), _t(logits))), rel=1e-3)


def test_grid_inputs_layout():
    cgan = ConditionalObjective(10, latent_dim=LATENT)
    z, y = cgan.grid_inputs(per_class=7, seed=3)
    assert z.shape == (70, LATENT) and y.shape == (70, 10)
    np.testing.assert_array_equal(np.argmax(y, axis=1), np.repeat(np.arange(10), 7))
    np.testing.assert_array_equal(z[:7], z[7:14])  # a column keeps its z across the classes
    assert not np.allclose(z[0], z[1])


def test_class_consistency_counts_the_samples_classified_as_requested():
    objective = ConditionalObjective(10, latent_dim=LATENT)
    requested = []

    def generate(inputs):
        requested.append(np.argmax(inputs[1], axis=1))
        return np.zeros((len(inputs[0]), 28, 28, 1), "float32")

    def classify(images):  # right for the first 30 % of the samples
        labels = requested[-1].copy()
        labels[int(0.3 * len(labels)):] = (labels[int(0.3 * len(labels)):] + 1) % 10
        return labels

    result = objective.quality_metrics(generate, classify, n=200, seed=0)
    assert result == {"class_consistency": pytest.approx(0.3)}
    assert np.bincount(requested[0]).tolist() == [20] * 10  # n / K samples of every class
    (grid,) = objective.grids(seed=0)
    assert grid.filename == "cgan_classes.png" and (grid.rows, grid.columns) == (10, 10)
    assert grid.row_labels == [str(k) for k in range(10)]


def test_complement_rows_come_first_without_a_class_and_are_left_out_of_the_class_terms():
    """`complement_share`: the first round(share · batch) generated rows get no class (a zero
    one-hot); the class term, its accuracy and the pair term see only the rows with a class,
    and nothing of the complement rows' logits reaches them (zero gradient there)."""
    from ssgan.backends import get_backend

    objective = _without_critic(3, latent_dim=LATENT, complement_share=0.25,
                                pair_start=0, pair_ramp=0, pair_weight=1.0)
    (z, y_hot), latent = objective.sample(keras.random.SeedGenerator(0), 8)
    y_hot, y = _np(y_hot), _np(latent["y"])
    assert _np(z).shape == (8, LATENT) and y.shape == (6,)
    np.testing.assert_array_equal(y_hot[:2], 0.0)
    np.testing.assert_array_equal(np.argmax(y_hot[2:], axis=1), y)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 3)).astype("float32")
    features = _t(rng.normal(size=(8, 2)))
    _, metrics = objective.generator_loss({"logits": _t(logits), "features": features},
                                          {"features": features}, latent)
    ce, _ = softmax_cross_entropy(logits[2:], y)
    assert float(metrics["loss_class"]) == pytest.approx(ce, rel=1e-5)
    assert float(metrics["fake_class_accuracy"]) == pytest.approx(
        np.mean(np.argmax(logits[2:], axis=1) == y))

    def pair_loss(params):
        return objective.discriminator_loss({"logits": params}, latent, None, None,
                                            step=_t(0, "int32"))

    (value, _), grads = get_backend().value_and_grad(pair_loss)(_t(logits))
    assert float(value) == pytest.approx(ce, rel=1e-5)
    grads = _np(grads)
    assert np.all(grads[:2] == 0.0) and np.abs(grads[2:]).max() > 0
    for share in (-0.1, 1.0):
        with pytest.raises(ValueError, match="complement_share"):
            ConditionalObjective(3, complement_share=share)


def test_generation_inputs_give_every_row_a_class_whatever_the_complement_share():
    """What users sample (`generate`, the random grid, MNIST-FID) has no complement rows: each
    row a one-hot class drawn uniformly, while training batches keep their zero rows."""
    objective = _without_critic(10, latent_dim=LATENT, complement_share=0.8)
    (_, trained), _ = objective.sample(keras.random.SeedGenerator(0), 1000)
    assert np.sum(_np(trained).sum(axis=1) == 0) == 800
    z, y_hot = (_np(x) for x in objective.generation_inputs(keras.random.SeedGenerator(0), 1000))
    assert z.shape == (1000, LATENT) and y_hot.shape == (1000, 10)
    np.testing.assert_array_equal(y_hot.sum(axis=1), 1.0)
    counts = np.bincount(np.argmax(y_hot, axis=1), minlength=10)
    assert counts.min() > 60 and counts.max() < 140  # ~100 each


@pytest.mark.parametrize("conditioned_loss", ["feature_matching", "gan"])
def test_diversity_term_pairs_the_classes_and_adds_the_mode_seeking_loss(conditioned_loss):
    """`diversity_weight`: the rows with a class come in same-class pairs (first half, second
    half) and the loss gains w · mode_seeking_loss(features, z) of those rows; the default
    weight is 1."""
    assert ConditionalObjective(4).diversity_weight == 1.0
    plain = _without_critic(4, latent_dim=LATENT, complement_share=0.5,
                            conditioned_loss=conditioned_loss, diversity_weight=0.0)
    diverse = _without_critic(4, latent_dim=LATENT, complement_share=0.5,
                              conditioned_loss=conditioned_loss, diversity_weight=2.0)
    inputs, latent = diverse.sample(keras.random.SeedGenerator(0), 20)
    y, z = _np(latent["y"]), _np(latent["varied"])
    assert len(y) == 10 and z.shape == (10, LATENT)
    np.testing.assert_array_equal(y[:5], y[5:])
    np.testing.assert_array_equal(_np(inputs[0])[10:], z)  # the z of the rows with a class
    rng = np.random.default_rng(3)
    outputs = {"logits": _t(rng.normal(size=(20, 4))), "features": _t(rng.normal(size=(20, 6)))}
    real = {"features": _t(rng.normal(size=(7, 6)))}
    assert_diversity_term(plain, diverse, outputs, real, latent, 2.0)
    assert "varied" not in plain.sample(keras.random.SeedGenerator(0), 20)[1]
    with pytest.raises(ValueError, match="diversity_weight"):
        ConditionalObjective(4, diversity_weight=-1.0)


@pytest.mark.parametrize("share", [0.25, 0.0])
def test_gan_conditioned_loss_trains_the_class_rows_by_the_gan_loss(share):
    """`conditioned_loss="gan"`: the rows with a class get λ·CE + mean softplus(−logsumexp l);
    feature matching sees the complement rows only (nothing without them), so no gradient of it
    reaches the conditioned rows' features."""
    from ssgan.backends import get_backend

    objective = _without_critic(3, latent_dim=LATENT, complement_share=share,
                                class_weight=0.5, feature_matching_weight=2.0,
                                conditioned_loss="gan", diversity_weight=0.0)
    _, latent = objective.sample(keras.random.SeedGenerator(0), 8)
    y, free = _np(latent["y"]), 8 - len(_np(latent["y"]))
    assert free == round(8 * share)
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(8, 3)).astype("float32")
    fake, real = rng.normal(size=(8, 2)), rng.normal(size=(5, 2))
    ce, _ = softmax_cross_entropy(logits[free:], y)
    log_z = np.log(np.exp(logits[free:].astype(np.float64)).sum(axis=1))
    realness = np.mean(np.log1p(np.exp(-log_z)))
    fm = np.mean((real.mean(axis=0) - fake[:free].mean(axis=0)) ** 2) if free else 0.0

    def loss(features):
        return objective.generator_loss({"logits": _t(logits), "features": features},
                                        {"features": _t(real)}, latent)

    (value, metrics), grads = get_backend().value_and_grad(loss)(_t(fake))
    assert float(value) == pytest.approx(0.5 * ce + realness + 2.0 * fm, rel=1e-5)
    assert float(metrics["loss_realness"]) == pytest.approx(realness, rel=1e-5)
    assert ("loss_feature_matching" in metrics) == bool(free)
    grads = np.zeros(fake.shape) if grads is None else _np(grads)  # None: features unused
    assert np.all(grads[free:] == 0.0) and (not free or np.abs(grads[:free]).max() > 0)
    with pytest.raises(ValueError, match="conditioned_loss"):
        ConditionalObjective(3, conditioned_loss="wasserstein")
