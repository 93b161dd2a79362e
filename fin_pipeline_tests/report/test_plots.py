"""The report's pictures show their input: the lines drawn (read back from the figure that was saved) are the series
given, computed here by hand, and the PNG on disk is that figure at its size, with each curve's colour in it."""

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from fin_pipeline.report.plots import DPI, drawdown_png, equity_curve_png, learning_curves_png

DATES = pd.bdate_range("2021-01-04", periods=120)


@pytest.fixture
def saved(monkeypatch):
    """Every figure saved while the test runs (saved as usual: the PNG is still written)."""
    figures: list[Figure] = []
    original = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def curve(seed: int, drift: float = 0.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(np.cumprod(1.0 + rng.normal(drift, 0.01, len(DATES))), index=DATES)


def png(path: Path, fig: Figure) -> np.ndarray:
    """The PNG as RGB, checked to be the figure at its size in pixels, with no temporary file left beside it."""
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    image = mpimg.imread(path)[..., :3]
    width, height = fig.get_size_inches() * DPI
    assert image.shape[:2] == (round(height), round(width))
    return image


def has_colour(image: np.ndarray, colour: str, tol: float = 0.02) -> bool:
    return bool((np.abs(image - np.array(to_rgb(colour))) < tol).all(axis=-1).any())


def data_lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_equity_curve_png_draws_each_curve_against_its_dates(tmp_path, saved):
    curves = {"model": curve(1, 0.001), "momentum": curve(2), "buy_and_hold": curve(3, -0.0005)}
    path = equity_curve_png(curves, tmp_path / "equity.png", title="Equity here")
    (fig,) = saved
    (ax,) = fig.axes
    lines = data_lines(ax)
    assert list(lines) == list(curves) and [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)
    for name, series in curves.items():
        x, y = lines[name].get_data()
        np.testing.assert_array_equal(date2num(pd.to_datetime(x)), date2num(DATES.to_pydatetime()))
        np.testing.assert_allclose(y, series.to_numpy(), rtol=0, atol=0)
    assert lines["model"].get_linewidth() > lines["momentum"].get_linewidth() == lines["buy_and_hold"].get_linewidth()
    (base,) = [line for line in ax.get_lines() if line.get_label().startswith("_")]  # the start, equity 1
    assert list(base.get_ydata()) == [1.0, 1.0] and base.get_linestyle() == "--"
    assert ax.get_title() == "Equity here"
    image = png(path, fig)
    for name in curves:
        assert has_colour(image, lines[name].get_color()), name


def test_drawdown_png_draws_the_fall_from_the_running_peak_and_marks_the_deepest(tmp_path, saved):
    # Up to 1.2, down to 0.9, back up to 1.1: the deepest fall is 0.9 / 1.2 − 1 = −25%, on the 70th day.
    shape = np.concatenate([np.linspace(1.0, 1.2, 40), np.linspace(1.2, 0.9, 30), np.linspace(0.9, 1.1, 50)])
    equity = pd.Series(shape * (1 + 0.001 * np.sin(np.arange(120))), index=DATES)
    # By hand: the peak so far (the starting capital 1 included), the fall from it in percent.
    values = equity.to_numpy()
    peak = [max([1.0, *values[: t + 1]]) for t in range(len(values))]
    expected = (values / np.array(peak) - 1.0) * 100.0
    path = drawdown_png(equity, tmp_path / "drawdown.png")
    (fig,) = saved
    (ax,) = fig.axes
    line, marker = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), expected, atol=1e-12)
    deepest = int(np.argmin(expected))
    assert deepest == 69 and expected[deepest] == pytest.approx(-25.0, abs=0.3)
    assert marker.get_ydata()[0] == pytest.approx(expected[deepest])
    assert date2num(pd.to_datetime(marker.get_xdata()[0])) == date2num(DATES[deepest].to_pydatetime())
    assert [t.get_text() for t in ax.texts] == [f"max {expected[deepest]:.1f}%"]
    image = png(path, fig)
    assert has_colour(image, "tab:red")


def test_learning_curves_png_has_a_panel_per_fold_with_its_losses_and_best_epoch(tmp_path, saved):
    rng = np.random.default_rng(0)
    histories = {
        f"fold_{k:02d}": [
            {"epoch": e, "train_loss": 1 / e + rng.uniform(0, 0.05), "val_loss": (e - 3 - k) ** 2 / 10 + 0.1}
            for e in range(1, 6 + k)
        ]
        for k in range(5)
    }
    path = learning_curves_png(histories, tmp_path / "learning.png")
    (fig,) = saved
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == list(histories)
    assert len(fig.axes) == 8  # 5 folds: 2 rows of 4 panels, the last 3 hidden
    for ax, (fold, history) in zip(shown, histories.items(), strict=True):
        lines = data_lines(ax)
        epochs = [h["epoch"] for h in history]
        for label, key in (("training", "train_loss"), ("tuning", "val_loss")):
            assert list(lines[label].get_xdata()) == epochs, fold
            np.testing.assert_allclose(lines[label].get_ydata(), [h[key] for h in history])
        best = 3 + int(fold[-2:])  # the tuning loss (e − 3 − k)² / 10 + 0.1 is lowest at epoch 3 + k
        assert list(lines["best epoch"].get_xdata()) == [best, best], fold
    png(path, fig)
    with pytest.raises(ValueError, match="no training history"):
        learning_curves_png({}, tmp_path / "empty.png")


def test_a_failed_render_leaves_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "equity.png"
    path.write_bytes(b"previous")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        equity_curve_png({"model": curve(1)}, path)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["equity.png"]
