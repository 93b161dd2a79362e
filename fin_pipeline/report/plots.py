"""Pictures of a backtest for people: equity curves, drawdown and learning curves.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``: no GUI
backend, no global figure state shared between threads (Dagster may run steps in threads), and importing this
module does not change the backend of a notebook that imports it. Every PNG is written atomically: rendered to a
temporary file beside the target, then renamed over it, so a reader never sees half a picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from fin_pipeline.backtest.metrics import drawdown_series
from fin_pipeline.store.parquet import atomic_path

DPI = 110


def _figure(width: float = 10.0, height: float = 5.0, **subplots: Any) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def _date_axis(ax: Any) -> None:
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("date")
    ax.grid(True, alpha=0.3)


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)  # the temp name ends in .tmp: the format must be explicit
    return path


def equity_curve_png(curves: Mapping[str, pd.Series], path: Path, title: str = "Out-of-sample equity") -> Path:
    """One line per strategy: equity (growth of 1) against date; the first curve (the model) is drawn boldest."""
    if not curves:
        raise ValueError("no equity curves to plot")
    fig, ax = _figure()
    for k, (name, curve) in enumerate(curves.items()):
        ax.plot(pd.to_datetime(curve.index), curve.to_numpy(np.float64), label=name, lw=2.2 if k == 0 else 1.2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_title(title)
    ax.set_ylabel("equity (start = 1, net of costs)")
    ax.legend(loc="best")
    _date_axis(ax)
    return _save(fig, path)


def drawdown_png(curve: pd.Series, path: Path, title: str = "Drawdown of the model") -> Path:
    """Drawdown E_t / running peak − 1 (in %) of one equity curve against date, the deepest point marked."""
    if len(curve) == 0:
        raise ValueError("no equity curve to plot")
    dd = drawdown_series(curve) * 100.0
    dates = pd.to_datetime(dd.index)
    fig, ax = _figure(height=4.0)
    ax.fill_between(dates, dd.to_numpy(), 0.0, color="tab:red", alpha=0.35, label="drawdown")
    ax.plot(dates, dd.to_numpy(), color="tab:red", lw=1.0)
    t = int(np.argmin(dd.to_numpy()))
    ax.plot([dates[t]], [dd.iloc[t]], "o", color="black", ms=4)
    ax.annotate(f"max {dd.iloc[t]:.1f}%", (dates[t], dd.iloc[t]), xytext=(8, 4), textcoords="offset points")
    ax.margins(y=0.12)
    ax.set_title(title)
    ax.set_ylabel("drawdown from peak (%)")
    ax.legend(loc="lower left")
    _date_axis(ax)
    return _save(fig, path)


def learning_curves_png(
    histories: Mapping[str, Sequence[Mapping[str, float]]], path: Path, title: str = "Learning curves per fold"
) -> Path:
    """Small multiples, one panel per fold: training and tuning loss against epoch (the best epoch marked)."""
    folds = [f for f, h in histories.items() if len(h)]
    if not folds:
        raise ValueError("no training history to plot")
    ncols = min(4, len(folds))
    nrows = -(-len(folds) // ncols)
    fig, axes = _figure(3.2 * ncols + 0.8, 2.6 * nrows + 0.8, nrows=nrows, ncols=ncols, squeeze=False)
    for ax, fold in zip(axes.flat, folds, strict=False):
        h = pd.DataFrame(list(histories[fold]))
        epoch = h["epoch"] if "epoch" in h else pd.Series(np.arange(1, len(h) + 1))
        for col, label in (("train_loss", "training"), ("val_loss", "tuning")):
            if col in h:
                ax.plot(epoch, h[col], marker="o", ms=2.5, lw=1.2, label=label)
        if "val_loss" in h and h["val_loss"].notna().any():
            best = int(h["val_loss"].idxmin())
            ax.axvline(epoch.iloc[best], color="grey", lw=0.8, ls=":", label="best epoch")
        ax.set_title(fold)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(folds) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    return _save(fig, path)
