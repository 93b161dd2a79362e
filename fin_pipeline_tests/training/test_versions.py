import dataclasses
import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.training.versions import rows_version
from fin_pipeline_tests.features import synthetic_candles


def reference_rows_version(ws, upto, config=None) -> str:
    """The rows' version written out plainly: each ticker's windows picked by comparing every index row's ticker."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config or {}, sort_keys=True, default=str).encode())
    limit = np.datetime64(pd.Timestamp(upto).date(), "D")
    for ticker, (first, _) in ws.spans.items():
        mine = ws.index.loc[ws.index["ticker"].astype(str) == ticker]
        days = mine["date"].to_numpy().astype("datetime64[D]")
        keep = days <= limit
        digest.update(ticker.encode())
        if keep.any():
            last_row = int(mine["window"].to_numpy()[keep].max()) + ws.window - 1
            digest.update(np.ascontiguousarray(ws.values[first : last_row + 1]).tobytes())
            digest.update(np.ascontiguousarray(ws.targets[first : last_row + 1]).tobytes())
            digest.update(days[keep].tobytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def ws():
    rows = {"AAPL": 260, "MSFT": 220, "XOM": 180}  # different lengths: the tickers' spans and windows differ
    return build_windows({t: build_feature_frame(synthetic_candles(n, ticker=t), t) for t, n in rows.items()})


def test_rows_version_is_the_plain_per_ticker_selection_in_any_index_order(ws):
    dates = ws.index["date"]
    # Tickers interleaved day by day (each ticker's windows keep their order): not the order assembled.
    interleaved = dataclasses.replace(ws, index=ws.index.sort_values(["date", "window"], kind="stable"))
    assert not interleaved.index["ticker"].astype(str).is_monotonic_increasing
    versions = set()
    for cut in (dates.min() - pd.Timedelta(days=1), dates.quantile(0.5), dates.max()):
        upto = pd.Timestamp(cut).date()
        expected = reference_rows_version(ws, upto, {"cut": str(upto)})
        assert rows_version(ws, upto, {"cut": str(upto)}) == expected
        assert rows_version(interleaved, upto, {"cut": str(upto)}) == expected
        versions.add(expected)
    assert len(versions) == 3  # before any window, mid-way and the end hash differently
    assert rows_version(ws, dt.date(1900, 1, 1)) == reference_rows_version(ws, dt.date(1900, 1, 1))
