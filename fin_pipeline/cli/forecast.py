"""``fin-pipeline forecast``, and the forecast table a ``fin-pipeline run`` ends with."""

from __future__ import annotations

from pathlib import Path


def forecast() -> int:
    """``fin-pipeline forecast``: the newest stored forecast, said stale when the data has moved past it."""
    from dagster import Failure

    from fin_pipeline.definitions import defs
    from fin_pipeline.defs.assets.universe import load_universe
    from fin_pipeline.evaluation.live import data_end

    store = defs.resources["store"]
    folder = store.pull_tree(store.local_root() / "forecasts")
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        print("fin-pipeline: no forecast yet: run `fin-pipeline run` (or materialize live_model and forecasts)")
        return 1
    try:
        end = data_end(load_universe(store, "fin-pipeline forecast").windows)
    except Failure:  # feature files missing: the forecast is printed without the staleness check
        end = None
    return print_forecast(files[-1], end, store.pull(store.live_record_dir() / "record.parquet"))


def print_forecast(path: Path, data_end, record: Path | None = None) -> int:
    """The forecast table; a forecast made on older data than the data's last day is said to be stale; the
    sessions the paper record (``record``) lists as missed."""
    from fin_pipeline.core.formatting import missed_line, text_table
    from fin_pipeline.store.parquet import read_parquet, read_parquet_meta

    table, meta = read_parquet(path)
    shown = table[["ticker", "model", "rank", "weight_sign", "weight_long_only", "weight_neutral", "momentum", "ridge"]]
    as_of = meta["as_of"]
    made = f", made {table['made_at'].iloc[0]:%Y-%m-%d %H:%M} UTC" if "made_at" in table else ""
    print(
        f"\nForecast for {meta['forecast_date']} (data as of {as_of}{made}; predicted {len(table)} ticker(s)' "
        "log return):\n"
    )
    print(text_table(shown.rename(columns={"model": "prediction"})))
    if meta.get("execution"):  # when these positions trade (forecasts stored before the setting say nothing)
        print(f"\nPositions traded per the execution {meta['execution']}.")
    if meta.get("missing"):
        print(f"\nNot forecast: {', '.join(f'{t} ({why})' for t, why in meta['missing'].items())}")
    if record is not None and record.is_file():
        print(f"\nPaper record: {missed_line(read_parquet_meta(record).get('missed', {}))}")
    if data_end is not None and str(data_end) != as_of:
        print(
            f"\nSTALE: this forecast was made on data as of {as_of}; the data now ends on {data_end}. "
            "Run `fin-pipeline run` for tonight's forecast."
        )
    return 0
