"""The project's jobs: each selects the assets of one stage of the night (see
:func:`fin_pipeline.evaluation.nightly.plan_night`, which says which job runs for what)."""

from dagster import AssetsDefinition, AssetSelection, define_asset_job

from fin_pipeline.defs.assets.board import board_predictions, leaderboard
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.assets.features import feature_windows
from fin_pipeline.defs.assets.folds import normalization_stats, walk_forward_folds
from fin_pipeline.defs.assets.live import forecasts, live_model, live_record
from fin_pipeline.defs.assets.report import walk_forward_report
from fin_pipeline.defs.assets.training import fold_metrics, trained_model


def _job(name: str, assets: list[AssetsDefinition], description: str):
    return define_asset_job(name, selection=AssetSelection.assets(*assets), description=description)


candles_job = _job(
    "candles_job",
    [raw_candles, feature_windows],
    "Fetch or refresh the daily candles of one ticker and rebuild its feature windows.",
)
walk_forward_job = _job(
    "walk_forward_job",
    [walk_forward_folds, normalization_stats, trained_model, fold_metrics],
    "One fold: its boundaries, normalization, a freshly trained model and its metrics.",
)
fold_rescore_job = _job(
    "fold_rescore_job",
    [walk_forward_folds, normalization_stats, fold_metrics],
    "One fold re-scored without training: its boundaries (new test days), normalization, metrics.",
)
forecast_job = _job(
    "forecast_job",
    [live_model, forecasts],
    "Tonight's live model on every realized target, then the next session's forecast.",
)
record_job = _job(
    "record_job",
    [live_record],
    "Score the realized forecasts (the paper-trading record) without the report (a fold failed).",
)
report_job = _job(
    "report_job",
    [live_record, walk_forward_report],
    "Score the realized forecasts (paper-trading record), then stitch every fold into the report.",
)

board_job = _job(
    "board_job",
    [board_predictions],
    "One model of the board on one fold (partition fold|model): trained fresh, its test block predicted.",
)
leaderboard_job = _job(
    "leaderboard_job",
    [leaderboard],
    "The leaderboard of the enabled models (FIN_PIPELINE_MODELS) over every fold.",
)

JOBS = [
    candles_job,
    walk_forward_job,
    fold_rescore_job,
    forecast_job,
    record_job,
    report_job,
    board_job,
    leaderboard_job,
]
