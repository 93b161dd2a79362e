"""FIN_PIPELINE_UNIVERSE_RULE and its pool settings: parsed when the settings load, refused naming the variable."""

from __future__ import annotations

import pytest

from fin_pipeline.core.listings import POOL_FACTOR
from fin_pipeline.core.settings import Settings, SettingsError
from fin_pipeline.core.universe_rule import UniverseRule, parse_rule

BASE = {"FIN_PIPELINE_END": "2024-06-28", "FIN_PIPELINE_FIRST_TEST_DATE": "2023-01-01"}


def test_rule_parsed():
    assert parse_rule("top:500:dollar_volume") == UniverseRule(500, "dollar_volume")
    assert parse_rule(" TOP:10:Volume ") == UniverseRule(10, "volume")
    assert str(UniverseRule(10)) == "top:10:dollar_volume"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("top:500:market_cap", "unknown field 'market_cap'"),
        ("top:500", "is not top:N:FIELD"),
        ("bottom:5:volume", "is not top:N:FIELD"),
        ("top:ten:volume", "N='ten' is not a positive integer"),
        ("top:1:volume", "N must be an integer >= 2"),
        ("top:-3:volume", "N='-3' is not a positive integer"),
    ],
)
def test_bad_rule_refused_when_settings_load(text, said):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**BASE, "FIN_PIPELINE_UNIVERSE_RULE": text})
    assert "FIN_PIPELINE_UNIVERSE_RULE" in str(err.value) and said in str(err.value)


def test_synthetic_pool_from_the_rule():
    settings = Settings.from_env({**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:10:dollar_volume"})
    assert settings.universe_rule == UniverseRule(10) and not settings.hand_picked
    assert settings.universe_pool == POOL_FACTOR * 10
    # the pool: the simulated candidates seasoned by the end (some drawn listings lie after it)
    assert 10 < len(settings.universe) <= POOL_FACTOR * 10
    assert all(t.startswith("SYN") for t in settings.universe)
    assert {x.ticker for x in settings.listings} == set(settings.universe)
    assert Settings.from_env(BASE).hand_picked and not Settings.from_env(BASE).listings


def test_pool_must_exceed_n_and_needs_a_rule(tmp_path):
    with pytest.raises(SettingsError, match="FIN_PIPELINE_UNIVERSE_POOL=10 must be larger than the rule's N=10"):
        Settings.from_env({**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:10:volume", "FIN_PIPELINE_UNIVERSE_POOL": "10"})
    with pytest.raises(SettingsError, match="FIN_PIPELINE_UNIVERSE_POOL='x' is not an integer"):
        Settings.from_env({**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:10:volume", "FIN_PIPELINE_UNIVERSE_POOL": "x"})
    with pytest.raises(SettingsError, match="need FIN_PIPELINE_UNIVERSE_RULE"):
        Settings.from_env({**BASE, "FIN_PIPELINE_UNIVERSE_POOL": "50"})


def test_membership_csv_is_the_pool(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("ticker,from,to\nAAA,,\nBBB,2015-03-02,2019-06-28\nCCC,,2022-01-14\nBBB,2020-01-02,\n")
    settings = Settings.from_env(
        {**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:2:volume", "FIN_PIPELINE_MEMBERSHIP_CSV": str(path)}
    )
    assert settings.universe == ("AAA", "BBB", "CCC") and len(settings.listings) == 4
    path.write_text("ticker,from,to\nAAA,,\nBBB,2015-03-02,2019-06-28\nBBB,2019-01-02,\n")
    with pytest.raises(SettingsError) as err:
        Settings.from_env(
            {**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:2:volume", "FIN_PIPELINE_MEMBERSHIP_CSV": str(path)}
        )
    assert "FIN_PIPELINE_MEMBERSHIP_CSV" in str(err.value) and f"{path}: line 4: BBB" in str(err.value)


def test_a_rule_on_polygon_needs_a_pool():
    env = {**BASE, "FIN_PIPELINE_UNIVERSE_RULE": "top:5:volume", "POLYGON_API_KEY": "k"}
    env["FIN_PIPELINE_SOURCE"] = "polygon"
    with pytest.raises(SettingsError, match="FIN_PIPELINE_MEMBERSHIP_CSV"):
        Settings.from_env(env)
    explicit = Settings.from_env({**env, "FIN_PIPELINE_UNIVERSE": "AAA,BBB,CCC,DDD,EEE,FFF"})
    assert explicit.universe == ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF") and not explicit.listings
