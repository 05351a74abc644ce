"""One training step of the K+1-class semi-supervised GAN, as pure functions of the state.

Two players with two optimizers do not fit `model.fit`, so the step is written over
`model.stateless_call`: it takes a `TrainState`, the data and one step's batch indices, and
returns the new state and the step's metrics, without touching a Keras variable. The backend
(`ssgan.backends`) differentiates and compiles it.

One step (Salimans et al. 2016, Improved-GAN's `train_mnist_feature_matching.py`):

1. discriminator update on a labeled batch (the labeled set tiled and reshuffled), an unlabeled
   batch and a generated batch: supervised cross-entropy + unlabeled_weight · real/fake loss
   (+ the objective's terms, which may follow the step count, + historical averaging);
2. exponential moving average of the discriminator's weights (what evaluates and predicts);
3. generator update against the updated discriminator and a second unlabeled batch (the
   objective's loss, feature matching for the plain generator).
"""

from typing import NamedTuple

import keras
from keras import ops

from ssgan import losses
from ssgan.train.state import TrainState
from ssgan.util import takes_argument


# Per-step rate of the running mean of the predictions that distribution alignment divides by:
# about the last 100 batches.
ALIGNMENT_RATE = 0.01


class GANModel(NamedTuple):
    """What the step computes with: the two networks, the generator objective and the seed
    generator of the latent samples (its state lives in `TrainState.latent_seed`).

    `batch_coupled`: whether an example's discriminator output depends on the rest of its batch
    (minibatch discrimination, batch norm); then the step's batches go through separately.
    """

    discriminator: keras.Model
    generator: keras.Model
    objective: object
    latent_seed: keras.random.SeedGenerator
    batch_coupled: bool


class Optimizers(NamedTuple):
    """The two players' optimizers (`ssgan.optimizers.Adam`)."""

    discriminator: object
    generator: object


def draw_latent(model, seed_state, batch_size):
    """Generator inputs sampled by the objective, statelessly: (inputs, latent, new seed state)."""
    seed = model.latent_seed
    with keras.StatelessScope(state_mapping=[(seed.state, seed_state)]) as scope:
        inputs, latent = model.objective.sample(seed, batch_size)
    return inputs, latent, scope.get_current_value(seed.state)


def discriminate(model, trainable, non_trainable, batches, training=True):
    """Discriminator outputs for each batch in `batches`, and the new non-trainable state.

    Without batch-coupled layers an example's output does not depend on its batch, so the
    batches go through as one concatenated call (one matmul per layer instead of several).
    """
    if model.batch_coupled:
        outputs = []
        for x in batches:
            out, non_trainable = model.discriminator.stateless_call(
                trainable, non_trainable, x, training=training
            )
            outputs.append(out)
        return outputs, non_trainable
    sizes = [ops.shape(x)[0] for x in batches]
    out, non_trainable = model.discriminator.stateless_call(
        trainable, non_trainable, ops.concatenate(batches, axis=0), training=training
    )
    outputs, start = [], 0
    for size in sizes:
        outputs.append({k: v[start : start + size] for k, v in out.items()})
        start += size
    return outputs, non_trainable


def objective_discriminator_loss(objective, fake_outputs, latent, labeled_outputs, labels,
                                 step=None, unlabeled_outputs=None):
    """The objective's discriminator terms; `step` and `unlabeled_outputs` (the outputs on the
    unlabeled real batch) are passed only to an objective that takes them (a user's objective
    written before the arguments existed still works)."""
    extra = {}
    if takes_argument(objective.discriminator_loss, "step"):
        extra["step"] = step
    if takes_argument(objective.discriminator_loss, "unlabeled_outputs"):
        extra["unlabeled_outputs"] = unlabeled_outputs
    return objective.discriminator_loss(fake_outputs, latent, labeled_outputs, labels, **extra)


def fake_logits(objective, fake_outputs, latent):
    """The class logits of the fakes that the K+1 real/fake term counts: all of the generated
    batch, unless the objective says otherwise (`Objective.classifier_fakes`; a user's objective
    without the method counts all)."""
    choose = getattr(objective, "classifier_fakes", None)
    return fake_outputs["logits"] if choose is None else choose(fake_outputs, latent)


def discriminator_loss(model, config, d_trainable, d_non_trainable, batch, history=None,
                       training=True, step=None):
    """The discriminator's loss on `batch` (x_labeled, y_labeled, x_unlabeled, x_fake, latent):
    supervised cross-entropy + unlabeled_weight · real/fake loss + the objective's terms
    (+ historical averaging); `step`, the count of discriminator updates so far, schedules the
    objective's terms. Returns (loss, (new non-trainable state, metrics, statistics)), the
    statistics what the step keeps beyond the metrics (`batch_prediction`, the batch's mean
    consistency target, with distribution alignment)."""
    batches = [batch["x_labeled"], batch["x_unlabeled"], batch["x_fake"]]
    if config.consistency_weight:
        batches.append(batch["x_unlabeled"])  # a second pass, under other noise
    outputs, d_non_trainable = discriminate(
        model, d_trainable, d_non_trainable, batches, training)
    out_lab, out_unl, out_fake = outputs[:3]
    y_lab = batch["y_labeled"]
    loss_sup = losses.supervised_loss(out_lab["logits"], y_lab)
    loss_unsup = losses.unsupervised_discriminator_loss(
        out_unl["logits"], fake_logits(model.objective, out_fake, batch["latent"]),
        losses.one_sided_label_smoothing(config.label_smoothing),
    )
    extra, extra_metrics = objective_discriminator_loss(
        model.objective, out_fake, batch["latent"], out_lab, y_lab, step=step,
        unlabeled_outputs=out_unl,
    )
    total = loss_sup + config.unlabeled_weight * loss_unsup + extra
    if config.entropy_weight:
        loss_entropy = losses.conditional_entropy(out_unl["logits"])
        total = total + config.entropy_weight * loss_entropy
    statistics = {}
    if config.consistency_weight:
        target = ops.softmax(outputs[3]["logits"], axis=-1)
        if "mean_prediction" in batch:  # distribution alignment
            statistics["batch_prediction"] = ops.mean(target, axis=0)
            target = losses.aligned_targets(target, batch["class_shares"],
                                            batch["mean_prediction"])
        loss_consistency = losses.consistency_target_loss(out_unl["logits"], target)
        total = total + config.consistency_weight * loss_consistency
    if history:
        total = total + config.historical_averaging * losses.historical_averaging_penalty(
            d_trainable, history
        )
    metrics = {
        "loss_supervised": loss_sup,
        "loss_unsupervised": loss_unsup,
        "train_error": losses.classification_error(out_lab["logits"], y_lab),
        **extra_metrics,
    }
    if config.entropy_weight:
        metrics["loss_entropy"] = loss_entropy
    if config.consistency_weight:
        metrics["loss_consistency"] = loss_consistency
    return total, (d_non_trainable, metrics, statistics)


def generator_loss(model, config, g_trainable, g_non_trainable, d_trainable, d_non_trainable,
                   batch, history=None, training=True):
    """The generator's loss on `batch` (generator_inputs, latent, real_outputs: the
    discriminator's outputs on a real unlabeled batch): the objective's loss against the
    discriminator (+ historical averaging).
    Returns (loss, (new generator state, new discriminator state, metrics))."""
    x_fake, g_non_trainable = model.generator.stateless_call(
        g_trainable, g_non_trainable, batch["generator_inputs"], training=True
    )
    out_fake, d_non_trainable = model.discriminator.stateless_call(
        d_trainable, d_non_trainable, x_fake, training=training
    )
    loss, extra_metrics = model.objective.generator_loss(
        out_fake, batch["real_outputs"], batch["latent"]
    )
    metrics = {"loss_generator": loss, **extra_metrics}
    if history:
        loss = loss + config.historical_averaging * losses.historical_averaging_penalty(
            g_trainable, history
        )
    return loss, (g_non_trainable, d_non_trainable, metrics)


def real_outputs(model, d_trainable, d_non_trainable, x, training=True):
    """Discriminator outputs on real data for the generator's loss: constants to it, computed
    once per step outside the gradient (no backward pass through them)."""
    outputs, d_non_trainable = model.discriminator.stateless_call(
        d_trainable, d_non_trainable, x, training=training
    )
    return {k: ops.stop_gradient(v) for k, v in outputs.items()}, d_non_trainable


def moving_average(average, params, rate):
    """One step of the exponential moving average: average + rate · (params − average)."""
    return [e + rate * (p - e) for e, p in zip(average, params)]


def alignment_inputs(state, data):
    """What distribution alignment needs in the discriminator's batch: the running mean of the
    predictions and the labeled set's class shares (none without alignment)."""
    if not state.mean_prediction:
        return {}
    return {"mean_prediction": state.mean_prediction[0], "class_shares": data["class_shares"]}


def labeled_batch(data, indices):
    """The step's labeled, unlabeled and second unlabeled batches."""
    return {
        "x_labeled": ops.take(data["x_labeled"], indices["labeled"], axis=0),
        "y_labeled": ops.take(data["y_labeled"], indices["labeled"], axis=0),
        "x_unlabeled": ops.take(data["x_unlabeled"], indices["unlabeled"], axis=0),
    }


def train_step(model, config, optimizers, value_and_grad, state, data, indices):
    """One step from `state` on `data` (x_labeled, y_labeled, x_unlabeled) at the batch
    `indices` (labeled, unlabeled, unlabeled_2); `config` is resolved (`TrainingConfig.resolve`).
    Returns (new state, metrics as float32 scalars)."""
    step = state.step + 1

    # 1. Discriminator, on a labeled, an unlabeled and a generated batch.
    g_inputs, latent, seed = draw_latent(model, state.latent_seed, config.batch_size)
    x_fake, _ = model.generator.stateless_call(
        state.g_trainable, state.g_non_trainable, g_inputs, training=True
    )
    d_batch = {**labeled_batch(data, indices), "x_fake": ops.stop_gradient(x_fake),
               "latent": latent, **alignment_inputs(state, data)}
    (_, (d_non_trainable, d_metrics, statistics)), d_grads = value_and_grad(
        lambda params, *args: discriminator_loss(model, config, params, *args, step=state.step)
    )(state.d_trainable, state.d_non_trainable, d_batch, state.d_history)
    d_trainable, d_optimizer = optimizers.discriminator.apply(
        state.d_optimizer, d_grads, state.d_trainable
    )
    ema = moving_average(state.ema, d_trainable, config.ema_rate)
    mean_prediction = state.mean_prediction
    if mean_prediction:
        mean_prediction = moving_average(mean_prediction, [statistics["batch_prediction"]],
                                         ALIGNMENT_RATE)
        d_metrics = {**d_metrics}
        d_metrics["prediction_imbalance"] = ops.max(mean_prediction[0]) / ops.min(
            mean_prediction[0])

    # 2. Generator, against the updated discriminator and a second unlabeled batch.
    g_trainable, g_non_trainable = state.g_trainable, state.g_non_trainable
    g_optimizer = state.g_optimizer
    real, d_non_trainable = real_outputs(
        model, d_trainable, d_non_trainable,
        ops.take(data["x_unlabeled"], indices["unlabeled_2"], axis=0),
    )
    for _ in range(config.generator_steps):
        g_inputs, latent, seed = draw_latent(model, seed, config.batch_size)
        g_batch = {"generator_inputs": g_inputs, "latent": latent, "real_outputs": real}
        (_, (g_non_trainable, d_non_trainable, g_metrics)), g_grads = value_and_grad(
            lambda params, *args: generator_loss(model, config, params, *args)
        )(g_trainable, g_non_trainable, d_trainable, d_non_trainable, g_batch, state.g_history)
        g_trainable, g_optimizer = optimizers.generator.apply(g_optimizer, g_grads, g_trainable)

    g_ema = moving_average(state.g_ema, g_trainable, config.ema_rate)  # [] unless generator_ema
    d_history, g_history = state.d_history, state.g_history
    if config.historical_averaging > 0:
        d_history = losses.update_historical_average(d_history, d_trainable, step)
        g_history = losses.update_historical_average(g_history, g_trainable, step)
    new_state = TrainState(
        d_trainable=d_trainable, d_non_trainable=d_non_trainable, g_trainable=g_trainable,
        g_non_trainable=g_non_trainable, d_optimizer=d_optimizer, g_optimizer=g_optimizer,
        ema=ema, g_ema=g_ema, d_history=d_history, g_history=g_history,
        mean_prediction=mean_prediction,
        latent_seed=seed, step=step,
    )
    metrics = {**d_metrics, **g_metrics}
    return new_state, {k: ops.cast(v, "float32") for k, v in metrics.items()}
