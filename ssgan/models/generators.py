"""Generators: latent noise (and, for the conditional kinds, codes) to images in [0, 1]."""

import math

import keras

from ssgan import layers as ssgan_layers


def _inputs(latent_dim, condition_dims, vbn=False, reference_size=64, seed=None):
    """Model inputs (`z`, then one per named condition) and their concatenation.

    With `vbn`, each input gets its own `ReferenceBatch`: z's reference is drawn from U(0, 1) when
    built; a condition's (a one-hot class, codes) should come from its own distribution: set all
    of them with `set_generator_reference` before training.
    """
    inputs = [keras.Input(shape=(latent_dim,), name="z")]
    for name, dim in (condition_dims or {}).items():
        inputs.append(keras.Input(shape=(dim,), name=name))
    merged = inputs
    if vbn:
        merged = [
            ssgan_layers.ReferenceBatch(
                reference_size,
                initializer=keras.initializers.RandomUniform(0.0, 1.0, seed=seed),
                name=f"reference_{x.name}",
            )(x)
            for x in inputs
        ]
    if len(inputs) == 1:
        return inputs[0], merged[0]
    return inputs, keras.layers.Concatenate(name="latent")(merged)


def set_generator_reference(generator, inputs):
    """Fix the reference batches of a `vbn` generator to `inputs` (as the generator takes them:
    one array, or a list in the order of `generator.inputs`), e.g. a sample of its latent
    distribution drawn by the objective."""
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    for model_input, values in zip(generator.inputs, inputs):
        name = model_input.name
        try:
            layer = generator.get_layer(f"reference_{name}")
        except ValueError:
            continue  # not a VBN generator
        layer.set_reference(values[: layer.size])


def _normalization(vbn, reference_size, name):
    """Batch norm without scale but with a bias (the paper's generator), or VBN likewise."""
    if vbn:
        return ssgan_layers.VirtualBatchNormalization(reference_size, scale=False, name=name)
    return keras.layers.BatchNormalization(scale=False, center=True, momentum=0.9, name=name)


def build_mlp_generator(
    output_shape=(28, 28, 1),
    latent_dim=100,
    hidden_units=(500, 500),
    vbn=False,
    reference_size=64,
    condition_dims=None,
    seed=None,
    name="generator",
):
    """The Improved-GAN MNIST generator.

    z ~ U(0, 1)^`latent_dim` → [dense (no bias) → batch norm (no scale, with bias) → softplus] per
    entry of `hidden_units` → weight-normalized dense with a trained scale → sigmoid, flattened to
    prod(`output_shape`) pixels. With `vbn`, virtual batch normalization against a fixed reference
    batch of latent vectors replaces batch norm. `condition_dims` adds named inputs (a class one-hot
    for CGAN, codes for InfoGAN) concatenated to z.
    """
    inputs, h = _inputs(latent_dim, condition_dims, vbn, reference_size, seed)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(h)
        h = _normalization(vbn, reference_size, f"norm_{i}")(h)
        h = keras.layers.Activation("softplus", name=f"softplus_{i}")(h)
    x = ssgan_layers.WeightNormDense(
        math.prod(output_shape),
        activation="sigmoid",
        train_scale=True,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="pixels",
    )(h)
    if vbn:
        x = ssgan_layers.DropReference(reference_size, name="drop_reference")(x)
    return keras.Model(inputs, x, name=name)


def build_conv_generator(
    output_shape=(28, 28, 1),
    latent_dim=100,
    filters=(128, 64),
    vbn=False,
    reference_size=64,
    condition_dims=None,
    seed=None,
    name="generator",
):
    """A DCGAN-style generator: dense to a (H/4, W/4) map of `filters[0]` channels, a stride-2
    transposed convolution to `filters[1]` channels, and a last one to the image.

    Batch norm (or VBN) and ReLU after every layer but the last, whose sigmoid gives pixels in
    [0, 1]; sizes that are not multiples of 4 are cropped to `output_shape`.
    """
    height, width, channels = output_shape
    if len(filters) != 2:
        raise ValueError(f"The conv generator takes two filter counts, got {filters}.")
    start = (math.ceil(height / 4), math.ceil(width / 4))
    inputs, h = _inputs(latent_dim, condition_dims, vbn, reference_size, seed)
    h = keras.layers.Dense(start[0] * start[1] * filters[0], use_bias=False, name="project")(h)
    h = _normalization(vbn, reference_size, "project_norm")(h)
    h = keras.layers.ReLU(name="project_relu")(h)
    h = keras.layers.Reshape(start + (filters[0],), name="to_map")(h)
    h = keras.layers.Conv2DTranspose(
        filters[1], 5, strides=2, padding="same", use_bias=False, name="upsample_0"
    )(h)
    h = _normalization(vbn, reference_size, "upsample_0_norm")(h)
    h = keras.layers.ReLU(name="upsample_0_relu")(h)
    x = keras.layers.Conv2DTranspose(
        channels, 5, strides=2, padding="same", activation="sigmoid", name="pixels"
    )(h)
    extra = (4 * start[0] - height, 4 * start[1] - width)
    if any(extra):
        x = keras.layers.Cropping2D(
            ((extra[0] // 2, extra[0] - extra[0] // 2), (extra[1] // 2, extra[1] - extra[1] // 2)),
            name="crop",
        )(x)
    if vbn:
        x = ssgan_layers.DropReference(reference_size, name="drop_reference")(x)
    return keras.Model(inputs, x, name=name)


def build_generator(architecture, image_shape, hidden=None, **options):
    """The generator of `architecture`; "mlp" outputs flat vectors, "conv" images; `hidden`
    overrides its hidden widths (mlp) or its two filter counts (conv)."""
    if architecture == "mlp":
        if hidden is not None:
            options["hidden_units"] = tuple(hidden)
        return build_mlp_generator(tuple(image_shape), **options)
    if architecture == "conv":
        if hidden is not None:
            options["filters"] = tuple(hidden)
        return build_conv_generator(tuple(image_shape), **options)
    raise ValueError(f"Unknown architecture {architecture!r}: expected 'mlp' or 'conv'.")
