"""The paper's minibatch-discrimination model (Salimans et al. 2016, §3.2): a plain generator G(z)
trained with the GAN loss against a discriminator with minibatch discrimination."""

from keras import ops

from ssgan import losses
from ssgan.objectives.base import Objective
from ssgan.objectives.base import uniform_latent


class MinibatchGANObjective(Objective):
    """z ~ U(0, 1)^d; the generator minimizes the GAN loss of the reference code
    `train_mnist_minibatch.py` (openai/improved-gan, commit 37611ab5, removed later; the CIFAR-10
    and SVHN `train_*_minibatch_discrimination.py` keep it):

        l_gen = logsumexp l(G(z)),    loss_gen = −mean(softplus(l_gen)) = mean log(1 − D(G(z)))

    the original minimax loss, not the non-saturating −mean log D(G(z)) = mean(softplus(−l_gen))
    (`non_saturating=True`). The discriminator's loss is the plain K+1 one: nothing is added.

    Minibatch discrimination itself is a model setting (`TrainingConfig.minibatch_discrimination`),
    which `harness_settings` turns on, with the reference's batch-norm generator (no VBN) and its
    three generator updates per discriminator update. Metrics: `fake_realness`, mean D(G(z)).
    """

    name = "minibatch"
    label = "minibatch discrimination (GAN loss)"
    harness_settings = {"minibatch_discrimination": True, "vbn": False, "generator_steps": 3}

    def __init__(self, n_classes, latent_dim=100, non_saturating=False):
        super().__init__(n_classes, latent_dim)
        self.non_saturating = bool(non_saturating)

    def sample(self, seed_generator, batch_size):
        return uniform_latent(seed_generator, batch_size, self.latent_dim), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        logits = fake_outputs["logits"]
        if self.non_saturating:
            loss = losses.non_saturating_generator_loss(logits)
        else:
            loss = losses.minimax_generator_loss(logits)
        realness = ops.mean(ops.sigmoid(losses.log_sum_exp(logits)))  # D = Z/(Z+1) = σ(log Z)
        return loss, {"fake_realness": realness}
