"""``fin-pipeline leaderboard``: the stored leaderboard (every enabled model over every fold), printed."""

from __future__ import annotations


def leaderboard() -> int:
    """Print the stored leaderboard table and the board's PBO; 1, saying how to make one, when there is none."""
    from fin_pipeline.definitions import defs
    from fin_pipeline.report.leaderboard import leaderboard_text
    from fin_pipeline.store import layout

    store = defs.resources["store"]
    stored = store.read_leaderboard()
    if stored is None:
        print(
            "fin-pipeline: no leaderboard yet: run `fin-pipeline run` (it trains the board's models, "
            "FIN_PIPELINE_MODELS, on every fold it runs), or materialize board_predictions and leaderboard"
        )
        return 1
    table, meta = stored
    folds = meta.get("folds", [])
    span = f"{len(folds)} fold(s), {folds[0]} … {folds[-1]}" if folds else "no fold recorded"
    print(f"\nLeaderboard: {len(table)} model(s) over {span}; books net of costs, market-neutral.\n")
    print(leaderboard_text(table, meta))
    print(f"\nChart: {store.describe(store.path(layout.leaderboard_chart()))}")
    return 0
