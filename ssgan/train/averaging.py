"""Moving averages of weights: the discriminator predicts with its own (`ema_rate`), the
generator samples with its own (`generator_ema`); the step keeps both (`ssgan.train.step`)."""

import keras

# A batch-norm generator that samples from averaged weights takes its statistics from this many
# seeded training batches drawn through those weights.
RECALIBRATION_BATCHES = 20
RECALIBRATION_SEED = 1234


def correction(rate, step, debias=True):
    """What a moving average at `rate` started at zero is divided by after `step` steps:
    1 − (1 − rate)^step as in Adam (`debias`; else 1), so that it weighs only what it has seen."""
    return 1.0 - (1.0 - rate) ** step if debias and step else 1.0


def source(params, average, rate, step, debias=True):
    """What the weights of a moving `average` after `step` steps are made of: (`params`, 1.0)
    while there is none (an empty list) or it has seen nothing (step 0), else (`average`, its
    debiasing divisor)."""
    if not average or not step:
        return list(params), 1.0
    return list(average), correction(rate, step, debias)


def current(params, average, rate, step, debias=True):
    """The weights a moving `average` stands for after `step` steps (see `source`)."""
    arrays, divisor = source(params, average, rate, step, debias)
    return arrays if divisor == 1.0 else [a / divisor for a in arrays]


def batch_norm_layers(model):
    """The `BatchNormalization` layers of `model`, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batch_norm(generator, objective, batch_size):
    """Set `generator`'s batch-norm statistics for the weights it holds (the training state's
    follow the last weights, not an average of them): the mean over seeded batches of
    `objective`'s training inputs. A generator without batch norm is left as it is."""
    layers = batch_norm_layers(generator)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    seed = keras.random.SeedGenerator(RECALIBRATION_SEED)
    try:
        for k in range(RECALIBRATION_BATCHES):
            for layer in layers:  # momentum k / (k + 1): the running mean of the batches'
                layer.momentum = k / (k + 1)
            inputs, _ = objective.sample(seed, batch_size)
            generator(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
