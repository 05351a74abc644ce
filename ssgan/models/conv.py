"""A DCGAN-style convolutional pair, in the style of the paper's CIFAR-10 models."""

import math

import keras

from ssgan import layers as ssgan_layers
from ssgan.models import common


def build_conv_discriminator(input_shape=(28, 28, 1), n_classes=10, filters=(64, 128),
                             input_noise=0.2, hidden_noise=0.3, minibatch_discrimination=False,
                             minibatch_kernels=50, minibatch_kernel_dim=5, vbn=False,
                             reference_size=64, extra_heads=None, input_shift=0, seed=None,
                             name="discriminator"):
    """A DCGAN-style convolutional discriminator in the style of the paper's CIFAR-10 model.

    For each entry of `filters`: two 3×3 convolutions, the second with stride 2, leaky ReLU, then
    Gaussian noise; a final 3×3 convolution, global average pooling (the `features`), and the
    weight-normalized output layer. Convolutions are weight-normalized; with `vbn` they are plain
    convolutions followed by virtual batch normalization against a reference batch of real images
    (fix it with `set_reference_batches` before training).
    """
    seeds = common.noise_seeds(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="x")
    h = common.random_shift(inputs, input_shift, input_shape, seed)
    h = keras.layers.GaussianNoise(input_noise, seed=next(seeds), name="input_noise")(h)
    if vbn:
        h = ssgan_layers.ReferenceBatch(reference_size, initializer="zeros", name="reference")(h)

    def conv(h, n_filters, strides, label):
        if vbn:
            h = keras.layers.Conv2D(
                n_filters, 3, strides=strides, padding="same", use_bias=False, name=label
            )(h)
            h = ssgan_layers.VirtualBatchNormalization(reference_size, name=f"{label}_vbn")(h)
        else:
            h = ssgan_layers.WeightNormConv2D(n_filters, 3, strides=strides, name=label)(h)
        return keras.layers.LeakyReLU(0.2, name=f"{label}_lrelu")(h)

    for block, n_filters in enumerate(filters):
        h = conv(h, n_filters, 1, f"conv_{block}a")
        h = conv(h, n_filters, 2, f"conv_{block}b")
        h = keras.layers.GaussianNoise(hidden_noise, seed=next(seeds), name=f"noise_{block}")(h)
    h = conv(h, filters[-1], 1, "conv_final")
    features = keras.layers.GlobalAveragePooling2D(name="features")(h)
    if vbn:
        features = ssgan_layers.DropReference(reference_size, name="drop_reference")(features)
    minibatch = (minibatch_kernels, minibatch_kernel_dim) if minibatch_discrimination else None
    return common.discriminator_model(inputs, features, features, n_classes, minibatch,
                                      extra_heads, name)


def build_conv_generator(output_shape=(28, 28, 1), latent_dim=100, filters=(128, 64), vbn=False,
                         reference_size=64, condition_dims=None, seed=None, name="generator"):
    """A DCGAN-style generator: dense to a (H/4, W/4) map of `filters[0]` channels, a stride-2
    transposed convolution to `filters[1]` channels, and a last one to the image.

    Batch norm (or VBN) and ReLU after every layer but the last, whose sigmoid gives pixels in
    [0, 1]; sizes that are not multiples of 4 are cropped to `output_shape`.
    """
    height, width, channels = output_shape
    if len(filters) != 2:
        raise ValueError(f"The conv generator takes two filter counts, got {filters}.")
    start = (math.ceil(height / 4), math.ceil(width / 4))
    inputs, h = common.generator_inputs(latent_dim, condition_dims, vbn, reference_size, seed)
    h = keras.layers.Dense(start[0] * start[1] * filters[0], use_bias=False, name="project")(h)
    h = common.normalization(vbn, reference_size, "project_norm")(h)
    h = keras.layers.ReLU(name="project_relu")(h)
    h = keras.layers.Reshape(start + (filters[0],), name="to_map")(h)
    h = keras.layers.Conv2DTranspose(
        filters[1], 5, strides=2, padding="same", use_bias=False, name="upsample_0"
    )(h)
    h = common.normalization(vbn, reference_size, "upsample_0_norm")(h)
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
    return common.generator_model(inputs, x, vbn, reference_size, name)


def discriminator(image_shape, n_classes, hidden=None, **options):
    """The registry's builder: the convolutional discriminator on images."""
    if hidden is not None:
        options["filters"] = tuple(hidden)
    return build_conv_discriminator(tuple(image_shape), n_classes, **options)


def generator(image_shape, hidden=None, **options):
    """The registry's builder: the convolutional generator, images out."""
    if hidden is not None:
        options["filters"] = tuple(hidden)
    return build_conv_generator(tuple(image_shape), **options)
