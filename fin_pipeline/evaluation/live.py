"""The nightly product: a live model trained on every realized target, tomorrow's forecast, and its record.

* :func:`live_boundaries`: the live model's cut, training | gap | tuning, the tuning block ending on the last day
  whose target is realized (:func:`~fin_pipeline.training.splits.live_split`, the same rules as a fold's).
  :func:`~fin_pipeline.training.fold_training.train_fold` trains it like a fold (its "test" block is the data's
  last day, whose windows have no target and so are never loaded).
* :func:`make_forecast`: the live model's prediction of the h-day log return of each ticker from the window
  ending on the data's last day, its cross-sectional rank, the position weight of each backtest book, and the
  baselines beside it (momentum; ridge fitted on the live training block with its penalty chosen on the tuning
  block).
* :func:`score_forecasts`: once a forecast's targets are realized, the paper-trading record: per day the IC, the
  hit rate and the net return of each book, and the cumulative equity, of the forecasts made **on time**;
  :func:`missed_sessions`: the sessions that had no on-time forecast.

On time: every forecast row records when it was made (``made_at``, UTC) and from data as of which session
(``as_of``). A forecast for session D is on time when it was made before D's opening (09:30 New York, from the
NYSE calendar): it could have been traded. A forecast made later (a missed night replayed, a past end date run
again) is kept but never scored as if made on time, and D is listed as missed.

Timing follows the windows' execution (:mod:`fin_pipeline.sources.execution`), as in the folds' books: a forecast
made after close t is for the session t+1 (``forecast_date``); under ``next_open`` its positions are bought at the
open of t+1 and held to the open of t+2 (h = 1; h sessions of tranches for h > 1), and it is scored once that
open is known (its row's target and one-day return are realized then, not at close t+1).

No dagster here; the assets in :mod:`fin_pipeline.defs.assets.live` wire these to storage.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fin_pipeline.backtest.books import positions_from_predictions
from fin_pipeline.backtest.strategy import simulate
from fin_pipeline.core.calendar import nyse_sessions, session_opens
from fin_pipeline.core.costs import CostModel
from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.features.windows import WindowSet, latest_windows
from fin_pipeline.training.baselines import add_baselines
from fin_pipeline.training.checkpoint import load_checkpoint
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.fold_training import calibrated, point_column, return_units
from fin_pipeline.training.folds import FoldSpec, fold_positions
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.splits import live_split

# The books of a forecast: weight column -> (mode, long_only) of positions_from_predictions.
WEIGHT_BOOKS = {
    "weight_sign": ("sign", False),
    "weight_long_only": ("sign", True),
    "weight_neutral": ("neutral", False),
}
FORECAST_COLUMNS = (
    "forecast_date",
    "as_of",
    "made_at",
    "ticker",
    "model",
    "rank",
    *WEIGHT_BOOKS,
    "zero",
    "momentum",
    "ridge",
)
RECORD_BOOKS = {"sign": "weight_sign", "long_only": "weight_long_only", "neutral": "weight_neutral"}


class ForecastError(ValueError):
    """A forecast that cannot be made or stored (the message names what to materialize or what differs)."""


def utc_now() -> pd.Timestamp:
    """The time a forecast is made: now, in UTC (nanoseconds, as every stored timestamp)."""
    return pd.Timestamp.now(tz="UTC").as_unit("ns")


def next_session(day: dt.date) -> dt.date:
    """The NYSE session after ``day``: the date a forecast made on ``day``'s close is for."""
    return nyse_sessions(day + dt.timedelta(days=1), day + dt.timedelta(days=14))[0].date()


def data_end(ws: WindowSet) -> dt.date:
    """The data's last session: the latest row of any ticker."""
    return pd.Timestamp(ws.row_dates.max()).date()


def live_boundaries(ws: WindowSet, spec: FoldSpec, horizon: int = 1) -> FoldBoundaries:
    """The live model's training and tuning blocks on ``ws`` (every realized target), as of the data's last day."""
    spec.validate(horizon, len(ws.spans), ws.execution)
    options = spec.block_options(len(ws.spans), horizon, ws.execution)
    return live_split(ws.index["date"].to_numpy(), data_end(ws), **options)


@torch.no_grad()
def make_forecast(
    ws: WindowSet, checkpoint_path: Path, made_at: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Tomorrow's forecast from the live checkpoint: one row per ticker with a full window on the data's last day.

    Returns ``(forecast, missing)``; ``missing`` names the tickers left out and why (no bar on the last day,
    too few or non-finite feature rows). The forecast's columns are :data:`FORECAST_COLUMNS`: ``model`` the
    predicted h-day log return, ``rank`` its cross-sectional rank (1 = lowest), the weight each book takes
    (``weight_sign``: sign(p)/N; ``weight_long_only``: max(sign(p), 0)/N; ``weight_neutral``: demeaned rank,
    Σw = 0, Σ|w| = 1), the baselines' predictions, ``as_of`` the data's last session and ``made_at`` when the
    forecast was made (UTC; default :func:`utc_now`). ``ForecastError`` when the checkpoint is not for this
    data (its as_of differs) or fewer than its ``min_tickers`` tickers can be forecast.
    """
    model, ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    fold = FoldBoundaries.from_dict(ckpt["extra"]["fold"])
    as_of = data_end(ws)
    if fold.test_start != as_of:
        raise ForecastError(
            f"the live model {checkpoint_path} was trained as of {fold.test_start}, the data ends on {as_of}: "
            "materialize live_model for the new data first"
        )
    rows, missing = latest_windows(ws)
    stale = rows["date"].to_numpy() != np.datetime64(as_of)
    for ticker, day in zip(rows["ticker"][stale], rows["date"][stale], strict=True):
        missing[ticker] = f"no bar on {as_of} (its data ends on {pd.Timestamp(day).date()})"
    rows = rows[~stale].reset_index(drop=True)
    if len(rows) < fold.min_tickers:
        raise ForecastError(
            f"forecast as of {as_of}: {len(rows)} ticker(s) can be forecast, fewer than min_tickers="
            f"{fold.min_tickers}; missing: {missing}"
        )
    stats = FoldStats.from_dict(ckpt["extra"]["normalization"])
    x = torch.from_numpy(stats.normalize(ws.X(rows["window"].to_numpy()))).float()
    model.eval()
    spec = ckpt["extra"]["train_spec"]
    # in return units as the folds' forecasts: a score (cross-sectional target, scale-free loss) through the line
    # fitted on the live model's own tuning block
    tune = fold_positions(ws, fold).tune if calibrated(spec) else np.empty(0, dtype=np.int64)
    intercept, slope = return_units(model, ws, stats, tune, spec)
    pred = intercept + slope * model(x)[:, point_column(spec)].double().numpy()
    out, _ = add_baselines(ws, fold, stats, rows.assign(model=pred))
    out["rank"] = out["model"].rank(method="average")
    for name, (mode, long_only) in WEIGHT_BOOKS.items():
        book = positions_from_predictions(out.assign(date=as_of), "model", mode=mode, long_only=long_only)
        out[name] = book.set_index("ticker").loc[out["ticker"], "weight"].to_numpy()
    # nanosecond dates, as every other stored frame (a second-unit column would not read back the same)
    out["as_of"] = pd.Timestamp(as_of).as_unit("ns")
    out["forecast_date"] = pd.Timestamp(next_session(as_of)).as_unit("ns")
    out["made_at"] = pd.Timestamp(made_at if made_at is not None else utc_now()).tz_convert("UTC").as_unit("ns")
    return out[list(FORECAST_COLUMNS)].sort_values("ticker", ignore_index=True), missing


def on_time(forecasts: pd.DataFrame) -> np.ndarray:
    """Per row: made before the opening of the session it forecasts (``made_at`` < open of ``forecast_date``).
    A row without ``made_at`` (a forecast stored before forecasts recorded it) is not known to be on time."""
    if "made_at" not in forecasts.columns:
        return np.zeros(len(forecasts), dtype=bool)
    opens = session_opens(forecasts["forecast_date"]).to_numpy()
    made = pd.to_datetime(forecasts["made_at"], utc=True).to_numpy()
    return (made < opens) & ~pd.isna(made) & ~pd.isna(opens)


def missed_sessions(forecasts: pd.DataFrame, ws: WindowSet) -> pd.DataFrame:
    """The sessions, from the first forecast's session to the data's last, that had no on-time forecast.

    Columns ``session`` and ``why``: ``no forecast`` (the night was missed: machine off, a failed run) or
    ``made late (<made_at> UTC, after the open)`` (made after the session began: a replayed night).
    """
    if forecasts.empty:
        return pd.DataFrame({"session": pd.Series([], dtype="datetime64[ns]"), "why": pd.Series([], dtype=str)})
    first = pd.Timestamp(forecasts["forecast_date"].min()).date()
    sessions = nyse_sessions(first, data_end(ws))
    ok = set(forecasts.loc[on_time(forecasts), "forecast_date"])
    if "made_at" in forecasts.columns:
        made_at = pd.to_datetime(forecasts["made_at"], utc=True)
    else:
        made_at = pd.Series(pd.NaT, index=forecasts.index, dtype="datetime64[ns, UTC]")
    made = made_at.groupby(forecasts["forecast_date"]).min()
    rows = []
    for day in sessions:
        if day in ok:
            continue
        rows.append((day, _why(made.get(day, pd.NaT), day in made.index)))
    return pd.DataFrame(rows, columns=["session", "why"]).astype({"session": "datetime64[ns]", "why": str})


def _why(made_at: pd.Timestamp, stored: bool) -> str:
    if not stored:
        return "no forecast"
    if pd.isna(made_at):
        return "made at an unrecorded time (stored before forecasts recorded it)"
    return f"made late ({pd.Timestamp(made_at):%Y-%m-%d %H:%M} UTC, after the session's open)"


def score_forecasts(
    forecasts: pd.DataFrame, ws: WindowSet, horizon: int = 1, costs: CostModel | None = None
) -> pd.DataFrame:
    """The paper-trading record of the on-time forecasts (:func:`on_time`) whose targets are realized in ``ws``,
    one row per forecast day; a forecast made after its session's open is never scored (see :func:`missed_sessions`).

    Columns: ``as_of``, ``forecast_date``, ``tickers``, ``ic`` (Pearson correlation across tickers of the
    prediction and the realized h-day executable log return, the target), ``hit_rate`` (share of tickers whose
    predicted sign was right), and per book ``net_<book>`` (the day's net return of the book as the backtest
    computes it: weights held for h days in tranches from the execution's entry, charged by ``costs`` on the trades
    with the cost inputs of the forecast's as-of day; None: flat at the default bps) and ``equity_<book>`` (the
    cumulative product of 1 + net).
    """
    if forecasts.empty:
        return pd.DataFrame()
    forecasts = forecasts[on_time(forecasts)]
    realized = ws.index[["ticker", "date", "window", "target"]].rename(columns={"date": "as_of"})
    realized = realized.assign(ticker=realized["ticker"].astype(str))
    realized["next_return"] = ws.next_return(realized["window"].to_numpy())
    realized = realized.assign(**ws.cost_rows(realized["window"].to_numpy() + ws.window - 1))  # as of the as-of day
    rows = forecasts.merge(realized, on=["ticker", "as_of"], how="inner")
    if rows.empty:
        return pd.DataFrame()
    rows = rows.sort_values(["as_of", "ticker"], ignore_index=True)
    days = rows.groupby("as_of")
    record = pd.DataFrame(
        {
            "forecast_date": days["forecast_date"].first(),
            "tickers": days.size(),
            "ic": days.apply(lambda d: _pearson(d["model"], d["target"]), include_groups=False),
            "hit_rate": days.apply(
                lambda d: float((np.sign(d["model"]) == np.sign(d["target"])).mean()), include_groups=False
            ),
        }
    )
    for book, column in RECORD_BOOKS.items():
        positions = rows[["as_of", "ticker", column, "target", "next_return", *COST_INPUTS]].rename(
            columns={"as_of": "date", column: "weight"}
        )
        result = simulate(positions, name=book, horizon=horizon, costs=costs)
        daily = result.daily.set_index("date")
        record[f"net_{book}"] = daily["net_return"]
        record[f"equity_{book}"] = daily["equity"]
    return record.rename_axis("as_of").reset_index()


def _pearson(a: pd.Series, b: pd.Series) -> float:
    a, b = a.to_numpy(np.float64), b.to_numpy(np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
