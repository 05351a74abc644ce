"""K-class discriminators. Each returns a dict: `logits` (the K class logits; the fake class is the
implicit K+1-th logit 0, see `ssgan.losses`) and `features` (the layer feature matching uses)."""

import math

import keras

from ssgan import layers as ssgan_layers


def _noise_seeds(seed):
    """Distinct, reproducible seeds for the noise layers of one model (None keeps Keras' default)."""
    step = 0
    while True:
        yield None if seed is None else int(seed) * 1009 + step
        step += 1


def _heads(features, n_classes, output_input, extra_heads):
    """The output dict: class logits, the feature layer, and the outputs of `extra_heads`
    (a callable (features, logits) → dict of named tensors), if any."""
    outputs = {
        "logits": ssgan_layers.WeightNormDense(n_classes, train_scale=True, name="logits")(
            output_input
        ),
        "features": features,
    }
    if extra_heads is not None:
        extra = extra_heads(features, outputs["logits"])
        clash = set(extra) & set(outputs)
        if clash:
            raise ValueError(f"Extra discriminator heads may not be named {sorted(clash)}.")
        outputs.update(extra)
    return outputs


def build_mlp_discriminator(
    input_dim=784,
    n_classes=10,
    hidden_units=(1000, 500, 250, 250, 250),
    input_noise=0.3,
    hidden_noise=0.5,
    minibatch_discrimination=False,
    minibatch_kernels=100,
    minibatch_kernel_dim=5,
    extra_heads=None,
    seed=None,
    name="discriminator",
):
    """The Improved-GAN MNIST discriminator.

    Gaussian noise σ=`input_noise` on the input; weight-normalized dense layers with ReLU, each
    followed by noise σ=`hidden_noise` (noise is active in training only); the hidden layers'
    weight-norm scales are fixed (set by data-dependent initialization), the output layer's is
    trained. `features` is the last hidden layer after its ReLU and before its noise. With
    `minibatch_discrimination`, a `MinibatchDiscrimination` layer sits between it and the output.
    `extra_heads(features, logits)` builds extra outputs on the features and class logits and
    returns them by name (InfoGAN's Q).
    """
    seeds = _noise_seeds(seed)
    inputs = keras.Input(shape=(input_dim,), name="x")
    h = keras.layers.GaussianNoise(input_noise, seed=next(seeds), name="input_noise")(inputs)
    features = None
    for i, units in enumerate(hidden_units):
        features = ssgan_layers.WeightNormDense(
            units, activation="relu", train_scale=False, name=f"dense_{i}"
        )(h)
        h = keras.layers.GaussianNoise(hidden_noise, seed=next(seeds), name=f"noise_{i}")(features)
    if minibatch_discrimination:
        h = ssgan_layers.MinibatchDiscrimination(
            minibatch_kernels, minibatch_kernel_dim, name="minibatch_discrimination"
        )(h)
    outputs = _heads(features, n_classes, h, extra_heads)
    return keras.Model(inputs, outputs, name=name)


def build_conv_discriminator(
    input_shape=(28, 28, 1),
    n_classes=10,
    filters=(64, 128),
    input_noise=0.2,
    hidden_noise=0.3,
    minibatch_discrimination=False,
    minibatch_kernels=50,
    minibatch_kernel_dim=5,
    vbn=False,
    reference_size=64,
    extra_heads=None,
    seed=None,
    name="discriminator",
):
    """A DCGAN-style convolutional discriminator in the style of the paper's CIFAR-10 model.

    For each entry of `filters`: two 3×3 convolutions, the second with stride 2, leaky ReLU, then
    Gaussian noise; a final 3×3 convolution, global average pooling (the `features`), and the
    weight-normalized output layer. Convolutions are weight-normalized; with `vbn` they are plain
    convolutions followed by virtual batch normalization against a reference batch of real images
    (fix it with `set_reference_batches` before training).
    """
    seeds = _noise_seeds(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="x")
    h = keras.layers.GaussianNoise(input_noise, seed=next(seeds), name="input_noise")(inputs)
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
    h = features
    if minibatch_discrimination:
        h = ssgan_layers.MinibatchDiscrimination(
            minibatch_kernels, minibatch_kernel_dim, name="minibatch_discrimination"
        )(h)
    outputs = _heads(features, n_classes, h, extra_heads)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(architecture, image_shape, n_classes, hidden=None, **options):
    """The discriminator of `architecture` ("mlp" on flat vectors, "conv" on images); `hidden`
    overrides its hidden widths (mlp) or filters (conv)."""
    if architecture == "mlp":
        options.pop("vbn", None)  # the paper's MLP discriminator has no batch normalization
        options.pop("reference_size", None)
        if hidden is not None:
            options["hidden_units"] = tuple(hidden)
        return build_mlp_discriminator(math.prod(image_shape), n_classes, **options)
    if architecture == "conv":
        if hidden is not None:
            options["filters"] = tuple(hidden)
        return build_conv_discriminator(tuple(image_shape), n_classes, **options)
    raise ValueError(f"Unknown architecture {architecture!r}: expected 'mlp' or 'conv'.")


def set_reference_batches(model, examples):
    """Fix every `ReferenceBatch` layer of `model` that takes the model input to `examples`."""
    for layer in model.layers:
        if isinstance(layer, ssgan_layers.ReferenceBatch):
            upstream = keras.Model(model.input, layer.input)
            layer.set_reference(upstream(examples[: layer.size], training=False))
