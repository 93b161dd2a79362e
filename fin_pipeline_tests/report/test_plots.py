from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from fin_pipeline.backtest import backtest_all
from fin_pipeline.report.plots import drawdown_png, equity_curve_png, learning_curves_png
from fin_pipeline_tests.backtest.test_strategy import random_market

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results():
    return backtest_all(random_market(days=120))


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG
    assert len(data) > 5_000
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left behind


def test_equity_curve_png(tmp_path, results):
    path = equity_curve_png({name: r.equity for name, r in results.items()}, tmp_path / "equity.png")
    assert_png(path)


def test_drawdown_png(tmp_path, results):
    assert_png(drawdown_png(results["model"].equity, tmp_path / "drawdown.png"))


def test_learning_curves_png(tmp_path):
    rng = np.random.default_rng(0)
    histories = {
        f"fold_{k:02d}": [
            {"epoch": e, "train_loss": 1 / e + rng.uniform(0, 0.05), "val_loss": 1 / e + 0.1 + rng.uniform(0, 0.1)}
            for e in range(1, 6 + k)
        ]
        for k in range(5)
    }
    assert_png(learning_curves_png(histories, tmp_path / "learning.png"))
    with pytest.raises(ValueError, match="no training history"):
        learning_curves_png({}, tmp_path / "empty.png")


def test_a_failed_render_leaves_the_previous_file_and_no_temp(tmp_path, results, monkeypatch):
    path = tmp_path / "equity.png"
    path.write_bytes(b"previous")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        equity_curve_png({"model": results["model"].equity}, path)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["equity.png"]
