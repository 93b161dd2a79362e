"""Which models recover a planted signal: stitched out-of-sample IC of each model as a ratio to the oracle.

    python benchmarks/recovery.py                         # 8 tickers, 2010.., yearly folds 2024..2026, all models
    python benchmarks/recovery.py --quick                 # 8 tickers, 2016.., yearly folds 2025..2026, cnn, 1 epoch
    python benchmarks/recovery.py --signals linear --models cnn,ridge,momentum --set epochs=8 --set target=zscore

For each market (``linear``: the planted signal on ``ret_1d`` at ``--signal-ic``, default 0.1; ``temporal``: the
planted sign pattern at ``--temporal-ic``, default 0.1; ``none``: no signal), the synthetic market (seed 7) of the
first ``--tickers`` symbols (the default universe's 8, then SYN000, SYN001, ...) is built in memory
(``build_feature_frame``, ``build_windows``), cut into folds (``compute_folds``; ``--period`` and ``--first-test``;
the project's purge and tuning block), and per fold, as the assets do: ``fit_fold_normalization``, then each network
by ``train_fold`` and ``predict_fold`` (the training configuration: the project's defaults, ``--set`` overrides,
then the network's name), the baselines by ``add_baselines`` (momentum, ridge) and ``lightgbm_predictions``
(LightGBM). The test blocks are stitched and every predictor is scored by ``score_predictions``
(``evaluation/scoring``): its IC (mean daily cross-sectional Pearson correlation with the target) and its Newey–West
t. The **oracle** is the planted predictor itself on the same test rows, scored the same way: ``ret_1d`` of the
decision day for the linear signal (which is also the momentum baseline at h = 1),
``sources.planted.temporal_predictor`` of the window's ``ret_1d`` for the temporal one. Printed per market: each
predictor's IC, t, and IC / oracle IC; each model's gross market-neutral book: annualized Sharpe, PSR and DSR
(the models of the run its trials), and the PBO across them.

Goals checked (printed, never an exit status: the figures are noisy at these sizes): linear: every network
>= 0.8 x oracle; temporal: the best network >= 0.6 x oracle and >= 1.5 x the best of ridge and LightGBM; no
signal: no predictor with |t| > 2.5 and no DSR above 0.95. Use ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NETWORKS = ("lstm", "cnn", "attention", "ensemble")
BASELINE_MODELS = ("ridge", "lightgbm", "momentum")
SIGNALS = ("linear", "temporal", "none")
SEED = 7


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2016.., 2 yearly folds, cnn + baselines, 1 epoch")
    parser.add_argument("--signals", default=",".join(SIGNALS), help=f"comma list of {SIGNALS}")
    parser.add_argument("--models", default=None, help=f"comma list of {NETWORKS + BASELINE_MODELS} (default all)")
    parser.add_argument(
        "--tickers", type=int, default=8, help="the default universe's 8, then made-up symbols SYN000.. (default 8)"
    )
    parser.add_argument("--start", default=None, help="first session (default 2010-01-04; quick 2016-01-04)")
    parser.add_argument("--end", default="2026-12-04", help="last session (default 2026-12-04)")
    parser.add_argument("--period", default="year", help="fold period: quarter, half or year (default year)")
    parser.add_argument("--first-test", default=None, help="first test day (default 2024-01-01; quick 2025-01-01)")
    parser.add_argument("--signal-ic", type=float, default=0.1, help="the linear signal's IC (default 0.1)")
    parser.add_argument("--temporal-ic", type=float, default=0.1, help="the temporal signal's IC (default 0.1)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a TrainSpec field (value read as JSON)"
    )
    parser.add_argument(
        "--checkpoint",
        default="best",
        choices=("best", "last"),
        help="score the tuning block's best epoch (the pipeline's choice, default) or the last one",
    )
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def train_spec(overrides: list[str], quick: bool):
    from fin_pipeline.training.configuration import default_configuration
    from fin_pipeline.training.spec import TrainSpec

    values = dict(default_configuration()["training"])
    if quick:
        values["epochs"] = 1
    for item in overrides:
        key, _, raw = item.partition("=")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    values["model_config"] = values.get("model_config") or {}
    return TrainSpec(**values)


def market_windows(signal: str, args: argparse.Namespace, start: dt.date, end: dt.date):
    from fin_pipeline.core.settings import DEFAULT_UNIVERSE
    from fin_pipeline.features.assemble import build_windows
    from fin_pipeline.features.frame import build_feature_frame
    from fin_pipeline.sources.synthetic import SyntheticMarket

    ic = {"linear": {"signal_ic": args.signal_ic}, "temporal": {"temporal_ic": args.temporal_ic}, "none": {}}[signal]
    market = SyntheticMarket(seed=SEED, as_of=end, **ic)
    # The synthetic market simulates any symbol; past the default universe's eight, made-up ones.
    tickers = (*DEFAULT_UNIVERSE, *(f"SYN{i:03d}" for i in range(args.tickers)))[: args.tickers]
    return build_windows({t: build_feature_frame(market.fetch(t, start, end), t) for t in tickers})


def oracle(signal: str, ws, positions: np.ndarray) -> np.ndarray:
    """The planted predictor of each window at ``positions`` (NaN without a signal)."""
    from fin_pipeline.sources.planted import temporal_predictor

    ret = ws.feature_columns.index("ret_1d")
    rows = np.asarray(positions)[:, None] + np.arange(ws.window)  # (B, W) rows of each window, day t last
    path = ws.values[rows, ret].astype(np.float64)
    if signal == "linear":
        return path[:, -1]
    if signal == "temporal":
        return temporal_predictor(path)
    return np.full(len(positions), np.nan)


def run_market(signal: str, models: list[str], spec, args, start, end, first_test, scratch: Path):
    """``(predictions, folds, execution)``: the stitched test predictions of every model (a column each) and the
    oracle over all folds, the folds' boundaries, and the market's execution."""
    from fin_pipeline.training.boosting import lightgbm_predictions
    from fin_pipeline.training.walkforward import (
        FoldSpec,
        add_baselines,
        compute_folds,
        fit_fold_normalization,
        predict_fold,
        train_fold,
        window_rows,
    )
    from fin_pipeline.training.walkforward import fold_positions as positions_of

    ws = market_windows(signal, args, start, end)
    folds = compute_folds(ws, FoldSpec(period=args.period, first_test_date=first_test))
    blocks = []
    for fold in folds:
        stats = fit_fold_normalization(ws, fold)
        test = positions_of(ws, fold).test
        block, _ = add_baselines(ws, fold, stats, window_rows(ws, test))
        block["oracle"] = oracle(signal, ws, test)
        if "lightgbm" in models:
            block["lightgbm"], _ = lightgbm_predictions(ws, fold, stats, test)
        for name in (m for m in models if m in NETWORKS):
            t0 = time.perf_counter()
            run = dataclasses.replace(spec, model=name)
            outcome = train_fold(ws, fold, stats, run, scratch / signal / name / fold.fold)
            path = outcome.best_path if args.checkpoint == "best" else outcome.last_path
            block[name] = predict_fold(ws, path, fold=fold)["model"].to_numpy()
            epochs = len(outcome.history)
            print(
                f"  {signal} {fold.fold} {name}: {epochs} epoch(s), best {outcome.best_epoch}, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True), [f.to_dict() for f in folds], ws.execution


def books(predictions: pd.DataFrame, models: list[str], spec, folds: list[dict], execution: str) -> pd.DataFrame:
    """Each model's market-neutral book as the leaderboard scores it (``evaluation/leaderboard``), but GROSS (the
    flat cost model at 0 bps: at this universe's size the default costs sink every book, and a DSR of 0 would show
    nothing): annualized Sharpe, PSR, and the DSR with the models here as the only trials; the board's PBO (CSCV)
    in the frame's ``attrs``."""
    from fin_pipeline.core.costs import CostModel
    from fin_pipeline.evaluation.board import PREDICTION, model_training
    from fin_pipeline.evaluation.leaderboard import BoardRecord, leaderboard

    records = {
        m: BoardRecord(
            predictions.drop(columns=[*models, "oracle"]).assign(**{PREDICTION: predictions[m]}),
            [model_training(m, spec)] * len(folds),
            folds,
        )
        for m in models
    }
    gross = CostModel(cost_model="flat", cost_bps=0.0)
    board = leaderboard(records, horizon=1, costs=gross, registry=None, execution=execution)
    table = board.table.set_index("model")[["sharpe", "psr", "dsr"]]
    table.attrs["pbo"] = board.pbo
    return table


def score(predictions: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """IC and Newey–West t of each column, by ``score_predictions`` with that column as the model."""
    from fin_pipeline.evaluation.scoring import score_predictions

    rows = {}
    for column in columns:
        forecasts = score_predictions(predictions.assign(model=predictions[column]), horizon=1).forecasts
        rows[column] = {"ic": float(forecasts.loc["model", "ic"]), "ic_nw_t": float(forecasts.loc["model", "ic_nw_t"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def goals(signal: str, table: pd.DataFrame, models: list[str]) -> list[str]:
    networks = [m for m in models if m in NETWORKS]
    lines = []
    if signal == "linear" and networks:
        worst = table.loc[networks, "ratio"].min()
        lines.append(f"every network >= 0.8 x oracle: {'met' if worst >= 0.8 else 'NOT met'} (worst {worst:.2f})")
    if signal == "temporal" and networks:
        best = table.loc[networks, "ic"].max()
        ratio = table.loc[networks, "ratio"].max()
        linear = [m for m in ("ridge", "lightgbm") if m in models]
        lines.append(f"best network >= 0.6 x oracle: {'met' if ratio >= 0.6 else 'NOT met'} ({ratio:.2f})")
        if linear:
            floor = max(table.loc[linear, "ic"].max(), 0.0)
            ok = best >= 1.5 * floor
            lines.append(
                f"best network >= 1.5 x best of {linear}: {'met' if ok else 'NOT met'} ({best:.3f} vs {floor:.3f})"
            )
    if signal == "none":
        worst = table["ic_nw_t"].abs().max()
        lines.append(f"no predictor with |t| > 2.5: {'met' if worst <= 2.5 else 'NOT met'} (largest {worst:.2f})")
        dsr = table["dsr"].max()
        lines.append(f"no DSR above 0.95: {'met' if not dsr > 0.95 else 'NOT met'} (largest {dsr:.3f})")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals = [s for s in args.signals.split(",") if s]
    default_models = "cnn,ridge,lightgbm,momentum" if args.quick else ",".join(NETWORKS + BASELINE_MODELS)
    models = [m for m in (args.models or default_models).split(",") if m]
    bad = [s for s in signals if s not in SIGNALS] + [m for m in models if m not in NETWORKS + BASELINE_MODELS]
    if bad:
        print(f"recovery: unknown signal or model {bad}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    start = dt.date.fromisoformat(args.start or ("2016-01-04" if args.quick else "2010-01-04"))
    end = dt.date.fromisoformat(args.end)
    first_test = dt.date.fromisoformat(args.first_test or ("2025-01-01" if args.quick else "2024-01-01"))
    spec = train_spec(args.set, args.quick).check_values()
    print(f"training: {json.dumps({k: v for k, v in dataclasses.asdict(spec).items() if k != 'model'})}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for signal in signals:
            t0 = time.perf_counter()
            predictions, folds, execution = run_market(signal, models, spec, args, start, end, first_test, Path(tmp))
            columns = [*models, *(["oracle"] if signal != "none" else [])]
            table = score(predictions, columns)
            table["ratio"] = table["ic"] / table.loc["oracle", "ic"] if signal != "none" else np.nan
            neutral = books(predictions, models, spec, folds, execution)
            table = table.join(neutral)
            days = predictions["date"].nunique()
            print(f"\n{signal}: {days} test days, {len(predictions)} rows, {time.perf_counter() - t0:.0f} s")
            print(table.to_string(float_format=lambda v: f"{v:.3f}"))
            print(f"PBO of the models' neutral books (CSCV): {neutral.attrs['pbo']:.3f}")
            for line in goals(signal, table, models):
                print(f"  goal: {line}")
            results[signal] = {"pbo": neutral.attrs["pbo"], **table.to_dict(orient="index")}
    if args.json:
        Path(args.json).write_text(json.dumps({"training": dataclasses.asdict(spec), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
