"""Sample grids: generated images tiled into one PNG that reads at a glance.

`save_sample_grids(trainer, directory, seed)` writes the grids of a trainer's generator, chosen by
its objective's name (`trainer.objective.name`):

* every objective: `samples.png`, a random 10×10 grid;
* "cgan": `cgan_classes.png`, row k requests class k (10 columns, one z per column);
* "infogan": `infogan_c1.png`, `infogan_c2.png`, …: rows are the categorical code, columns sweep
  one continuous code from −2 to 2, z and the other codes fixed.

Row (and column) labels go into a white margin when given.
"""

import math
import os

import numpy as np

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
    tmp = f"{path}.tmp.png"
    Image.fromarray(canvas).save(tmp)
    os.replace(tmp, path)
    return canvas


def generate_from_inputs(generator, inputs, batch_size=1000):
    """The Keras `generator`'s outputs (inference mode) for the NumPy `inputs` (one array or a list
    of arrays, as the generator's inputs), in batches, as a NumPy array."""
    import keras

    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    n = len(arrays[0])
    outputs = []
    for start in range(0, n, batch_size):
        batch = [np.asarray(a[start : start + batch_size], dtype="float32") for a in arrays]
        out = generator(batch if len(batch) > 1 else batch[0], training=False)
        outputs.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(outputs, axis=0)


def _images(trainer, samples):
    return np.asarray(samples).reshape((len(samples),) + tuple(trainer.image_shape))


def _cgan_grids(objective, seed):
    per_class = 10
    inputs = objective.grid_inputs(per_class=per_class, seed=seed)
    labels = [str(k) for k in range(objective.n_classes)]
    return [("cgan_classes.png", inputs, objective.n_classes, per_class, labels, None)]


def _infogan_grids(objective, seed):
    values = np.linspace(-2.0, 2.0, 10)
    rows = [str(k) for k in range(objective.n_categories)]
    columns = [f"{v:+.1f}" for v in values]
    return [
        (f"infogan_c{j + 1}.png", objective.grid_inputs(j, values, seed=seed),
         objective.n_categories, len(values), rows, columns)
        for j in range(objective.n_continuous)
    ]


# Grids besides the random one, by objective name: builder(objective, seed) → a list of
# (file name, generator inputs, rows, columns, row labels, column labels).
OBJECTIVE_GRIDS = {"cgan": _cgan_grids, "infogan": _infogan_grids}


def save_sample_grids(trainer, directory, seed=0):
    """Write the sample grids of `trainer`'s generator to `directory`; return the paths written.

    Every objective: a random 10×10 grid (`samples.png`). CGAN (`cgan_classes.png`): row k shows
    class k. InfoGAN (`infogan_c1.png`, `infogan_c2.png`): rows are the categorical code, columns
    sweep one continuous code from −2 to 2, z and the other codes fixed.
    """
    path = os.path.join(directory, "samples.png")
    save_image_grid(_images(trainer, trainer.generate(100, seed=seed)), path, rows=10)
    paths = [path]
    objective = trainer.objective
    for filename, inputs, rows, columns, row_labels, column_labels in OBJECTIVE_GRIDS.get(
        objective.name, lambda objective, seed: []
    )(objective, seed):
        images = _images(trainer, generate_from_inputs(trainer.generator, inputs))
        path = os.path.join(directory, filename)
        save_image_grid(images, path, rows=rows, columns=columns, row_labels=row_labels,
                        column_labels=column_labels)
        paths.append(path)
    return paths
