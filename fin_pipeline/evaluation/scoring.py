"""Out-of-sample scoring of predictions: forecast metrics, their statistics, the books, and a verdict in words.

The same function scores one fold's test block (``fold_metrics``) and all folds stitched (the report), so a number
in the UI, the CLI and ``report.md`` is computed once, one way. Each point estimate comes with how sure it is:
IC with its Newey–West t and a bootstrap interval, each book's Sharpe with its HAC standard error, interval and
PSR, the model's books' DSR over the store's registered trials (:func:`with_trials`), and the model against the best
baseline by a Diebold–Mariano test (see :mod:`fin_pipeline.backtest.statistics` and
:mod:`fin_pipeline.backtest.sharpe` for the formulas and references).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest import BOOKS, BacktestResult, backtest_all, summary_table
from fin_pipeline.backtest.sharpe import sharpe_statistics
from fin_pipeline.backtest.statistics import best_baseline_comparison, diebold_mariano, forecast_statistics
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.formatting import format_stat, format_value
from fin_pipeline.evaluation.forecast import metrics_table
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.store.parquet import IntegrityError, read_parquet, write_parquet
from fin_pipeline.training.baselines import BASELINES, add_baselines
from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.fold_training import predict_fold
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.versions import checkpoint_model_version

PREDICTORS = ("model", *BASELINES)
LEVEL = 0.05  # the significance level of every verdict in words
SHARPE_STATS = ("sharpe_se", "psr", "dsr", "sharpe_ci_low", "sharpe_ci_high", "lags")


@dataclasses.dataclass(frozen=True)
class Scores:
    """What one block of out-of-sample predictions (a fold's test block, or all folds stitched) scores."""

    forecasts: pd.DataFrame  # per predictor: mse, mae, ic, rank_ic, directional_accuracy, n, IC statistics
    backtest: pd.DataFrame  # per strategy (book): risk metrics and Sharpe statistics
    books: dict[str, BacktestResult]
    comparison: dict[str, Any]  # the model against the best baseline and against zero (Diebold–Mariano), IC test
    verdict: list[str]  # the comparison in words, first lines of the report


def score_predictions(
    predictions: pd.DataFrame,
    horizon: int,
    fold: str | None = None,
    costs: CostModel | None = None,
    seed: int = 0,
) -> Scores:
    """Score ``predictions`` (date, ticker, target, next_return, a column per predictor, and the cost inputs that
    ``costs`` needs; ``costs`` None: flat at the default bps)."""
    forecasts = metrics_table(predictions, PREDICTORS)
    stats = forecast_statistics(predictions, PREDICTORS, horizon, seed=seed)
    forecasts = forecasts.join(stats.drop(columns=["mean_ic", "rank_ic_mean"], errors="ignore"))
    books = backtest_all(predictions, PREDICTORS, fold=fold, horizon=horizon, books=BOOKS, costs=costs)
    table = summary_table(books)
    # DSR only where the trials are known (the stitched record against the trial registry, :func:`with_trials`);
    # everything else here is the book's own: an h-day book's daily returns overlap, hence HAC with >= h - 1 lags.
    rows = {name: sharpe_statistics(result.returns, horizon) for name, result in books.items()}
    table = table.join(pd.DataFrame.from_dict(rows, orient="index")[list(SHARPE_STATS)])
    comparison = {
        "vs_best": best_baseline_comparison(predictions, "model", BASELINES, horizon),
        "vs_zero": diebold_mariano(predictions, "model", "zero", horizon),
        "ic": {
            k: float(forecasts.loc["model", k])
            for k in ("ic", "ic_nw_t", "ic_nw_p", "ic_ci_low", "ic_ci_high", "n_days")
        },
        "sharpe": {k: float(table.loc["model", k]) for k in ("sharpe", *SHARPE_STATS)},
        "sharpe_neutral": {k: float(table.loc["model_neutral", k]) for k in ("sharpe", *SHARPE_STATS)},
    }
    return Scores(forecasts, table, books, comparison, verdict(comparison, forecasts, horizon))


def with_trials(scores: Scores, trial_sharpes: Mapping[str, Sequence[float]], horizon: int) -> Scores:
    """``scores`` with the DSR of the books in ``trial_sharpes`` (book → the annualized Sharpe ratio of every
    registered trial, this record's included: N = its length, V = their per-day variance), by
    :func:`~fin_pipeline.backtest.sharpe.sharpe_statistics`. Other books (baselines, zero, buy-and-hold: references,
    not trials) keep no DSR (NaN). ``comparison["n_trials"]`` = N."""
    counts = {len(v) for v in trial_sharpes.values()}
    if len(counts) != 1:
        raise ValueError(f"every book needs the same trials, got {sorted(counts)} Sharpe ratios")
    table = scores.backtest.copy()
    for book, sharpes in trial_sharpes.items():
        table.loc[book, "dsr"] = sharpe_statistics(scores.books[book].returns, horizon, trial_sharpes=sharpes)["dsr"]
    comparison = {
        **scores.comparison,
        "n_trials": counts.pop(),
        "sharpe": {**scores.comparison["sharpe"], "dsr": float(table.loc["model", "dsr"])},
        "sharpe_neutral": {**scores.comparison["sharpe_neutral"], "dsr": float(table.loc["model_neutral", "dsr"])},
    }
    return dataclasses.replace(scores, backtest=table, comparison=comparison)


def verdict(comparison: dict[str, Any], forecasts: pd.DataFrame, horizon: int = 1) -> list[str]:
    """The comparison in plain words, at the 5% level; it claims skill only where a test says so. A statistic
    that the days there are do not define (a new fold's first days) reads ``n/a (n days)``."""
    ic, best, zero = comparison["ic"], comparison["vs_best"], comparison["vs_zero"]
    name = best["best_baseline"]
    n_ic = ic.get("n_days", float("nan"))
    n_best, n_zero = best["n_days"], zero["n_days"]

    def stat(value: float, n_days: float) -> str:
        return format_stat(value, n_days, horizon)

    def _p(p: float, n_days: float) -> str:  # p = 0.034, p < 0.001 or p n/a (n days)
        return f"p {stat(p, n_days)}" if p != p else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")

    skill = ic["ic_nw_p"] == ic["ic_nw_p"] and ic["ic_nw_p"] < LEVEL and ic["ic"] > 0
    lines = [
        (
            f"**Ranking skill: {'yes' if skill else 'not shown'}.** The model's mean daily IC is "
            f"{stat(ic['ic'], n_ic)} (Newey–West t = {stat(ic['ic_nw_t'], n_ic)}, "
            f"{_p(ic['ic_nw_p'], n_ic)}, 95% CI {stat(ic['ic_ci_low'], n_ic)} … "
            f"{stat(ic['ic_ci_high'], n_ic)}): "
            + (
                "significantly above 0 at 5%, so the model beats the zero baseline, which has no ranking skill."
                if skill
                else "not significantly above 0 at 5%; no claim of skill over the zero baseline."
            )
        )
    ]
    mse_model, mse_best = float(forecasts.loc["model", "mse"]), float(forecasts.loc[name, "mse"])
    change = (mse_model / mse_best - 1.0) * 100.0 if mse_best > 0 else float("nan")
    beats = best["dm_p_a_better"] < LEVEL
    lines.append(
        f"**Against the best baseline ({name}): {'beats it' if beats else 'does not beat it'} at 5%.** "
        f"Squared error {format_value(change)}% {'lower' if change < 0 else 'higher'} than {name}'s "
        f"(Diebold–Mariano {stat(best['dm_stat'], n_best)}, one-sided {_p(best['dm_p_a_better'], n_best)})."
    )
    beats_zero = zero["dm_p_a_better"] < LEVEL
    lines.append(
        f"Against predicting zero on squared error: {'lower' if beats_zero else 'not significantly lower'} "
        f"(Diebold–Mariano {stat(zero['dm_stat'], n_zero)}, one-sided {_p(zero['dm_p_a_better'], n_zero)})."
    )
    return lines


def fold_files(out: Path) -> dict[str, Path]:
    """Where a fold's scores are stored, by name."""
    return {name: Path(out) / f"{name}.parquet" for name in ("predictions", "metrics", "backtest")}


def score_fold(
    ws: WindowSet,
    fold: FoldBoundaries,
    stats: FoldStats,
    checkpoint: Path,
    out: Path,
    device: str = "cpu",
    seed: int = 0,
    costs: CostModel | None = None,
) -> tuple[Scores, pd.DataFrame, dict[str, Any]]:
    """Predict the fold's test block with its checkpoint and the baselines, score it, write it to ``out``.

    ``fold`` may have grown since the checkpoint was trained (the open fold with new days): its current test block
    is predicted; its training and tuning boundaries must be the checkpoint's. Days that ``out`` already holds
    predictions for, from the same model (its :func:`~fin_pipeline.training.versions.model_version` is stored with
    them: data, configuration, seed and code, not the training's timings), keep their stored values: a re-scored
    fold appends days and never rewrites one (float32 results can differ in the last bits when the batches are
    cut differently).

    A ticker missing some of the test block's days between its first and last (a vendor hole) is dropped from
    the fold's scoring (:func:`holed_tickers`); the fold is scored on the others.

    Returns the scores, the predictions and what was chosen: the baselines' (ridge's α, picked on the tuning block)
    and ``dropped_tickers`` (ticker -> the test days it misses). ``costs``: how the books are charged (None: flat at
    the default bps); a cost model that needs cost inputs is refused, before any prediction, when a ticker's
    feature file has none.
    """
    lacking = ws.tickers_without_costs() if costs is not None and costs.needs_inputs else []
    if lacking:
        raise ValueError(
            f"{fold.fold}: the feature files of {lacking} carry no cost inputs, which cost_model "
            f"{costs.cost_model!r} needs: rematerialize feature_windows for them (or set cost_model=flat)"
        )
    extra = read_checkpoint(checkpoint)["extra"]
    # A checkpoint trained outside the assets (a notebook, a test) carries no versions: its file's hash names it.
    if "data_version" in extra:
        digest = checkpoint_model_version({"extra": extra})
    else:
        digest = "sha256:" + hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    predictions, chosen = add_baselines(ws, fold, stats, predict_fold(ws, checkpoint, device, fold=fold))
    holed = holed_tickers(predictions)
    predictions = predictions[~predictions["ticker"].isin(list(holed))].reset_index(drop=True)
    chosen = {**chosen, "dropped_tickers": holed}
    predictions = _keep_stored(predictions, fold_files(out)["predictions"], digest, Path(checkpoint))
    scores = score_predictions(predictions, fold.horizon, fold=fold.fold, seed=seed, costs=costs)
    meta = {
        "fold": fold.to_dict(),
        "costs": dataclasses.asdict(scores.books["model"].costs),
        "model_version": digest,
        "baselines": chosen,
        "comparison": scores.comparison,
        "verdict": scores.verdict,
    }
    files = fold_files(out)
    write_parquet(predictions, files["predictions"], meta=meta)
    write_parquet(scores.forecasts.reset_index(), files["metrics"], meta=meta)
    write_parquet(scores.backtest.reset_index(), files["backtest"], meta=meta)
    return scores, predictions, chosen


def holed_tickers(predictions: pd.DataFrame) -> dict[str, list[str]]:
    """The tickers whose test windows skip some of the block's days (the days any ticker has) between their own
    first and last day, with the days they miss (ISO dates). A ticker listed or delisted inside the block is not
    holed: it is scored on the days it traded."""
    days = pd.DatetimeIndex(predictions["date"].unique()).sort_values()
    holed = {}
    for ticker, mine in predictions.groupby("ticker", observed=True)["date"]:
        have = pd.DatetimeIndex(mine.unique())
        span = days[(days >= have.min()) & (days <= have.max())]
        missing = span.difference(have)
        if len(missing):
            holed[str(ticker)] = [f"{d:%Y-%m-%d}" for d in missing]
    return holed


def _keep_stored(predictions: pd.DataFrame, stored_path: Path, digest: str, checkpoint: Path) -> pd.DataFrame:
    """``predictions`` with every predictor's values of the days already stored at ``stored_path`` by the same
    model version (the model's and the baselines', whose float sums can differ in the last bit too). Predictions
    stored before model versions were (their checkpoint's file SHA-256 instead) count as the same model when that
    file is unchanged."""
    if not Path(stored_path).is_file():
        return predictions
    try:
        stored, meta = read_parquet(stored_path)
    except IntegrityError:  # a corrupt stored file is what this scoring replaces: nothing of it is kept
        return predictions
    same = meta.get("model_version") == digest
    if "model_version" not in meta and "checkpoint_sha256" in meta:
        same = meta["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    if not same:
        return predictions
    known = stored.set_index(["ticker", "date"])
    keys = pd.MultiIndex.from_frame(predictions[["ticker", "date"]])
    hit = keys.isin(known.index)
    kept = {}
    for column in PREDICTORS:
        values = predictions[column].to_numpy().copy()
        values[hit] = known[column].reindex(keys[hit]).to_numpy()
        kept[column] = values
    return predictions.assign(**kept)


def flat_metrics(scores: Scores, predictors: Sequence[str] = PREDICTORS) -> dict[str, float]:
    """Flat numbers for Dagster metadata (the UI plots each across fold partitions); undefined ones left out."""
    out = {
        f"{who}_{name}": float(value)
        for who, row in scores.forecasts.iterrows()
        for name, value in row.items()
        if who in predictors and name != "n" and value == value
    }
    out |= {
        f"{who}_{name}": float(scores.backtest.loc[who, name])
        for who in scores.backtest.index
        for name in ("sharpe", "sharpe_se", "psr", "dsr", "total_return", "max_drawdown")
        if scores.backtest.loc[who, name] == scores.backtest.loc[who, name]
    }
    best = scores.comparison["vs_best"]
    out[f"dm_vs_{best['best_baseline']}_p"] = float(best["dm_p_a_better"])
    out["dm_vs_zero_p"] = float(scores.comparison["vs_zero"]["dm_p_a_better"])
    return out
