"""The data directory's layout: each artifact's relative path, and the names other packages still spell."""

from pathlib import PurePosixPath

from fin_pipeline.backtest.trials import FOLDER
from fin_pipeline.evaluation.nightly import LIVE_FILE, SCORED_FILE
from fin_pipeline.store import layout
from fin_pipeline.store.parquet import rebuild_hint
from fin_pipeline.training.configuration import CONFIG_FILE


def test_each_artifact_has_the_path_the_files_on_disk_have():
    expected = {  # the names of existing data directories, written out
        layout.raw_candles("AAPL"): "raw_candles/AAPL.parquet",
        layout.feature_windows("AAPL"): "feature_windows/AAPL.parquet",
        layout.market_day("2020-08-28"): "market/grouped/2020-08-28.parquet",
        layout.market_day("2020-08-28", adjusted=False): "market/grouped_unadjusted/2020-08-28.parquet",
        layout.market_splits("2020-08-27", "2020-08-28"): "market/splits/2020-08-27_2020-08-28.parquet",
        layout.fold("2021-01-01"): "folds/2021-01-01.json",
        layout.normalization("2021-01-01"): "normalization/2021-01-01.json",
        layout.model_dir("2021-01-01"): "models/2021-01-01",
        layout.run_dir(layout.model_dir("2021-01-01"), "r1"): "models/2021-01-01/runs/r1",
        layout.metrics_dir("2021-01-01"): "metrics/2021-01-01",
        layout.scored("2021-01-01"): "metrics/2021-01-01/scored.json",
        layout.live_dir(): "live",
        layout.live_dir("2026-11-30"): "live/2026-11-30",
        layout.live_file("2026-11-30"): "live/2026-11-30/live.json",
        layout.run_dir(layout.live_dir("2026-11-30"), "r1"): "live/2026-11-30/runs/r1",
        layout.forecast("2026-11-30"): "forecasts/2026-11-30.parquet",
        layout.live_record_file(): "live_record/record.parquet",
        layout.live_equity_file(): "live_record/live_equity.png",
        layout.configuration(): "fin_pipeline.yaml",
    }
    for rel, text in expected.items():
        assert rel == PurePosixPath(text)
        assert not rel.is_absolute()


def test_the_names_other_packages_spell_are_the_layouts():
    """Until those packages take them from here, the same names must hold in both places."""
    assert (SCORED_FILE, LIVE_FILE, CONFIG_FILE, FOLDER) == (
        layout.SCORED_FILE,
        layout.LIVE_FILE,
        layout.CONFIG_FILE,
        layout.TRIALS,
    )


def test_a_bad_file_names_the_asset_and_partition_that_write_it(tmp_path):
    hint = rebuild_hint(tmp_path / "data" / "models" / "2021-01-01" / "best.pt")
    assert "rematerialize trained_model[2021-01-01]" in hint
    assert "rematerialize feature_windows[MSFT]" in rebuild_hint(tmp_path / "feature_windows" / "MSFT.parquet")
    assert "rematerialize walk_forward_report " in rebuild_hint(tmp_path / "reports" / "folds.parquet")
    assert "rematerialize raw_candles " in rebuild_hint(tmp_path / "market" / "grouped" / "2020-08-28.parquet")
    assert rebuild_hint(tmp_path / "elsewhere" / "x.json") == "delete it and rebuild it"
