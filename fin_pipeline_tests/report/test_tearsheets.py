"""The tear sheets of a stitched out-of-sample record, built from synthetic predictions shaped like ``stitch()``'s
output (no training): the files and their links, alphalens' numbers recomputed by hand, quantstats' Sharpe
against ours, and the fallbacks when a sheet cannot be drawn."""

from __future__ import annotations

import re
import socket

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import BUY_AND_HOLD, backtest_all
from fin_pipeline.backtest.metrics import sharpe_ratio
from fin_pipeline.backtest.statistics import ic_series
from fin_pipeline.core.costs import CostModel
from fin_pipeline.evaluation.forecast import information_coefficient, rank_information_coefficient
from fin_pipeline.report.factor_files import FACTOR_FILES, FACTOR_PNG
from fin_pipeline.report.factor_sheet import factor_sheet
from fin_pipeline.report.folds import FoldResult
from fin_pipeline.report.returns_sheet import returns_html
from fin_pipeline.report.sheets import SkipSheet
from fin_pipeline.report.tearsheets import links_markdown, markdown_section, write_tearsheets
from fin_pipeline.report.text import provenance_for
from fin_pipeline.report.walk_forward import write_report
from fin_pipeline.store.parquet import read_parquet

TICKERS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")
PREDICTORS = ("model", "zero", "momentum", "ridge")


def synthetic_record(days: int = 252, tickers=TICKERS, folds: int = 4, ic: float = 0.1, seed: int = 0):
    """Rows like ``stitch()``'s: ticker, date, window, target (= next_return, h = 1), the predictors and fold.

    Fat-tailed returns around a common market move; ``model`` = ic · z(target) + noise (a planted signal).
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=days)
    n = len(tickers)
    y = rng.normal(0.0003, 0.01, (days, 1)) + rng.standard_t(4, (days, n)) * 0.012
    z = (y - y.mean(axis=1, keepdims=True)) / y.std(axis=1, keepdims=True)
    model = 0.001 * (ic * z + np.sqrt(1 - ic**2) * rng.normal(size=(days, n)))
    momentum = np.vstack([np.zeros((1, n)), y[:-1]])
    return pd.DataFrame(
        {
            "ticker": np.tile(np.array(tickers), days),
            "date": np.repeat(dates.to_numpy(), n),
            "window": np.arange(days * n),
            "target": y.ravel(),
            "next_return": y.ravel(),
            "model": model.ravel(),
            "zero": 0.0,
            "momentum": momentum.ravel(),
            "ridge": 0.3 * momentum.ravel() + 0.0005 * rng.normal(size=days * n),
            "fold": [f"fold_{i * folds // days:02d}" for i in np.repeat(np.arange(days), n)],
        }
    )


def fold_results(record: pd.DataFrame) -> list[FoldResult]:
    """FoldResults around the record's folds; the per-fold tables (not what this file tests) hold placeholders."""
    results = []
    for fold, rows in record.groupby("fold", sort=True):
        first, last = f"{rows['date'].min():%Y-%m-%d}", f"{rows['date'].max():%Y-%m-%d}"
        bounds = {"train_start": "2015-01-02", "train_end": "2020-12-31", "tune_start": "2021-01-04"}
        bounds |= {"tune_end": "2021-12-30", "test_start": first, "test_end": last, "purge_days": 1}
        bounds |= {"embargo_days": 0, "horizon": 1}
        forecasts = pd.DataFrame({"predictor": PREDICTORS}).assign(
            ic=0.0, icir=0.0, ic_nw_t=0.0, ic_ci_low=0.0, ic_ci_high=0.0
        )
        strategies = [*PREDICTORS, *(f"{p}_neutral" for p in PREDICTORS), BUY_AND_HOLD]
        backtest = pd.DataFrame({"strategy": strategies}).assign(sharpe=0.0, sharpe_se=0.0, psr=0.5, dsr=0.5)
        comparison = {"vs_best": {"best_baseline": "momentum", "dm_p_a_better": 0.5}}
        history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}, {"epoch": 2, "train_loss": 0.9, "val_loss": 0.95}]
        predictions = rows.drop(columns="fold").reset_index(drop=True)
        results.append(FoldResult(str(fold), bounds, forecasts, predictions, backtest, comparison, history))
    return results


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One write_report on a stitched record of 4 folds × 63 days × 8 tickers, with every tear sheet."""
    out = tmp_path_factory.mktemp("report")
    header = provenance_for(["synthetic"] * len(TICKERS), TICKERS, "close", CostModel(cost_model="flat"))
    return write_report(fold_results(synthetic_record()), out, provenance=header), out


# --------------------------------------------------------------------------------------- files and links ---


def test_write_report_writes_every_tear_sheet_and_links_it(report):
    result, out = report
    sheets = result.tearsheets
    assert sheets.failed == {}, sheets.failed
    assert sheets.skipped == {}
    books = {"model", "model_neutral", BUY_AND_HOLD}  # report.TEAR_SHEET_BOOKS: the baselines' books are in tables
    assert set(sheets.files) == {"factor_tearsheet", *FACTOR_FILES, *(f"returns_{b}" for b in books)}
    png = (out / FACTOR_PNG).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    for book in books:
        html = (out / f"returns_{book}.html").read_text()
        assert len(html) > 100_000 and f"<h1>{book}: stitched out-of-sample daily net returns" in html
        # the benchmark's column beside every other book's
        columns = "<th>buy_and_hold</th>" if book == BUY_AND_HOLD else f"<th>buy_and_hold</th><th>{book}</th>"
        assert f"<tr><th>Metric</th>{columns}</tr>" in html
    assert not (out / "returns_zero.html").exists()
    summary, meta = read_parquet(out / FACTOR_FILES["factor_summary"])
    assert list(summary["period"]) == [1, 5, 10] and meta["quantiles"] == 4 and meta["factor"] == "model"
    daily, _ = read_parquet(out / FACTOR_FILES["factor_daily"])
    assert set(daily["period"]) == {1, 5, 10} and daily["ic"].notna().sum() > 3 * 200
    quantiles, _ = read_parquet(out / FACTOR_FILES["factor_quantiles"])
    assert sorted(set(quantiles["quantile"])) == [1, 2, 3, 4]

    text = (out / "report.md").read_text()
    section = text[text.index("## Tear sheets") :]
    links = re.findall(r"\]\(([^)]+)\)", section)
    assert set(links) == {p.name for p in sheets.files.values()}  # relative links, one per file written
    assert all((out / link).is_file() for link in links)
    listing = links_markdown(sheets, lambda p: f"s3://bucket/reports/{p.name}")
    assert "- [returns_model](s3://bucket/reports/returns_model.html)" in listing


def test_the_returns_sheets_sharpe_is_ours(report):
    import quantstats

    result, out = report
    for book in ("model", "model_neutral", BUY_AND_HOLD):
        r = result.stitched.books[book].returns
        ours = sharpe_ratio(r)
        mean, std = r.mean(), r.std(ddof=1)  # by hand: mean / sample std · √252, risk-free 0
        assert ours == pytest.approx(mean / std * np.sqrt(252), rel=1e-12)
        assert quantstats.stats.sharpe(r, rf=0.0, periods=252) == pytest.approx(ours, rel=1e-12)
        # the HTML's metrics table: Metric | benchmark | book (the book alone for buy-and-hold), two decimals
        html = (out / f"returns_{book}.html").read_text()
        cells = re.search(r"<tr><td>Sharpe</td>((?:<td>[^<]*</td>)+)</tr>", html).group(1)
        assert re.findall(r"<td>([^<]*)</td>", cells)[-1] == f"{ours:.2f}"
        assert result.stitched.backtest.loc[book, "sharpe"] == pytest.approx(ours, rel=1e-12)


# ---------------------------------------------------------------------------------- alphalens by hand ---


def kept_rows(record: pd.DataFrame, sheet) -> pd.DataFrame:
    """The record's rows that alphalens kept, in the record's own columns."""
    kept = sheet.factor_data.index.to_frame(index=False).rename(columns={"asset": "ticker"})
    return record.merge(kept, on=["date", "ticker"], how="inner")


def hand_forward(record: pd.DataFrame, k: int) -> pd.Series:
    """k-day simple forward return expm1(Σ next_return over days t … t+k−1) by (date, ticker); NaN when a day of
    the window has no row (the ticker's row is missing) or lies past the record's end."""
    wide = record.pivot(index="date", columns="ticker", values="next_return")
    summed = wide.rolling(k, min_periods=k).sum().shift(-(k - 1))  # NaN propagates through a missing row
    return np.expm1(summed).stack().rename(f"{k}D").rename_axis(["date", "ticker"])


def test_alphalens_ic_is_our_rank_ic_on_the_same_rows_and_forward_returns_are_ours():
    record = synthetic_record(days=160)
    gap = (record["ticker"] == "MSFT") & (record["date"] == record["date"].unique()[40])
    record = record[~gap].reset_index(drop=True)  # one missing row: windows across it are unknown
    sheet = factor_sheet(record)
    assert sheet.periods == {"1D": 1, "5D": 5, "10D": 10} and sheet.quantiles == 4
    rows = kept_rows(record, sheet)
    # the last 9 days (no 10-day return yet) and MSFT's 9 rows whose 10 days cross its missing one drop out
    assert len(rows) == len(record) - 9 * 8 - 9
    for k in (1, 5, 10):
        theirs = sheet.factor_data[f"{k}D"].rename_axis(["date", "ticker"])
        expected = hand_forward(record, k).reindex(theirs.index)
        np.testing.assert_allclose(theirs.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-15)
    # alphalens' 1-day IC per day = our Spearman daily IC of the prediction against the LOG target, same rows
    ours = ic_series(rows["model"], rows["target"], rows["date"], rank=True)
    day1 = sheet.daily[sheet.daily["period"] == 1].set_index("date")["ic"]
    np.testing.assert_allclose(day1.reindex(ours.index).to_numpy(), ours.to_numpy(), atol=1e-12)
    mean_rank_ic = rank_information_coefficient(rows["model"].to_numpy(), rows["target"].to_numpy(), rows["date"])
    assert sheet.summary.set_index("period").loc[1, "ic_mean"] == pytest.approx(mean_rank_ic, abs=1e-12)
    # ... and not the Pearson IC: a rank statistic, the convention the report's `ic` does not share
    pearson = information_coefficient(rows["model"].to_numpy(), rows["target"].to_numpy(), rows["date"])
    assert abs(pearson - mean_rank_ic) > 1e-4
    # 5 days: the daily Spearman IC against the hand-made 5-day return
    five = rows.join(hand_forward(record, 5), on=["date", "ticker"])
    ours5 = ic_series(five["model"], five["5D"], five["date"], rank=True)
    day5 = sheet.daily[sheet.daily["period"] == 5].set_index("date")["ic"]
    np.testing.assert_allclose(day5.reindex(ours5.index).to_numpy(), ours5.to_numpy(), atol=1e-12)


def test_with_a_three_day_target_alphalens_three_day_ic_is_our_rank_ic():
    record = synthetic_record(days=100)
    wide = record.pivot(index="date", columns="ticker", values="next_return")
    target = wide.rolling(3).sum().shift(-2).stack().rename("target")  # log return from close t to close t+3
    record = record.drop(columns="target").join(target, on=["date", "ticker"]).dropna(subset=["target"])
    sheet = factor_sheet(record, horizon=3)
    assert sheet.periods == {"1D": 1, "3D": 3, "5D": 5, "10D": 10}
    rows = kept_rows(record, sheet)
    ours = ic_series(rows["model"], rows["target"], rows["date"], rank=True)
    day3 = sheet.daily[sheet.daily["period"] == 3].set_index("date")["ic"]
    np.testing.assert_allclose(day3.reindex(ours.index).to_numpy(), ours.to_numpy(), atol=1e-12)
    three = sheet.factor_data["3D"].rename_axis(["date", "ticker"])
    np.testing.assert_allclose(three.to_numpy(), np.expm1(target.reindex(three.index)).to_numpy(), rtol=1e-12)


def test_quantile_returns_spread_and_turnover_by_hand():
    record = synthetic_record(days=120, seed=3)
    sheet = factor_sheet(record)
    data = sheet.factor_data.reset_index()
    # quartiles by hand: the day's rank of the prediction, 8 names → 2 per quartile
    data["q"] = data.groupby("date")["factor"].rank(method="first").sub(1).floordiv(2).add(1)
    np.testing.assert_array_equal(data["q"].to_numpy(), data["factor_quantile"].to_numpy())
    data["demeaned"] = data["1D"] - data.groupby("date")["1D"].transform("mean")
    per_day = data.groupby(["date", "q"])["demeaned"].mean().unstack("q")
    q1 = sheet.by_quantile[sheet.by_quantile["period"] == 1].set_index("quantile")
    np.testing.assert_allclose(q1["mean_return"].to_numpy(), per_day.mean().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(q1["std_err"].to_numpy(), (per_day.std() / np.sqrt(len(per_day))).to_numpy())
    spread = (per_day[4] - per_day[1]) / 2  # alphalens 0.5: 50% long the top, 50% short the bottom
    day1 = sheet.daily[sheet.daily["period"] == 1].set_index("date")
    np.testing.assert_allclose(day1["spread"].to_numpy(), spread.to_numpy(), rtol=1e-10)
    assert sheet.summary.loc[0, "spread"] == pytest.approx(spread.mean(), rel=1e-10)
    # top-quartile turnover: the share of today's top names that were not in it yesterday
    tops = data[data["q"] == 4].groupby("date")["asset"].apply(set)
    new = [len(today - yesterday) / len(today) for yesterday, today in zip(tops.iloc[:-1], tops.iloc[1:], strict=True)]
    np.testing.assert_allclose(day1["top_turnover"].dropna().to_numpy(), new)
    assert sheet.summary.loc[0, "top_turnover"] == pytest.approx(np.mean(new))


# ----------------------------------------------------------------------------------------- the fallbacks ---


def test_too_few_tickers_or_days_skip_the_factor_sheet_with_the_reason(tmp_path):
    record = synthetic_record(days=60, tickers=("AAPL", "MSFT", "XOM"))
    books = {name: result.returns for name, result in backtest_all(record, PREDICTORS).items()}
    (tmp_path / FACTOR_PNG).write_bytes(b"an earlier report's picture")
    sheets = write_tearsheets(record, {"model": books["model"], BUY_AND_HOLD: books[BUY_AND_HOLD]}, tmp_path)
    assert sheets.failed == {} and sheets.factor is None
    assert sheets.skipped == {
        "factor_tearsheet": "3 ticker(s) on a typical day: too few for a top and a bottom quantile of two names each"
    }
    assert not (tmp_path / FACTOR_PNG).exists()  # no stale sheet beside the new report
    assert (tmp_path / "returns_model.html").stat().st_size > 100_000  # the other sheets are still drawn
    text = markdown_section(sheets)
    assert "- factor_tearsheet: no tear sheet, 3 ticker(s) on a typical day" in text
    assert "[model](returns_model.html)" in text
    short = synthetic_record(days=25)
    with pytest.raises(SkipSheet, match=r"25 day\(s\) in the record: fewer than 20 with every horizon"):
        factor_sheet(short)


def test_a_failing_library_is_reported_not_raised_and_a_flat_book_is_skipped(tmp_path, monkeypatch):
    import quantstats

    record = synthetic_record(days=60, tickers=("AAPL", "MSFT", "XOM"))
    books = {name: result.returns for name, result in backtest_all(record, PREDICTORS).items()}
    original = quantstats.reports.html

    def html(returns, *args, **kwargs):
        if kwargs.get("strategy_title") == "model":
            raise RuntimeError("boom")
        return original(returns, *args, **kwargs)

    monkeypatch.setattr(quantstats.reports, "html", html)
    (tmp_path / "returns_model.html").write_text("an earlier report's sheet")
    chosen = {k: books[k] for k in ("model", "zero", BUY_AND_HOLD)}
    sheets = write_tearsheets(record, chosen, tmp_path)
    assert sheets.failed == {"returns_model": "RuntimeError: boom"}
    assert sheets.skipped["returns_zero"] == "a flat book (every daily return is 0: it never holds a position)"
    assert not (tmp_path / "returns_model.html").exists()
    assert set(sheets.files) == {f"returns_{BUY_AND_HOLD}"}
    text = markdown_section(sheets)
    assert "- **returns_model: the tear sheet failed** (RuntimeError: boom)" in text


def test_the_returns_sheet_never_touches_the_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    record = synthetic_record(days=30, tickers=("AAPL", "MSFT"))
    books = backtest_all(record, ("model",), books=("sign",))
    path = returns_html(books["model"].returns, tmp_path / "m.html", "model", books[BUY_AND_HOLD].returns)
    assert "<th>buy_and_hold</th>" in path.read_text()
