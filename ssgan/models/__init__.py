"""Discriminator/generator pairs, by architecture: one module each, one registry.

An architecture is registered as an `Architecture`: its name (`TrainingConfig.architecture`,
`--architecture`), how an example is laid out for it (`layout`, for `ssgan.data.scale_images`),
its two builders and the tiny widths of smoke runs. The command line, the estimator, the trainer
and the benchmarks read `ARCHITECTURES`; a new pair is one module and one `register_architecture`
line below. Importing this package imports no backend: the builders load on first use.
"""

import dataclasses
import importlib
from collections.abc import Callable

from ssgan.registry import Registry


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A discriminator/generator pair.

    Attributes:
        name: the registry key.
        layout: "flat" (an example is a vector) or "image" ((height, width, channels)).
        discriminator: `(image_shape, n_classes, hidden=None, *, minibatch_discrimination,
            vbn, extra_heads, seed) -> keras.Model` with outputs `logits` and `features`.
        generator: `(image_shape, hidden=None, *, latent_dim, vbn, condition_dims, seed) ->
            keras.Model` with pixels in [0, 1], shaped as `layout` says.
        smoke_hidden: (discriminator, generator) widths of smoke runs (a few seconds on a CPU).
        widths_for: optional `(n_features) -> dict` of the settings `discriminator_hidden`,
            `generator_hidden`, `latent_dim` sized for the data (the estimator's "auto" recipe)
            and `scale`, the networks' width against the builders' defaults; None: the
            builders' widths.
    """

    name: str
    layout: str
    discriminator: Callable
    generator: Callable
    smoke_hidden: tuple
    widths_for: Callable | None = None


ARCHITECTURES = Registry("architecture")


def register_architecture(architecture):
    """Add `architecture` to `ARCHITECTURES` (replacing one of the same name); returns it."""
    if architecture.layout not in ("flat", "image"):
        raise ValueError(f"layout must be 'flat' or 'image', got {architecture.layout!r}.")
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def get_architecture(name):
    """The registered architecture called `name`, or a ValueError naming the known ones."""
    return ARCHITECTURES.lookup(name)


def build_discriminator(architecture, image_shape, n_classes, hidden=None, **options):
    """The discriminator of the architecture called `architecture`."""
    return get_architecture(architecture).discriminator(image_shape, n_classes, hidden, **options)


def build_generator(architecture, image_shape, hidden=None, **options):
    """The generator of the architecture called `architecture`."""
    return get_architecture(architecture).generator(image_shape, hidden, **options)


def _lazy(module, function):
    """`module.function`, imported when first called (the builders import Keras)."""
    def build(*args, **kwargs):
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    build.__qualname__ = f"{module}.{function}"
    return build


register_architecture(Architecture("mlp", "flat", _lazy("ssgan.models.mlp", "discriminator"),
                                   _lazy("ssgan.models.mlp", "generator"), ((64, 32), (64,)),
                                   _lazy("ssgan.models.mlp", "widths_for")))
register_architecture(Architecture("conv", "image", _lazy("ssgan.models.conv", "discriminator"),
                                   _lazy("ssgan.models.conv", "generator"), ((8, 16), (16, 8))))

_EXPORTS = {
    "build_mlp_discriminator": "ssgan.models.mlp", "build_mlp_generator": "ssgan.models.mlp",
    "build_conv_discriminator": "ssgan.models.conv", "build_conv_generator": "ssgan.models.conv",
    "set_reference_batches": "ssgan.models.common",
    "set_generator_reference": "ssgan.models.common",
}


def __getattr__(name):
    # The builders are imported on first use (they import Keras).
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ssgan.models' has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "build_conv_discriminator",
    "build_conv_generator",
    "build_discriminator",
    "build_generator",
    "build_mlp_discriminator",
    "build_mlp_generator",
    "get_architecture",
    "register_architecture",
    "set_generator_reference",
    "set_reference_batches",
]
