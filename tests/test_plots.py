"""Learning curves (`ssgan.plots`): a single epoch still shows, epochs are whole numbers."""

import pytest
from PIL import Image

from ssgan.plots import save_learning_curve


@pytest.fixture
def figures(monkeypatch):
    """The figures `save_learning_curve` draws, kept open to be read."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    return kept


def test_one_epoch_draws_visible_points_in_both_panels(tmp_path, figures):
    path = tmp_path / "curve.png"
    save_learning_curve([{"epoch": 1, "test_error": 0.2, "train_error": 0.1,
                          "loss_supervised": 1.0, "loss_unsupervised": 0.5,
                          "loss_generator": 0.3}], path, title="one epoch")
    with Image.open(path) as image:
        assert image.format == "PNG"
    (figure,) = figures
    error_panel, loss_panel = figure.axes
    assert len(error_panel.lines) == 2 and len(loss_panel.lines) == 3
    for line in error_panel.lines + loss_panel.lines:
        # One point: a line alone would draw nothing, so each needs a marker.
        assert len(line.get_xdata()) == 1 and line.get_marker() not in (None, "None", "")


def test_epoch_ticks_are_whole_numbers(tmp_path, figures):
    history = [{"epoch": e, "test_error": 0.5 / e, "loss_generator": 1.0} for e in (1, 2, 3)]
    save_learning_curve(history, tmp_path / "curve.png")
    (figure,) = figures
    for axis in figure.axes:
        ticks = [t for t in axis.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)
