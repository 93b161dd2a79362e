"""Stage 1: ``raw_candles``, daily OHLCV bars per ticker, updated incrementally."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.integrity import refuse_corrupt
from fin_pipeline.defs.partitions import ticker_partitions
from fin_pipeline.defs.resources import CandleSourceResource, DataStore
from fin_pipeline.defs.run_source import source_for_run
from fin_pipeline.sources.base import CandleError, SourceError, candle_problems, session_dates
from fin_pipeline.sources.grouped import MarketDays
from fin_pipeline.sources.listings import listed_source
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.update import HistoryRewrite, update_candles

DATA_GROUP = "data"

RAW_CANDLE_CHECKS = {
    "timestamps_unique_increasing": "Each bar's timestamp is after the previous one: no duplicate, no disorder.",
    "ohlc_consistent": "low <= min(open, close) <= max(open, close) <= high on every bar.",
    "prices_positive": "Every open, high, low and close is > 0.",
    "no_nan": "No missing or non-finite open, high, low, close or volume.",
}


class RawCandlesConfig(Config):
    start: str = Field(
        default=load_settings().start.isoformat(),
        description="First session to keep, YYYY-MM-DD (default: FIN_PIPELINE_START).",
    )
    end: str | None = Field(
        default=None,
        description="Last session, YYYY-MM-DD; empty: the last final session (FIN_PIPELINE_END if set).",
    )

    def dates(self) -> tuple[dt.date, dt.date]:
        try:
            start = dt.date.fromisoformat(self.start)
            end = dt.date.fromisoformat(self.end) if self.end else load_settings().end_date()
        except ValueError as exc:
            raise Failure(f"raw_candles config: {exc} (dates are YYYY-MM-DD)", allow_retries=False) from None
        if end < start:
            raise Failure(f"raw_candles config: end {end} is before start {start}", allow_retries=False)
        return start, end


@asset(
    partitions_def=ticker_partitions,
    group_name=DATA_GROUP,
    kinds={"parquet"},
    check_specs=[
        AssetCheckSpec(name, asset="raw_candles", description=text, blocking=True)
        for name, text in RAW_CANDLE_CHECKS.items()
    ],
    # Network hiccups that outlast urllib3's own retries get a second chance a little later; a corrupt stored file
    # is never retried (refuse_corrupt).
    retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL),
)
def raw_candles(
    context: AssetExecutionContext, config: RawCandlesConfig, candle_source: CandleSourceResource, store: DataStore
) -> MaterializeResult:
    """Daily OHLCV candles of one ticker (Parquet), fetched incrementally from the configured source."""
    with refuse_corrupt(f"raw_candles[{context.partition_key}]"):
        return _raw_candles(context, config, candle_source, store)


def _raw_candles(
    context: AssetExecutionContext, config: RawCandlesConfig, candle_source: CandleSourceResource, store: DataStore
) -> MaterializeResult:
    ticker = context.partition_key
    start, end = config.dates()
    source = source_for_run(candle_source, context.run.tags)  # the launch's source (run tags), else the resource
    # Polygon refreshes by day: market-wide answers fetched once per session into the store and shared by every
    # ticker run of the night (sources/grouped.py); N is the universe, which the nightly refresh covers.
    market = (
        MarketDays(source, store.local_root(), store.objects(), len(ticker_partitions.get_partition_keys()))
        if isinstance(source, PolygonSource)
        else None
    )
    source = listed_source(source, load_settings())  # a point-in-time pool: bars only while listed
    try:
        # S3: the stored file (if any) into the cache first, then the updated file back in one PUT
        with store.updating(store.raw_candles_path(ticker)) as path:
            update = update_candles(source, ticker, path, start, end, market)
    except HistoryRewrite as exc:  # an end date moved back: refused before anything was fetched or written
        raise Failure(f"raw_candles[{ticker}]: {exc}", allow_retries=False) from exc
    except (CandleError, SourceError) as exc:
        if isinstance(exc, SourceError) and exc.transient:
            raise  # the RetryPolicy tries again later
        # Bad data or a refusal stays so on a retry: fail once, loudly, with the ticker and row in the message.
        raise Failure(str(exc), allow_retries=False) from exc
    if update.plan:
        context.log.info(f"{ticker}: refresh plan: {update.plan}")
    if update.absent:
        context.log.warning(f"{ticker}: absent from the grouped bars of {_days(update.absent)}: fetched alone")
    context.log.info(f"{ticker}: {update.mode}, {update.rows_added} bar(s) added, {update.rows} stored")

    # The checks read back what was written, so they vouch for the file, not for an in-memory copy.
    stored = store.read_candles(ticker, pull=False)
    problems = candle_problems(stored)
    checks = []
    for name in RAW_CANDLE_CHECKS:
        rows = problems[name]
        meta = {"failing_rows": len(rows)}
        if rows:
            meta["first_failing_date"] = str(session_dates(stored["timestamp"].iloc[[rows[0]]]).iloc[0])
        checks.append(
            AssetCheckResult(check_name=name, passed=not rows, severity=AssetCheckSeverity.ERROR, metadata=meta)
        )
    return MaterializeResult(
        metadata={
            "rows": update.rows,
            "rows_added": update.rows_added,
            "first_date": str(update.first_date),
            "last_date": str(update.last_date),
            "source": source.describe(),
            "mode": update.mode,
            "restated": (
                f"{update.restated['bars']} bar(s), {update.restated['first']} … {update.restated['last']}"
                if update.restated
                else "none"
            ),
            "fetched": f"{update.fetched[0]} … {update.fetched[1]}" if update.fetched else "nothing (up to date)",
            "refresh_plan": update.plan or "none (per ticker: first backfill, another source, or nothing to ask)",
            "grouped_absent": len(update.absent),
            "grouped_absent_sessions": _days(update.absent) or "none",
            "path": MetadataValue.path(store.describe(update.path)),
        },
        check_results=checks,
    )


def _days(days) -> str:
    return ", ".join(str(d) for d in days)
