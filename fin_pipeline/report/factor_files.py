"""The factor tear sheet on disk: one picture of alphalens' own plots (``factor_tearsheet.png``) and its numbers
(``factor_summary.parquet``, ``factor_daily.parquet``, ``factor_quantiles.parquet``), each written atomically
and drawn off-screen (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.report.factor_sheet import FactorSheet, factor_sheet
from fin_pipeline.report.sheets import quiet, use_agg
from fin_pipeline.store.parquet import atomic_path, write_parquet

FACTOR_PNG = "factor_tearsheet.png"
FACTOR_FILES = {
    "factor_summary": "factor_summary.parquet",
    "factor_daily": "factor_daily.parquet",
    "factor_quantiles": "factor_quantiles.parquet",
}


def factor_png(sheet: FactorSheet, path: Path, title: str = "The model's predictions as an alpha factor") -> Path:
    """One picture, alphalens' own plots: the daily 1-day IC, the IC's histogram per horizon, its decay (mean IC
    ± 1.96 Newey–West standard errors by horizon), mean demeaned return by quantile, the quantiles' cumulative
    1-day returns, the daily top-minus-bottom spread, and the top and bottom quantiles' turnover with the rank
    autocorrelation."""
    use_agg()
    import alphalens.plotting as alp
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(sheet.periods)
    first = labels[0]
    n = len(labels)
    fig = Figure(figsize=(15, 26), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(6, 12)
    kw: dict[str, Any] = {}
    ic = sheet.daily.pivot(index="date", columns="period", values="ic")
    ic = ic.rename(columns={k: label for label, k in sheet.periods.items()})[labels]
    with quiet("alphalens"):
        alp.plot_ic_ts(ic[[first]], ax=[fig.add_subplot(grid[0, :])], **kw)
        width = 12 // n
        hist_axes = np.array([fig.add_subplot(grid[1, i * width : (i + 1) * width]) for i in range(n)])
        alp.plot_ic_hist(ic[labels], ax=hist_axes, **kw)
        decay = fig.add_subplot(grid[2, :4])
        _ic_decay(sheet.summary, decay)
        mean_q = sheet.by_quantile.pivot(index="quantile", columns="period", values="mean_return")
        mean_q.columns = [f"{k}D" for k in mean_q.columns]
        mean_q.index.name = "factor_quantile"
        alp.plot_quantile_returns_bar(mean_q, ax=fig.add_subplot(grid[2, 4:]), **kw)
        alp.plot_cumulative_returns_by_quantile(
            sheet.quantile_daily[first], period=first, ax=fig.add_subplot(grid[3, :]), **kw
        )
        day = sheet.daily[sheet.daily["period"] == sheet.periods[first]].set_index("date")
        alp.plot_mean_quantile_returns_spread_time_series(
            day["spread"].rename(first), ax=fig.add_subplot(grid[4, :]), **kw
        )
        turnover = day[["top_turnover", "bottom_turnover"]].set_axis([sheet.quantiles, 1], axis=1)
        k = sheet.periods[first]
        alp.plot_top_bottom_quantile_turnover(turnover, period=k, ax=fig.add_subplot(grid[5, :6]), **kw)
        alp.plot_factor_rank_auto_correlation(
            day["rank_autocorrelation"], period=k, ax=fig.add_subplot(grid[5, 6:]), **kw
        )
    fig.suptitle(f"{title}: {sheet.rows_used} of {sheet.rows} (date, ticker) rows, {sheet.quantiles} quantiles")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _ic_decay(summary: pd.DataFrame, ax: Any) -> None:
    se = summary["ic_mean"] / summary["ic_nw_t"]
    x = np.arange(len(summary))
    ax.bar(x, summary["ic_mean"], yerr=1.96 * se.abs().fillna(0.0), color="steelblue", capsize=4)
    ax.set_xticks(x, [f"{k}D" for k in summary["period"]])
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_title("IC decay: mean IC by horizon (±1.96 NW s.e.)")
    ax.set_ylabel("mean Spearman IC")


def write_factor_sheet(
    predictions: pd.DataFrame, out: Path, column: str = "model", horizon: int = 1
) -> tuple[FactorSheet, dict[str, Path]]:
    """Compute the factor tear sheet and write its picture and numbers into ``out``; returns it and the files."""
    sheet = factor_sheet(predictions, column, horizon)
    out = Path(out)
    meta = {
        "factor": column,
        "quantiles": sheet.quantiles,
        "rows": sheet.rows,
        "rows_used": sheet.rows_used,
        "periods": {label: k for label, k in sheet.periods.items()},
        "conventions": "Spearman IC on simple forward returns rebuilt from next_return; demeaned quantile "
        "returns; spread = (top - bottom) / 2 (100% gross); see fin_pipeline.report.factor_sheet",
    }
    files = {"factor_tearsheet": factor_png(sheet, out / FACTOR_PNG)}
    tables = {"factor_summary": sheet.summary, "factor_daily": sheet.daily, "factor_quantiles": sheet.by_quantile}
    for name, table in tables.items():
        write_parquet(table, out / FACTOR_FILES[name], meta=meta)
        files[name] = out / FACTOR_FILES[name]
    return sheet, files
