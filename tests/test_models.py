"""Model builders of ssgan.models: shapes, data-dependent init, VBN batch independence, saving."""

import keras
import numpy as np
import pytest
from conftest import as_numpy

from ssgan import layers as L
from ssgan.models import (
    build_conv_discriminator,
    build_conv_generator,
    build_mlp_discriminator,
    build_mlp_generator,
    set_reference_batches,
)

REF = 4  # reference batch size of the VBN models
LATENT = 16
N = 8  # one batch size throughout: on JAX every new shape costs a compilation

DISCRIMINATORS = {
    "mlp": lambda: build_mlp_discriminator(784, 10, hidden_units=(32, 16), seed=1),
    "mlp_mbd": lambda: build_mlp_discriminator(
        784, 10, hidden_units=(32, 16), minibatch_discrimination=True, minibatch_kernels=6,
        minibatch_kernel_dim=3, seed=1,
    ),
    "conv": lambda: build_conv_discriminator((28, 28, 1), 10, filters=(8, 8), seed=1),
    "conv_mbd": lambda: build_conv_discriminator(
        (28, 28, 1), 10, filters=(8, 8), minibatch_discrimination=True, minibatch_kernels=6, seed=1
    ),
    "conv_vbn": lambda: build_conv_discriminator(
        (28, 28, 1), 10, filters=(8, 8), vbn=True, reference_size=REF, seed=1
    ),
    "conv_vbn_mbd": lambda: build_conv_discriminator(
        (28, 28, 1), 10, filters=(8, 8), vbn=True, reference_size=REF,
        minibatch_discrimination=True, minibatch_kernels=6, seed=1,
    ),
}
# Documented width of `features`: the last hidden layer (mlp) or the last filter count (conv).
FEATURE_WIDTH = {"mlp": 16, "conv": 8}

GENERATORS = {
    "mlp": lambda: build_mlp_generator((28, 28, 1), LATENT, hidden_units=(32, 32), seed=1),
    "mlp_vbn": lambda: build_mlp_generator(
        (28, 28, 1), LATENT, hidden_units=(32, 32), vbn=True, reference_size=REF, seed=1
    ),
    "conv": lambda: build_conv_generator((28, 28, 1), LATENT, filters=(8, 8), seed=1),
    "conv_vbn": lambda: build_conv_generator(
        (28, 28, 1), LATENT, filters=(8, 8), vbn=True, reference_size=REF, seed=1
    ),
    "conv_rgb": lambda: build_conv_generator((32, 32, 3), LATENT, filters=(8, 8), seed=1),
    "conv_rgb_vbn": lambda: build_conv_generator(
        (32, 32, 3), LATENT, filters=(8, 8), vbn=True, reference_size=REF, seed=1
    ),
    "conv_cropped": lambda: build_conv_generator((30, 26, 3), LATENT, filters=(8, 8), seed=1),
}
GENERATOR_OUTPUT = {
    "mlp": (784,), "mlp_vbn": (784,), "conv": (28, 28, 1), "conv_vbn": (28, 28, 1),
    "conv_rgb": (32, 32, 3), "conv_rgb_vbn": (32, 32, 3), "conv_cropped": (30, 26, 3),
}


pytestmark = pytest.mark.usefixtures("keras_seed")


def _np(tensor):
    return as_numpy(tensor, np.float64)


def _images(model, n, seed=0):
    """Inputs of a discriminator: images (or flat vectors) in [0, 1]."""
    shape = tuple(model.input.shape[1:])
    return np.random.default_rng(seed).uniform(size=(n,) + shape).astype(np.float32)


def _latents(n, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, LATENT)).astype(np.float32)


def _discriminator(name, seed=0):
    """A discriminator ready to use: reference batch fixed to images, weight norm initialized."""
    model = DISCRIMINATORS[name]()
    init = _images(model, N, seed)
    set_reference_batches(model, init)
    L.initialize_weight_norm(model, init, training=False)
    return model


def _perturb(model, seed=0):
    """Move every weight (moving statistics and reference batches too) off its initial value."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        if "variance" in weight.path:
            new = value * rng.uniform(0.5, 1.5, size=value.shape)
        else:
            new = value + 0.05 * rng.normal(size=value.shape)
        weight.assign(new.astype(np.float32))
    return model


def _assert_outputs_equal(actual, expected):
    if isinstance(expected, dict):
        assert set(actual) == set(expected)
        for key in expected:
            np.testing.assert_allclose(_np(actual[key]), _np(expected[key]), rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_allclose(_np(actual), _np(expected), rtol=1e-6, atol=1e-6)


# --- Shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_output_shapes(name):
    model = _discriminator(name)
    outputs = model(_images(model, N, seed=1), training=False)
    assert set(outputs) == {"logits", "features"}
    assert tuple(outputs["logits"].shape) == (N, 10)
    assert tuple(outputs["features"].shape) == (N, FEATURE_WIDTH[name.split("_")[0]])
    assert np.all(np.isfinite(_np(outputs["logits"])))


def test_minibatch_discrimination_widens_only_the_logits_input():
    plain, with_mbd = _discriminator("mlp"), _discriminator("mlp_mbd")
    assert plain.get_layer("logits").kernel.shape == (16, 10)
    assert with_mbd.get_layer("logits").kernel.shape == (16 + 6, 10)


def test_mlp_discriminator_trains_only_the_output_weight_norm_scale():
    model = _discriminator("mlp")
    trainable = {id(w) for w in model.trainable_weights}
    hidden = [layer for layer in model.layers if layer.name.startswith("dense_")]
    assert len(hidden) == 2
    assert all(id(layer.scale) not in trainable for layer in hidden)
    assert id(model.get_layer("logits").scale) in trainable


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_output_shapes_and_range(name):
    model = _perturb(GENERATORS[name](), seed=2)
    z = _latents(N)
    for training in (False, True):
        images = _np(model(z, training=training))
        assert images.shape == (N,) + GENERATOR_OUTPUT[name]
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert images.std() > 0


# --- Data-dependent initialization ----------------------------------------------------------------


def test_initialize_weight_norm_standardizes_the_mlp_discriminator():
    model = DISCRIMINATORS["mlp"]()
    x = _images(model, 64)
    L.initialize_weight_norm(model, x, training=False)
    dense = [layer for layer in model.layers if isinstance(layer, L.WeightNormDense)]
    assert len(dense) == 3
    for layer in dense:
        h = _np(keras.Model(model.input, layer.input)(x, training=False))
        kernel, scale, bias = (_np(w) for w in (layer.kernel, layer.scale, layer.bias))
        pre = h @ kernel * scale / np.sqrt((kernel**2).sum(axis=0) + layer.epsilon) + bias
        np.testing.assert_allclose(pre.mean(axis=0), 0.0, atol=1e-4, err_msg=layer.name)
        np.testing.assert_allclose(pre.std(axis=0), 1.0, rtol=1e-3, err_msg=layer.name)


@pytest.mark.parametrize("name", ["mlp", "conv", "conv_vbn_mbd"])
def test_initialize_weight_norm_with_noise_on(name):
    model = DISCRIMINATORS[name]()
    x = _images(model, N)
    set_reference_batches(model, x)
    L.initialize_weight_norm(model, x, training=True)
    normalized = [layer for layer in model.layers if isinstance(layer, (L.WeightNormDense, L.WeightNormConv2D))]
    assert normalized
    for layer in normalized:
        scale = _np(layer.scale)
        assert np.all(np.isfinite(scale)) and not np.allclose(scale, 1.0)
    for training in (False, True):
        logits = _np(model(x, training=training)["logits"])
        assert np.all(np.isfinite(logits)) and logits.std() > 0


# --- Reference batches and VBN --------------------------------------------------------------------


def test_set_reference_batches_fixes_the_reference_to_the_first_examples():
    model = DISCRIMINATORS["conv_vbn"]()
    x = _images(model, N, seed=3)
    set_reference_batches(model, x)
    np.testing.assert_allclose(_np(model.get_layer("reference").reference), x[:REF])


def test_vbn_discriminator_classifies_each_example_independently_of_its_batch():
    model = _discriminator("conv_vbn")
    x = _images(model, N, seed=4)
    batch = _np(model(x, training=False)["logits"])
    alone = np.concatenate([_np(model(x[i : i + 1], training=False)["logits"]) for i in range(N)])
    reversed_batch = _np(model(x[::-1], training=False)["logits"])[::-1]
    np.testing.assert_allclose(batch, alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(reversed_batch, alone, rtol=1e-4, atol=1e-5)
    set_reference_batches(model, 0.5 * _images(model, REF, seed=5) ** 3)
    assert np.abs(_np(model(x, training=False)["logits"]) - batch).max() > 1e-2


@pytest.mark.parametrize("name", ["mlp_vbn", "conv_vbn"])
def test_vbn_generator_maps_each_z_independently_of_its_batch(name):
    model = _perturb(GENERATORS[name](), seed=3)
    z = _latents(N, seed=6)
    batch = _np(model(z, training=True))
    alone = np.concatenate([_np(model(z[i : i + 1], training=True)) for i in range(N)])
    np.testing.assert_allclose(batch, alone, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(_np(model(z, training=False)), batch, rtol=1e-5, atol=1e-6)


# --- Saving ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_save_load_round_trip(name, tmp_path):
    model = _perturb(_discriminator(name), seed=4)
    x = _images(model, N, seed=7)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    _assert_outputs_equal(loaded(x, training=False), model(x, training=False))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_save_load_round_trip(name, tmp_path):
    model = _perturb(GENERATORS[name](), seed=5)
    z = _latents(N, seed=8)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    _assert_outputs_equal(loaded(z, training=False), model(z, training=False))


def test_the_architecture_registry():
    from ssgan.models import ARCHITECTURES, Architecture, get_architecture, register_architecture

    assert list(ARCHITECTURES) == ["mlp", "conv"]
    assert (get_architecture("mlp").layout, get_architecture("conv").layout) == ("flat", "image")
    with pytest.raises(ValueError, match="Unknown architecture 'rnn': expected one of conv, mlp"):
        get_architecture("rnn")
    with pytest.raises(ValueError, match="layout"):
        register_architecture(Architecture("x", "volume", None, None, ((1,), (1,))))
    # Each registered pair builds through the one interface the trainer uses, at smoke size.
    for architecture in ARCHITECTURES.values():
        d_hidden, g_hidden = architecture.smoke_hidden
        d = architecture.discriminator((28, 28, 1), 10, d_hidden, minibatch_discrimination=False,
                                       vbn=False, extra_heads=None, seed=0)
        g = architecture.generator((28, 28, 1), g_hidden, latent_dim=LATENT, vbn=False,
                                   condition_dims=None, seed=0)
        images = g(np.random.default_rng(0).uniform(size=(N, LATENT)).astype("float32"))
        assert tuple(images.shape[1:]) == tuple(d.input.shape[1:])
        assert tuple(d(images)["logits"].shape) == (N, 10)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_input_shift_moves_the_discriminators_input_in_training_only(name):
    from ssgan.models import get_architecture

    architecture = get_architecture(name)
    d_hidden = architecture.smoke_hidden[0]
    build = lambda shift: architecture.discriminator(  # noqa: E731
        (28, 28, 1), 10, d_hidden, input_shift=shift, seed=0)
    plain, shifted = build(0), build(2)
    assert "random_shift" not in [layer.name for layer in plain.layers]
    assert shifted.get_layer("random_shift").max_shift == 2
    # The shift adds no weights and leaves the noise layers' seeds as they were.
    assert ([w.shape for w in shifted.trainable_weights]
            == [w.shape for w in plain.trainable_weights])
    shifted.set_weights(plain.get_weights())
    x = np.random.default_rng(1).uniform(size=(N, 784 if name == "mlp" else 28)).astype("float32")
    x = x if name == "mlp" else np.repeat(x[:, :, None, None], 28, axis=2)
    _assert_outputs_equal(shifted(x, training=False), plain(x, training=False))


def test_input_shift_on_rows_that_are_not_images_is_a_clear_error():
    from ssgan.models import get_architecture

    with pytest.raises(ValueError, match=r"input_shift=2 moves images.*\(64,\).*image_shape"):
        get_architecture("mlp").discriminator((64,), 10, (8,), input_shift=2, seed=0)
