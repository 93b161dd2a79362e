"""The leaderboard's figures for two models, recomputed by hand (numpy/scipy) from their predictions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fin_pipeline.backtest.trials import TrialRegistry
from fin_pipeline.core.costs import CostModel
from fin_pipeline.evaluation.board import PREDICTION
from fin_pipeline.evaluation.leaderboard import BoardRecord, leaderboard

BPS = 5.0
DAYS, TICKERS = 24, 6
FOLD = {"fold": "2021-01-01", "horizon": 1, "purge_days": 2, "embargo_days": 0, "min_tickers": 2}


def board_frame(seed: int, skill: float) -> pd.DataFrame:
    """DAYS × TICKERS rows whose prediction is skill × target + noise (target = next_return: h = 1)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=DAYS)
    target = np.random.default_rng(99).normal(0.0, 0.02, (DAYS, TICKERS))  # the same market for both models
    pred = skill * target + rng.normal(0.0, 0.02, (DAYS, TICKERS))
    return pd.DataFrame(
        {
            "ticker": np.tile([f"T{i}" for i in range(TICKERS)], DAYS),
            "date": np.repeat(dates, TICKERS),
            "target": target.ravel(),
            "next_return": target.ravel(),
            PREDICTION: pred.ravel(),
        }
    )


def lags(n: int) -> int:
    return max(0, math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))  # Newey & West (1994), h = 1


def bartlett(x: np.ndarray, lag: int) -> float:
    """(1/n)[Σ x_t² + 2 Σ_j (1 − j/(L+1)) Σ_t x_t x_{t−j}] of a centred series."""
    total = float(x @ x)
    for j in range(1, lag + 1):
        total += 2.0 * (1.0 - j / (lag + 1.0)) * float(x[j:] @ x[:-j])
    return total / len(x)


def by_hand(frame: pd.DataFrame) -> dict[str, float | np.ndarray]:
    days = sorted(frame["date"].unique())
    ic, rank_ic, net = [], [], []
    previous = np.zeros(TICKERS)
    for day in days:
        rows = frame[frame["date"] == day].sort_values("ticker")
        p, y = rows[PREDICTION].to_numpy(), rows["target"].to_numpy()
        ic.append(np.corrcoef(p, y)[0, 1])
        rank_ic.append(stats.spearmanr(p, y).statistic)
        dev = stats.rankdata(p) - stats.rankdata(p).mean()
        w = dev / np.abs(dev).sum()  # the market-neutral book, held one day (h = 1)
        gross = float(w @ np.expm1(rows["next_return"].to_numpy()))
        net.append(gross - np.abs(w - previous).sum() * BPS / 1e4)
        previous = w
    ic, net = np.asarray(ic), np.asarray(net)
    n = len(ic)
    e = ic - ic.mean()
    nw_t = ic.mean() / math.sqrt(bartlett(e, lags(n)) / n)
    sr = net.mean() / net.std(ddof=1)  # per day
    z = (net - net.mean()) / net.std(ddof=0)
    psi = z - sr / 2.0 * (z**2 - 1.0)  # Lo (2002)'s influence function of the Sharpe ratio
    se = math.sqrt(bartlett(psi, lags(n)) / (n - 1))  # ψ has mean 0 by construction
    return {
        "ic": ic.mean(),
        "rank_ic": float(np.mean(rank_ic)),
        "icir": ic.mean() / ic.std(ddof=1),
        "ic_nw_t": nw_t,
        "sharpe": sr * math.sqrt(252),
        "psr": stats.norm.cdf(sr / se),
        "sr": sr,
        "se": se,
        "net": net,
    }


def test_two_models_figures_equal_a_recomputation_by_hand(tmp_path):
    frames = {"ridge": board_frame(1, 0.6), "momentum": board_frame(2, 0.1)}
    records = {m: BoardRecord(f, [{"model": m}], [FOLD]) for m, f in frames.items()}
    board = leaderboard(records, 1, CostModel(cost_model="flat", cost_bps=BPS), TrialRegistry(tmp_path), "next_open")
    table = board.table.set_index("model")
    hand = {m: by_hand(f) for m, f in frames.items()}
    # DSR: the PSR against the expected best of N = 2 trials (the two models) whose per-day Sharpe ratios have
    # variance V (Bailey & López de Prado 2014), γ the Euler–Mascheroni constant
    v = np.var([hand[m]["sr"] for m in frames], ddof=1)
    gamma = 0.5772156649015329
    sr0 = math.sqrt(v) * ((1 - gamma) * stats.norm.ppf(1 - 1 / 2) + gamma * stats.norm.ppf(1 - 1 / (2 * math.e)))
    for m in frames:
        row = table.loc[m]
        for key in ("ic", "rank_ic", "icir", "ic_nw_t", "sharpe", "psr"):
            assert row[key] == pytest.approx(hand[m][key], rel=1e-9, abs=1e-12), (m, key)
        assert row["dsr"] == pytest.approx(stats.norm.cdf((hand[m]["sr"] - sr0) / hand[m]["se"]), rel=1e-9)
        assert row["days"] == DAYS and row["folds"] == 1
    assert board.n_trials == 2 and len(TrialRegistry(tmp_path).trials()) == 2
    assert list(table.index) == sorted(frames, key=lambda m: -hand[m]["sharpe"])  # best neutral Sharpe first
    # PBO by brute force: S = 12 blocks of 2 of the 24 common days, every half as in-sample; with two models the
    # in-sample best is overfit when its out-of-sample Sharpe is not above the other's (rank 1, or a tie: 1.5).
    net = np.column_stack([hand[m]["net"] for m in frames])
    blocks = np.array_split(np.arange(DAYS), 12)
    overfit = []
    for half in itertools.combinations(range(12), 6):
        inside = np.concatenate([blocks[b] for b in half])
        outside = np.setdiff1d(np.arange(DAYS), inside)
        sharpe_in = net[inside].mean(0) / net[inside].std(0, ddof=1)
        sharpe_out = net[outside].mean(0) / net[outside].std(0, ddof=1)
        pick = int(np.argmax(sharpe_in))
        overfit.append(sharpe_out[pick] <= sharpe_out[1 - pick])
    assert board.pbo_splits == 12 and len(overfit) == 924
    assert board.pbo == pytest.approx(np.mean(overfit), abs=1e-12)
