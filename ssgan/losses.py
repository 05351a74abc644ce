"""Losses of the K+1-class semi-supervised GAN (Salimans et al. 2016), pure functions of tensors.

The discriminator outputs K class logits l_1..l_K; the (K+1)-th "fake" logit is fixed at 0, which
loses no generality (softmax is invariant to a common shift). With Z(x) = Σ_k exp(l_k(x)):

    p(y = k | x, real) = softmax(l)_k,    D(x) = p(real | x) = Z(x) / (Z(x) + 1).

Every loss below is written with log Z(x) = logsumexp(l(x)) and softplus, so it never forms Z(x)
itself and stays finite for any logits.
"""

from keras import ops


def log_sum_exp(logits):
    """log Σ_k exp(l_k) over the last axis: log Z(x), computed stably."""
    return ops.logsumexp(logits, axis=-1)


def categorical_cross_entropy(logits, labels):
    """mean_i [logsumexp(l_i) − l_i,y_i]: cross-entropy of softmax(logits) against integer
    labels in [0, K)."""
    labels = ops.cast(labels, "int32")
    target_logit = ops.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return ops.mean(log_sum_exp(logits) - target_logit)


def supervised_loss(logits, labels):
    """Cross-entropy over the K real classes: mean(log Z(x) − l_y(x)).

    `labels` are integer class indices in [0, K).
    """
    return categorical_cross_entropy(logits, labels)


def conditional_entropy(logits):
    """mean_i H(softmax(l_i)) over the K real classes: low when each example is confidently one
    class. Minimizing it on unlabeled rows pushes the decision boundaries into low-density gaps."""
    log_p = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    return -ops.mean(ops.sum(ops.exp(log_p) * log_p, axis=-1))


def consistency_loss(logits, logits_target):
    """mean_i ||softmax(l_i) − softmax(l'_i)||² over the K real classes, the second pass held
    constant (the Π-model of Laine & Aila 2017): predictions should not change with the noise."""
    return consistency_target_loss(logits, ops.softmax(logits_target, axis=-1))


def aligned_targets(probabilities, class_shares, mean_prediction):
    """Distribution alignment (ReMixMatch, Berthelot et al. 2020): each row of `probabilities`
    times class_shares / mean_prediction, renormalized. Where the classifier predicts a class more
    often than the labels hold it, its doubtful rows lean towards the other classes; confident
    rows barely move."""
    scaled = probabilities * (class_shares / mean_prediction)
    return scaled / ops.sum(scaled, axis=-1, keepdims=True)


def consistency_target_loss(logits, target):
    """mean_i ||softmax(l_i) − t_i||² for constant targets t (rows of probabilities)."""
    target = ops.stop_gradient(target)
    return ops.mean(ops.sum(ops.square(ops.softmax(logits, axis=-1) - target), axis=-1))


def gaussian_negative_log_likelihood(means, values):
    """mean_i Σ_j (c_ij − μ_ij)² / 2: the negative log-likelihood of `values` under N(μ, 1) per
    dimension, up to the constant ½·log(2π) per dimension (dropped: it has no gradient)."""
    return ops.mean(ops.sum(0.5 * ops.square(ops.cast(values, means.dtype) - means), axis=-1))


def unsupervised_discriminator_loss(logits_real, logits_fake, real_target=1.0):
    """Real-versus-fake loss of the K+1 discriminator, binary cross-entropy on D(x) = Z/(Z+1).

    With s = log Z(x):  log D(x) = s − softplus(s),  log(1 − D(x)) = −softplus(s). Then

        real term: −[t·log D(x) + (1−t)·log(1−D(x))] = softplus(s_real) − t·s_real
        fake term: −log(1 − D(G(z)))                  = softplus(s_fake)

    and the loss is the mean of the two terms, ½·mean(real) + ½·mean(fake), as in the
    Improved-GAN code. `real_target` t < 1 is one-sided label smoothing (§3.4 of the paper): only
    the real target is softened, the fake target stays 0.
    """
    s_real = log_sum_exp(logits_real)
    s_fake = log_sum_exp(logits_fake)
    real_term = ops.softplus(s_real) - real_target * s_real
    fake_term = ops.softplus(s_fake)
    return 0.5 * ops.mean(real_term) + 0.5 * ops.mean(fake_term)


def minimax_generator_loss(logits_fake):
    """mean log(1 − D(G(z))) = −mean(softplus(s_fake)): the generator's loss of the Improved-GAN
    minibatch-discrimination code (`loss_gen = -T.mean(T.nnet.softplus(l_gen))`), the original
    minimax GAN loss. Its gradient −D(G(z)) fades where the discriminator rejects the fakes."""
    return -ops.mean(ops.softplus(log_sum_exp(logits_fake)))


def non_saturating_generator_loss(logits_fake):
    """−mean log D(G(z)) = mean(softplus(−s_fake)): the non-saturating GAN loss (Goodfellow et
    al. 2014, §3), whose gradient is strongest where the discriminator rejects the fakes."""
    return ops.mean(ops.softplus(-log_sum_exp(logits_fake)))


def one_sided_label_smoothing(smoothing):
    """The real target of `unsupervised_discriminator_loss` for a smoothing amount: 1 − smoothing.

    Only the real side is smoothed: smoothing the fake target too would reward the generator for
    samples the discriminator already finds unlikely under the data (§3.4).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}.")
    return 1.0 - smoothing


def feature_matching_loss(features_real, features_fake):
    """Feature matching (§3.1): ‖E f(x) − E f(G(z))‖², averaged over the feature units.

    The expectations are batch means of an intermediate discriminator layer f; the mean (rather
    than the sum) over units follows the Improved-GAN code and keeps the scale independent of the
    layer's width.
    """
    difference = ops.mean(features_real, axis=0) - ops.mean(features_fake, axis=0)
    return ops.mean(ops.square(difference))


def mode_seeking_loss(outputs, latents, eps=1e-5):
    """Mode seeking (Mao et al. 2019, MSGAN): 1 / (ratio + eps), ratio = mean |o_i − o_j| /
    mean |z_i − z_j| over pairs of rows (i, j) made with the same condition: the first half of
    the rows against the last half. Small when different z give different outputs, so a
    conditional generator cannot draw one style per condition."""
    n = ops.shape(outputs)[0]
    half = n // 2
    spread = ops.mean(ops.abs(outputs[:half] - outputs[n - half:]))
    distance = ops.mean(ops.abs(latents[:half] - latents[n - half:]))
    return 1.0 / (spread / distance + eps)


def historical_averaging_penalty(parameters, averages):
    """Historical averaging (§3.3): Σ_i ‖θ_i − θ̄_i‖², θ̄ the running mean (1/t)·Σ_τ θ_τ.

    `parameters` and `averages` are matching lists of tensors. The running mean is updated outside
    the loss (`update_historical_average`), so the penalty pulls θ towards its past without
    letting the gradient move the past.
    """
    total = 0.0
    for theta, average in zip(parameters, averages):
        total = total + ops.sum(ops.square(theta - ops.stop_gradient(average)))
    return total


def update_historical_average(averages, parameters, count):
    """θ̄_t = θ̄_{t−1} + (θ_t − θ̄_{t−1}) / t, the incremental form of (1/t)·Σ_τ θ_τ; `count` is t."""
    count = ops.cast(count, "float32")
    return [average + (theta - average) / count for theta, average in zip(parameters, averages)]


def classification_error(logits, labels):
    """Share of examples whose arg-max class differs from the label."""
    predicted = ops.argmax(logits, axis=-1)
    return ops.mean(ops.cast(ops.not_equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))


def classification_accuracy(logits, labels):
    """Share of examples whose arg-max class is the label."""
    predicted = ops.argmax(logits, axis=-1)
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))
