"""InfoGAN (`ssgan.objectives.infogan`): codes, the Q head, the mutual-information loss on
hand-computed values, Q on the class logits, the generated-pair term (tied and free codes), the
code grids and the code→class metric."""

import math

import keras
import numpy as np
import pytest
from conftest import as_numpy as _np
from conftest import assert_diversity_term
from conftest import assert_pair_term

from ssgan.models import build_discriminator, build_generator
from ssgan.objectives import InfoGANObjective
from ssgan.objectives.infogan import class_imbalance
from ssgan.objectives.infogan import code_classes

LATENT = 8


def _without_critic(n_classes, **options):
    """An InfoGAN objective without its critic: these tests check the other terms on outputs that
    have no critic head (tests/test_objectives_critic.py checks the critic)."""
    return InfoGANObjective(n_classes, critic_weight=0.0, **options)


def _t(x, dtype="float32"):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype=dtype))


def test_infogan_sample_code_shapes_and_ranges():
    # Every row coded (no complement rows), so each carries a one-hot categorical code.
    objective = _without_critic(10, latent_dim=LATENT, complement_share=0.0)
    inputs, latent = objective.sample(keras.random.SeedGenerator(1), 2000)
    z, c_hot, c_cont = (_np(x) for x in inputs)
    assert z.shape == (2000, LATENT) and c_hot.shape == (2000, 10) and c_cont.shape == (2000, 2)
    assert z.min() >= 0 and z.max() <= 1
    assert c_cont.min() >= -1 and c_cont.max() <= 1
    assert c_cont.min() < -0.95 and c_cont.max() > 0.95 and abs(c_cont.mean()) < 0.05
    np.testing.assert_array_equal(np.argmax(c_hot, axis=1), _np(latent["c_cat"]))
    np.testing.assert_array_equal(_np(latent["c_cont"]), c_cont)
    assert np.bincount(_np(latent["c_cat"]), minlength=10).min() > 140


def test_infogan_generator_and_q_head_shapes():
    objective = _without_critic(10, latent_dim=LATENT)
    generator = build_generator("mlp", (28, 28, 1), hidden=(32,), latent_dim=LATENT,
                                condition_dims=objective.condition_dims, seed=0)
    assert [tuple(x.shape[1:]) for x in generator.inputs] == [(LATENT,), (10,), (2,)]
    inputs = objective.inputs_for(np.arange(6) % 10, seed=0)
    images = generator(inputs, training=False)
    moved = [inputs[0], inputs[1], inputs[2] + 1.0]
    assert np.abs(_np(generator(moved, training=False)) - _np(images)).max() > 1e-4
    discriminator = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=objective.discriminator_heads, seed=0)
    outputs = discriminator(images, training=False)
    assert set(outputs) == {"logits", "features", "q", "q_stopped"}
    assert tuple(outputs["q"].shape) == (6, 12)
    logits, means = objective.split_q(outputs["q"])
    assert tuple(logits.shape) == (6, 10) and tuple(means.shape) == (6, 2)
    # InfoGAN's own Q on the features with q_hidden=0: one dense layer on the 16 features.
    linear = _without_critic(10, latent_dim=LATENT, q_hidden=0, q_categorical_input="features")
    discriminator = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=linear.discriminator_heads, seed=0)
    outputs = discriminator(images, training=False)
    assert set(outputs) == {"logits", "features", "q"}
    assert tuple(outputs["q"].shape) == (6, 12)
    q_layers = [layer for layer in discriminator.layers if layer.name.startswith("q_")]
    assert [layer.name for layer in q_layers] == ["q_output"]
    assert q_layers[0].kernel.shape == (16, 12)
    with pytest.raises(ValueError, match="q_hidden"):
        _without_critic(10, q_hidden=-1)


def test_infogan_mutual_information_loss_on_hand_computed_values():
    objective = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=2,
                                categorical_weight=1.0, continuous_weight=0.5, tie_weight=2.0,
                                feature_matching_weight=3.0, tie_codes_to_labels=True,
                                q_categorical_input="class_logits", diversity_weight=0.0)
    # Rows: categorical logits (3) then continuous means (2).
    q_fake = _t([[0.0, 0.0, math.log(2.0), 0.5, -0.5],
                 [1.0, 1.0, 1.0, 0.0, 0.0]])
    latent = {"c_cat": _t([2, 0], "int32"), "c_cont": _t([[1.0, -1.0], [0.2, 0.0]])}
    # CE: log(1 + 1 + 2) − log 2 = log 2; log 3.  Gaussian NLL (σ = 1, no ½·log 2π):
    # ((1 − 0.5)² + (−1 + 0.5)²)/2 = 0.25; (0.2² + 0²)/2 = 0.02.
    categorical = (math.log(2.0) + math.log(3.0)) / 2
    continuous = (0.25 + 0.02) / 2
    expected_mi = 1.0 * categorical + 0.5 * continuous
    mi, cat, cont = objective.mutual_information_loss(q_fake, latent)
    assert float(cat) == pytest.approx(categorical, rel=1e-5)
    assert float(cont) == pytest.approx(continuous, rel=1e-5)
    assert float(mi) == pytest.approx(expected_mi, rel=1e-5)

    features = _t([[1.0], [3.0]])
    fake = {"q": q_fake, "features": _t([[0.0], [0.0]]), "logits": _t(np.zeros((2, 3)))}
    real = {"features": features}
    g_loss, g_metrics = objective.generator_loss(fake, real, latent)
    assert float(g_loss) == pytest.approx(3.0 * 4.0 + expected_mi, rel=1e-5)  # FM: (2 − 0)²
    assert float(g_metrics["loss_info"]) == pytest.approx(expected_mi, rel=1e-5)

    labeled = {"q": _t([[0.0, math.log(3.0), 0.0, 9.0, 9.0]]), "logits": _t(np.zeros((1, 3)))}
    d_loss, d_metrics = objective.discriminator_loss(fake, latent, labeled, _t([1], "int32"))
    tie = math.log(5.0) - math.log(3.0)  # the continuous outputs play no part in the tie
    assert float(d_metrics["loss_q_labels"]) == pytest.approx(tie, rel=1e-5)
    assert float(d_loss) == pytest.approx(expected_mi + 2.0 * tie, rel=1e-5)
    untied = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=2,
                             pair_weight=0.0)
    d_loss, d_metrics = untied.discriminator_loss(fake, latent, labeled, _t([1], "int32"))
    assert "loss_q_labels" not in d_metrics
    assert float(d_loss) == pytest.approx(expected_mi, rel=1e-5)


def test_infogan_q_on_class_logits_trains_the_map_not_the_classifier():
    from ssgan.backends import get_backend

    value_and_grad = get_backend().value_and_grad
    objective = _without_critic(10, latent_dim=LATENT, q_categorical_input="class_logits")
    generator = build_generator("mlp", (28, 28, 1), hidden=(32,), latent_dim=LATENT,
                                condition_dims=objective.condition_dims, seed=0)
    discriminator = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=objective.discriminator_heads, seed=0)
    inputs = objective.inputs_for(np.arange(8) % 10, seed=0)
    latent = {"c_cat": _t(np.arange(8) % 10, "int32"), "c_cont": _t(inputs[2])}
    images = generator(inputs, training=False)
    outputs = discriminator(images, training=False)
    assert set(outputs) == {"logits", "features", "q", "q_stopped"}
    assert tuple(outputs["q"].shape) == (8, 12)
    np.testing.assert_array_equal(_np(outputs["q"]), _np(outputs["q_stopped"]))
    # Q's categorical logits: a linear map of the class log-posterior, so shifting every class
    # logit alike (what the real/fake decision does) leaves them unchanged.
    mapping = discriminator.get_layer("q_categorical")
    log_posterior = _np(keras.ops.log_softmax(outputs["logits"], axis=-1))
    expected = log_posterior @ _np(mapping.kernel) + _np(mapping.bias)
    np.testing.assert_allclose(_np(objective.split_q(outputs["q"])[0]), expected, rtol=1e-5,
                               atol=1e-5)

    def gradient_norms(grads, variables):
        return {v.path: 0.0 if g is None else float(np.abs(_np(g)).sum())
                for g, v in zip(grads, variables)}

    # The discriminator's MI term trains Q (its map and its continuous head), not the classifier:
    # no gradient reaches the class logits or the hidden layers through the categorical part.
    no_continuous = _without_critic(10, latent_dim=LATENT, n_continuous=0,
                                    q_categorical_input="class_logits", pair_weight=0.0)
    d_categorical = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=no_continuous.discriminator_heads, seed=0)

    def d_loss(params):
        out, _ = d_categorical.stateless_call(params, d_fixed, images, training=False)
        return no_continuous.discriminator_loss(out, {"c_cat": latent["c_cat"]}, None, None)[0], ()

    d_variables = d_categorical.trainable_variables
    d_fixed = [v.value for v in d_categorical.non_trainable_variables]
    (_, _), grads = value_and_grad(d_loss)([v.value for v in d_variables])
    norms = gradient_norms(grads, d_variables)
    assert all(norms[v.path] > 0 for v in d_variables if "q_categorical" in v.path)
    assert all(norms[v.path] == 0 for v in d_variables if "q_categorical" not in v.path)

    # The generator's loss reaches G through the classifier.
    def g_loss(params):
        fakes, _ = generator.stateless_call(
            params, [v.value for v in generator.non_trainable_variables], inputs, training=False
        )
        out, _ = d_categorical.stateless_call(
            [v.value for v in d_variables], d_fixed, fakes, training=False
        )
        info, _, _ = no_continuous.mutual_information_loss(out["q"], {"c_cat": latent["c_cat"]})
        return info, ()

    g_variables = generator.trainable_variables
    (_, _), grads = value_and_grad(g_loss)([v.value for v in g_variables])
    assert sum(gradient_norms(grads, g_variables).values()) > 0
    with pytest.raises(ValueError, match="q_categorical_input"):
        _without_critic(10, q_categorical_input="pixels")



def test_tied_codes_read_the_classifier_itself():
    """Tied codes default to Q = the class logits (no map): the MI term is then CGAN's class
    term, the tie to labels has nothing to train, and the option needs C == K."""
    from ssgan.objectives import ConditionalObjective

    tied = _without_critic(10, latent_dim=LATENT, tie_codes_to_labels=True)
    assert tied.q_categorical_input == "classifier"
    assert _without_critic(10, latent_dim=LATENT).q_categorical_input == "class_logits"
    generator = build_generator("mlp", (28, 28, 1), hidden=(32,), latent_dim=LATENT,
                                condition_dims=tied.condition_dims, seed=0)
    discriminator = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=tied.discriminator_heads, seed=0)
    inputs = tied.inputs_for(np.arange(8) % 10, seed=0)
    outputs = discriminator(generator(inputs, training=False), training=False)
    categorical, _ = tied.split_q(outputs["q"])
    np.testing.assert_array_equal(_np(categorical), _np(outputs["logits"]))
    latent = {"c_cat": _t(np.arange(8) % 10, "int32"), "c_cont": _t(inputs[2])}
    _, cat, _ = tied.mutual_information_loss(outputs["q"], latent)
    cgan = ConditionalObjective(10, latent_dim=LATENT, complement_share=0.0, diversity_weight=0.0,
                                critic_weight=0.0)
    _, cgan_metrics = cgan.generator_loss(outputs, outputs, {"y": latent["c_cat"]})
    assert float(cat) == pytest.approx(float(cgan_metrics["loss_class"]), rel=1e-5)
    labeled = {"q": outputs["q"][:2], "q_stopped": outputs["q_stopped"][:2]}
    _, d_metrics = tied.discriminator_loss(outputs, latent, labeled, _t([0, 1], "int32"))
    assert "loss_q_labels" not in d_metrics
    with pytest.raises(ValueError, match="'classifier' needs n_categories == n_classes"):
        _without_critic(10, n_categories=5, q_categorical_input="classifier")


def test_class_balance_term_on_hand_computed_values_and_stratified_codes():
    # Two rows, K = 2: posteriors (1, 0) and (0, 1) average to uniform (KL 0); two rows of
    # (1, 0) give p̄ = (1, 0): log 2. Softmax of (0, log 3) is (¼, ¾): p̄ = (⅝, ⅜) with (1, 0).
    big = 30.0
    assert float(class_imbalance(_t([[big, 0.0], [0.0, big]]))) == pytest.approx(0.0, abs=1e-6)
    assert float(class_imbalance(_t([[big, 0.0], [big, 0.0]]))) == pytest.approx(math.log(2.0),
                                                                                 rel=1e-5)
    mixed = 0.625 * math.log(0.625 * 2) + 0.375 * math.log(0.375 * 2)
    assert float(class_imbalance(_t([[big, 0.0], [0.0, math.log(3.0)]]))) == pytest.approx(
        mixed, rel=1e-4)
    objective = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=0,
                                balance_weight=2.0, complement_share=0.5, diversity_weight=0.0,
                                feature_matching_weight=0.0, categorical_weight=0.0)
    inputs, latent = objective.sample(keras.random.SeedGenerator(3), 12)
    codes = _np(latent["c_cat"])
    assert len(codes) == 6 and np.bincount(codes, minlength=3).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(_np(inputs[1])[:6], 0.0)  # the complement rows stay uncoded
    # The term sees the coded rows only: the complement rows' logits play no part.
    logits = np.zeros((12, 3), "float32")
    logits[6:, 0] = big
    fake = {"logits": _t(logits), "q": _t(logits), "features": _t(np.zeros((12, 1)))}
    loss, metrics = objective.generator_loss(fake, {"features": _t(np.zeros((4, 1)))}, latent)
    assert float(metrics["loss_balance"]) == pytest.approx(math.log(3.0), rel=1e-5)
    assert float(loss) == pytest.approx(2.0 * math.log(3.0), rel=1e-5)
    assert _without_critic(10).balance_weight == 1.0  # free codes: on by default
    assert _without_critic(10, tie_codes_to_labels=True).balance_weight == 0.0
    unbalanced = _without_critic(3, n_categories=3, n_continuous=0, balance_weight=0.0,
                                 diversity_weight=0.0)
    real = {"features": _t(np.zeros((4, 1)))}
    assert "loss_balance" not in unbalanced.generator_loss(fake, real, latent)[1]
    with pytest.raises(ValueError, match="balance_weight"):
        _without_critic(10, balance_weight=-1.0)


def _pair_term(objective, logits, codes, step):
    """The discriminator's loss with only the pair term weighted (the MI and tie weights 0), its
    metrics and its gradient w.r.t. the fakes' class logits."""
    from ssgan.backends import get_backend

    q = _t(np.zeros((len(codes), objective.n_categories + objective.n_continuous)))
    latent = {"c_cat": _t(codes, "int32"),
              "c_cont": _t(np.zeros((len(codes), objective.n_continuous)))}

    def loss(params):
        labeled = {"q": q[:1]}  # for the tie to labels, weighted 0 here
        return objective.discriminator_loss({"logits": params, "q": q}, latent, labeled,
                                            _t([0], "int32"), step=_t(step, "int32"))

    (value, metrics), grads = get_backend().value_and_grad(loss)(_t(logits))
    return float(value), {k: float(v) for k, v in metrics.items()}, _np(grads).astype("float64")


def test_code_classes_are_the_discriminators_majority_class_per_code():
    # Code 0: rows 0 and 2, posteriors summing highest on class 2; code 1: row 1, class 0;
    # code 2: row 3 leans to class 1 but row 4 (code 2 too) is sure of class 2: summed, class 2.
    logits = np.log([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.5, 0.4],
                     [0.3, 0.4, 0.3], [0.05, 0.05, 0.9]])
    codes = np.array([0, 1, 0, 2, 2])
    mapping = _np(code_classes(_t(logits), _t(codes, "int32"), 4))
    assert mapping[:3].tolist() == [2, 0, 2]  # two codes may share a class; code 3 is unused


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("step, share", [(0, 0.0), (49, 0.0), (55, 0.5), (60, 1.0), (999, 1.0)])
def test_infogan_pair_term_value_and_gradient(tied, step, share):
    """Tied codes: CE toward the code itself; free codes: toward the class the discriminator gives
    the code (a constant target). Zero before pair_start, then ramped; gradients as NumPy's."""
    objective = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=1,
                                categorical_weight=0.0, continuous_weight=0.0,
                                tie_codes_to_labels=tied, pair_weight=0.4, pair_start=50,
                                pair_ramp=10)
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(9, 3)).astype("float32")
    codes = np.arange(9) % 3
    if tied:
        targets = codes
    else:
        posterior = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        mapping = [np.argmax(posterior[codes == c].sum(axis=0)) for c in range(3)]
        targets = np.array(mapping)[codes]
    value, metrics, grads = _pair_term(objective, logits, codes, step)
    assert_pair_term(value, metrics, grads, logits, targets, 0.4 * share)


def test_discriminator_with_the_q_head_survives_a_keras_save_load_round_trip(tmp_path):
    objective = InfoGANObjective(10, latent_dim=LATENT)
    discriminator = build_discriminator("mlp", (28, 28, 1), 10, hidden=(32, 16),
                                        extra_heads=objective.discriminator_heads, seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, size=(5, 784)).astype("float32")
    path = tmp_path / "discriminator.keras"
    discriminator.save(path)
    loaded = keras.saving.load_model(path)
    expected = discriminator(images, training=False)
    restored = loaded(images, training=False)
    assert set(restored) == set(expected)
    for name in expected:
        np.testing.assert_allclose(_np(restored[name]), _np(expected[name]), rtol=1e-6, atol=1e-6)
    # The map is one layer applied twice, not two copies.
    assert len(loaded.get_layer("q_categorical").trainable_weights) == 2
    assert len(loaded.trainable_weights) == len(discriminator.trainable_weights)


def test_grid_inputs_layout():
    info = _without_critic(10, latent_dim=LATENT)
    values = np.linspace(-2, 2, 5)
    z, c_hot, c_cont = info.grid_inputs(1, values, seed=3)
    assert z.shape == (50, LATENT) and c_hot.shape == (50, 10) and c_cont.shape == (50, 2)
    np.testing.assert_array_equal(np.argmax(c_hot, axis=1), np.repeat(np.arange(10), 5))
    np.testing.assert_allclose(c_cont[:, 1], np.tile(values, 10))
    np.testing.assert_array_equal(c_cont[:, 0], 0.0)
    np.testing.assert_array_equal(z, np.repeat(z[:1], 50, axis=0))
    with pytest.raises(ValueError):
        info.grid_inputs(2)


def test_code_accuracy_matches_codes_to_classes():
    objective = _without_critic(10, latent_dim=LATENT)
    permutation = np.random.default_rng(0).permutation(10)

    def generate(inputs):
        return np.argmax(inputs[1], axis=1)  # stands for the images: the code itself

    result = objective.quality_metrics(generate, lambda codes: permutation[codes], n=100)
    assert result["code_accuracy"] == 1.0  # a permutation of the classes is a perfect matching
    assert result["code_mapping"] == {k: int(permutation[k]) for k in range(10)}
    assert result["code_identity_accuracy"] == pytest.approx(np.mean(permutation == np.arange(10)))
    grids = objective.grids(seed=0)
    assert [g.filename for g in grids] == ["infogan_c1.png", "infogan_c2.png"]
    assert grids[0].column_labels[0] == "-2.0" and grids[0].column_labels[-1] == "+2.0"


def test_the_pair_term_is_off_and_the_mode_seeking_term_on_by_default():
    """Both code forms: no generated-pair term and the mode-seeking term at weight 1 unless
    asked otherwise; a given weight is followed either way."""
    for tied in (False, True):
        default = InfoGANObjective(10, latent_dim=LATENT, tie_codes_to_labels=tied)
        assert default.pairs.weight == 0.0 and default.diversity_weight == 1.0
        asked = InfoGANObjective(10, latent_dim=LATENT, tie_codes_to_labels=tied,
                                 pair_weight=0.5, diversity_weight=0.0)
        assert asked.pairs.weight == 0.5 and asked.diversity_weight == 0.0


def test_complement_rows_have_all_codes_zero_and_no_part_in_the_code_terms():
    """`complement_share`: the first round(share · batch) rows get zero codes, and the mutual
    information loss is that of the coded rows alone (appending complement rows with any Q
    output changes nothing)."""
    objective = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=2,
                                complement_share=0.5, pair_weight=0.0)
    (z, c_hot, c_cont), latent = objective.sample(keras.random.SeedGenerator(0), 6)
    c_hot, c_cont = _np(c_hot), _np(c_cont)
    assert _np(z).shape == (6, LATENT) and _np(latent["c_cat"]).shape == (3,)
    np.testing.assert_array_equal(c_hot[:3], 0.0)
    np.testing.assert_array_equal(c_cont[:3], 0.0)
    np.testing.assert_array_equal(np.argmax(c_hot[3:], axis=1), _np(latent["c_cat"]))
    np.testing.assert_array_equal(c_cont[3:], _np(latent["c_cont"]))
    rng = np.random.default_rng(0)
    coded = rng.normal(size=(3, 5)).astype("float32")
    alone = _without_critic(3, latent_dim=LATENT, n_categories=3, n_continuous=2,
                            pair_weight=0.0)
    for complement in (np.zeros((3, 5)), rng.normal(scale=5.0, size=(3, 5))):
        q = _t(np.concatenate([complement, coded]))
        for mine, theirs in zip(objective.mutual_information_loss(q, latent),
                                alone.mutual_information_loss(_t(coded), latent)):
            assert float(mine) == pytest.approx(float(theirs), rel=1e-6)
    with pytest.raises(ValueError, match="complement_share"):
        _without_critic(3, complement_share=1.0)


@pytest.mark.parametrize("balance_weight", [0.0, 1.0])
def test_generation_inputs_code_every_row_whatever_the_complement_share(balance_weight):
    """What users sample (`generate`, the random grid, MNIST-FID) has no complement rows: each
    row has a one-hot code (every code about equally often) and continuous codes in [−1, 1]."""
    objective = _without_critic(10, latent_dim=LATENT, complement_share=0.8,
                                balance_weight=balance_weight)
    (_, trained, _), _ = objective.sample(keras.random.SeedGenerator(0), 1000)
    assert np.sum(_np(trained).sum(axis=1) == 0) == 800
    inputs = objective.generation_inputs(keras.random.SeedGenerator(0), 1000)
    z, c_hot, c_cont = (_np(x) for x in inputs)
    assert z.shape == (1000, LATENT) and c_cont.shape == (1000, 2)
    np.testing.assert_array_equal(c_hot.sum(axis=1), 1.0)
    counts = np.bincount(np.argmax(c_hot, axis=1), minlength=10)
    assert counts.min() > 60 and counts.max() < 140
    assert c_cont.min() >= -1 and c_cont.max() <= 1 and c_cont.std() > 0.4


@pytest.mark.parametrize("balance_weight", [0.0, 1.0])
def test_diversity_term_pairs_the_codes_and_adds_the_mode_seeking_loss(balance_weight):
    """`diversity_weight`: the coded rows come in pairs of one categorical code (first half,
    second half) with their own z and continuous codes, and the generator's loss gains
    w · mode_seeking_loss(features, (z, c_cont)) of those rows; off, neither pairs nor term."""
    options = dict(latent_dim=LATENT, n_categories=4, complement_share=0.5,
                   balance_weight=balance_weight)
    plain = _without_critic(4, diversity_weight=0.0, **options)
    diverse = _without_critic(4, diversity_weight=2.0, **options)
    (z, c_hot, c_cont), latent = diverse.sample(keras.random.SeedGenerator(0), 20)
    codes, varied = _np(latent["c_cat"]), _np(latent["varied"])
    np.testing.assert_array_equal(codes[:5], codes[5:])
    np.testing.assert_array_equal(np.argmax(_np(c_hot)[10:], axis=1), codes)
    np.testing.assert_array_equal(varied, np.concatenate([_np(z)[10:], _np(c_cont)[10:]], 1))
    assert not np.allclose(varied[:5], varied[5:])  # a pair shares its code, not its inputs
    rng = np.random.default_rng(3)
    fake = {"logits": _t(rng.normal(size=(20, 4))), "q": _t(rng.normal(size=(20, 6))),
            "features": _t(rng.normal(size=(20, 6)))}
    real = {"features": _t(rng.normal(size=(7, 6)))}
    assert_diversity_term(plain, diverse, fake, real, latent, 2.0)
    _, plain_latent = plain.sample(keras.random.SeedGenerator(0), 20)
    assert "varied" not in plain_latent and "loss_diversity" not in plain.generator_loss(
        fake, real, plain_latent)[1]
    with pytest.raises(ValueError, match="diversity_weight"):
        _without_critic(4, diversity_weight=-1.0)
