"""The code location: the one ``defs`` that ``workspace.yaml``, ``dagster dev`` and the CLI load."""

from dagster import AssetSelection, Definitions, define_asset_job

from fin_pipeline.assets.candles import raw_candles
from fin_pipeline.assets.features import feature_windows
from fin_pipeline.resources import DataStore, candle_source_resource
from fin_pipeline.settings import load_settings

settings = load_settings()

# The main job, one run per ticker partition. The README's `fin-pipeline run` executes it for the whole
# universe; the UI launches it per partition or as a backfill.
candles_job = define_asset_job(
    "candles_job",
    selection=AssetSelection.assets(raw_candles, feature_windows),
    description="Fetch or refresh the daily candles of one ticker and rebuild its feature windows.",
)

defs = Definitions(
    assets=[raw_candles, feature_windows],
    jobs=[candles_job],
    resources={
        "candle_source": candle_source_resource(settings),
        "store": DataStore(root=str(settings.data_dir.resolve())),
    },
)
