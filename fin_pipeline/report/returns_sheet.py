"""The returns tear sheet of one book (``returns_<book>.html``): ``quantstats.reports.html`` of the book's daily
net simple returns (after costs, as :mod:`fin_pipeline.backtest.strategy` computes them), with the buy-and-hold
book's returns as the benchmark Series (never a ticker: nothing is downloaded), risk-free rate 0, 252 days a year,
dates as they are (``match_dates=False``: no leading day trimmed). Its Sharpe is ours: mean / std (ddof 1) · √252.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fin_pipeline.backtest.metrics import TRADING_DAYS
from fin_pipeline.backtest.strategy import BUY_AND_HOLD
from fin_pipeline.report.sheets import SkipSheet, quiet, use_agg
from fin_pipeline.store.parquet import atomic_path


def returns_html(
    returns: pd.Series,
    path: Path,
    name: str,
    benchmark: pd.Series | None = None,
    title: str | None = None,
    benchmark_name: str = BUY_AND_HOLD,
) -> Path:
    """quantstats' HTML tear sheet of one book's daily net returns (see the module docstring), written atomically.

    Raises :class:`SkipSheet` for a book quantstats cannot describe: fewer than two days, or a flat book (every
    return 0, e.g. the zero baseline, which takes no position).
    """
    r = pd.Series(returns.to_numpy(np.float64), index=pd.DatetimeIndex(returns.index), name=name)
    if len(r) < 2:
        raise SkipSheet(f"{len(r)} day(s): too few for a returns tear sheet")
    if not (r != 0).any():
        raise SkipSheet("a flat book (every daily return is 0: it never holds a position)")
    if benchmark is not None:
        benchmark = pd.Series(
            benchmark.to_numpy(np.float64), index=pd.DatetimeIndex(benchmark.index), name=benchmark_name
        )
        if not benchmark.index.equals(r.index):
            raise ValueError(f"{name}: the benchmark's dates differ from the book's")
    if title is None:
        title = f"{name}: stitched out-of-sample daily net returns, {r.index[0]:%Y-%m-%d} … {r.index[-1]:%Y-%m-%d}"
    use_agg()
    import quantstats

    path = Path(path)
    with quiet("quantstats"), atomic_path(path) as tmp:
        quantstats.reports.html(
            r,
            benchmark=benchmark,
            rf=0.0,
            title=title,
            output=str(tmp),
            periods_per_year=TRADING_DAYS,
            match_dates=False,
            strategy_title=name,
            benchmark_title=None if benchmark is None else benchmark_name,
        )
    return path
