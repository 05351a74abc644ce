"""What the generator is trained for, and what it needs from the discriminator.

A generator objective says how to sample the generator's inputs, which extra discriminator heads
it needs, and which loss terms it adds to each player. `ssgan.training` calls these inside the
compiled step, so every method is a pure function of tensors written with `keras.ops`.
"""

import keras
from keras import ops

from ssgan.losses import feature_matching_loss


class FeatureMatchingObjective:
    """The plain Improved-GAN generator: z ~ U(0, 1)^d, trained by feature matching (§3.1).

    The generator matches the batch mean of the discriminator's `features` layer on real unlabeled
    data; it adds no term to the discriminator's loss.
    """

    name = "feature-matching"

    def __init__(self, n_classes, latent_dim=100):
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)

    @property
    def condition_dims(self):
        """Generator inputs besides z, by name and width."""
        return {}

    @property
    def discriminator_heads(self):
        """Extra discriminator outputs, by name: callables that build a head on the features."""
        return {}

    def sample(self, seed_generator, batch_size):
        """Generator inputs for one batch, and what the losses need to know about them."""
        z = keras.random.uniform((batch_size, self.latent_dim), seed=seed_generator)
        return z, {}

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
        """Terms added to the discriminator's loss, and metrics to report."""
        return ops.zeros(()), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        """The generator's loss, and metrics to report."""
        loss = feature_matching_loss(
            ops.stop_gradient(real_outputs["features"]), fake_outputs["features"]
        )
        return loss, {}


OBJECTIVES = {FeatureMatchingObjective.name: FeatureMatchingObjective}


def make_objective(name, n_classes, latent_dim=100, **options):
    """The generator objective called `name` (see `OBJECTIVES`)."""
    if name not in OBJECTIVES:
        raise ValueError(
            f"Unknown generator {name!r}: expected one of {', '.join(sorted(OBJECTIVES))}."
        )
    return OBJECTIVES[name](n_classes, latent_dim=latent_dim, **options)
