"""Project settings: defaults in code, overridden by ``FIN_PIPELINE_*`` environment variables.

Every variable is listed in the README's settings table. A bad value raises :class:`SettingsError` naming the
variable. The Polygon key is deliberately *not* a setting: only its presence is read here; the key itself is
resolved by Dagster's ``EnvVar`` inside the Polygon resource and never stored or logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from fin_pipeline.core.calendar import DEFAULT_FIRST_TEST_DATE, PERIODS, period_start
from fin_pipeline.core.choices import EXECUTIONS, NOT_EXECUTABLE
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.deployment import Deployment
from fin_pipeline.core.limits import MAX_SIGNAL_IC
from fin_pipeline.core.listings import Listing
from fin_pipeline.core.polygon import POLYGON
from fin_pipeline.core.universe_pool import point_in_time
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.core.variables import (  # noqa: F401  (SettingsError and SOURCES: imported from here too)
    OFF_WORDS,
    ON_WORDS,
    SOURCES,
    SettingsError,
    check_models,
    costs_from_env,
    parsed,
    resolve_source,
    tracking_uri,
    variable,
)

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_UNIVERSE = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")
# Polygon's daily bar keeps changing until extended hours end at 20:00 New York time; before that the
# default end date is the previous day, so that a stored bar is a final bar.
SESSION_FINAL_HOUR = 20
# Execution timing (sources/execution.py): when the books trade, which sets the target and every book's returns.
DEFAULT_EXECUTION = "next_open"  # FIN_PIPELINE_EXECUTION: the first price a run after the close can get
DEFAULT_SEED = 7  # FIN_PIPELINE_SEED: the synthetic market's seed; the same seed gives the same bars
DEFAULT_JUMP_SIGMAS = 20.0  # FIN_PIPELINE_JUMP_SIGMAS: a one-day move beyond this many recent sigmas is refused
# FIN_PIPELINE_LEASE_TTL: an S3 data directory's fold lease lasts this many seconds after its last renewal (renewed
# every epoch), so a dead writer blocks its fold no longer than that
DEFAULT_LEASE_TTL = 900.0
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")


@dataclasses.dataclass(frozen=True)
class Settings:
    universe: tuple[str, ...] = DEFAULT_UNIVERSE
    start: dt.date = dt.date(2010, 1, 4)
    end: dt.date | None = None  # None: the last final session, see :func:`default_end`
    data_dir: Path = Path("data")
    data_url: str | None = None  # an s3://bucket/prefix data directory (FIN_PIPELINE_DATA_DIR); else data_dir
    source: str = "synthetic"
    csv_dir: Path | None = None
    fold_period: str = "quarter"  # a fold's test block: one month, quarter, half or year
    first_test_date: dt.date = DEFAULT_FIRST_TEST_DATE  # the first fold's period starts here
    seed: int = DEFAULT_SEED
    polygon_base_url: str = POLYGON.base_url
    polygon_requests_per_minute: float = POLYGON.requests_per_minute
    signal_ic: float = 0.0  # planted IC of the synthetic market; 0 = none (see sources/synthetic.py)
    signal_temporal_ic: float = 0.0  # planted IC of the temporal (sign-pattern) signal; 0 = none (sources/planted.py)
    # Faults: door checks and Polygon time budgets.
    jump_sigmas: float = DEFAULT_JUMP_SIGMAS  # plausibility: a one-day move beyond this many recent sigmas is refused
    csv_date_format: str | None = None  # e.g. "%d/%m/%Y"; needed when a file's dates read both ways
    polygon_request_deadline: float = POLYGON.request_deadline
    polygon_ticker_deadline: float = POLYGON.ticker_deadline
    # Experiment tracking (fin_pipeline/runtime/tracking.py): an MLflow tracking URI, None = off (the default).
    tracking_uri: str | None = None
    tracking_experiment: str | None = None  # None: one experiment per walk-forward build
    tear_sheets: bool = True  # the report's alphalens and quantstats tear sheets (about 10 s per report)
    # Execution timing: next_open (default), next_close, or close (not executable from a run after the close).
    execution: str = DEFAULT_EXECUTION
    # Costs: how the books are charged (FIN_PIPELINE_COST_MODEL, _CAPITAL, _SPREAD_FLOOR_BPS, _IMPACT_K, _COST_BPS);
    # the defaults are CostModel's (fin_pipeline/core/costs.py), validated when it is built.
    costs: CostModel = CostModel()
    # Stored history and thin universes: tickers a day must have to be cut into folds (None: half the universe,
    # at least 2; the default lives in FoldSpec.tickers_needed).
    min_tickers: int | None = None
    # Beyond one process (fin_pipeline/core/deployment.py): executor, Celery, S3 endpoint, cache, torch threads.
    deployment: Deployment = Deployment()
    lease_ttl: float = DEFAULT_LEASE_TTL  # S3: seconds a fold's lease outlives its last renewal
    # A point-in-time universe (FIN_PIPELINE_UNIVERSE_RULE, core/universe_rule.py): with a rule, ``universe`` is the
    # candidate pool (the ticker partitions) and ``listings`` their listed ranges (core/listings.py: from
    # FIN_PIPELINE_MEMBERSHIP_CSV, or drawn for the synthetic market); each fold keeps the rule's N of them.
    universe_rule: UniverseRule | None = None
    listings: tuple[Listing, ...] = ()
    membership_csv: Path | None = None
    universe_pool: int | None = None  # FIN_PIPELINE_UNIVERSE_POOL: the synthetic pool's size (default 3 x N)

    @property
    def hand_picked(self) -> bool:
        """Whether the universe is an explicit list (no rule): survivorship-biased by construction."""
        return self.universe_rule is None

    # The models on the board (FIN_PIPELINE_MODELS), from BOARD_MODELS; None: the training configuration's network
    # and the baselines (resolved where the configuration is read: fin_pipeline/evaluation/board.py enabled_models)
    models: tuple[str, ...] | None = None

    @property
    def data_root(self) -> str:
        """The data directory as the store opens it: the s3:// URL, or the absolute local path."""
        return self.data_url or str(self.data_dir.resolve())

    def __post_init__(self) -> None:
        for ticker in self.universe:
            check_ticker(ticker)
        if len(set(self.universe)) != len(self.universe):
            raise SettingsError(f"universe lists a ticker twice: {list(self.universe)}")
        if not self.universe:
            raise SettingsError("universe is empty")
        if self.source not in SOURCES:
            raise SettingsError(f"source {self.source!r} is not one of {list(SOURCES)}")
        if self.source == "csv" and self.csv_dir is None:
            raise SettingsError("source 'csv' needs FIN_PIPELINE_CSV_DIR (a directory with one TICKER.csv each)")
        if self.end is not None and self.end < self.start:
            raise SettingsError(f"end {self.end} is before start {self.start}")
        if self.fold_period not in PERIODS:
            raise SettingsError(f"FIN_PIPELINE_FOLD_PERIOD={self.fold_period!r} is not one of {list(PERIODS)}")
        if period_start(self.first_test_date, self.fold_period) != self.first_test_date:
            raise SettingsError(
                f"FIN_PIPELINE_FIRST_TEST_DATE={self.first_test_date} is not the first day of a {self.fold_period} "
                f"(e.g. {period_start(self.first_test_date, self.fold_period)})"
            )
        if self.first_test_date <= self.start:
            raise SettingsError(
                f"FIN_PIPELINE_FIRST_TEST_DATE={self.first_test_date} leaves no history before it "
                f"(FIN_PIPELINE_START={self.start})"
            )
        if self.first_test_date > self.end_date():
            raise SettingsError(
                f"FIN_PIPELINE_FIRST_TEST_DATE={self.first_test_date} is after the data's end "
                f"(FIN_PIPELINE_END, default the last final session: {self.end_date()}): no fold could be tested"
            )
        if self.polygon_requests_per_minute < 0:
            raise SettingsError("polygon_requests_per_minute must be >= 0 (0 = unlimited)")
        if not 0.0 <= self.signal_ic < MAX_SIGNAL_IC:  # also refuses NaN
            raise SettingsError(
                f"FIN_PIPELINE_SIGNAL_IC (signal_ic) must be in [0, {MAX_SIGNAL_IC}), got {self.signal_ic!r}"
            )
        if self.signal_ic > 0 and self.source != "synthetic":  # real prices cannot be given a planted signal
            raise SettingsError(
                f"FIN_PIPELINE_SIGNAL_IC={self.signal_ic:g} plants a signal in the synthetic market only, "
                f"but the source is {self.source!r}"
            )
        if not 0.0 <= self.signal_temporal_ic < MAX_SIGNAL_IC:  # also refuses NaN
            raise SettingsError(
                f"FIN_PIPELINE_SIGNAL_TEMPORAL_IC (signal_temporal_ic) must be in [0, {MAX_SIGNAL_IC}), "
                f"got {self.signal_temporal_ic!r}"
            )
        if self.signal_temporal_ic > 0 and self.source != "synthetic":
            raise SettingsError(
                f"FIN_PIPELINE_SIGNAL_TEMPORAL_IC={self.signal_temporal_ic:g} plants a signal in the synthetic market "
                f"only, but the source is {self.source!r}"
            )
        if self.execution not in EXECUTIONS:
            raise SettingsError(
                f"FIN_PIPELINE_EXECUTION (execution)={self.execution!r} is not one of {list(EXECUTIONS)} "
                f"(close is {NOT_EXECUTABLE})"
            )
        if self.min_tickers is not None and not 2 <= self.min_tickers <= len(self.universe):
            raise SettingsError(
                f"FIN_PIPELINE_MIN_TICKERS={self.min_tickers} must be between 2 and the universe's "
                f"{len(self.universe)} ticker(s) ({', '.join(self.universe)})"
            )
        if not self.jump_sigmas > 0:
            raise SettingsError(f"jump_sigmas must be > 0, got {self.jump_sigmas}")
        if not (self.polygon_request_deadline > 0 and self.polygon_ticker_deadline > 0):
            raise SettingsError("Polygon deadlines must be > 0 seconds")
        if not (math.isfinite(self.lease_ttl) and self.lease_ttl > 0):
            raise SettingsError(f"FIN_PIPELINE_LEASE_TTL={self.lease_ttl!r} must be a number of seconds > 0")
        if self.universe_rule is None and (self.listings or self.membership_csv or self.universe_pool):
            raise SettingsError(
                "FIN_PIPELINE_MEMBERSHIP_CSV and FIN_PIPELINE_UNIVERSE_POOL describe a candidate pool: they need "
                "FIN_PIPELINE_UNIVERSE_RULE (e.g. top:500:dollar_volume)"
            )
        unknown = sorted({x.ticker for x in self.listings} - set(self.universe))
        if unknown:
            raise SettingsError(f"listings name tickers outside the universe: {unknown[:10]}")
        if self.models is not None:
            check_models(self.models)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by the ``FIN_PIPELINE_*`` variables found in ``environ`` (default: os.environ)."""
        env = os.environ if environ is None else environ
        kw: dict[str, object] = {}
        if v := variable(env, "FIN_PIPELINE_UNIVERSE"):
            kw["universe"] = tuple(t.strip().upper() for t in v.split(",") if t.strip())
        if v := variable(env, "FIN_PIPELINE_START"):
            kw["start"] = parsed(env, "FIN_PIPELINE_START", dt.date.fromisoformat, "a date YYYY-MM-DD")
        if v := variable(env, "FIN_PIPELINE_END"):
            kw["end"] = parsed(env, "FIN_PIPELINE_END", dt.date.fromisoformat, "a date YYYY-MM-DD")
        if v := variable(env, "FIN_PIPELINE_DATA_DIR"):
            if v.startswith("s3://"):
                kw["data_url"] = v.rstrip("/")
            else:
                kw["data_dir"] = Path(v)
        if v := variable(env, "FIN_PIPELINE_CSV_DIR"):
            kw["csv_dir"] = Path(v)
        for gone in ("FIN_PIPELINE_FOLDS", "FIN_PIPELINE_MIN_TEST_DAYS"):
            if variable(env, gone):
                raise SettingsError(
                    f"{gone} is no longer read: folds are calendar periods; set FIN_PIPELINE_FOLD_PERIOD and "
                    "FIN_PIPELINE_FIRST_TEST_DATE instead"
                )
        if v := variable(env, "FIN_PIPELINE_FOLD_PERIOD"):
            kw["fold_period"] = v.lower()
        if v := variable(env, "FIN_PIPELINE_FIRST_TEST_DATE"):
            kw["first_test_date"] = parsed(
                env, "FIN_PIPELINE_FIRST_TEST_DATE", dt.date.fromisoformat, "a date YYYY-MM-DD"
            )
        if v := variable(env, "FIN_PIPELINE_SEED"):
            kw["seed"] = parsed(env, "FIN_PIPELINE_SEED", int, "an integer")
        if v := variable(env, "FIN_PIPELINE_POLYGON_BASE_URL"):
            kw["polygon_base_url"] = v.rstrip("/")
        if v := variable(env, "FIN_PIPELINE_POLYGON_RPM"):
            kw["polygon_requests_per_minute"] = parsed(env, "FIN_PIPELINE_POLYGON_RPM", float, "a number")
        if v := variable(env, "FIN_PIPELINE_SIGNAL_IC"):
            kw["signal_ic"] = parsed(env, "FIN_PIPELINE_SIGNAL_IC", float, "a number")
        if v := variable(env, "FIN_PIPELINE_SIGNAL_TEMPORAL_IC"):
            kw["signal_temporal_ic"] = parsed(env, "FIN_PIPELINE_SIGNAL_TEMPORAL_IC", float, "a number")
        if v := variable(env, "FIN_PIPELINE_JUMP_SIGMAS"):
            kw["jump_sigmas"] = parsed(env, "FIN_PIPELINE_JUMP_SIGMAS", float, "a number")
        if v := variable(env, "FIN_PIPELINE_CSV_DATE_FORMAT"):
            kw["csv_date_format"] = v
        if v := variable(env, "FIN_PIPELINE_POLYGON_REQUEST_DEADLINE"):
            kw["polygon_request_deadline"] = parsed(env, "FIN_PIPELINE_POLYGON_REQUEST_DEADLINE", float, "seconds")
        if v := variable(env, "FIN_PIPELINE_POLYGON_TICKER_DEADLINE"):
            kw["polygon_ticker_deadline"] = parsed(env, "FIN_PIPELINE_POLYGON_TICKER_DEADLINE", float, "seconds")
        if v := variable(env, "FIN_PIPELINE_MLFLOW"):
            kw["tracking_uri"] = tracking_uri(v, env)
        if v := variable(env, "FIN_PIPELINE_TEAR_SHEETS"):
            if v.lower() not in (*OFF_WORDS, *ON_WORDS):
                raise SettingsError(f"FIN_PIPELINE_TEAR_SHEETS={v!r} is not 1 (on) or 0 (off)")
            kw["tear_sheets"] = v.lower() in ON_WORDS
        if v := variable(env, "FIN_PIPELINE_MLFLOW_EXPERIMENT"):
            kw["tracking_experiment"] = v
        if v := variable(env, "FIN_PIPELINE_EXECUTION"):
            kw["execution"] = v.lower()
        # Stored history and thin universes
        if v := variable(env, "FIN_PIPELINE_MIN_TICKERS"):
            kw["min_tickers"] = parsed(env, "FIN_PIPELINE_MIN_TICKERS", int, "an integer")
        if v := variable(env, "FIN_PIPELINE_LEASE_TTL"):
            kw["lease_ttl"] = parsed(env, "FIN_PIPELINE_LEASE_TTL", float, "a number of seconds")
        if v := variable(env, "FIN_PIPELINE_MODELS"):
            kw["models"] = tuple(m.strip().lower() for m in v.split(",") if m.strip())
        kw["source"] = resolve_source(env)
        kw.update(_point_in_time(env, kw))
        kw["costs"] = costs_from_env(env)
        try:
            kw["deployment"] = Deployment.from_env(env)
        except ValueError as exc:
            raise SettingsError(f"invalid deployment setting: {exc}") from None
        try:
            return cls(**kw)  # type: ignore[arg-type]
        except SettingsError as exc:
            raise SettingsError(f"invalid FIN_PIPELINE_* settings: {exc}") from None

    def end_date(self, now: dt.datetime | None = None) -> dt.date:
        """The configured end date, or the last session whose daily bar is final."""
        return self.end if self.end is not None else default_end(now)


def default_end(now: dt.datetime | None = None) -> dt.date:
    """Today in New York once the daily bar is final (after 20:00 there), else yesterday."""
    now_ny = (now or dt.datetime.now(dt.UTC)).astimezone(NEW_YORK)
    return now_ny.date() if now_ny.hour >= SESSION_FINAL_HOUR else now_ny.date() - dt.timedelta(days=1)


def check_ticker(ticker: str) -> str:
    """Return ``ticker`` if it is an upper-case symbol (``AAPL``, ``BRK.B``), else raise SettingsError."""
    if not isinstance(ticker, str) or not _TICKER.match(ticker):
        raise SettingsError(f"ticker {ticker!r} is not a symbol like 'AAPL' or 'BRK.B'")
    return ticker


def _point_in_time(env: Mapping[str, str], kw: dict[str, object]) -> dict[str, object]:
    """``FIN_PIPELINE_UNIVERSE_RULE`` and its pool (:func:`fin_pipeline.core.universe_pool.point_in_time`)."""
    try:
        return point_in_time(
            rule=variable(env, "FIN_PIPELINE_UNIVERSE_RULE"),
            membership_csv=variable(env, "FIN_PIPELINE_MEMBERSHIP_CSV"),
            pool=variable(env, "FIN_PIPELINE_UNIVERSE_POOL"),
            explicit="universe" in kw,
            source=str(kw["source"]),
            seed=int(kw.get("seed", DEFAULT_SEED)),  # type: ignore[call-overload]
            start=kw.get("start", Settings.start),  # type: ignore[arg-type]
            end=kw.get("end") or default_end(),  # type: ignore[arg-type]
            check_ticker=check_ticker,
        )
    except ValueError as exc:  # SettingsError included
        raise SettingsError(str(exc)) from None


@functools.cache
def load_settings() -> Settings:
    """The process-wide settings, read once from the environment (what ``definitions.py`` uses)."""
    return Settings.from_env()
