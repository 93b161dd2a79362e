"""The leaderboard for people: its table in Markdown and plain text, its chart, and the report's section.

The figures come from :mod:`fin_pipeline.evaluation.leaderboard`; nothing is computed here but their display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.core.formatting import format_value, markdown_table, text_table
from fin_pipeline.report.plots import _figure, _save

HEADERS = {
    "model": "model",
    "folds": "folds",
    "days": "days",
    "ic": "IC",
    "rank_ic": "rank IC",
    "icir": "ICIR",
    "ic_nw_t": "IC NW t",
    "sharpe": "neutral net Sharpe",
    "psr": "PSR",
    "dsr": "DSR",
}


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The stored table with the headers people read."""
    return table[list(HEADERS)].rename(columns=HEADERS)


def pbo_line(meta: dict[str, Any]) -> str:
    """The board's PBO in words (Bailey, Borwein, López de Prado & Zhu 2015)."""
    pbo = meta.get("pbo")
    if pbo is None:
        return f"PBO (probability of backtest overfitting): not computed ({meta.get('pbo_note', 'no note')})."
    return (
        f"PBO (probability of backtest overfitting, CSCV): {format_value(pbo)}: the share of in-sample/out-of-sample "
        f"splits in which the model with the best in-sample Sharpe fell to or below the median out of sample "
        f"({meta.get('pbo_note', '')}). DSR over {meta.get('n_trials', '?')} registered trial(s)."
    )


def leaderboard_markdown(table: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The table (Markdown) and the PBO line under it."""
    return f"{markdown_table(shown(table))}\n\n{pbo_line(meta)}"


def leaderboard_text(table: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The table (aligned text, the CLI) and the PBO line under it."""
    return f"{text_table(shown(table))}\n\n{pbo_line(meta)}"


def leaderboard_png(table: pd.DataFrame, neutral: pd.DataFrame, path: Path) -> Path:
    """Two panels: each model's mean IC and neutral net Sharpe (bars), and the neutral books' equity curves."""
    fig, (bars, curves) = _figure(12.0, 4.5, ncols=2)
    x = np.arange(len(table))
    width = 0.4
    bars.bar(x - width / 2, table["ic"].to_numpy(np.float64) * 100.0, width, label="mean IC × 100")
    bars.bar(x + width / 2, table["sharpe"].to_numpy(np.float64), width, label="neutral net Sharpe")
    bars.set_xticks(x, [str(m) for m in table["model"]], rotation=30, ha="right")
    bars.axhline(0.0, color="black", linewidth=0.8)
    bars.legend()
    bars.set_title("Leaderboard")
    for name in neutral.columns:
        equity = (1.0 + neutral[name].dropna()).cumprod()
        curves.plot(pd.to_datetime(equity.index), equity.to_numpy(), label=str(name))
    curves.set_title("Market-neutral books, net of costs")
    curves.set_ylabel("equity")
    curves.grid(True, alpha=0.3)
    curves.legend()
    return _save(fig, path)


def leaderboard_section(table: pd.DataFrame, meta: dict[str, Any], picture: str | None) -> str:
    """The report's "Leaderboard" section: every board model trained fresh on the same folds, side by side."""
    image = f"![leaderboard]({picture})\n\n" if picture else ""
    return (
        "## Leaderboard: every model on the same folds\n\n"
        "Each model trained fresh on every fold's training block, tuned on its tuning block, scored on its test "
        "block (`fin-pipeline leaderboard`; the models: FIN_PIPELINE_MODELS).\n\n"
        f"{leaderboard_markdown(table, meta)}\n\n{image}"
    )
