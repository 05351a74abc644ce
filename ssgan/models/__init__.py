"""Discriminators and generators: the paper's MNIST MLP pair and a DCGAN-style convolutional pair."""

from ssgan.models.discriminators import build_conv_discriminator
from ssgan.models.discriminators import build_discriminator
from ssgan.models.discriminators import build_mlp_discriminator
from ssgan.models.discriminators import set_reference_batches
from ssgan.models.generators import build_conv_generator
from ssgan.models.generators import build_generator
from ssgan.models.generators import build_mlp_generator
from ssgan.models.generators import set_generator_reference

ARCHITECTURES = ("mlp", "conv")

__all__ = [
    "ARCHITECTURES",
    "build_conv_discriminator",
    "build_conv_generator",
    "build_discriminator",
    "build_generator",
    "build_mlp_discriminator",
    "build_mlp_generator",
    "set_generator_reference",
    "set_reference_batches",
]
