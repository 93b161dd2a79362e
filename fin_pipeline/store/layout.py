"""The data directory's layout: where each artifact lives, relative to the data directory's root.

Every path under the data directory is built here, so that a reader and its writer cannot disagree about a name.
The functions return relative paths; a local folder, the S3 cache folder and the bucket's keys all share them
(see :mod:`fin_pipeline.store.location`).

    raw_candles/<ticker>.parquet        daily bars of one ticker (raw_candles)
    market/grouped/<date>.parquet       one session's Polygon bars of every US stock, shared by the ticker runs
    market/splits/<after>_<to>.parquet  the splits executed in (after, to], shared likewise (raw_candles)
    feature_windows/<ticker>.parquet    its features, target and window_ok (feature_windows)
    folds/<fold>.json                   a fold's blocks and row versions (walk_forward_folds)
    normalization/<fold>.json           a fold's feature centre and scale (normalization_stats)
    models/<fold>/{best,last}.pt        a fold's published checkpoints; runs/<run id>/ while training (trained_model)
    metrics/<fold>/                     its scored test block and scored.json (fold_metrics)
    reports/                            the stitched walk-forward report (walk_forward_report)
    trials/                             every configuration ever scored here (the trial registry)
    live/<date>/                        the live model of one forecast date, live.json last (live_model)
    forecasts/<date>.parquet            the forecast made for that date (forecasts)
    live_record/record.parquet          the paper-trading record, with live_equity.png (live_record)
    board/<model>/<fold>.parquet        one board model's test-block predictions of one fold (board_predictions);
                                        board/<model>/runs/<fold>/<run id>/ while a network trains
    leaderboard/                        the board's table and chart (leaderboard)
    fin_pipeline.yaml                   the training configuration every model here is trained with
    archive/<stamp>-from-<date>/        what ``fin-pipeline rebuild`` replaced
"""

from __future__ import annotations

from pathlib import PurePosixPath as Rel

RAW_CANDLES = "raw_candles"
MARKET = "market"
FEATURE_WINDOWS = "feature_windows"
FOLDS = "folds"
NORMALIZATION = "normalization"
MODELS = "models"
METRICS = "metrics"
REPORTS = "reports"
TRIALS = "trials"
LIVE = "live"
FORECASTS = "forecasts"
LIVE_RECORD = "live_record"
ARCHIVE = "archive"
BOARD = "board"
LEADERBOARD = "leaderboard"

CONFIG_FILE = "fin_pipeline.yaml"
RUNS = "runs"  # a training run's own folder under its model folder, until it publishes
BEST, LAST = "best.pt", "last.pt"
CHECKPOINTS = (BEST, LAST)
SCORED_FILE = "scored.json"  # beside a fold's metrics: the fold version they saw, the training rows of the model
LIVE_FILE = "live.json"  # beside a live checkpoint: its boundaries, normalization, versions and forecast date
RECORD_FILE = "record.parquet"
LIVE_EQUITY_FILE = "live_equity.png"
LEADERBOARD_FILE, LEADERBOARD_CHART = "leaderboard.parquet", "leaderboard.png"

# The asset that writes each folder: what to rematerialize when a file there is bad.
WRITERS = {
    RAW_CANDLES: "raw_candles",
    MARKET: "raw_candles",
    FEATURE_WINDOWS: "feature_windows",
    FOLDS: "walk_forward_folds",
    NORMALIZATION: "normalization_stats",
    MODELS: "trained_model",
    METRICS: "fold_metrics",
    REPORTS: "walk_forward_report",
    TRIALS: "walk_forward_report",
    LIVE: "live_model",
    FORECASTS: "forecasts",
    LIVE_RECORD: "live_record",
    BOARD: "board_predictions",
    LEADERBOARD: "leaderboard",
}


def raw_candles(ticker: str) -> Rel:
    return Rel(RAW_CANDLES, f"{ticker}.parquet")


def market_day(day, adjusted: bool = True) -> Rel:
    """One session's grouped daily bars (every ticker), adjusted or not (sources/grouped.py)."""
    return Rel(MARKET, "grouped" if adjusted else "grouped_unadjusted", f"{day}.parquet")


def market_splits(after, through) -> Rel:
    """The splits executed after ``after`` up to ``through`` (sources/grouped.py)."""
    return Rel(MARKET, "splits", f"{after}_{through}.parquet")


def feature_windows(ticker: str) -> Rel:
    return Rel(FEATURE_WINDOWS, f"{ticker}.parquet")


def fold(key: str) -> Rel:
    return Rel(FOLDS, f"{key}.json")


def normalization(key: str) -> Rel:
    return Rel(NORMALIZATION, f"{key}.json")


def model_dir(key: str) -> Rel:
    return Rel(MODELS, key)


def run_dir(model_folder: Rel, run_id: str) -> Rel:
    """The folder one training run writes its checkpoints to, under a fold's or a night's model folder."""
    return Rel(model_folder, RUNS, run_id)


def metrics_dir(key: str) -> Rel:
    return Rel(METRICS, key)


def scored(key: str) -> Rel:
    return Rel(METRICS, key, SCORED_FILE)


def live_dir(night: str | None = None) -> Rel:
    """``live/``, or the live model of one forecast date (``live/2026-11-30``)."""
    return Rel(LIVE, night) if night else Rel(LIVE)


def live_file(night: str) -> Rel:
    return Rel(LIVE, night, LIVE_FILE)


def forecast(night: str) -> Rel:
    return Rel(FORECASTS, f"{night}.parquet")


def live_record_file() -> Rel:
    return Rel(LIVE_RECORD, RECORD_FILE)


def live_equity_file() -> Rel:
    return Rel(LIVE_RECORD, LIVE_EQUITY_FILE)


def board_predictions(model: str, key: str) -> Rel:
    return Rel(BOARD, model, f"{key}.parquet")


def board_run_dir(model: str, key: str, run_id: str) -> Rel:
    """Where a network of the board trains for one fold: never under ``models/`` (trained_model's checkpoints)."""
    return Rel(BOARD, model, RUNS, key, run_id)


def leaderboard_file() -> Rel:
    return Rel(LEADERBOARD, LEADERBOARD_FILE)


def leaderboard_chart() -> Rel:
    return Rel(LEADERBOARD, LEADERBOARD_CHART)


def configuration() -> Rel:
    return Rel(CONFIG_FILE)


def writer(rel_parts: tuple[str, ...]) -> tuple[str, str | None] | None:
    """The asset (and partition, where the path names one) that writes the file with these path parts, from the
    innermost folder of the layout among them; None for a path outside the layout."""
    for i in range(len(rel_parts) - 1, -1, -1):
        asset = WRITERS.get(rel_parts[i])
        if asset is None:
            continue
        rest = rel_parts[i + 1 :]
        if rel_parts[i] == BOARD:  # board/<model>/<fold>.parquet or board/<model>/runs/<fold>/...: "fold|model"
            key = (rest[2] if len(rest) > 2 and rest[1] == RUNS else Rel(rest[-1]).stem) if len(rest) > 1 else None
            return asset, f"{key}|{rest[0]}" if key else None
        if rel_parts[i] in (RAW_CANDLES, FEATURE_WINDOWS, FOLDS, NORMALIZATION, FORECASTS):
            partition = Rel(rest[-1]).stem if rest else None
        elif rel_parts[i] in (MODELS, METRICS, LIVE):
            partition = rest[0] if len(rest) > 1 else None
        else:
            partition = None
        return asset, partition
    return None
