"""Config before work: what ``fin-pipeline run`` checks before it fetches a byte or writes a file.

The training config goes through the same :meth:`TrainSpec.validate` the ``trained_model`` asset calls (so an
unknown model or loss, ``--epochs -1`` or ``--batch-size 0`` fail in a second, not once per fold after the
data step). The fold count is checked against the calendar: the validation (test) blocks of the folds share
the second half of the usable sessions, so ``folds`` blocks of at least ``min_test_days`` sessions must fit.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # settings imports pandas and the sources: not needed to refuse a bad training config
    from fin_pipeline.settings import Settings

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


def max_folds(settings: Settings) -> tuple[int, int]:
    """``(sessions in the test half, the most folds whose test blocks have min_test_days sessions each)``."""
    from fin_pipeline.sources.calendar import nyse_sessions

    sessions = len(nyse_sessions(settings.start, settings.end_date()))
    test_half = max(sessions - WARMUP_SESSIONS, 0) // 2
    return test_half, test_half // settings.min_test_days


def check_tickers(settings: Settings, tickers: str | None) -> None:
    """``--tickers`` must name tickers of the universe."""
    if not tickers:
        return
    wanted = [t.strip().upper() for t in tickers.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in settings.universe]
    if unknown:
        raise ConfigError(f"{unknown} not in the universe {list(settings.universe)} (set FIN_PIPELINE_UNIVERSE)")


def check_folds(settings: Settings) -> None:
    """Refuse a fold count whose test blocks would be shorter than ``settings.min_test_days`` sessions."""
    from fin_pipeline.settings import SettingsError

    test_half, fit = max_folds(settings)
    if settings.folds > fit:
        per = test_half / settings.folds
        raise SettingsError(
            f"FIN_PIPELINE_FOLDS={settings.folds} gives test blocks of about {per:.1f} session(s) "
            f"({settings.start} … {settings.end_date()}: ~{test_half} sessions in the tested half), fewer than "
            f"FIN_PIPELINE_MIN_TEST_DAYS={settings.min_test_days}; at most {fit} fold(s) fit"
        )
