"""The report's universe line: a rule with each fold's count and churn, or a hand-picked list said as such."""

from __future__ import annotations

from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.settings import DEFAULT_UNIVERSE
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.report.text import provenance_for

FOLDS = [
    {"fold": "2024-01-01", "count": 3, "tickers": ["A", "B", "C"], "entered": None, "left": None},
    {"fold": "2024-04-01", "count": 3, "tickers": ["A", "B", "D"], "entered": ["D"], "left": ["C"]},
    {"fold": "2024-07-01", "count": 3, "tickers": ["A", "B", "D"], "entered": [], "left": []},
]


def test_rule_and_churn_per_fold():
    pool = [f"SYN{i:04d}" for i in range(1, 10)]
    lines = provenance_for(["synthetic"] * 9, pool, "next_open", CostModel(), UniverseRule(3), FOLDS).lines()
    assert lines[1].startswith("**Universe:** point-in-time, FIN_PIPELINE_UNIVERSE_RULE=top:3:dollar_volume: the 3 ")
    assert "candidate pool of 9 tickers" in lines[1] and "hand-picked" not in lines[1]
    assert lines[2] == (
        "**Universe per fold** (count; names in / out since the previous fold): 2024-01-01: 3; "
        "2024-04-01: 3 (in: D; out: C); 2024-07-01: 3 (in: none; out: none)."
    )


def test_explicit_lists_are_hand_picked():
    default = provenance_for(["synthetic"] * 8, DEFAULT_UNIVERSE, "next_open", CostModel()).lines()
    assert "the default hand-picked list of 8" in default[1] and "survivorship" in default[1]
    given = provenance_for(["csv", "csv"], ["KO", "PEP"], "next_open", CostModel()).lines()
    assert given[1].startswith("**Universe:** hand-picked, user-given (2 tickers: KO, PEP")
    assert not any(line.startswith("**Universe per fold**") for line in given)
