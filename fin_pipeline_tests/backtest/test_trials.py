"""The trial registry and the DSR over it: one trial per configuration, re-scoring replaces, a new configuration
adds one; baselines are references; the report says how many trials and where the prices came from."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fin_pipeline.backtest.metrics import TRADING_DAYS, sharpe_ratio
from fin_pipeline.backtest.sharpe import sharpe_long_run_variance
from fin_pipeline.backtest.trials import TRIAL_BOOKS, TrialRegistry, trial_configuration, trial_key
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.settings import DEFAULT_UNIVERSE
from fin_pipeline.evaluation.scoring import score_predictions, with_trials
from fin_pipeline.report.provenance import Provenance
from fin_pipeline.report.text import provenance_for
from fin_pipeline.report.walk_forward import write_report
from fin_pipeline.store.parquet import StorageError, read_parquet
from fin_pipeline_tests.report.test_tearsheets import TICKERS, fold_results, synthetic_record

SPEC = {"model": "cnn", "loss": "mse", "epochs": 2, "seed": 0, "model_config": {}, "device": "auto"}
SYNTHETIC = provenance_for(["synthetic"] * len(TICKERS), TICKERS, "close", CostModel(cost_model="flat"))


def folds_with(spec: dict, seed: int = 0):
    """The test record's folds, trained (as far as the registry knows) with ``spec``."""
    folds = fold_results(synthetic_record(seed=seed))
    return [dataclasses.replace(f, train_spec=spec, bounds={**f.bounds, "min_tickers": 4}) for f in folds]


def daily(values, start="2022-01-03") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


def hand_dsr(r: np.ndarray, lags: int, trial_sharpes: list[float]) -> float:
    """Bailey & López de Prado's DSR written out, with the HAC variance term Ω."""
    n = len(trial_sharpes)
    per_day = np.array(trial_sharpes) / math.sqrt(TRADING_DAYS)
    v = np.var(per_day, ddof=1) if n > 1 else 0.0
    g = 0.5772156649015329
    sr0 = (
        math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e))) if n > 1 else 0
    )
    sr = r.mean() / r.std(ddof=1)
    return stats.norm.cdf((sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(sharpe_long_run_variance(r, lags)))


# ---------------------------------------------------------------------------------------------- registry ---


def test_a_configuration_is_one_trial_rescoring_replaces_and_a_new_one_adds(tmp_path):
    registry = TrialRegistry(tmp_path / "trials")
    config = trial_configuration(
        [SPEC, SPEC], [{"horizon": 1, "purge_days": 1, "embargo_days": 0, "min_tickers": 2}] * 2, {"cost_bps": 5.0}
    )
    first = registry.record(config, {b: daily([0.01, -0.02, 0.005]) for b in TRIAL_BOOKS})
    assert [t.key for t in registry.trials()] == [first.key] == [trial_key(config)]
    # The device is where it ran, not what was tried: same trial. More days for the same configuration: replaced.
    same = trial_configuration(
        [{**SPEC, "device": "cuda"}],
        [{"horizon": 1, "purge_days": 1, "embargo_days": 0, "min_tickers": 2}],
        {"cost_bps": 5.0},
    )
    assert trial_key(same) == first.key
    registry.record(same, {b: daily([0.01, -0.02, 0.005, 0.03]) for b in TRIAL_BOOKS})
    (only,) = registry.trials()
    assert len(only.returns) == 4 and only.sharpe("model") == pytest.approx(
        sharpe_ratio(np.array([0.01, -0.02, 0.005, 0.03]))
    )
    # Another seed, loss or cost is another trial.
    for change in ({"seed": 1}, {"loss": "huber"}):
        registry.record({**config, "training": [{**SPEC, **change}]}, {b: daily([0.01, 0.0]) for b in TRIAL_BOOKS})
    registry.record({**config, "scoring": {"cost_bps": 10.0}}, {b: daily([0.01, 0.0]) for b in TRIAL_BOOKS})
    assert len(registry.trials()) == 4
    stored, meta = read_parquet(registry.path(first.key))
    assert meta["configuration"] == config and list(stored.columns) == ["date", *TRIAL_BOOKS]


def test_bad_returns_are_refused_before_anything_is_written(tmp_path):
    registry = TrialRegistry(tmp_path / "trials")
    config = {"training": [SPEC], "folds": {"horizon": 1}, "scoring": {}}
    with pytest.raises(ValueError, match="model_neutral"):
        registry.record(config, {"model": daily([0.01])})
    with pytest.raises(ValueError, match="non-finite return on 2022-01-04"):
        registry.record(config, {b: daily([0.01, float("nan")]) for b in TRIAL_BOOKS})
    twice = pd.Series([0.01, 0.02], index=pd.DatetimeIndex(["2022-01-03", "2022-01-03"]))
    with pytest.raises(ValueError, match="2022-01-03 appears twice"):
        registry.record(config, {b: twice for b in TRIAL_BOOKS})
    assert not (tmp_path / "trials").exists()
    with pytest.raises(ValueError, match="disagree on their rules"):
        trial_configuration(
            [SPEC],
            [
                {"horizon": 1, "purge_days": 1, "embargo_days": 0, "min_tickers": 2},
                {"horizon": 5, "purge_days": 1, "embargo_days": 0, "min_tickers": 2},
            ],
            {},
        )


def test_a_trial_file_renamed_by_hand_is_named_not_counted(tmp_path):
    registry = TrialRegistry(tmp_path / "trials")
    trial = registry.record(
        {"training": [SPEC], "folds": {"horizon": 1}, "scoring": {}}, {b: daily([0.01, 0.0]) for b in TRIAL_BOOKS}
    )
    registry.path(trial.key).rename(registry.path("0123456789abcdef"))
    with pytest.raises(StorageError, match="0123456789abcdef.parquet: not a trial"):
        registry.trials()


# ------------------------------------------------------------------------------------------ DSR in scoring ---


def test_the_models_dsr_ignores_the_baseline_books():
    record = synthetic_record().drop(columns="fold")
    scores = score_predictions(record, horizon=1)
    trials = {b: [scores.backtest.loc[b, "sharpe"], 0.2] for b in TRIAL_BOOKS}
    deflated = with_trials(scores, trials, horizon=1)
    # A stronger ridge baseline (another book beside the model's): the model's DSR does not move.
    stronger = record.assign(ridge=record["target"] * 0.5)
    other = with_trials(score_predictions(stronger, horizon=1), trials, horizon=1)
    assert other.backtest.loc["ridge", "sharpe"] != deflated.backtest.loc["ridge", "sharpe"]
    for book in TRIAL_BOOKS:
        assert other.backtest.loc[book, "dsr"] == deflated.backtest.loc[book, "dsr"]
        r = scores.books[book].returns.to_numpy()
        lags = int(scores.backtest.loc[book, "lags"])
        assert deflated.backtest.loc[book, "dsr"] == pytest.approx(hand_dsr(r, lags, trials[book]), rel=1e-9)
    # Baselines and buy-and-hold are references: no DSR.
    assert deflated.backtest.drop(index=list(TRIAL_BOOKS))["dsr"].isna().all()
    assert deflated.comparison["n_trials"] == 2


# --------------------------------------------------------------------------------------------- the report ---


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Three reports on one store: configuration A, then B (another seed: another trial), then A again."""
    root = tmp_path_factory.mktemp("store")
    registry = TrialRegistry(root / "trials")
    out = {}
    for name, spec, seed in (("a1", SPEC, 0), ("b", {**SPEC, "seed": 1}, 5), ("a2", SPEC, 0)):
        report = write_report(
            folds_with(spec, seed), root / name, tearsheets=False, provenance=SYNTHETIC, registry=registry
        )
        out[name] = (report, (root / name / "report.md").read_text())
    return out, registry


def test_one_trial_gives_dsr_equal_to_psr_and_says_1_trial(reports):
    (report, text), _ = reports[0]["a1"], reports[1]
    table = report.stitched.backtest
    for book in TRIAL_BOOKS:
        assert table.loc[book, "dsr"] == table.loc[book, "psr"]
    assert report.stitched.comparison["n_trials"] == 1
    assert "DSR over 1 trial: `" in text and "(this record)" in text


def test_a_second_configuration_raises_n_to_2_and_lowers_the_dsr(reports):
    out, registry = reports
    (first, _), (second, text_b), (again, text_a2) = out["a1"], out["b"], out["a2"]
    assert second.stitched.comparison["n_trials"] == again.stitched.comparison["n_trials"] == 2
    assert len(registry.trials()) == 2  # A scored twice is one trial
    assert "DSR over 2 trials: `" in text_b and "DSR over 2 trials: `" in text_a2
    for book in TRIAL_BOOKS:
        before, after = first.stitched.backtest.loc[book], again.stitched.backtest.loc[book]
        assert after["psr"] == before["psr"] and after["dsr"] < before["dsr"]
        sharpes = [t.sharpe(book) for t in registry.trials()]
        r = again.stitched.books[book].returns.to_numpy()
        assert after["dsr"] == pytest.approx(hand_dsr(r, int(after["lags"]), sharpes), rel=1e-9)


def test_the_report_starts_with_the_source_universe_execution_and_costs(reports):
    (_, text), _ = reports[0]["a1"], None
    head = text.splitlines()[2:6]
    assert (
        head[0] == "**Source:** simulated prices: no real market (the embedded synthetic market; no number "
        "below is evidence about real stocks).  "
    )
    assert head[1].startswith(
        f"**Universe:** the default hand-picked list of 8 large US stocks ({', '.join(DEFAULT_UNIVERSE)})"
    )
    assert "survivorship bias: chosen today" in head[1]
    assert head[2].startswith("**Execution:** close: ") and "not executable from a run after the close" in head[2]
    assert head[3].startswith("**Costs:** flat 5 bps of traded notional")
    assert "| model_neutral |" in text and "not a trial" in text  # the baselines' DSR cells


def test_a_real_source_and_a_given_universe_are_said_so():
    csv = Provenance(["csv", "csv"], ["AAPL", "KO"], DEFAULT_UNIVERSE, "close", "flat", {"cost_bps": 5.0})
    lines = "\n".join(csv.lines())
    assert "simulated" not in lines and "vendor CSV files" in lines
    assert "user-given (2 tickers: AAPL, KO" in lines and "survivorship" not in lines
    with pytest.raises(ValueError, match="execution 'open'"):
        Provenance(["csv"], ["AAPL"], DEFAULT_UNIVERSE, "open", "flat", {"cost_bps": 5.0})
    with pytest.raises(ValueError, match="source"):
        Provenance(["yahoo"], ["AAPL"], DEFAULT_UNIVERSE, "close", "flat", {"cost_bps": 5.0})
