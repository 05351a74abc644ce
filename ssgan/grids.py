"""Sample grids: generated images tiled into one PNG that reads at a glance.

`save_sample_grids(trainer, directory, seed)` writes a random 10×10 grid (`samples.png`) and the
grids the trainer's objective defines (`ssgan.objectives.Objective.grids`: CGAN's row-per-class
grid, InfoGAN's code sweeps). Row (and column) labels go into a white margin when given.
"""

import math
import os

import numpy as np

from ssgan.util import atomic_write

ROW_LABEL_MARGIN = 24  # pixels left of the grid for row labels (wider if a label needs it)
COLUMN_LABEL_MARGIN = 16  # pixels above the grid for column labels
_LABEL_PADDING = 6


def tile_images(images, rows=None, columns=None, padding=2, scale=2, background=1.0,
                row_labels=None, column_labels=None):
    """Tile `images` ((N, H, W[, C]) or flat (N, H·W) of square gray images, values in [0, 1]) into
    one uint8 array of `rows` × `columns` cells, `padding` pixels apart, each pixel `scale`× larger.

    `row_labels` (one string per row) and `column_labels` (one per column) are written in black
    into a white margin left of (`ROW_LABEL_MARGIN` pixels, or the widest label's width plus
    padding) and above (`COLUMN_LABEL_MARGIN` pixels) the grid.
    """
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
    if row_labels is not None or column_labels is not None:
        canvas = _add_labels(canvas, rows, columns, (padding * scale, cell_h * scale),
                             (padding * scale, cell_w * scale), row_labels, column_labels)
    return canvas[..., 0] if canvas.shape[-1] == 1 else canvas


def _add_labels(canvas, rows, columns, row_geometry, column_geometry, row_labels, column_labels):
    """`canvas` (H, W, C) uint8 with a white margin holding the labels; each geometry is the
    (offset of the first cell, cell pitch) in pixels along that axis."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))

    def size(text):
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top, left, top

    for labels, count, what in ((row_labels, rows, "row"), (column_labels, columns, "column")):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{len(labels)} {what} labels for {count} {what}s.")
    row_labels = [str(label) for label in row_labels] if row_labels is not None else None
    column_labels = [str(label) for label in column_labels] if column_labels is not None else None
    left_margin = 0
    if row_labels is not None:
        widest = max(size(label)[0] for label in row_labels)
        left_margin = max(ROW_LABEL_MARGIN, widest + 2 * _LABEL_PADDING)
    top_margin = COLUMN_LABEL_MARGIN if column_labels is not None else 0
    height, width, channels = canvas.shape
    framed = np.full((height + top_margin, width + left_margin, channels), 255, "uint8")
    framed[top_margin:, left_margin:] = canvas
    image = Image.fromarray(framed[..., 0] if channels == 1 else framed)
    draw = ImageDraw.Draw(image)
    ink = 0 if channels == 1 else (0, 0, 0)
    first, pitch = row_geometry
    for r, label in enumerate(row_labels or ()):
        w, h, dx, dy = size(label)
        center = top_margin + first + r * pitch + (pitch - first) / 2
        draw.text(((left_margin - w) / 2 - dx, center - h / 2 - dy), label, fill=ink, font=font)
    first, pitch = column_geometry
    for c, label in enumerate(column_labels or ()):
        w, h, dx, dy = size(label)
        center = left_margin + first + c * pitch + (pitch - first) / 2
        draw.text((center - w / 2 - dx, (top_margin - h) / 2 - dy), label, fill=ink, font=font)
    framed = np.asarray(image)
    return framed[..., None] if framed.ndim == 2 else framed


def save_image_grid(images, path, rows=None, columns=None, **tile_options):
    """Write `images` as a PNG grid to `path` (atomically) and return the tiled array."""
    from PIL import Image

    canvas = tile_images(images, rows=rows, columns=columns, **tile_options)
    with atomic_write(path, "wb") as f:
        Image.fromarray(canvas).save(f, format="PNG")
    return canvas


def save_sample_grids(trainer, directory, seed=0):
    """Write the sample grids of `trainer`'s generator to `directory`; return the paths written:
    a random 10×10 grid (`samples.png`) and the grids of its objective (`Objective.grids`)."""
    path = os.path.join(directory, "samples.png")
    save_image_grid(trainer.generate(100, seed=seed).reshape((100,) + trainer.image_shape),
                    path, rows=10)
    paths = [path]
    for grid in trainer.objective.grids(seed):
        path = os.path.join(directory, grid.filename)
        save_image_grid(trainer.generate_from_inputs(grid.inputs), path, rows=grid.rows,
                        columns=grid.columns, row_labels=grid.row_labels,
                        column_labels=grid.column_labels)
        paths.append(path)
    return paths
