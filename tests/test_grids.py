"""Sample grids: tiling sizes, label margins, and the files `save_sample_grids` writes for each
objective."""

import os

import numpy as np
import pytest
from PIL import Image

from ssgan import grids
from ssgan.grids import save_image_grid, save_sample_grids, tile_images
from ssgan.train import SemiSupervisedGAN, TrainingConfig


def test_tile_size_and_placement():
    images = np.zeros((12, 28 * 28), "float32")
    images[5] = 1.0
    canvas = tile_images(images, rows=3, padding=2, scale=2)
    # 4 columns of (28 + 2) pixels plus the outer padding, each pixel doubled.
    assert canvas.shape == ((3 * 30 + 2) * 2, (4 * 30 + 2) * 2) and canvas.dtype == np.uint8
    # Image 5 sits at row 1, column 1: white; image 0 black; the padding white.
    top, left = (2 + 30) * 2, (2 + 30) * 2
    assert canvas[top : top + 56, left : left + 56].min() == 255
    assert canvas[4:60, 4:60].max() == 0
    assert canvas[0, :].min() == 255
    with pytest.raises(ValueError):
        tile_images(images, rows=2, columns=2)


def test_row_and_column_labels_add_white_margins():
    images = np.zeros((6, 28, 28), "float32")
    plain = tile_images(images, rows=2)
    labeled = tile_images(images, rows=2, row_labels=["0", "1"], column_labels=["a", "b", "c"])
    assert labeled.shape == (plain.shape[0] + grids.COLUMN_LABEL_MARGIN,
                             plain.shape[1] + grids.ROW_LABEL_MARGIN)
    np.testing.assert_array_equal(labeled[grids.COLUMN_LABEL_MARGIN:, grids.ROW_LABEL_MARGIN:],
                                  plain)
    margin = labeled[grids.COLUMN_LABEL_MARGIN:, : grids.ROW_LABEL_MARGIN]
    assert margin.min() < 128 and margin.max() == 255  # dark text on white
    assert labeled[: grids.COLUMN_LABEL_MARGIN].min() < 128
    wide = tile_images(images, rows=2, row_labels=["a very long label", "1"])
    assert wide.shape[1] > plain.shape[1] + grids.ROW_LABEL_MARGIN
    with pytest.raises(ValueError, match="row labels"):
        tile_images(images, rows=2, row_labels=["0"])


def test_save_image_grid_writes_a_png_of_the_tiled_size(tmp_path):
    images = np.random.default_rng(0).uniform(size=(100, 28, 28, 1))
    path = str(tmp_path / "grid.png")
    canvas = save_image_grid(images, path, rows=10, row_labels=list("0123456789"))
    with Image.open(path) as image:
        assert image.size == (canvas.shape[1], canvas.shape[0])
        assert image.size == ((10 * 30 + 2) * 2 + grids.ROW_LABEL_MARGIN, (10 * 30 + 2) * 2)
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]  # no temporary file left


def _trainer(generator, architecture="mlp"):
    hidden = ((16, 8), (16,)) if architecture == "mlp" else ((4, 8), (8, 4))
    config = TrainingConfig(generator=generator, architecture=architecture, latent_dim=8,
                            discriminator_hidden=hidden[0], generator_hidden=hidden[1])
    return SemiSupervisedGAN((28, 28, 1), 10, config)


GRID = (10 * 30 + 2) * 2  # a 10 × 10 grid of 28-pixel images, 2 apart, scale 2


@pytest.mark.parametrize("generator, architecture, expected", [
    ("feature-matching", "mlp", {"samples.png": (GRID, GRID)}),
    ("cgan", "mlp", {"samples.png": (GRID, GRID),
                     "cgan_classes.png": (GRID + grids.ROW_LABEL_MARGIN, GRID)}),
    ("cgan", "conv", {"samples.png": (GRID, GRID),
                      "cgan_classes.png": (GRID + grids.ROW_LABEL_MARGIN, GRID)}),
    ("infogan", "mlp", {
        "samples.png": (GRID, GRID),
        "infogan_c1.png": (GRID + grids.ROW_LABEL_MARGIN, GRID + grids.COLUMN_LABEL_MARGIN),
        "infogan_c2.png": (GRID + grids.ROW_LABEL_MARGIN, GRID + grids.COLUMN_LABEL_MARGIN),
    }),
])
def test_save_sample_grids_writes_each_objectives_files(tmp_path, generator, architecture,
                                                        expected):
    trainer = _trainer(generator, architecture)
    paths = save_sample_grids(trainer, str(tmp_path), seed=0)
    assert sorted(os.path.basename(p) for p in paths) == sorted(expected)
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    for path in paths:
        with Image.open(path) as image:
            assert image.size == expected[os.path.basename(path)]
            assert image.mode == "L"


def test_cgan_grid_rows_are_the_requested_classes():
    trainer = _trainer("cgan")
    objective = trainer.objective
    inputs = objective.grid_inputs(per_class=3, seed=0)
    images = trainer.generate_from_inputs(inputs, batch_size=7)  # uneven batches
    assert images.shape == (30, 28, 28, 1)
    rows = images.reshape(10, 3, 784)
    again = trainer.generate_from_inputs(objective.inputs_for(np.full(3, 4), seed=0))
    again = again.reshape(3, 784)
    # Row 4 is class 4 with the grid's z (the grid's z are the first draws of the same seed).
    np.testing.assert_allclose(rows[4], again, atol=1e-6)
    assert np.abs(rows[4] - rows[5]).max() > 1e-4
