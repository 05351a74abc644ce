"""What the architectures share: the discriminator's output heads, the generator's inputs and
normalization, and fixing the reference batches of virtual batch normalization."""

import keras

from ssgan import layers as ssgan_layers
from ssgan.util import takes_argument


def noise_seeds(seed):
    """Distinct, reproducible seeds for the noise layers of one model (None keeps Keras' default)."""
    step = 0
    while True:
        yield None if seed is None else int(seed) * 1009 + step
        step += 1


def random_shift(inputs, max_shift, image_shape, seed=None):
    """`inputs` through a `RandomShift` of up to `max_shift` pixels (none at 0); a one-line
    ValueError when the examples are not images."""
    if not max_shift:
        return inputs
    given = tuple(image_shape or ())
    shape = given + (1,) if len(given) == 2 else given
    if len(shape) != 3:
        raise ValueError(f"input_shift={max_shift} moves images, but each example here has shape "
                         f"{given}: give the examples' (height, width[, channels]) (the "
                         f"estimator's image_shape) or set input_shift=0.")
    # Its own seed, off the noise layers' sequence: turning the shift on keeps their draws.
    return ssgan_layers.RandomShift(max_shift, shape, seed=None if seed is None else seed + 104729,
                                    name="random_shift")(inputs)


def discriminator_model(inputs, features, h, n_classes, minibatch=None, extra_heads=None,
                        name="discriminator"):
    """The discriminator ending in its output dict: `logits` (the K class logits; the fake class
    is the implicit K+1-th logit 0, see `ssgan.losses`), `features` (the layer feature matching
    uses) and the outputs of `extra_heads(features, logits)` (a dict of named tensors, e.g.
    InfoGAN's Q; given `inputs=` as well when it takes it, for heads of their own on the input).
    `h` feeds the logits, through minibatch discrimination when `minibatch` = (kernels, kernel
    dimension) is given."""
    if minibatch is not None:
        h = ssgan_layers.MinibatchDiscrimination(*minibatch, name="minibatch_discrimination")(h)
    outputs = {
        "logits": ssgan_layers.WeightNormDense(n_classes, train_scale=True, name="logits")(h),
        "features": features,
    }
    if extra_heads is not None:
        given = {"inputs": inputs} if takes_argument(extra_heads, "inputs") else {}
        extra = extra_heads(features, outputs["logits"], **given)
        clash = set(extra) & set(outputs)
        if clash:
            raise ValueError(f"Extra discriminator heads may not be named {sorted(clash)}.")
        outputs.update(extra)
    return keras.Model(inputs, outputs, name=name)


def generator_inputs(latent_dim, condition_dims, vbn=False, reference_size=64, seed=None):
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


def generator_model(inputs, x, vbn, reference_size, name="generator"):
    """The generator from its inputs to its images `x` (without the reference rows, with `vbn`)."""
    if vbn:
        x = ssgan_layers.DropReference(reference_size, name="drop_reference")(x)
    return keras.Model(inputs, x, name=name)


def normalization(vbn, reference_size, name):
    """Batch norm without scale but with a bias (the paper's generator), or VBN likewise."""
    if vbn:
        return ssgan_layers.VirtualBatchNormalization(reference_size, scale=False, name=name)
    return keras.layers.BatchNormalization(scale=False, center=True, momentum=0.9, name=name)


def set_reference_batches(model, examples):
    """Fix every `ReferenceBatch` layer of `model` that takes the model input to `examples`."""
    for layer in model.layers:
        if isinstance(layer, ssgan_layers.ReferenceBatch):
            upstream = keras.Model(model.input, layer.input)
            layer.set_reference(upstream(examples[: layer.size], training=False))


def set_generator_reference(generator, inputs):
    """Fix the reference batches of a `vbn` generator to `inputs` (as the generator takes them:
    one array, or a list in the order of `generator.inputs`), e.g. a sample of its latent
    distribution drawn by the objective."""
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    for model_input, values in zip(generator.inputs, inputs):
        try:
            layer = generator.get_layer(f"reference_{model_input.name}")
        except ValueError:
            continue  # not a VBN generator
        layer.set_reference(values[: layer.size])
