"""The plain Improved-GAN generator G(z), trained by feature matching (Salimans et al. 2016, §3.1)."""

from ssgan.objectives.base import Objective
from ssgan.objectives.base import match_features
from ssgan.objectives.base import uniform_latent


class FeatureMatchingObjective(Objective):
    """z ~ U(0, 1)^d; the generator matches the batch mean of the discriminator's `features` layer
    on real unlabeled data, and adds no term to the discriminator's loss. The best partner of the
    classifier: its fakes sit where the classifier must learn the data's boundary."""

    name = "feature-matching"
    label = "feature matching"

    def sample(self, seed_generator, batch_size):
        return uniform_latent(seed_generator, batch_size, self.latent_dim), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        return match_features(fake_outputs, real_outputs), {}
