"""Config before work: what ``fin-pipeline run`` checks before it fetches a byte or writes a file.

The training config goes through the same :meth:`TrainSpec.validate` the ``trained_model`` asset calls (so an
unknown model or loss, ``--epochs -1`` or ``--batch-size 0`` fail in a second, not once per fold after the
data step). The first test date is checked against the calendar: the sessions before it must hold the
indicator warm-up, a training block and a tuning block.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # settings imports pandas and the sources: not needed to refuse a bad training config
    from fin_pipeline.core.settings import Settings

# Sessions at the start of a history that give no usable window: the longest indicator warm-up plus the
# 30-day window (an upper bound; the exact count depends on the data).
WARMUP_SESSIONS = 60


class ConfigError(ValueError):
    """A run configuration that would fail later; refused before any work."""


def check_training_config(train: dict[str, Any]):
    """The validated :class:`TrainSpec` of the asset's defaults overridden by ``train``; ConfigError if not."""
    from fin_pipeline.training.spec import TrainSpec

    known = {f.name for f in dataclasses.fields(TrainSpec)}
    unknown = sorted(set(train) - known)
    if unknown:
        raise ConfigError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
    try:
        return TrainSpec(**train).validate()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training config rejected before any work: {exc}") from None


def wanted_tickers(tickers: str | None) -> list[str]:
    """The tickers ``--tickers`` names, upper-cased, in its order ([] when not given)."""
    return [t.strip().upper() for t in (tickers or "").split(",") if t.strip()]


def check_tickers(settings: Settings, tickers: str | None) -> None:
    """``--tickers`` must name tickers of the universe."""
    unknown = [t for t in wanted_tickers(tickers) if t not in settings.universe]
    if unknown:
        raise ConfigError(f"{unknown} not in the universe {list(settings.universe)} (set FIN_PIPELINE_UNIVERSE)")


def check_folds(settings: Settings) -> None:
    """Refuse a first test date that leaves too few sessions before it for warm-up, training and tuning."""
    from fin_pipeline.core.calendar import nyse_sessions
    from fin_pipeline.core.settings import SettingsError
    from fin_pipeline.training.folds import FoldSpec

    spec = FoldSpec()
    before = len(nyse_sessions(settings.start, settings.first_test_date - dt.timedelta(days=1)))
    needed = WARMUP_SESSIONS + spec.min_train_days + spec.tune_days
    if before < needed:
        raise SettingsError(
            f"FIN_PIPELINE_FIRST_TEST_DATE={settings.first_test_date} leaves {before} session(s) after "
            f"FIN_PIPELINE_START={settings.start}; the first fold needs about {needed} (warm-up {WARMUP_SESSIONS}, "
            f"training {spec.min_train_days}, tuning {spec.tune_days}): set a later first test date or an earlier start"
        )


def preflight(tickers: str | None, data_only: bool) -> None:
    """Config before work: settings, the store, ``--tickers`` and the fold count, before any data is fetched or
    written (the training config was checked first, before torch is imported)."""
    import os

    from fin_pipeline.core.settings import load_settings

    settings = load_settings()
    if settings.data_url:  # an s3:// data directory: a missing bucket or bad credentials fail before any work
        from fin_pipeline.store.location import open_store

        open_store(settings.data_url, os.environ.get("FIN_PIPELINE_CACHE_DIR"))
    check_tickers(settings, tickers)
    if not data_only:
        check_folds(settings)
