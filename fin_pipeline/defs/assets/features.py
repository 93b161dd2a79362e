"""Stage 2: ``feature_windows``, the 40 leak-free features, the target and ``window_ok`` per ticker."""

import inspect

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.partitions import ticker_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.features.cost_inputs import cost_inputs
from fin_pipeline.features.frame import FeatureError, build_feature_frame, nonfinite_usable_rows, warmup_rows
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, WINDOW
from fin_pipeline.features.lookahead import default_cuts, lookahead_violations
from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.execution import ExecutionError, check_execution, describe

FEATURES_GROUP = "features"

FEATURE_CHECKS = {
    "no_nan_in_usable_rows": "No NaN/inf in the 40 features of any row a usable window reads, nor in their targets.",
    "no_look_ahead": "Features and cost inputs recomputed on the candles cut at 3 dates equal the stored rows before "
    "each cut.",
}


class FeatureWindowsConfig(Config):
    horizon: int = Field(
        default=inspect.signature(build_feature_frame).parameters["horizon"].default,  # the library's
        ge=1,
        description="Target horizon h in trading days: target = log(P[t+L+h] / P[t+L]), P and L from the execution.",
    )
    execution: str = Field(
        default=load_settings().execution,
        description=(
            "When the books trade, which sets the target: next_open (bought at the next open, held open to open; "
            "the default), next_close (close t+1 to close t+2) or close (close t to close t+1: not executable from "
            "a run after the close). Default: FIN_PIPELINE_EXECUTION."
        ),
    )


def feature_meta(ticker: str, frame, horizon: int) -> dict:
    """What a feature file says about itself (its Parquet metadata): what it was built from and how."""
    return {
        "ticker": ticker,
        "horizon": horizon,
        "execution": frame.attrs["execution"],
        "untradable_days": frame.attrs["untradable"],
        "window": WINDOW,
        "feature_version": FEATURE_VERSION,
        "feature_columns": list(FEATURE_COLUMNS),
    }


def feature_problems(stored, candles) -> tuple:
    """The feature checks' findings: ``(rows, cuts, leaks)``, the usable rows with a non-finite feature or target,
    the look-ahead cuts, and the feature or cost-input columns that differ when recomputed on the cut candles."""
    cuts = default_cuts(len(candles))
    leaks = lookahead_violations(candles, cuts=cuts) | lookahead_violations(candles, cost_inputs, cuts=cuts)
    return nonfinite_usable_rows(stored, WINDOW), cuts, leaks


@asset(
    partitions_def=ticker_partitions,
    group_name=FEATURES_GROUP,
    kinds={"parquet"},
    deps=[raw_candles],
    check_specs=[
        AssetCheckSpec(name, asset="feature_windows", description=text, blocking=True)
        for name, text in FEATURE_CHECKS.items()
    ],
)
def feature_windows(
    context: AssetExecutionContext, config: FeatureWindowsConfig, store: DataStore
) -> MaterializeResult:
    """Daily features (34 TA-Lib indicators, 40 columns), target and window_ok of one ticker (Parquet)."""
    ticker = context.partition_key
    try:
        execution = check_execution(config.execution, "feature_windows config execution (FIN_PIPELINE_EXECUTION)")
    except ExecutionError as exc:
        raise Failure(str(exc), allow_retries=False) from exc
    candles = store.read_candles(ticker)
    try:
        frame = build_feature_frame(candles, ticker, horizon=config.horizon, window=WINDOW, execution=execution)
    except (FeatureError, ExecutionError) as exc:
        raise Failure(str(exc), allow_retries=False) from exc
    path = store.feature_windows_path(ticker)
    # An unchanged rerun writes nothing (the file keeps its time).
    if not store.write_features(ticker, frame, feature_meta(ticker, frame, config.horizon)):
        context.log.info(f"{ticker}: features unchanged, {store.describe(path)} not rewritten")

    # Checks read back what was written; the look-ahead check recomputes from the candles.
    stored = store.read_features(ticker, pull=False)
    dates = session_dates(stored["timestamp"])
    bad_rows, cuts, leaks = feature_problems(stored, candles)
    checks = [
        AssetCheckResult(
            check_name="no_nan_in_usable_rows",
            passed=not len(bad_rows),
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failing_rows": len(bad_rows),
                **({"first_failing_date": str(dates.iloc[bad_rows[0]])} if len(bad_rows) else {}),
            },
        ),
        AssetCheckResult(
            check_name="no_look_ahead",
            passed=not leaks,
            severity=AssetCheckSeverity.ERROR,
            metadata={"cuts": ", ".join(str(dates.iloc[c - 1]) for c in cuts), "leaking_columns": str(leaks or "none")},
        ),
    ]
    ok = stored["window_ok"].to_numpy()
    usable = int(ok.sum())
    context.log.info(f"{ticker}: {len(stored)} rows, {usable} usable windows")
    return MaterializeResult(
        metadata={
            "rows": len(stored),
            "usable_windows": usable,
            "warmup_rows": warmup_rows(stored),
            "first_date": str(dates.iloc[0]),
            "last_date": str(dates.iloc[-1]),
            "first_usable_date": str(dates.iloc[ok.argmax()]) if usable else "none",
            "horizon": config.horizon,
            "execution": describe(execution),
            "untradable_days": frame.attrs["untradable"],
            "feature_version": FEATURE_VERSION,
            "path": MetadataValue.path(store.describe(path)),
        },
        check_results=checks,
    )
