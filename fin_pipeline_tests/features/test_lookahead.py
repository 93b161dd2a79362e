import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fin_pipeline.features.columns import compute_features
from fin_pipeline.features.indicators import FEATURE_COLUMNS
from fin_pipeline.features.lookahead import default_cuts, lookahead_violations
from fin_pipeline.sources.base import session_dates
from fin_pipeline_tests.features import synthetic_candles

ROWS = 400


def _scenarios() -> dict[str, pd.DataFrame]:
    clean = synthetic_candles(ROWS, ticker="JPM")
    rough = clean.copy()
    rough.loc[120:160, "volume"] = 0.0  # zero volume and flat prices, where the guards switch on and off
    for col in ("open", "high", "low", "close", "vwap"):
        rough.loc[200:240, col] = rough.loc[199, "close"]
    rough.loc[300:, "vwap"] = np.nan
    return {"clean": clean, "rough": rough}


SCENARIOS = _scenarios()
FULL = {name: compute_features(c) for name, c in SCENARIOS.items()}


@settings(max_examples=30, deadline=None)
@given(scenario=st.sampled_from(sorted(SCENARIOS)), cut=st.integers(min_value=1, max_value=ROWS - 1))
def test_every_column_is_unchanged_when_the_future_is_cut_off(scenario, cut):
    """Truncation invariance, bit for bit, for each of the 40 columns: rows < cut do not see rows >= cut."""
    part = compute_features(SCENARIOS[scenario].iloc[:cut])
    full = FULL[scenario]
    assert list(part.columns) == list(full.columns) == list(FEATURE_COLUMNS)
    changed = [
        col
        for col in FEATURE_COLUMNS
        if not np.array_equal(part[col].to_numpy(), full[col].to_numpy()[:cut], equal_nan=True)
    ]
    assert changed == []


def test_the_library_check_passes_on_the_real_features():
    for candles in SCENARIOS.values():
        assert lookahead_violations(candles) == {}
        assert lookahead_violations(candles, cuts=[60, 61, 250, "2020-06-01"]) == {}


def leaky(candles: pd.DataFrame) -> pd.DataFrame:
    """The real features plus a column built from tomorrow's close."""
    close = candles["close"]
    return compute_features(candles).assign(tomorrow=(close.shift(-1) / close).to_numpy(dtype=np.float32))


def test_a_planted_leak_is_caught_and_named_with_the_first_date_it_changes():
    candles = SCENARIOS["clean"]
    dates = session_dates(candles["timestamp"])
    violations = lookahead_violations(candles, compute=leaky)
    assert set(violations) == {"tomorrow"}  # and nothing else is blamed
    first_cut = default_cuts(len(candles))[0]
    assert violations["tomorrow"] == str(dates.iloc[first_cut - 1])  # the last row before the cut
    assert lookahead_violations(candles, compute=leaky, cuts=[300]) == {"tomorrow": str(dates.iloc[299])}


@pytest.mark.parametrize(
    "name, make",
    [
        ("centred_mean", lambda c: c["close"].rolling(5, center=True).mean() / c["close"]),
        ("global_zscore", lambda c: (c["volume"] - c["volume"].mean()) / c["volume"].std()),
    ],
)
def test_centred_windows_and_full_series_statistics_are_caught(name, make):
    candles = SCENARIOS["clean"]

    def compute(c):
        return compute_features(c).assign(**{name: make(c).to_numpy(dtype=np.float32)})

    violations = lookahead_violations(candles, compute=compute)
    assert list(violations) == [name]


def test_cuts_are_spread_and_can_be_dates():
    assert default_cuts(400) == [100, 200, 300]
    assert default_cuts(2) == [1]
    candles = SCENARIOS["clean"]
    day = session_dates(candles["timestamp"]).iloc[199]
    assert lookahead_violations(candles, compute=leaky, cuts=[day]) == {"tomorrow": str(day)}
    with pytest.raises(ValueError, match="outside"):
        lookahead_violations(candles, cuts=[ROWS + 1])
