"""The Improved-GAN MNIST pair: fully connected networks on flat images (Salimans et al. 2016)."""

import math

import keras

from ssgan import layers as ssgan_layers
from ssgan.models import common


DISCRIMINATOR_HIDDEN = (1000, 500, 250, 250, 250)  # the paper's, for 784 features
GENERATOR_HIDDEN = (500, 500)
LATENT_DIM = 100


def build_mlp_discriminator(input_dim=784, n_classes=10, hidden_units=DISCRIMINATOR_HIDDEN,
                            input_noise=0.3, hidden_noise=0.5, minibatch_discrimination=False,
                            minibatch_kernels=100, minibatch_kernel_dim=5, extra_heads=None,
                            input_shift=0, image_shape=None, seed=None, name="discriminator"):
    """The Improved-GAN MNIST discriminator.

    Gaussian noise σ=`input_noise` on the input; weight-normalized dense layers with ReLU, each
    followed by noise σ=`hidden_noise` (noise is active in training only); the hidden layers'
    weight-norm scales are fixed (set by data-dependent initialization), the output layer's is
    trained. `features` is the last hidden layer after its ReLU and before its noise. With
    `minibatch_discrimination`, a `MinibatchDiscrimination` layer sits between it and the output.
    `extra_heads(features, logits)` builds extra outputs on the features and class logits and
    returns them by name (InfoGAN's Q). `input_shift` > 0 first moves each example, seen as an
    image of `image_shape`, by up to that many pixels (`RandomShift`).
    """
    seeds = common.noise_seeds(seed)
    inputs = keras.Input(shape=(input_dim,), name="x")
    h = common.random_shift(inputs, input_shift, image_shape, seed)
    h = keras.layers.GaussianNoise(input_noise, seed=next(seeds), name="input_noise")(h)
    features = None
    for i, units in enumerate(hidden_units):
        features = ssgan_layers.WeightNormDense(
            units, activation="relu", train_scale=False, name=f"dense_{i}"
        )(h)
        h = keras.layers.GaussianNoise(hidden_noise, seed=next(seeds), name=f"noise_{i}")(features)
    minibatch = (minibatch_kernels, minibatch_kernel_dim) if minibatch_discrimination else None
    return common.discriminator_model(inputs, features, h, n_classes, minibatch, extra_heads, name)


def build_mlp_generator(output_shape=(28, 28, 1), latent_dim=LATENT_DIM, hidden_units=GENERATOR_HIDDEN,
                        vbn=False, reference_size=64, condition_dims=None, seed=None,
                        name="generator"):
    """The Improved-GAN MNIST generator.

    z ~ U(0, 1)^`latent_dim` → [dense (no bias) → batch norm (no scale, with bias) → softplus] per
    entry of `hidden_units` → weight-normalized dense with a trained scale → sigmoid, flattened to
    prod(`output_shape`) pixels. With `vbn`, virtual batch normalization against a fixed reference
    batch of latent vectors replaces batch norm. `condition_dims` adds named inputs (a class one-hot
    for CGAN, codes for InfoGAN) concatenated to z.
    """
    inputs, h = common.generator_inputs(latent_dim, condition_dims, vbn, reference_size, seed)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(h)
        h = common.normalization(vbn, reference_size, f"norm_{i}")(h)
        h = keras.layers.Activation("softplus", name=f"softplus_{i}")(h)
    x = ssgan_layers.WeightNormDense(
        math.prod(output_shape),
        activation="sigmoid",
        train_scale=True,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="pixels",
    )(h)
    return common.generator_model(inputs, x, vbn, reference_size, name)


def discriminator(image_shape, n_classes, hidden=None, vbn=False, **options):
    """The registry's builder: the MLP discriminator on flat images (it has no normalization, so
    `vbn` does not apply)."""
    del vbn
    if hidden is not None:
        options["hidden_units"] = tuple(hidden)
    return build_mlp_discriminator(math.prod(image_shape), n_classes, image_shape=image_shape,
                                   **options)


def generator(image_shape, hidden=None, **options):
    """The registry's builder: the MLP generator, flat images out."""
    if hidden is not None:
        options["hidden_units"] = tuple(hidden)
    return build_mlp_generator(tuple(image_shape), **options)


def widths_for(n_features):
    """The networks sized for rows of `n_features`: the paper's MNIST pair scaled by
    n_features / 784 within [1/4, 1], the generator's widths and the latent size by at least 1/2
    (a generator much narrower than its data draws blurred averages). Returns the settings
    (`discriminator_hidden`, `generator_hidden`, `latent_dim`) and `scale`."""
    scale = min(1.0, max(0.25, n_features / 784))
    g_scale = max(scale, 0.5)
    return {
        "discriminator_hidden": tuple(max(8, round(w * scale)) for w in DISCRIMINATOR_HIDDEN),
        "generator_hidden": tuple(max(8, round(w * g_scale)) for w in GENERATOR_HIDDEN),
        "latent_dim": max(8, round(LATENT_DIM * g_scale)),
        "scale": scale,
    }
