"""Sample grids: generated images tiled into one PNG that reads at a glance."""

import math
import os

import numpy as np


def tile_images(images, rows=None, columns=None, padding=2, scale=2, background=1.0):
    """Tile `images` ((N, H, W[, C]) or flat (N, H·W) of square gray images, values in [0, 1]) into
    one uint8 array of `rows` × `columns` cells, `padding` pixels apart, each pixel `scale`× larger."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"Flat images of {images.shape[1]} pixels are not square; reshape them.")
        images = images.reshape(-1, side, side)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"Expected images of shape (N, H, W[, C]), got {images.shape}.")
    n, height, width, channels = images.shape
    columns = columns or (math.ceil(n / rows) if rows else math.ceil(math.sqrt(n)))
    rows = rows or math.ceil(n / columns)
    if rows * columns < n:
        raise ValueError(f"{n} images do not fit a {rows}×{columns} grid.")
    cell_h, cell_w = height + padding, width + padding
    canvas = np.full(
        (rows * cell_h + padding, columns * cell_w + padding, channels), background, "float32"
    )
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = padding + r * cell_h, padding + c * cell_w
        canvas[top : top + height, left : left + width] = image
    canvas = np.repeat(np.repeat(canvas, scale, axis=0), scale, axis=1)
    canvas = np.round(np.clip(canvas, 0.0, 1.0) * 255).astype("uint8")
    return canvas[..., 0] if channels == 1 else canvas


def save_image_grid(images, path, rows=None, columns=None, **tile_options):
    """Write `images` as a PNG grid to `path` (atomically) and return the tiled array."""
    from PIL import Image

    canvas = tile_images(images, rows=rows, columns=columns, **tile_options)
    tmp = f"{path}.tmp.png"
    Image.fromarray(canvas).save(tmp)
    os.replace(tmp, path)
    return canvas


def save_sample_grids(trainer, directory, seed=0):
    """Write the sample grids of `trainer`'s generator to `directory`; return the paths written.

    Feature matching: a random 10×10 grid (`samples.png`).
    """
    path = os.path.join(directory, "samples.png")
    save_image_grid(trainer.generate(100, seed=seed), path, rows=10)
    return [path]
